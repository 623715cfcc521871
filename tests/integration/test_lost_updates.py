"""The four lost updates of issue 11, each reduced to a deterministic sequence through the real parts.

1. A deleted product in a batch run as a full pass (a catalogue-wide row) kept its stock on Amazon.
2. A crashed run's feed intent was matched to the next run's feed by time alone.
3. A SKU applied by a FATAL feed, never recorded as accepted, kept its stock when renamed again.
4. A sale change that happens by the clock (a second window, a product sale inside a catalogue sale)
   never reached Amazon.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta

import pytest

from amazon_sync.adapters.mysql.schema import FAILED
from amazon_sync.services.export import ExportRequest
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.crashes import CrashPoint, crash_at
from tests.conftest import MARKETPLACE_FR
from tests.stack import base_config


def catalogue_sale(stack, reduction=0.05, start="0000-00-00 00:00:00", end="0000-00-00 00:00:00"):
    sale(stack, 0, reduction, start, end)


def sale(stack, product, reduction, start, end):
    stack.db.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, id_shop_group, "
                 "id_currency, id_country, id_group, id_customer, id_product_attribute, price, from_quantity, "
                 "reduction, reduction_tax, reduction_type, `from`, `to`) VALUES (0, 0, %s, 0, 0, 0, 0, 0, 0, 0, "
                 "-1, 1, %s, 1, 'percentage', %s, %s)", (product, reduction, start, end))


def delete_product(stack, product):
    """As PrestaShop's Product::delete does: the shop rows, the combinations, the stock, the product."""
    for table in ("stock_available", "product_attribute_shop", "product_attribute", "product_shop", "product"):
        stack.db.sql(f"DELETE FROM ps_{table} WHERE id_product = %s", (product,))


def synced(make_stack, **config):
    # These sequences rename SKUs and create new ones, which the merchant lets the sync create on Amazon;
    # the full sync follows a reconciliation, as the export requires.
    marketplace = {**base_config()["marketplaces"][0], "send_to_skus_not_on_amazon": True}
    stack = make_stack(CatalogueSpec(products=12, seed=7, combination_share=0.4, specific_price_share=0,
                                     unicode_skus=False), **{"marketplaces": [marketplace], **config})
    stack.listed_and_read()
    stack.export(mode="full")
    stack.sync_until_quiet()
    assert stack.mismatches() == []
    return stack


def stock_on_amazon(stack, sku):
    return stack.amazon.listings[sku].quantity()


def test_a_deleted_product_in_a_batch_with_a_catalogue_wide_row_gets_quantity_zero(make_stack):
    stack = synced(make_stack)
    simple = next(p for p, a in stack.catalogue.offers if a == 0)
    with_combinations = next(p for p, a in stack.catalogue.offers if a != 0)
    gone = [stack.expected_sku(p, a) for p, a in stack.catalogue.offers if p in (simple, with_combinations)]
    stack.db.sql("UPDATE ps_stock_available SET quantity = 9 WHERE id_product IN (%s, %s)",
                 (simple, with_combinations))
    stack.sync_until_quiet()
    assert all(stock_on_amazon(stack, sku) == 9 for sku in gone)
    delete_product(stack, simple)
    delete_product(stack, with_combinations)
    catalogue_sale(stack)  # the same batch holds a catalogue-wide row: it runs as a full pass
    stack.sync_until_quiet()
    assert {sku: stock_on_amazon(stack, sku) for sku in gone} == dict.fromkeys(gone, 0)
    assert stack.mismatches() == []


