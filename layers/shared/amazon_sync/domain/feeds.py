"""Building JSON_LISTINGS_FEED v2 documents from offers: pure functions, no I/O.

Each offer becomes up to two PATCH messages: one for quantity, one for price. Amazon applies none of
an INVALID message's patches, so a price Amazon refuses must not travel with a stock change
(docs/amazon-behaviours.md, row 4). Quantity goes in ``fulfillment_availability`` with the handling
time (a quantity alone has reset handling time for sellers); price goes in ``purchasable_offer`` for
the marketplace, currency and audience, with the sale price as a scheduled ``discounted_price``.
``replace`` replaces the one instance with the same selectors, whole: an offer sent without
``discounted_price`` ends a sale on Amazon, which is Amazon's endorsed way to end one (row 2a).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from json.encoder import encode_basestring, encode_basestring_ascii
from operator import itemgetter
from typing import Any, NamedTuple, cast

from amazon_sync.config import MarketplaceConfig
from amazon_sync.domain.model import AcceptedOffer, Offer, SalePrice

AUDIENCE = "ALL"
# A PrestaShop specific price without an end date still needs an end_at (the listings schema requires
# it): this one. `status` and `amazon-sync errors` list such sales (OPEN_ENDED_SALE) so the operator
# knows they run on Amazon until PrestaShop's specific price ends or is removed.
OPEN_ENDED_SALE_END = datetime(2099, 12, 31, tzinfo=UTC)


class PlannedMessage(NamedTuple):
    """One message and what it must do on Amazon, before it gets a message id. A named tuple, not a frozen
    dataclass: a million-row run plans 200,000 of them, and a frozen dataclass took five times as long to
    build (0.71 s against 0.15 s)."""

    sku: str
    id_product: int
    id_product_attribute: int
    quantity: int | None
    price: Decimal | None
    sale: SalePrice | None
    quantity_held: bool  # quantity deliberately left out until this price is accepted
    fingerprint: str

    @property
    def messages(self) -> int:
        """Feed messages it becomes: quantity and price travel apart."""
        return int(self.quantity is not None) + int(self.price is not None)


class FeedMessageRef(NamedTuple):
    """What the manifest keeps of one message. A named tuple, not a frozen dataclass: a million-row run
    builds 400,000 of them, and the acknowledgment reads them all back (half the time to build)."""

    message_id: int
    sku: str
    id_product: int
    id_product_attribute: int
    quantity: int | None
    price: str | None
    quantity_held: bool
    fingerprint: str

    @classmethod
    def from_row(cls, row: list[Any]) -> FeedMessageRef:
        """A reference read back from a manifest, which holds each as a JSON array of its fields (the tuple
        itself, encoded: held as true or false; manifests written before 2026-11-30 hold 1 or 0)."""
        return cls(int(row[0]), str(row[1]), int(row[2]), int(row[3]), row[4], row[5], bool(row[6]), str(row[7]))

    @staticmethod
    def offer_of_row(row: list[Any]) -> tuple[int, int]:
        """(product, combination) of a stored row, without building the whole reference."""
        return int(row[2]), int(row[3])


# (product, combination) and SKU of a reference, in C: a document's 25,000 references each time one is
# submitted
offer_of_ref = cast("Callable[[FeedMessageRef], tuple[int, int]]", itemgetter(2, 3))
sku_of_ref = cast("Callable[[FeedMessageRef], str]", itemgetter(1))


@dataclass
class FeedDocument:
    marketplace_id: str
    body: bytes
    messages: list[FeedMessageRef]


@lru_cache(maxsize=4096)
def _iso(moment: datetime) -> str:
    """RFC 3339 in UTC. Cached: a catalogue's sales share few windows, and each sale's start and end are
    written twice per offer (message and fingerprint): 200,000 offers, a third on sale, spent 1.1 s here."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class PriceNotPositive(ValueError):
    """A marketplace's price rules (e.g. a negative fixed markup) leave zero or less: never sent to Amazon."""


def offer_values(offer: Offer, marketplace: MarketplaceConfig, *, send_quantity: bool,
                 ) -> tuple[int | None, Decimal | None]:
    """The quantity and regular price ``plan_message`` sends for the offer when nothing was accepted
    before (None: not sent; a price the rules make zero or less, or whose sale price they do, is never
    sent), without building the message."""
    try:
        price, _ = _prices(offer, marketplace)
    except PriceNotPositive:
        price = None
    return _quantity(offer, marketplace, send_quantity), price


