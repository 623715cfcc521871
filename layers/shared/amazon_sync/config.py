"""The marketplace configuration: one pydantic model, loaded from a JSON/YAML document.

Locally the document is a file; in AWS it lives in SSM Parameter Store or S3 (CONFIG_SOURCE).
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from amazon_sync.domain.marketplaces import ZERO_DECIMAL_CURRENCIES, currency_of, currency_step
from amazon_sync.errors import ConfigurationError, validation_problems

CENT = Decimal("0.01")
# Processing-report codes for Amazon-side trouble that a later attempt can fix.
DEFAULT_TEMPORARY_ISSUE_CODES = ("4000000", "4000005", "5000", "5001")
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


class QuantityRules(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    reserve: int = Field(default=0, ge=0, description="units kept back from Amazon (safety buffer)")
    maximum: int | None = Field(default=None, ge=0, description="never announce more than this")
    backorder_quantity: int | None = Field(
        default=None, ge=0,
        description="quantity announced when stock is 0 but the product accepts orders when out of stock; "
                    "null announces 0")

    def apply(self, quantity: int, backorders_allowed: bool) -> int:
        available = max(0, quantity - self.reserve)
        if available == 0 and backorders_allowed and self.backorder_quantity is not None:
            available = self.backorder_quantity
        if self.maximum is not None:
            available = min(available, self.maximum)
        return available


class PriceRules(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    markup_percent: Decimal = Field(default=Decimal(0), ge=-90, le=1000)
    markup_fixed: Decimal = Field(default=Decimal(0), ge=-1000, le=100000)
    ending: Decimal | None = Field(
        default=None, ge=0, lt=1, description="round up to this ending, e.g. 0.99 turns 12.31 into 12.99")
    minimum: Money | None = None
    maximum: Money | None = None

    @model_validator(mode="after")
    def _bounds(self) -> PriceRules:
        if self.minimum is not None and self.maximum is not None and (self.minimum.quantize(
                CENT, rounding=ROUND_CEILING) > self.maximum.quantize(CENT, rounding=ROUND_FLOOR)):
            raise ValueError(f"minimum {self.minimum} is above maximum {self.maximum}, or no whole-cent price lies "
                             "between them")
        return self

    def apply(self, price: Decimal, step: Decimal = CENT) -> Decimal:
        """The marketplace's price, rounded to ``step``: 0.01, or 1 in a zero-decimal currency (JPY)."""
        # a markup of 0 is skipped, not applied: the same value, without three Decimal operations per price
        value = price * (1 + self.markup_percent / 100) if self.markup_percent else price
        value = value + self.markup_fixed if self.markup_fixed else value
        if self.ending is not None:
            whole = value.to_integral_value(rounding=ROUND_CEILING) - 1
            value = whole + self.ending if whole + self.ending >= value else whole + 1 + self.ending
        # bounds are compared in whole cents, so rounding can never take a price past one
        value = value.quantize(CENT, rounding=ROUND_HALF_UP)
        if self.minimum is not None:
            value = max(value, self.minimum.quantize(CENT, rounding=ROUND_CEILING))
        if self.maximum is not None:
            value = min(value, self.maximum.quantize(CENT, rounding=ROUND_FLOOR))
        if step != CENT:
            # whole units (JPY): rounded inside the bounds, so rounding can never take a price past one
            value = value.quantize(step, rounding=ROUND_HALF_UP)
            if self.minimum is not None and value < self.minimum:
                value += step
            if self.maximum is not None and value > self.maximum:
                value -= step
        return value


class MarketplaceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    marketplace_id: str = Field(pattern=r"^[A-Z0-9]{10,14}$", description="Amazon marketplace id, e.g. A13V1IB3VIYZZH")
    seller_id: str = Field(min_length=1, description="the merchant token (sellerId) of the selling account")
    shop_id: int = Field(default=1, ge=1, description="PrestaShop id_shop whose stock and prices this marketplace gets")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO country whose tax rules apply")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO currency of the marketplace")
    conversion_rate: Decimal | None = Field(
        default=None, gt=0, description="shop currency to marketplace currency; null reads PrestaShop's rate")
    shop_timezone: str = Field(default="UTC", description="time zone PrestaShop's specific-price windows are in")
    product_type: str = Field(default="PRODUCT", min_length=1)
    issue_locale: str = "en_US"
    handling_time_days: int = Field(default=2, ge=0, le=30, description="lead_time_to_ship_max_days sent with quantity")
    send_quantity: bool = Field(
        default=True,
        description="send merchant quantity here; Amazon keeps one quantity per seller and SKU (docs #3167), so every "
                    "marketplace of a seller that sends it must compute the same number")
    send_price: bool = True
    allow_orders_when_out_of_stock: bool = Field(
        default=False, description="PrestaShop's PS_ORDER_OUT_OF_STOCK, for products left on the default")
    quantity: QuantityRules = QuantityRules()
    price: PriceRules = PriceRules()
    exclude_skus: list[str] = Field(default_factory=list, description="never sent, e.g. FBA SKUs")
    exclude_sku_prefixes: list[str] = Field(default_factory=list, description="e.g. 'FBA-'")
    send_to_skus_not_on_amazon: bool = Field(
        default=False,
        description="send offers for SKUs Amazon's listings report does not show; Amazon accepts them and "
                    "creates incomplete listings, so this is off unless you mean it")

    @field_validator("marketplace_id")
    @classmethod
    def _known_marketplace(cls, value: str) -> str:
        from sp_api.base import Marketplaces

        if not any(m.marketplace_id == value for m in Marketplaces):
            raise ValueError(f"{value} is not an Amazon marketplace id")
        return value

    @field_validator("shop_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _currency_of_the_marketplace(self) -> MarketplaceConfig:
        expected = currency_of(self.marketplace_id)
        if expected is not None and self.currency != expected:
            raise ValueError(f"currency {self.currency} is not the currency of marketplace {self.marketplace_id} "
                             f"({expected}): Amazon refuses offers in another currency")
        if self.currency in ZERO_DECIMAL_CURRENCIES and self.price.ending not in (None, Decimal(0)):
            raise ValueError(f"price ending {self.price.ending} has decimals; {self.currency} prices are whole units")
        return self

    def offer_price(self, price: Decimal) -> Decimal:
        """PrestaShop's price with this marketplace's rules, in the currency's precision."""
        return self.price.apply(price, currency_step(self.currency))

    @property
    def region(self) -> str:
        from sp_api.base import Marketplaces

        return next(str(m.region) for m in Marketplaces if m.marketplace_id == self.marketplace_id)

    def excluded(self, sku: str) -> bool:
        # one startswith over the prefixes, not a generator: asked of every offer of a run
        return sku in self.exclude_skus or sku.startswith(tuple(self.exclude_sku_prefixes))


class ReconcileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_repairs: int = Field(
        default=3, ge=0, le=100,
        description="a SKU that drifts again right after this many repairs in a row is reported as fought over "
                    "(another tool changes it) and no longer repaired")
    settle_seconds: int = Field(
        default=6 * 3600, ge=0,
        description="SKUs Amazon accepted a change for less than this before the report are not judged: Amazon "
                    "caches the listings report for 1 to 6 hours")
    report_wait_seconds: int = Field(
        default=600, ge=0, description="how long one run waits for Amazon to prepare a report; a report not ready "
                                       "by then is picked up by the next run")


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    sku_field: Literal["reference", "ean13", "supplier_reference"] = "reference"
    marketplaces: list[MarketplaceConfig] = Field(min_length=1)
    max_feeds_per_run: int = Field(default=5, ge=1, le=100)
    feeds_per_window: int = Field(
        default=5, ge=1, le=100,
        description="JSON_LISTINGS_FEED submissions allowed per 5 minutes: Amazon's limit is 5; raise it only "
                    "against the simulator with its rate limits lifted (benchmarks)")
    max_messages_per_feed: int = Field(default=25000, ge=1, le=25000)
    max_feed_bytes: int = Field(default=9 * 1024 * 1024, ge=1024, le=10 * 1024 * 1024)
    max_rows_per_run: int = Field(default=2_000_000, ge=1)
    max_attempts: int = Field(default=5, ge=1, le=100, description="failed feeds before rows are marked failed")
    attention_release_after_hours: float | None = Field(
        default=None, gt=0,
        description="send the rows of a feed left in ATTENTION back to the queue after this many hours, as "
                    "`amazon-sync release` does; null waits for the operator")
    temporary_issue_codes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TEMPORARY_ISSUE_CODES),
        description="processing-report issue codes for Amazon-side trouble: retried instead of recorded as rejected")
    express_lane: bool = Field(
        default=True, description="send small changes with patchListingsItem (seconds) instead of a feed (minutes)")
    express_seconds: float = Field(
        default=20.0, gt=0, le=600,
        description="time one run may spend on the express lane; at Amazon's 5 requests/s it sets the default "
                    "express_threshold (20 s: 100 calls per run, one each for an offer's quantity and price)")
    express_threshold: int | None = Field(
        default=None, ge=0, le=100000,
        description="patchListingsItem calls per run (an offer's quantity and price are one each), shared by the "
                    "marketplaces; null derives it from express_seconds")
    max_feeds_in_flight: int = Field(
        default=1, ge=1, le=100,
        description="with the express lane on, feeds per marketplace waiting for Amazon's verdict at a time: Amazon "
                    "processes a seller's feeds one after the other, so a second feed would only wait in its queue, "
                    "and every product in it would wait too, whichever lane its next change takes")
    reconcile: ReconcileSettings = ReconcileSettings()

    @model_validator(mode="after")
    def _unique_and_regions(self) -> SyncConfig:
        seen: set[str] = set()
        for marketplace in self.marketplaces:
            if marketplace.marketplace_id in seen:
                raise ValueError(f"marketplace {marketplace.marketplace_id} is configured twice")
            seen.add(marketplace.marketplace_id)
        # Merchant quantity is "marketplace agnostic … applied to the seller + sku" (Amazon, docs #3167;
        # models #4356 says the same of the EU marketplaces): marketplaces of one seller that send
        # quantity must compute it from the same stock with the same rules, or they overwrite each other.
        sources: dict[str, tuple[str, Any]] = {}
        for marketplace in self.marketplaces:
            if not marketplace.send_quantity:
                continue
            source = (marketplace.shop_id, marketplace.quantity, marketplace.allow_orders_when_out_of_stock)
            first = sources.setdefault(marketplace.seller_id, (marketplace.marketplace_id, source))
            if first[1] != source:
                raise ValueError(
                    f"marketplaces {first[0]} and {marketplace.marketplace_id} of seller {marketplace.seller_id} "
                    "would send different quantities, but Amazon keeps one quantity per seller and SKU: give them "
                    "the same shop_id and quantity rules, or set send_quantity: false on one (separate stock "
                    "needs separate SKUs)")
        return self

    def quantity_marketplaces(self) -> set[str]:
        """Marketplaces that carry quantity: each one sends the seller's single number for the SKU,
        so it arrives whether Amazon shares it across every marketplace of the seller (docs #3167)
        or only within the unified EU pool (models #4356)."""
        return {m.marketplace_id for m in self.marketplaces if m.send_quantity}

    def marketplace(self, marketplace_id: str) -> MarketplaceConfig:
        for marketplace in self.marketplaces:
            if marketplace.marketplace_id == marketplace_id:
                return marketplace
        raise ConfigurationError(f"marketplace {marketplace_id} is not configured")