def test_a_full_run_zeroes_products_deleted_since_the_last_one(make_stack):
    stack = synced(make_stack)
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    sku = stack.expected_sku(product, 0)
    stack.db.sql("UPDATE ps_stock_available SET quantity = 4 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    delete_product(stack, product)
    stack.db.sql("DELETE FROM ps_amazon_sync_log")  # the deletion's rows were lost (e.g. triggers were off)
    stack.export(mode="full")
    stack.sync_until_quiet()
    assert stock_on_amazon(stack, sku) == 0


class DiesBeforeCreateFeed:
    """A gateway whose process is killed after the document is uploaded, before createFeed."""

    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def create_feed(self, document_id, marketplace_id):
        raise CrashPoint("before_create_feed")


def test_a_crashed_runs_intent_is_never_matched_to_another_runs_feed(make_stack):
    stack = synced(make_stack)
    first, second = [p for p, a in stack.catalogue.offers if a == 0][:2]
    first_sku = stack.expected_sku(first, 0)
    stack.db.sql("UPDATE ps_stock_available SET quantity = 8 WHERE id_product = %s", (first,))
    stack.sync_until_quiet()
    assert stock_on_amazon(stack, first_sku) == 8

    # run 1 changes the first product to 11 and dies before createFeed
    stack.db.sql("UPDATE ps_stock_available SET quantity = 11 WHERE id_product = %s", (first,))
    exporter = stack.runtime.exporter()
    real_gateway_for = exporter.gateway_for
    exporter.gateway_for = lambda marketplace: DiesBeforeCreateFeed(real_gateway_for(marketplace))
    with pytest.raises(CrashPoint):
        exporter.run(ExportRequest())

    # run 2 cannot list Amazon's feeds, submits the second product's change, dies before recording it
    stack.db.sql("UPDATE ps_stock_available SET quantity = 5 WHERE id_product = %s", (second,))
    stack.amazon.faults.throttle["getFeeds"] = 50
    with contextlib.suppress(CrashPoint):
        stack.export(_exporter={"on_step": crash_at("after_create_feed")})
    stack.amazon.faults.throttle.clear()

    # later: the claims of both dead runs outlive their lease
    stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL 2 HOUR")
    stack.advance()
    later = time.time() + 3600
    stack.runtime.acknowledger(now=lambda: later).run()
    stack.sync_until_quiet()
    assert stack.log_count() == stack.log_count(FAILED) == 0
    assert stock_on_amazon(stack, first_sku) == 11
    assert stack.mismatches() == []


def test_a_sku_a_fatal_feed_may_have_applied_gets_quantity_zero_when_renamed(make_stack):
    stack = synced(make_stack)
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    stack.db.sql("UPDATE ps_stock_available SET quantity = 6 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    stack.db.sql("UPDATE ps_product SET reference = 'RENAMED-ONCE' WHERE id_product = %s", (product,))
    stack.amazon.faults.feed_outcomes.append("FATAL_APPLIED")  # Amazon applied it all, then said FATAL
    stack.cycle()
    assert stock_on_amazon(stack, "RENAMED-ONCE") == 6
    stack.db.sql("UPDATE ps_amazon_sync_log SET not_before = NULL")  # the retry's back-off has passed
    stack.db.sql("UPDATE ps_product SET reference = 'RENAMED-TWICE' WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert stock_on_amazon(stack, "RENAMED-TWICE") == 6
    assert stock_on_amazon(stack, "RENAMED-ONCE") == 0
    assert stock_on_amazon(stack, f"PS-{product:07d}") == 0


def shop_time(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")  # the marketplace's shop time zone is UTC


def discounted(stack, sku):
    offer = stack.amazon.listings[sku].offer(MARKETPLACE_FR) or {}
    schedule = (offer.get("discounted_price") or [{"schedule": [None]}])[0]["schedule"][0]
    return schedule


def test_sale_changes_that_happen_by_the_clock_reach_amazon(make_stack):
    stack = synced(make_stack)
    simple = [p for p, a in stack.catalogue.offers if a == 0]
    consecutive, inside = simple[0], simple[1]
    start = datetime.now(UTC).replace(microsecond=0)
    # consecutive windows: 10 % for the first hour, 30 % for the two after
    sale(stack, consecutive, 0.1, shop_time(start - timedelta(minutes=5)), shop_time(start + timedelta(hours=1)))
    sale(stack, consecutive, 0.3, shop_time(start + timedelta(hours=1)), shop_time(start + timedelta(hours=3)))
    # a product sale (40 %) that starts in an hour while a catalogue-wide one (5 %) runs
    catalogue_sale(stack, 0.05)
    sale(stack, inside, 0.4, shop_time(start + timedelta(hours=1)), shop_time(start + timedelta(hours=2)))
    stack.sync_until_quiet()
    regular = {p: stack.amazon.listings[stack.expected_sku(p, 0)].price(MARKETPLACE_FR) for p in (consecutive, inside)}
    assert discounted(stack, stack.expected_sku(consecutive, 0))["value_with_tax"] == pytest.approx(
        regular[consecutive] * 0.9, abs=0.011)
    assert discounted(stack, stack.expected_sku(inside, 0))["value_with_tax"] == pytest.approx(
        regular[inside] * 0.95, abs=0.011)

    # 90 minutes later nothing changed in the database, but both effective prices did
    later = (start + timedelta(minutes=90)).timestamp()
    for _ in range(3):
        stack.export(_exporter={"now": lambda: later})
        stack.advance()
        stack.ack(now=lambda: later)
    first = discounted(stack, stack.expected_sku(consecutive, 0))
    assert first["value_with_tax"] == pytest.approx(regular[consecutive] * 0.7, abs=0.011)
    assert first["start_at"].startswith((start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    second = discounted(stack, stack.expected_sku(inside, 0))
    assert second["value_with_tax"] == pytest.approx(regular[inside] * 0.6, abs=0.011)
    assert stack.log_count() == 0