def _quantity(offer: Offer, marketplace: MarketplaceConfig, send_quantity: bool) -> int | None:
    return marketplace.quantity.apply(offer.quantity, offer.backorders_allowed) if send_quantity else None


def _prices(offer: Offer, marketplace: MarketplaceConfig) -> tuple[Decimal | None, Decimal | None]:
    """The marketplace's regular and sale prices for the offer (None: not sent); PriceNotPositive when
    its rules leave either at zero or less."""
    if not marketplace.send_price or offer.price is None:
        return None, None
    price = marketplace.offer_price(offer.price)
    if price <= 0:
        raise PriceNotPositive(f"the marketplace's price rules turn PrestaShop's price {offer.price} into "
                               f"{price}: the price is not sent (set price.minimum, or change the markup)")
    if offer.sale is None:
        return price, None
    sale_value = marketplace.offer_price(offer.sale.price)
    if sale_value <= 0:
        raise PriceNotPositive(f"the marketplace's price rules turn PrestaShop's sale price "
                               f"{offer.sale.price} into {sale_value}: the price is not sent "
                               "(set price.minimum, or change the markup)")
    return price, sale_value


def plan_message(offer: Offer, marketplace: MarketplaceConfig, *, send_quantity: bool,
                 last_accepted: AcceptedOffer | None) -> PlannedMessage | None:
    """What to send for a sendable offer; None when the marketplace gets nothing for it.

    ``last_accepted`` is what Amazon last accepted for this SKU here, if known. Raises PriceNotPositive
    when the price rules leave a price (or sale price) of zero or less.
    """
    assert offer.sku is not None
    quantity = _quantity(offer, marketplace, send_quantity)
    price, sale_value = _prices(offer, marketplace)
    sale = None
    if offer.sale is not None and price is not None and sale_value is not None and sale_value < price:
        sale = SalePrice(sale_value, offer.sale.start, offer.sale.end)
    if quantity is None and price is None:
        return None
    held = False
    if (quantity and price is not None and last_accepted is not None and last_accepted.quantity == 0
            and last_accepted.price is not None and last_accepted.price != price):
        # Amazon applies quantity before price within a message: coming back in stock with a new price
        # would sell at the old price for a moment. Send the price now, the quantity once it is accepted.
        held, quantity = True, None
    fingerprint = _fingerprint(offer.sku, quantity, price, sale, held, marketplace.handling_time_days)
    return PlannedMessage(offer.sku, offer.id_product, offer.id_product_attribute, quantity, price, sale, held,
                          fingerprint)


def _fingerprint(sku: str, quantity: int | None, price: Decimal | None, sale: SalePrice | None, held: bool,
                 handling_time_days: int) -> str:
    """The first 16 hex digits of the SHA-1 of ``json.dumps([sku, quantity, str(price), _sale_key(sale), held,
    handling_time_days])``, the text written out by hand: offers Amazon accepted are stored with these
    fingerprints, so the text must never change (tests/unit/test_feeds.py compares both on arbitrary
    values), and json.dumps cost twice as much (200,000 offers: 1.6 s, 0.7 s this way)."""
    key = _sale_key(sale)
    sale_text = "null" if key is None else f"[{', '.join(map(encode_basestring_ascii, key))}]"
    text = (f"[{encode_basestring_ascii(sku)}, {'null' if quantity is None else int(quantity)}, "
            f"{encode_basestring_ascii(str(price))}, {sale_text}, {'true' if held else 'false'}, "
            f"{int(handling_time_days)}]")
    hasher = _SHA1.copy()
    hasher.update(text.encode())
    return hasher.hexdigest()[:16]


# Copied for each fingerprint: a new SHA-1 object costs twice as much as a copy of an empty one
# (200,000 fingerprints: 0.30 s against 0.15 s).
_SHA1 = hashlib.sha1(usedforsecurity=False)  # a change detector, not security


def _sale_key(sale: SalePrice | None) -> list[str] | None:
    if sale is None:
        return None
    return [str(sale.price), _iso(sale.start) if sale.start else "", _iso(sale.end) if sale.end else ""]


