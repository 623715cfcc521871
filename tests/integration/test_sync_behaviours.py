"""The sync is right under Amazon's real behaviours (docs/amazon-behaviours.md), through the real parts:
MariaDB with PrestaShop's tables and triggers, moto, and the faithful simulator."""

from __future__ import annotations

import argparse

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import FAILED, PENDING
from amazon_sync.services.acknowledge import AckSettings
from tests.conftest import MARKETPLACE_FR
from tests.integration.test_export import change_stock
from tests.stack import MARKETPLACE_DE, base_config

MARKETPLACE_JP = "A1VC38T7YXB528"


def simple_offer(stack):
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    return product, stack.expected_sku(product, 0)


def add_specific_price(stack, product, reduction, start="0000-00-00 00:00:00", end="0000-00-00 00:00:00"):
    stack.db.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, id_shop_group, "
                 "id_currency, id_country, id_group, id_customer, id_product_attribute, price, from_quantity, "
                 "reduction, reduction_tax, reduction_type, `from`, `to`) VALUES (0, 0, %s, 0, 0, 0, 0, 0, 0, 0, "
                 "-1, 1, %s, 1, 'percentage', %s, %s)", (product, reduction, start, end))


def clear_specific_prices(stack, product):
    stack.db.sql("DELETE FROM ps_specific_price WHERE id_product = %s", (product,))


# -- row 4: a refused price never drops a quantity ------------------------------------------------

