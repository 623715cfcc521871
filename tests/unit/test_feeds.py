"""Message planning and splitting (domain.feeds): what each offer becomes, and how messages are packed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.config import MarketplaceConfig
from amazon_sync.domain.feeds import (
    FeedMessageRef,
    FeedSplitter,
    MessageWriter,
    PlannedMessage,
    PriceNotPositive,
    _fingerprint,
    _sale_key,
    message_bodies,
    offer_values,
    plan_message,
    split_all,
)
from amazon_sync.domain.model import AcceptedOffer, Offer, SalePrice

MARKETPLACE = MarketplaceConfig(marketplace_id="A13V1IB3VIYZZH", seller_id="A1LOCALSELLER", country="FR",
                                currency="EUR", handling_time_days=2)
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def offer(quantity: int = 5, price: str | None = "10.00", sale: SalePrice | None = None) -> Offer:
    return Offer(7, 0, "SKU-7", quantity, None if price is None else Decimal(price), sale)


# -- planning ---------------------------------------------------------------------------------------

def test_an_offer_becomes_a_quantity_message_and_a_price_message():
    planned = plan_message(offer(), MARKETPLACE, send_quantity=True, last_accepted=None)
    assert planned is not None and (planned.quantity, planned.price, planned.quantity_held) == (5, Decimal("10.00"),
                                                                                                False)
    bodies = message_bodies(1, planned, MARKETPLACE, NOW)
    assert [(b["messageId"], b["operationType"], b["sku"]) for b in bodies] == [(1, "PATCH", "SKU-7"),
                                                                                (2, "PATCH", "SKU-7")]
    # apart, so a price Amazon refuses cannot take the quantity down with it
    assert [[p["path"] for p in b["patches"]] for b in bodies] == [["/attributes/fulfillment_availability"],
                                                                   ["/attributes/purchasable_offer"]]
    assert all(p["op"] == "replace" for b in bodies for p in b["patches"])
    availability = bodies[0]["patches"][0]["value"][0]
    assert availability == {"fulfillment_channel_code": "DEFAULT", "quantity": 5, "lead_time_to_ship_max_days": 2}


def test_a_marketplace_without_quantity_gets_the_price_only_and_nothing_without_a_price():
    planned = plan_message(offer(), MARKETPLACE, send_quantity=False, last_accepted=None)
    assert planned is not None and planned.quantity is None and planned.price == Decimal("10.00")
    no_price = MARKETPLACE.model_copy(update={"send_price": False})
    assert plan_message(offer(), no_price, send_quantity=False, last_accepted=None) is None


def test_a_sale_is_sent_only_when_it_is_below_the_price():
    window = (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 24, tzinfo=UTC))
    lower = plan_message(offer(sale=SalePrice(Decimal("8.00"), *window)), MARKETPLACE, send_quantity=True,
                         last_accepted=None)
    assert lower is not None and lower.sale == SalePrice(Decimal("8.00"), *window)
    price = message_bodies(1, lower, MARKETPLACE, NOW)[1]
    schedule = price["patches"][0]["value"][0]["discounted_price"][0]["schedule"]
    assert schedule == [{"value_with_tax": 8.0, "start_at": "2026-12-01T00:00:00Z", "end_at": "2026-12-24T00:00:00Z"}]
    higher = plan_message(offer(sale=SalePrice(Decimal("12.00"), None, None)), MARKETPLACE, send_quantity=True,
                          last_accepted=None)
    assert higher is not None and higher.sale is None


def test_back_in_stock_with_a_new_price_holds_the_quantity_until_the_price_is_accepted():
    out_of_stock_at_9 = AcceptedOffer(0, Decimal("9.00"), "x")
    held = plan_message(offer(), MARKETPLACE, send_quantity=True, last_accepted=out_of_stock_at_9)
    assert held is not None and held.quantity_held and held.quantity is None and held.price == Decimal("10.00")
    same_price = plan_message(offer(), MARKETPLACE, send_quantity=True,
                              last_accepted=AcceptedOffer(0, Decimal("10.00"), "x"))
    assert same_price is not None and not same_price.quantity_held and same_price.quantity == 5
    in_stock = plan_message(offer(), MARKETPLACE, send_quantity=True, last_accepted=AcceptedOffer(3, Decimal(9), "x"))
    assert in_stock is not None and not in_stock.quantity_held


@given(st.integers(0, 1000), st.integers(0, 1000), st.decimals(min_value=1, max_value=1000, places=2))
def test_the_fingerprint_changes_exactly_when_what_is_sent_changes(first, second, price):
    a = plan_message(offer(first, str(price)), MARKETPLACE, send_quantity=True, last_accepted=None)
    b = plan_message(offer(second, str(price)), MARKETPLACE, send_quantity=True, last_accepted=None)
    assert a is not None and b is not None
    assert (a.fingerprint == b.fingerprint) == (first == second)


@given(sku=st.text(max_size=40), quantity=st.none() | st.integers(0, 10**6),
       price=st.none() | st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
       sale=st.none() | st.builds(SalePrice, st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
                                  st.none() | st.datetimes(timezones=st.just(UTC)),
                                  st.none() | st.datetimes(timezones=st.just(UTC))),
       held=st.booleans(), handling=st.integers(0, 30))
def test_the_fingerprint_is_the_hash_of_its_json_text(sku, quantity, price, sale, held, handling):
    """Stored fingerprints of accepted offers were made with json.dumps: the text written by hand must give
    the same hash for every value, or every offer would be sent again after an upgrade."""
    text = json.dumps([sku, quantity, str(price), _sale_key(sale), held, handling])
    assert _fingerprint(sku, quantity, price, sale, held, handling) == hashlib.sha1(text.encode()).hexdigest()[:16]


# -- splitting --------------------------------------------------------------------------------------

def planned_message(index: int, sku_length: int) -> PlannedMessage:
    sku = f"S{index}-" + "é" * sku_length  # multi-byte characters: the limit is on bytes, not characters
    return PlannedMessage(sku[:40], index, 0, index % 7, Decimal(index % 100) + Decimal("0.99"), None, False,
                          f"f{index}")


@given(count=st.integers(0, 300), sku_length=st.integers(0, 30), max_messages=st.integers(1, 60),
       max_bytes=st.integers(1024, 8192))
def test_the_splitter_keeps_every_limit_and_every_message_once_in_order(count, sku_length, max_messages, max_bytes):
    planned = [planned_message(i, sku_length) for i in range(count)]
    documents = list(split_all(FeedSplitter(MARKETPLACE, max_messages, max_bytes, NOW), planned))
    assert [ref.sku for d in documents for ref in d.messages] == [p.sku for p in planned for _ in range(p.messages)]
    for document in documents:
        assert 1 <= len(document.messages) <= max_messages
        assert len(document.body) <= max_bytes
        body = json.loads(document.body)
        assert body["header"] == {"sellerId": "A1LOCALSELLER", "version": "2.0", "issueLocale": "en_US"}
        assert [m["messageId"] for m in body["messages"]] == list(range(1, len(document.messages) + 1))
        assert [m["sku"] for m in body["messages"]] == [ref.sku for ref in document.messages]
        assert [ref.message_id for ref in document.messages] == list(range(1, len(document.messages) + 1))


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999"), places=2) | st.integers(1, 10**7).map(
    Decimal)  # JPY-like whole amounts are JSON integers


@given(sku=st.text(min_size=1, max_size=40), quantity=st.none() | st.integers(0, 10**6), price=st.none() | amounts,
       sale=st.none() | st.builds(SalePrice, amounts, st.none() | moments, st.none() | moments),
       held=st.booleans(), lead_time=st.integers(0, 30), product_type=st.sampled_from(["PRODUCT", "LUGGAGE", 'Ä"\\']),
       marketplace_id=st.sampled_from(["A13V1IB3VIYZZH", "A1PA6795UKMFR9", "A1VC38T7YXB528"]),
       first_id=st.integers(1, 25000))
def test_a_message_written_directly_is_byte_for_byte_its_encoded_body(sku, quantity, price, sale, held, lead_time,
                                                                     product_type, marketplace_id, first_id):
    """The splitter writes messages without building them as dictionaries: what it writes must be exactly
    the JSON of ``message_bodies`` (the form the express lane sends and the tests above read)."""
    currency = {"A13V1IB3VIYZZH": "EUR", "A1PA6795UKMFR9": "EUR", "A1VC38T7YXB528": "JPY"}[marketplace_id]
    marketplace = MARKETPLACE.model_copy(update={"marketplace_id": marketplace_id, "currency": currency,
                                                 "handling_time_days": lead_time, "product_type": product_type})
    planned = PlannedMessage(sku, 1, 2, quantity, price, sale if price is not None else None, held, "f")
    if planned.messages == 0:
        return
    written = MessageWriter(marketplace, NOW).messages(planned, first_id)
    encoded = [json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
               for body in message_bodies(first_id, planned, marketplace, NOW)]
    assert written == encoded


def test_the_splitter_cuts_at_25000_messages():
    planned = [PlannedMessage(f"SKU-{i}", i, 0, 1, None, None, False, "f") for i in range(25001)]
    documents = list(split_all(FeedSplitter(MARKETPLACE), planned))
    assert [len(d.messages) for d in documents] == [25000, 1]
    assert json.loads(documents[0].body)["messages"][-1]["messageId"] == 25000
    assert documents[1].messages[0].message_id == 1


@given(quantity=st.integers(min_value=-3, max_value=50), backorders=st.booleans(), send_quantity=st.booleans(),
       send_price=st.booleans(), price=st.none() | st.decimals(min_value=0, max_value=500, places=2),
       sale=st.none() | st.decimals(min_value=0, max_value=500, places=2),
       markup_fixed=st.decimals(min_value=-20, max_value=20, places=2), currency=st.sampled_from(["EUR", "JPY"]))
def test_offer_values_are_what_a_first_message_sends(quantity, backorders, send_quantity, send_price, price, sale,
                                                      markup_fixed, currency):
    """Reconciliation compares Amazon with ``offer_values`` instead of planning every message: the same
    quantity and price, a price the rules make zero or less (its sale price too) left out as the export does."""
    marketplace = MARKETPLACE.model_copy(update={"send_price": send_price, "currency": currency,
                                                 "price": MARKETPLACE.price.model_copy(
                                                     update={"markup_fixed": markup_fixed}),
                                                 "quantity": MARKETPLACE.quantity.model_copy(
                                                     update={"backorder_quantity": 9})})
    item = Offer(7, 0, "SKU-7", quantity, price, SalePrice(sale, None, None) if sale is not None else None,
                 backorders)
    try:
        planned = plan_message(item, marketplace, send_quantity=send_quantity, last_accepted=None)
    except PriceNotPositive:
        planned = plan_message(item, marketplace.model_copy(update={"send_price": False}),
                               send_quantity=send_quantity, last_accepted=None)
    values = offer_values(item, marketplace, send_quantity=send_quantity)
    assert values == ((planned.quantity, planned.price) if planned is not None else (None, None))


def test_a_manifest_reads_back_its_references_and_those_written_as_lists_before():
    """Manifests hold the references as JSON arrays of their fields; those written before 2026-11-30 held
    the quantity-held flag as 1 or 0 instead of true or false."""
    refs = [FeedMessageRef(1, "SKU-1", 10, 0, 5, None, False, "f1"),
            FeedMessageRef(2, "SKU-1", 10, 0, None, "12.99", True, "f1")]
    assert [FeedMessageRef.from_row(row) for row in json.loads(json.dumps(refs))] == refs
    written_before = [[1, "SKU-1", 10, 0, 5, None, 0, "f1"], [2, "SKU-1", 10, 0, None, "12.99", 1, "f1"]]
    assert [FeedMessageRef.from_row(row) for row in written_before] == refs