def patches_for(planned: PlannedMessage, marketplace: MarketplaceConfig, now: datetime) -> list[dict[str, Any]]:
    """The planned change as listings patches: quantity first, then price."""
    patches: list[dict[str, Any]] = []
    if planned.quantity is not None:
        patches.append({"op": "replace", "path": "/attributes/fulfillment_availability", "value": [
            {"fulfillment_channel_code": "DEFAULT", "quantity": planned.quantity,
             "lead_time_to_ship_max_days": marketplace.handling_time_days}]})
    if planned.price is not None:
        offer: dict[str, Any] = {"marketplace_id": marketplace.marketplace_id, "currency": marketplace.currency,
                                 "audience": AUDIENCE, "our_price": [{"schedule": [{"value_with_tax": _number(
                                     planned.price)}]}]}
        if planned.sale is not None:
            # RFC 3339 date-times (the schema takes date or date-time): PrestaShop's window to the second,
            # so the sale never runs past PrestaShop's end
            schedule = {"value_with_tax": _number(planned.sale.price), "start_at": _iso(planned.sale.start or now),
                        "end_at": _iso(planned.sale.end or OPEN_ENDED_SALE_END)}
            offer["discounted_price"] = [{"schedule": [schedule]}]
        patches.append({"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer]})
    return patches


def _number(amount: Decimal) -> int | float:
    """Whole-unit amounts (JPY, rounded to 1) as JSON integers, others as numbers with decimals."""
    exponent = amount.as_tuple().exponent
    return int(amount) if isinstance(exponent, int) and exponent >= 0 else float(amount)


def message_bodies(first_id: int, planned: PlannedMessage, marketplace: MarketplaceConfig,
                   now: datetime) -> list[dict[str, Any]]:
    """One message per patch, numbered from ``first_id``."""
    return [{"messageId": first_id + number, "sku": planned.sku, "operationType": "PATCH",
             "productType": marketplace.product_type, "patches": [patch]}
            for number, patch in enumerate(patches_for(planned, marketplace, now))]


class MessageWriter:
    """A marketplace's messages written straight to JSON, byte for byte what encoding ``message_bodies``
    gives (tests/unit/test_feeds.py checks both on arbitrary messages): packing 400,000 messages took
    4.6-5.4 s through the dictionaries, 2.2-3.1 s this way (three runs each, one machine). Each message is
    written whole, its number included, and numbered again only when it starts a new document: adding the
    number afterwards to each message cost a fifth more (200,000 offers: 2.3-2.7 s, 1.8-2.1 s this way)."""

    def __init__(self, marketplace: MarketplaceConfig, now: datetime) -> None:
        self.now = now
        self._product_type = encode_basestring(marketplace.product_type)
        self._lead_time = int(marketplace.handling_time_days)
        self._offer_head = (f'{{"marketplace_id":{encode_basestring(marketplace.marketplace_id)},'
                            f'"currency":{encode_basestring(marketplace.currency)},'
                            f'"audience":{encode_basestring(AUDIENCE)},"our_price":[{{"schedule":[{{"value_with_tax":')

    def messages(self, planned: PlannedMessage, first_id: int) -> list[bytes]:
        """Each message of the planned change, numbered from ``first_id``: quantity first."""
        head = (f',"sku":{encode_basestring(planned.sku)},"operationType":"PATCH","productType":'
                f'{self._product_type},"patches":[{{"op":"replace","path":')
        written: list[bytes] = []
        if planned.quantity is not None:
            written.append(f'{{"messageId":{first_id}{head}"/attributes/fulfillment_availability","value":'
                           f'[{{"fulfillment_channel_code":"DEFAULT","quantity":{int(planned.quantity)},'
                           f'"lead_time_to_ship_max_days":{self._lead_time}}}]}}]}}'.encode())
            first_id += 1
        if planned.price is not None:
            offer = f"{self._offer_head}{_json_number(planned.price)}}}]}}]"
            if planned.sale is not None:
                offer += (f',"discounted_price":[{{"schedule":[{{"value_with_tax":{_json_number(planned.sale.price)},'
                          f'"start_at":"{_iso(planned.sale.start or self.now)}",'
                          f'"end_at":"{_iso(planned.sale.end or OPEN_ENDED_SALE_END)}"}}]}}]')
            written.append(f'{{"messageId":{first_id}{head}"/attributes/purchasable_offer","value":'
                           f'[{offer}}}]}}]}}'.encode())
        return written


def _json_number(amount: Decimal) -> str:
    """``repr(_number(amount))``, read off the amount's text instead of its digit tuple (``as_tuple``
    builds one per price: 200,000 offers' prices took 0.9 s that way). A text with a point and no
    exponent is an amount with decimals, digits alone a whole one; anything else (never a price) goes
    the long way."""
    text = str(amount)
    if "." in text and "E" not in text:
        return repr(float(text))
    if text.isdigit():
        return text
    return repr(_number(amount))


@dataclass
class FeedSplitter:
    """Packs messages into documents of at most ``max_messages`` and ``max_bytes``, streaming."""

    marketplace: MarketplaceConfig
    max_messages: int = 25000
    max_bytes: int = 9 * 1024 * 1024
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _parts: list[bytes] = field(default_factory=list)
    _refs: list[FeedMessageRef] = field(default_factory=list)
    # the bytes of the parts so far with a comma after each: the document is the header, these and "]}"
    _used: int = 0
    _header_bytes: bytes = b""
    _writer: MessageWriter = field(init=False)

    def __post_init__(self) -> None:
        self._writer = MessageWriter(self.marketplace, self.now)
        header = {"sellerId": self.marketplace.seller_id, "version": "2.0",
                  "issueLocale": self.marketplace.issue_locale}
        self._header_bytes = b'{"header":' + json.dumps(header, separators=(",", ":")).encode() + b',"messages":['

    def _room(self, parts: list[bytes]) -> int | None:
        """The bytes used once ``parts`` are added, or None when they do not fit (a document holds at least
        one message, whatever its size)."""
        used = self._used + sum(map(len, parts)) + len(parts)
        if not self._refs and len(parts) == 1:
            return used
        if len(self._refs) + len(parts) > self.max_messages or len(self._header_bytes) + 2 + used > self.max_bytes:
            return None
        return used

    def _append(self, planned: PlannedMessage, parts: list[bytes], used: int, first: int = 0) -> None:
        """Add ``parts``, the planned change's messages from its ``first`` on (quantity first)."""
        self._parts += parts
        self._used = used
        refs = self._refs
        for number in range(first, first + len(parts)):
            is_quantity = number == 0 and planned.quantity is not None
            refs.append(FeedMessageRef(
                len(refs) + 1, planned.sku, planned.id_product, planned.id_product_attribute,
                planned.quantity if is_quantity else None, None if is_quantity else str(planned.price),
                planned.quantity_held and not is_quantity, planned.fingerprint))

    def add(self, planned: PlannedMessage) -> list[FeedDocument]:
        """Add an offer's messages, kept in one document when one can hold them; returns the documents
        that are full."""
        parts = self._writer.messages(planned, len(self._refs) + 1)
        used = self._room(parts)
        if used is not None:
            self._append(planned, parts, used)
            return []
        finished: list[FeedDocument] = []
        document = self.flush()
        if document:
            finished.append(document)
            parts = self._writer.messages(planned, 1)  # numbered from 1 again in the new document
            used = self._room(parts)
            if used is not None:
                self._append(planned, parts, used)
                return finished
        # limits too small for an offer's messages together: they go one by one
        for number in range(len(parts)):
            part = self._writer.messages(planned, len(self._refs) + 1 - number)[number:number + 1]
            used = self._room(part)
            if used is None:
                document = self.flush()
                finished += [document] if document else []
                part = self._writer.messages(planned, 1 - number)[number:number + 1]
                used = self._room(part)
            self._append(planned, part, used if used is not None else 0, number)
        return finished

    def flush(self) -> FeedDocument | None:
        if not self._refs:
            return None
        body = self._header_bytes + b",".join(self._parts) + b"]}"
        document = FeedDocument(self.marketplace.marketplace_id, body, self._refs)
        self._parts, self._refs, self._used = [], [], 0
        return document


def split_all(splitter: FeedSplitter, planned: Iterable[PlannedMessage]) -> Iterator[FeedDocument]:
    """The documents ``planned`` packs into, each yielded as soon as it is full (``planned`` is consumed
    lazily: whatever the caller does with a document happens before the next message is planned)."""
    for message in planned:
        yield from splitter.add(message)
    last = splitter.flush()
    if last is not None:
        yield last