def test_rejected_price_does_not_drop_the_quantity(make_stack):
    stack = make_stack()
    stack.sync_until_quiet()
    product, sku = simple_offer(stack)
    stack.amazon.faults.attribute_errors = {sku: {"attributeName": "purchasable_offer", "code": "8105",
                                                  "message": "The price is outside the allowed range."}}
    change_stock(stack, product, 0, 0)
    stack.db.sql("UPDATE ps_product_shop SET price = price + 7 WHERE id_product = %s", (product,))
    ack = stack.cycle()
    assert stack.amazon.listings[sku].quantity() == 0  # the stock drop got through
    assert ack.messages_rejected == 1 and ack.messages_accepted == 1
    assert [e.code for e in stack.runtime.state.sku_errors(sku)] == ["8105"]
    assert stack.log_count() == 0
    # the price was not "as sent": the next change of the offer goes out whole
    stack.amazon.faults.attribute_errors = {}
    stack.db.sql("UPDATE ps_product_shop SET price = price + 1 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert stack.mismatches(skus={sku}) == []


def test_quantity_and_price_travel_in_separate_messages(make_stack):
    stack = make_stack()
    product, sku = simple_offer(stack)
    change_stock(stack, product, 0, 4)
    summary = stack.export()
    messages = [m for d in stack.documents() for m in d["messages"] if m["sku"] == sku]
    assert [[p["path"] for p in m["patches"]] for m in messages] == [["/attributes/fulfillment_availability"],
                                                                     ["/attributes/purchasable_offer"]]
    assert summary.messages == 2


def on_sale(stack, reduction, start="0000-00-00 00:00:00", end="0000-00-00 00:00:00"):
    """A simple product whose only specific price is this one, synced: (product, SKU)."""
    stack.sync_until_quiet()
    product, sku = simple_offer(stack)
    clear_specific_prices(stack, product)
    add_specific_price(stack, product, reduction, start, end)
    stack.sync_until_quiet()
    return product, sku


# -- row 2a: ending a sale -----------------------------------------------------------------------

def test_deleted_specific_price_ends_the_sale_on_amazon(make_stack):
    stack = make_stack()
    product, sku = on_sale(stack, "0.2", "2020-01-01 00:00:00", "2099-06-01 00:00:00")
    assert stack.amazon.listings[sku].sale(MARKETPLACE_FR)["end_at"] == "2099-06-01T00:00:00Z"
    clear_specific_prices(stack, product)  # the shop ends the sale
    stack.sync_until_quiet()
    assert stack.amazon.listings[sku].sale(MARKETPLACE_FR) is None
    assert stack.mismatches(skus={sku}) == []


def test_a_sale_cut_short_in_prestashop_ends_on_amazon(make_stack):
    stack = make_stack()
    product, sku = on_sale(stack, "0.2", "2020-01-01 00:00:00", "2099-06-01 00:00:00")
    stack.db.sql("UPDATE ps_specific_price SET `to` = '2021-01-01 00:00:00' WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert stack.amazon.listings[sku].sale(MARKETPLACE_FR) is None


# -- row 5: sale windows -------------------------------------------------------------------------

def test_sale_window_is_sent_to_the_second_in_utc(make_stack):
    fr = base_config()["marketplaces"][0]
    stack = make_stack(marketplaces=[{**fr, "shop_timezone": "Europe/Paris"}])
    _, sku = on_sale(stack, "0.1", "2020-01-01 08:00:00", "2099-12-24 18:30:15")  # Paris time, winter: UTC+1
    sale = stack.amazon.listings[sku].sale(MARKETPLACE_FR)
    assert sale["start_at"] == "2020-01-01T07:00:00Z" and sale["end_at"] == "2099-12-24T17:30:15Z"


def test_open_ended_sale_is_sent_with_an_end_and_shown(make_stack):
    from amazon_sync_cli.commands.operations import cmd_status

    stack = make_stack()
    product, sku = on_sale(stack, "0.3")
    sale = stack.amazon.listings[sku].sale(MARKETPLACE_FR)
    assert sale is not None and sale["end_at"] == "2099-12-31T00:00:00Z"
    status = cmd_status(argparse.Namespace())
    assert {"marketplace": MARKETPLACE_FR, "sku": sku} in status["open_ended_sales"]
    assert "open-ended sales" in status["text"]
    clear_specific_prices(stack, product)
    stack.sync_until_quiet()
    assert (MARKETPLACE_FR, sku) not in EventLog(stack.db.conn, stack.db.tables).open_ended_sales()


# -- row 6: currency and precision ---------------------------------------------------------------

def test_yen_prices_are_whole_units(make_stack):
    jp = {"marketplace_id": MARKETPLACE_JP, "seller_id": "A1LOCALSELLER", "shop_id": 1, "country": "JP",
          "currency": "JPY", "conversion_rate": "161.37", "handling_time_days": 2}
    stack = make_stack(marketplaces=[jp])
    stack.db.sql("INSERT INTO ps_country (id_country, id_zone, iso_code, active, display_tax_label) "
                 "VALUES (11, 3, 'JP', 1, 1)")
    stack.db.sql("INSERT INTO ps_currency (id_currency, name, iso_code, conversion_rate) "
                 "VALUES (9, 'JPY', 'JPY', 161.37)")
    stack.listed_and_read(in_step=False, marketplace=MARKETPLACE_JP)  # a full sync sends only what Amazon lists
    stack.export(mode="full")
    stack.advance()
    ack = stack.ack()
    assert ack.messages_rejected == 0 and ack.messages_accepted > 0
    prices = [stack.amazon.listings[sku].price(MARKETPLACE_JP) for sku in stack.expected(MARKETPLACE_JP)]
    assert prices and all(p is not None and p == int(p) for p in prices)
    assert stack.mismatches(MARKETPLACE_JP) == []


# -- row 7: quantity pools -----------------------------------------------------------------------

def test_every_marketplace_of_the_seller_gets_the_same_quantity(make_stack):
    fr = base_config()["marketplaces"][0]
    stack = make_stack(marketplaces=[fr, {**fr, "marketplace_id": MARKETPLACE_DE, "country": "DE"}])
    product, sku = simple_offer(stack)
    change_stock(stack, product, 0, 9)
    stack.export()
    quantities = {d["messages"][0]["sku"]: [] for d in stack.documents()}
    per_document = [[p["value"][0]["quantity"] for m in d["messages"] if m["sku"] == sku for p in m["patches"]
                     if p["path"] == "/attributes/fulfillment_availability"] for d in stack.documents()]
    assert per_document == [[9], [9]], quantities  # the French and the German feed


# -- row 9: 4000000 -------------------------------------------------------------------------------

def test_internal_error_is_retried_a_bounded_number_of_times_and_shown(make_stack):
    stack = make_stack(max_attempts=2)
    product, sku = simple_offer(stack)
    stack.amazon.faults.sku_errors = {sku: {"code": "4000000", "message": "An internal error has occurred. "
                                                                          "Please try again."}}
    change_stock(stack, product, 0, 3)
    stack.export()
    stack.advance()
    first = stack.ack(settings=AckSettings(backoff_seconds=0))
    assert first.messages_retried >= 1 and stack.log_count(PENDING) == 1
    [error] = stack.runtime.state.sku_errors(sku)  # shown from the first time, Amazon's words
    assert error.code == "4000000" and "internal error" in error.message
    stack.export()
    stack.advance()
    stack.ack(settings=AckSettings(backoff_seconds=0))
    assert stack.log_count(FAILED) == 1 and stack.log_count(PENDING) == 0


# -- price rules that leave nothing to sell at -------------------------------------------------------

def test_a_price_the_rules_make_zero_or_less_is_never_sent_and_is_named(make_stack):
    fr = {**base_config()["marketplaces"][0], "price": {"markup_fixed": "-5"}}
    stack = make_stack(marketplaces=[fr])
    stack.listed_and_read()  # every SKU on Amazon, in step with the shop
    product, sku = simple_offer(stack)
    price_before = stack.amazon.listings[sku].price(MARKETPLACE_FR)
    stack.db.sql("UPDATE ps_product_shop SET price = 2 WHERE id_product = %s", (product,))
    change_stock(stack, product, 0, 9)
    summary = stack.export()
    assert summary.offer_errors == 1
    messages = [m for d in stack.documents() for m in d["messages"] if m["sku"] == sku]
    assert [p["path"] for m in messages for p in m["patches"]] == ["/attributes/fulfillment_availability"]
    [error] = stack.runtime.state.sku_errors(sku)
    assert error.code == "PRICE_NOT_POSITIVE" and "price" in error.message
    stack.advance()
    stack.ack()
    assert stack.amazon.listings[sku].quantity() == 9  # the stock still reaches Amazon
    assert stack.amazon.listings[sku].price(MARKETPLACE_FR) == price_before  # no zero or negative price
    assert stack.log_count() == 0