def parse_config(text: str, source: str = "configuration") -> SyncConfig:
    try:
        data: Any = json.loads(text) if text.lstrip().startswith("{") else _yaml(text)
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not valid JSON or YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source} must be a JSON/YAML object with a 'marketplaces' list")
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{source} is invalid: {validation_problems(exc)}") from None


def _yaml(text: str) -> Any:
    """PyYAML only for a YAML document: a JSON one (the usual SSM parameter) never imports it."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def config_schema() -> dict[str, Any]:
    return SyncConfig.model_json_schema()


def load_config(source: str) -> SyncConfig:
    """``source`` is a file path, ``file://PATH``, ``ssm:/PARAMETER/NAME`` or ``s3://BUCKET/KEY``."""
    if source.startswith("ssm:"):
        import boto3
        from aws_lambda_powertools.utilities import parameters

        try:  # on boto3's default session, shared with the other adapters (see adapters/secrets.py)
            text = parameters.SSMProvider(boto3_client=boto3.client("ssm")).get(source[4:])
        except Exception as exc:  # Powertools wraps every SSM failure in GetParameterError
            raise ConfigurationError(f"cannot read configuration parameter {source[4:]}: {exc}") from None
        return parse_config(str(text), source)
    if source.startswith("s3://"):
        import boto3

        bucket, _, key = source[5:].partition("/")
        try:
            body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore's ClientError and connection errors alike
            raise ConfigurationError(f"cannot read configuration {source}: {exc}") from None
        return parse_config(body.decode("utf-8"), source)
    path = Path(source.removeprefix("file://"))
    try:
        return parse_config(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ConfigurationError(f"cannot read configuration file {path}: {exc.strerror}") from None
