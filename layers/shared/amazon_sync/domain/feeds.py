"""Building JSON_LISTINGS_FEED v2 documents from offers: pure functions, no I/O.

Each offer becomes one PATCH message. Quantity goes in ``fulfillment_availability`` with the handling
time (a quantity alone has reset handling time for sellers); price goes in ``purchasable_offer`` for
the marketplace, currency and audience, with the sale price as a scheduled ``discounted_price``.
Both use ``replace`` on exactly those attributes, so nothing else on the listing is touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from amazon_sync.config import MarketplaceConfig
from amazon_sync.domain.model import AcceptedOffer, Offer, SalePrice

AUDIENCE = "ALL"


@dataclass(frozen=True)
class PlannedMessage:
    """One message and what it must do on Amazon, before it gets a message id."""

    sku: str
    id_product: int
    id_product_attribute: int
    quantity: int | None
    price: Decimal | None
    sale: SalePrice | None
    quantity_held: bool  # quantity deliberately left out until this price is accepted
    fingerprint: str


@dataclass(frozen=True)
class FeedMessageRef:
    message_id: int
    sku: str
    id_product: int
    id_product_attribute: int
    quantity: int | None
    price: str | None
    quantity_held: bool
    fingerprint: str

    def as_row(self) -> list[Any]:
        return [self.message_id, self.sku, self.id_product, self.id_product_attribute, self.quantity, self.price,
                int(self.quantity_held), self.fingerprint]

    @classmethod
    def from_row(cls, row: list[Any]) -> FeedMessageRef:
        return cls(int(row[0]), str(row[1]), int(row[2]), int(row[3]), row[4], row[5], bool(row[6]), str(row[7]))


@dataclass
class FeedDocument:
    marketplace_id: str
    body: bytes
    messages: list[FeedMessageRef]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plan_message(offer: Offer, marketplace: MarketplaceConfig, *, send_quantity: bool,
                 last_accepted: AcceptedOffer | None) -> PlannedMessage | None:
    """What to send for a sendable offer; None when the marketplace gets nothing for it.

    ``last_accepted`` is what Amazon last accepted for this SKU here, if known.
    """
    assert offer.sku is not None
    quantity = marketplace.quantity.apply(offer.quantity, offer.backorders_allowed) if send_quantity else None
    price = sale = None
    if marketplace.send_price and offer.price is not None:
        price = marketplace.price.apply(offer.price)
        if offer.sale is not None:
            sale_value = marketplace.price.apply(offer.sale.price)
            if sale_value < price:
                sale = SalePrice(sale_value, offer.sale.start, offer.sale.end)
    if quantity is None and price is None:
        return None
    held = False
    if (quantity and price is not None and last_accepted is not None and last_accepted.quantity == 0
            and last_accepted.price is not None and last_accepted.price != price):
        # Amazon applies quantity before price within a message: coming back in stock with a new price
        # would sell at the old price for a moment. Send the price now, the quantity once it is accepted.
        held, quantity = True, None
    fingerprint = hashlib.sha1(  # noqa: S324 (a change detector, not security)
        json.dumps([offer.sku, quantity, str(price), _sale_key(sale), held, marketplace.handling_time_days]).encode()
    ).hexdigest()[:16]
    return PlannedMessage(offer.sku, offer.id_product, offer.id_product_attribute, quantity, price, sale, held,
                          fingerprint)


def _sale_key(sale: SalePrice | None) -> list[str] | None:
    if sale is None:
        return None
    return [str(sale.price), _iso(sale.start) if sale.start else "", _iso(sale.end) if sale.end else ""]


def message_body(message_id: int, planned: PlannedMessage, marketplace: MarketplaceConfig,
                 now: datetime) -> dict[str, Any]:
    patches: list[dict[str, Any]] = []
    if planned.quantity is not None:
        patches.append({"op": "replace", "path": "/attributes/fulfillment_availability", "value": [
            {"fulfillment_channel_code": "DEFAULT", "quantity": planned.quantity,
             "lead_time_to_ship_max_days": marketplace.handling_time_days}]})
    if planned.price is not None:
        offer: dict[str, Any] = {"marketplace_id": marketplace.marketplace_id, "currency": marketplace.currency,
                                 "audience": AUDIENCE,
                                 "our_price": [{"schedule": [{"value_with_tax": float(planned.price)}]}]}
        if planned.sale is not None:
            schedule: dict[str, Any] = {"value_with_tax": float(planned.sale.price),
                                        "start_at": _iso(planned.sale.start or now)}
            if planned.sale.end is not None:
                schedule["end_at"] = _iso(planned.sale.end)
            offer["discounted_price"] = [{"schedule": [schedule]}]
        patches.append({"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer]})
    return {"messageId": message_id, "sku": planned.sku, "operationType": "PATCH",
            "productType": marketplace.product_type, "patches": patches}


@dataclass
class FeedSplitter:
    """Packs messages into documents of at most ``max_messages`` and ``max_bytes``, streaming."""

    marketplace: MarketplaceConfig
    max_messages: int = 25000
    max_bytes: int = 9 * 1024 * 1024
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _parts: list[bytes] = field(default_factory=list)
    _refs: list[FeedMessageRef] = field(default_factory=list)
    _size: int = 0

    def _header(self) -> bytes:
        header = {"sellerId": self.marketplace.seller_id, "version": "2.0",
                  "issueLocale": self.marketplace.issue_locale}
        return b'{"header":' + json.dumps(header, separators=(",", ":")).encode() + b',"messages":['

    def add(self, planned: PlannedMessage) -> FeedDocument | None:
        """Add a message; returns the previous document when this one did not fit in it."""
        message_id = len(self._refs) + 1
        encoded = json.dumps(message_body(message_id, planned, self.marketplace, self.now),
                             ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        finished = None
        overhead = len(self._header()) + 2 + len(self._parts)
        if self._refs and (len(self._refs) >= self.max_messages
                           or overhead + self._size + len(encoded) + 1 > self.max_bytes):
            finished = self.flush()
            message_id = 1
            encoded = json.dumps(message_body(1, planned, self.marketplace, self.now),
                                 ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._parts.append(encoded)
        self._size += len(encoded)
        self._refs.append(FeedMessageRef(message_id, planned.sku, planned.id_product, planned.id_product_attribute,
                                         planned.quantity, None if planned.price is None else str(planned.price),
                                         planned.quantity_held, planned.fingerprint))
        return finished

    def flush(self) -> FeedDocument | None:
        if not self._refs:
            return None
        body = self._header() + b",".join(self._parts) + b"]}"
        document = FeedDocument(self.marketplace.marketplace_id, body, self._refs)
        self._parts, self._refs, self._size = [], [], 0
        return document


def split_all(splitter: FeedSplitter, planned: Iterable[PlannedMessage]) -> Iterator[FeedDocument]:
    """The documents ``planned`` packs into, each yielded as soon as it is full (``planned`` is consumed
    lazily: whatever the caller does with a document happens before the next message is planned)."""
    for message in planned:
        finished = splitter.add(message)
        if finished is not None:
            yield finished
    last = splitter.flush()
    if last is not None:
        yield last
