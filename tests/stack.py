"""A whole local stack for integration tests: the shop database, moto, the simulator, the runtime."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from amazon_sync.bootstrap import Runtime
from amazon_sync.services.export import ExportRequest, ExportSummary
from amazon_sync.services.reconcile import ReconcileRequest, ReconcileSummary
from amazon_sync_devkit.catalogue import Catalogue, CatalogueSpec, create_catalogue
from amazon_sync_devkit.expected import expected_listings
from amazon_sync_devkit.simulator.seller_central import ListingChange, change_listing
from amazon_sync_devkit.stack import provision
from tests.conftest import MARKETPLACE_FR, ShopDatabase

MARKETPLACE_DE = "A1PA6795UKMFR9"
SELLER = "A1LOCALSELLER"
# half price on every product for every customer, no end: a catalogue-wide change (one log row, product 0)
CATALOGUE_WIDE_SALE = ("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, "
                       "id_shop_group, id_currency, id_country, id_group, id_customer, id_product_attribute, price, "
                       "from_quantity, reduction, reduction_tax, reduction_type, `from`, `to`) VALUES (0, 0, 0, 0, 0, "
                       "0, 0, 0, 0, 0, -1, 1, 0.5, 1, 'percentage', '0000-00-00 00:00:00', '0000-00-00 00:00:00')")


def base_config(**overrides: Any) -> dict[str, Any]:
    # The feed path's tests run without the express lane (tests/integration/test_express.py turns it on).
    config: dict[str, Any] = {"marketplaces": [{"marketplace_id": MARKETPLACE_FR, "seller_id": SELLER, "shop_id": 1,
                                                "country": "FR", "currency": "EUR", "handling_time_days": 2}],
                              "express_lane": False}
    config.update(overrides)
    return config


@dataclass
class Stack:
    db: ShopDatabase
    simulator: Any
    runtime: Runtime
    catalogue: Catalogue
    bucket: str
    config_path: Any

    @property
    def amazon(self) -> Any:
        return self.simulator.amazon

    def export(self, **request: Any) -> ExportSummary:
        return self.runtime.exporter(**request.pop("_exporter", {})).run(ExportRequest(**request))

    def ack(self, **kwargs: Any) -> Any:
        return self.runtime.acknowledger(**kwargs).run()

    def reconcile(self, **request: Any) -> ReconcileSummary:
        """A reconciliation run; waiting for Amazon's report moves the simulated clock instead of sleeping."""
        overrides = {"sleep": self.advance, **request.pop("_reconciler", {})}
        return self.runtime.reconciler(**overrides).run(ReconcileRequest(**request))

    def list_on_amazon(self, skus: list[str] | None = None, fba: tuple[str, ...] = ()) -> list[str]:
        """Listings created in Seller Central for these SKUs (every catalogue SKU by default); those in
        ``fba`` are fulfilled by Amazon."""
        chosen = skus if skus is not None else sorted(self.expected())
        for sku in chosen:
            self.amazon.add_listing(sku, fulfillment="AMAZON_EU" if sku in fba else None)
        return chosen

    def listed_and_read(self, in_step: bool = True, marketplace: str = MARKETPLACE_FR) -> ReconcileSummary:
        """Every catalogue SKU listed on Amazon (showing PrestaShop's values in ``marketplace`` when
        ``in_step``, as after an earlier sync; bare listings otherwise) and read by a reconciliation, as
        before a merchant's full sync."""
        expected = self.expected(marketplace)
        skus = self.list_on_amazon(sorted(expected))
        if in_step:
            for sku, (quantity, price, _) in expected.items():
                if sku in skus:
                    change_listing(self.amazon, sku, ListingChange(marketplaceId=marketplace, quantity=quantity,
                                                                   price=float(price)))
        summary = self.reconcile()
        assert summary.failures == [] and all(r.state == "read" for r in summary.marketplaces), summary
        return summary

    def change_behind_our_back(self, sku: str, marketplace: str = MARKETPLACE_FR, **change: Any) -> None:
        """What Seller Central or a repricer does: the listing changes, no feed, no report."""
        response = httpx.post(f"{self.simulator.url}/_simulator/seller-central/{sku}",
                              json={"marketplaceId": marketplace, **change})
        assert response.status_code == 200, response.text

    def first_offer(self) -> tuple[int, int, str]:
        product, attribute = self.catalogue.offers[0]
        return product, attribute, self.expected_sku(product, attribute)

    def cycle(self, **ack_kwargs: Any) -> Any:
        """One export, Amazon's processing time, one acknowledgment: the acknowledgment's summary."""
        self.export()
        self.advance()
        return self.ack(**ack_kwargs)

    def advance(self, seconds: float = 10) -> None:
        self.amazon.clock.advance(seconds)
        self.amazon.advance()

    def sync_until_quiet(self, rounds: int = 12) -> None:
        for _ in range(rounds):
            summary = self.export()
            self.advance(10)
            self.amazon._json_window.events.clear()  # the 5-per-5-minutes window, in test time
            self.runtime.state.table.delete_item(Key={"pk": "SUBMISSIONS", "sk": "SUBMISSIONS"})
            # getFeedDocument's usage plan (one every 45 s), ours and Amazon's: in test time both are full again
            self.runtime.state.table.delete_item(Key={"pk": "BUCKET#getFeedDocument", "sk": "BUCKET"})
            self.amazon._buckets["getFeedDocument"].tokens = float(self.amazon._buckets["getFeedDocument"].burst)
            ack = self.ack()
            if (summary.rows_claimed == 0 and ack.feeds_in_flight == 0 and ack.queue_depth == 0):
                return
        raise AssertionError("the queue did not drain")

    def documents(self) -> list[dict[str, Any]]:
        s3 = boto3.client("s3")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
                for o in page.get("Contents", [])]
        return [json.loads(s3.get_object(Bucket=self.bucket, Key=k)["Body"].read())
                for k in sorted(keys) if k.startswith("feeds/") and k.endswith(".json")
                and not k.endswith(".report.json")]

    def listing(self, sku: str) -> dict[str, Any]:
        return httpx.get(f"{self.simulator.url}/_simulator/listings/{sku}").json()

    def expected(self, marketplace: str = MARKETPLACE_FR,
                 now: datetime | None = None) -> dict[str, tuple[int, Decimal, Decimal | None]]:
        """What Amazon should show per SKU: PrestaShop's values with the configuration's rules."""
        listings = expected_listings(self.db.conn, self.db.tables, self.runtime.config, marketplace, now)
        return {sku: (e.quantity, e.price, e.sale) for sku, e in listings.items()}

    def mismatches(self, marketplace: str = MARKETPLACE_FR, skus: set[str] | None = None,
                   now: datetime | None = None, quantity_too: bool = True) -> list[str]:
        problems = []
        for sku, (quantity, price, sale) in self.expected(marketplace, now).items():
            if skus is not None and sku not in skus:
                continue
            listing = self.amazon.listings.get(sku)
            if listing is None:
                problems.append(f"{sku}: not on Amazon")
                continue
            amazon_price = listing.price(marketplace)
            offer = listing.offer(marketplace) or {}
            discounted = offer.get("discounted_price")
            amazon_sale = Decimal(str(discounted[0]["schedule"][0]["value_with_tax"])) if discounted else None
            if ((quantity_too and listing.quantity() != quantity) or amazon_price is None
                    or Decimal(str(amazon_price)) != price or amazon_sale != sale):
                problems.append(f"{sku}: Amazon {listing.quantity()} @ {amazon_price} (sale {amazon_sale}), "
                                f"PrestaShop {quantity} @ {price} (sale {sale})")
        return problems

    def expected_sku(self, product: int, attribute: int) -> str:
        if attribute:
            return str(self.db.scalar("SELECT reference FROM ps_product_attribute WHERE id_product_attribute = %s",
                                      (attribute,)))
        return str(self.db.scalar("SELECT reference FROM ps_product WHERE id_product = %s", (product,)))

    def log_count(self, state: int | None = None) -> int:
        if state is None:
            return int(self.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log"))
        return int(self.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state = %s", (state,)))

    def report(self, feed_id: str) -> dict[str, Any]:
        feed = self.amazon.feeds[feed_id]
        return json.loads(gzip.decompress(self.amazon.documents[feed.result_document_id].data))


def build_stack(db: ShopDatabase, simulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                spec: CatalogueSpec, config: dict[str, Any]) -> Stack:
    """The devkit's local stack inside this process: moto's mock_aws and the in-process simulator."""
    catalogue = create_catalogue(db.conn, db.tables, spec)
    db.sql("DELETE FROM ps_amazon_sync_log")  # the catalogue's own inserts; tests make their changes
    provisioned = provision("sync", simulator_url=simulator.url, simulator=simulator.config, database=db.settings,
                            config=config, config_dir=tmp_path, lease_seconds=60)
    for key, value in provisioned.env.items():
        monkeypatch.setenv(key, value)
    runtime = Runtime.from_env()
    return Stack(db, simulator, runtime, catalogue, provisioned.bucket, provisioned.config_path)


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def make_stack(shop_db, simulator, monkeypatch, tmp_path, aws, amazon_models):
    """A stack per test; at the end, every feed document the test produced (submitted or dry run)
    is checked against Amazon's JSON_LISTINGS_FEED schema from ../shared."""
    built: list[Stack] = []

    def make(spec: CatalogueSpec | None = None, **config: Any) -> Stack:
        stack = build_stack(shop_db, simulator, monkeypatch, tmp_path,
                            spec or CatalogueSpec(products=40, seed=9), base_config(**config))
        built.append(stack)
        return stack

    yield make
    for stack in built:
        check_documents_against_schema(stack, amazon_models)


def check_documents_against_schema(stack: Stack, amazon_models: Any) -> None:
    s3 = boto3.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
            for o in page.get("Contents", [])]
    for key in keys:
        if key.startswith(("feeds/", "dry-run/")) and key.endswith(".json") and ".report." not in key:
            document = json.loads(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
            problems = [e.message for e in amazon_models.feed.iter_errors(document)]
            assert problems == [], f"{key} does not match the JSON_LISTINGS_FEED schema: {problems[:3]}"
