"""The export through the real parts: MariaDB with triggers, moto, the simulator via python-amazon-sp-api."""

import json

import boto3
import pytest

from amazon_sync.adapters.mysql.schema import CLAIMED, PENDING
from amazon_sync.services.export import ExportRequest
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.crashes import CrashPoint, crash_at
from tests.conftest import MARKETPLACE_FR, service_log
from tests.stack import CATALOGUE_WIDE_SALE, MARKETPLACE_DE, base_config


def feed_messages(stack):
    return [m for document in stack.documents() for m in document["messages"]]


def change_stock(stack, product, attribute, quantity, shop=1):
    stack.db.sql("UPDATE ps_stock_available SET quantity = %s WHERE id_product = %s AND id_product_attribute = %s "
                 "AND id_shop = %s", (quantity, product, attribute, shop))


def test_full_sync_sends_prestashops_current_values(make_stack, amazon_models):
    stack = make_stack()
    stack.listed_and_read(in_step=False)
    summary = stack.export(mode="full")
    # quantity and price travel apart (docs/amazon-behaviours.md, row 4): two messages per offer
    assert summary.feeds_submitted == 1 and summary.messages == 2 * len(stack.catalogue.offers)
    stack.advance()
    stack.ack()
    assert stack.mismatches() == []
    documents = stack.documents()
    for document in documents:
        assert list(amazon_models.feed.iter_errors(document)) == []
    quantity, price = documents[0]["messages"][:2]
    assert quantity["sku"] == price["sku"]
    assert [p["path"] for p in quantity["patches"]] == ["/attributes/fulfillment_availability"]
    assert [p["path"] for p in price["patches"]] == ["/attributes/purchasable_offer"]
    assert quantity["patches"][0]["value"][0]["lead_time_to_ship_max_days"] == 2
    assert price["patches"][0]["value"][0]["audience"] == "ALL"


def test_incremental_sync_coalesces_a_product_saved_many_times(make_stack):
    stack = make_stack()
    product, attribute = stack.catalogue.offers[0]
    for quantity in range(1, 13):
        change_stock(stack, product, attribute, quantity)
    assert stack.log_count() == 12
    summary = stack.export()
    assert summary.rows_claimed == 12 and summary.messages == 2  # its quantity and its price
    message, _ = feed_messages(stack)
    assert message["patches"][0]["value"][0]["quantity"] == 12
    stack.advance()
    ack = stack.ack()
    assert ack.messages_accepted == 2 and ack.rows_deleted == 12
    assert stack.log_count() == 0


def test_non_ascii_skus_are_utf8_in_the_document(make_stack):
    stack = make_stack(CatalogueSpec(products=60, seed=9, unicode_skus=True))
    product = next(p for p, a in stack.catalogue.offers if a == 0 and p % 50 == 7)
    change_stock(stack, product, 0, 3)
    stack.export()
    raw = boto3.client("s3").get_object(
        Bucket=stack.bucket, Key=next(k["Key"] for k in boto3.client("s3").list_objects_v2(
            Bucket=stack.bucket)["Contents"] if k["Key"].endswith(".json") and k["Key"].startswith("feeds/")))
    body = raw["Body"].read()
    assert f"ÉTÉ-{product:07d}".encode() in body
    stack.advance()
    stack.ack()
    assert stack.listing(f"ÉTÉ-{product:07d}")["quantity"] == 3


def test_second_export_waits_while_the_first_holds_the_lease(make_stack):
    stack = make_stack()
    stack.listed_and_read()
    assert stack.runtime.state.acquire_lease("export", "someone-else", 60)
    summary = stack.export(mode="full")
    assert summary.skipped_reason == "another export run holds the lease" and summary.rows_claimed == 0
    stack.runtime.state.release_lease("export", "someone-else")
    assert stack.export(mode="full").feeds_submitted == 1


def test_a_sku_in_flight_is_not_sent_again_until_acknowledged(make_stack):
    stack = make_stack()
    product, attribute = stack.catalogue.offers[3]
    change_stock(stack, product, attribute, 5)
    assert stack.export().messages == 2
    change_stock(stack, product, attribute, 6)
    second = stack.export()
    assert second.skipped_in_flight_rows == 1 and second.messages == 0
    assert stack.log_count(PENDING) == 1 and stack.log_count(CLAIMED) == 1
    stack.advance()
    stack.ack()
    third = stack.export()
    assert third.messages == 2
    stack.advance()
    stack.ack()
    sku = next(m["sku"] for m in feed_messages(stack))
    assert stack.listing(sku)["quantity"] == 6 and stack.log_count() == 0


def test_throttled_submission_releases_rows_for_the_next_run(make_stack):
    stack = make_stack()
    product, attribute = stack.catalogue.offers[1]
    change_stock(stack, product, attribute, 9)
    stack.amazon.faults.throttle = {"createFeed": 100}
    exporter = stack.runtime.exporter()
    gateway = exporter.gateway_for(MARKETPLACE_FR)
    gateway.retry.attempts, gateway.retry.base_delay = 2, 0.01
    summary = exporter.run(ExportRequest())
    assert summary.feeds_abandoned == 1 and summary.feeds_submitted == 0
    assert stack.amazon.throttled["createFeed"] == 2
    assert stack.log_count(PENDING) == 1 and stack.log_count(CLAIMED) == 0
    stack.amazon.faults.throttle = {}
    assert stack.export().feeds_submitted == 1
    stack.advance()
    stack.ack()
    assert stack.log_count() == 0
    sku = feed_messages(stack)[0]["sku"]
    assert stack.listing(sku)["quantity"] == 9


def test_5xx_is_retried_within_the_run(make_stack):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[2], 4)
    stack.amazon.faults.create_feed_statuses = [503, 500]
    summary = stack.export()
    assert summary.feeds_submitted == 1 and stack.amazon.calls["createFeed"] == 3


def test_offers_with_errors_are_recorded_and_do_not_block_others(make_stack):
    stack = make_stack()
    (bad, _), (good, _) = [k for k in stack.catalogue.offers if k[1] == 0][:2]
    stack.db.sql("UPDATE ps_product SET reference = NULL WHERE id_product = %s", (bad,))
    change_stock(stack, bad, 0, 1)
    change_stock(stack, good, 0, 2)
    summary = stack.export()
    assert summary.offer_errors == 1 and summary.messages == 2
    errors = stack.runtime.state.sku_errors()
    assert errors[0].code == "NO_SKU" and "no SKU" in errors[0].message
    assert summary.rows_deleted_without_feed == 2  # the bad product's rows and the no-op sum row
    stack.advance()
    stack.ack()
    assert stack.log_count() == 0


def test_excluded_fba_skus_never_get_a_quantity(make_stack):
    stack = make_stack(marketplaces=[{**base_config()["marketplaces"][0], "exclude_sku_prefixes": ["PS-00000"]}])
    change_stock(stack, *stack.catalogue.offers[0], 1)
    summary = stack.export()
    assert summary.skipped_excluded == 1 and summary.messages == 0 and stack.log_count() == 0


def test_quantity_goes_to_every_marketplace_and_price_per_marketplace(make_stack):
    fr = base_config()["marketplaces"][0]
    de = {**fr, "marketplace_id": MARKETPLACE_DE, "country": "DE"}
    stack = make_stack(marketplaces=[fr, de])
    product, _ = stack.catalogue.offers[0]
    stack.db.sql("UPDATE ps_product_shop SET price = price + 1 WHERE id_product = %s AND id_shop = 1", (product,))
    summary = stack.export()
    assert summary.feeds_submitted == 2
    documents = stack.documents()
    # Amazon keeps one quantity per seller and SKU: both marketplaces send the same one
    patches = [[p["path"] for m in d["messages"] for p in m["patches"]] for d in documents]
    assert patches == [["/attributes/fulfillment_availability", "/attributes/purchasable_offer"]] * 2
    stack.advance()
    stack.ack()
    sku = documents[0]["messages"][0]["sku"]
    assert stack.mismatches(MARKETPLACE_FR, {sku}) == []
    de_price = stack.amazon.listings[sku].price(MARKETPLACE_DE)
    assert de_price is not None and de_price != stack.amazon.listings[sku].price(MARKETPLACE_FR)  # German VAT


def test_price_rules_apply(make_stack):
    rules = {"markup_percent": 10, "ending": 0.99, "minimum": 5}
    stack = make_stack(marketplaces=[{**base_config()["marketplaces"][0], "price": rules,
                                      "quantity": {"reserve": 2, "maximum": 10}}])
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    stack.db.sql("UPDATE ps_product_shop SET price = 10, id_tax_rules_group = 1 WHERE id_product = %s", (product,))
    change_stock(stack, product, 0, 50)
    stack.export()
    quantity, price = (m for m in feed_messages(stack) if m["sku"] == f"PS-{product:07d}")
    assert quantity["patches"][0]["value"][0]["quantity"] == 10
    assert price["patches"][0]["value"][0]["our_price"][0]["schedule"][0]["value_with_tax"] == 13.99


def test_back_in_stock_with_a_new_price_sends_the_price_first(make_stack):
    stack = make_stack()
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    change_stock(stack, product, 0, 0)
    stack.sync_until_quiet()
    sku = f"PS-{product:07d}"
    old_price = stack.amazon.listings[sku].price(MARKETPLACE_FR)
    stack.db.sql("UPDATE ps_product_shop SET price = price + 7 WHERE id_product = %s AND id_shop = 1", (product,))
    change_stock(stack, product, 0, 8)
    summary = stack.export()
    assert summary.quantities_held == 1
    stack.advance()
    stack.ack()
    listing = stack.amazon.listings[sku]
    assert listing.quantity() == 0 and listing.price(MARKETPLACE_FR) != old_price
    stack.sync_until_quiet()
    assert stack.amazon.listings[sku].quantity() == 8
    history = stack.amazon.listings[sku].history
    assert len(history) >= 3
    assert all(not (h["quantity"] and h["price"] == old_price) for h in history)  # never in stock at the old price


def test_splitting_at_the_message_limit(make_stack):
    stack = make_stack(max_messages_per_feed=30)
    stack.listed_and_read()
    summary = stack.export(mode="full")
    # 15 offers per feed: each offer's quantity and price messages stay in one feed
    assert summary.feeds_submitted == -(-len(stack.catalogue.offers) // 15)
    assert all(len(d["messages"]) <= 30 for d in stack.documents())
    stack.advance()
    stack.ack()
    assert stack.mismatches() == []


def test_dry_run_claims_and_submits_nothing(make_stack):
    stack = make_stack()
    stack.listed_and_read()
    change_stock(stack, *stack.catalogue.offers[0], 3)
    summary = stack.export(dryRun=True, mode="full")
    assert summary.feeds_submitted == 0 and stack.amazon.feeds == {}
    assert len(summary.dry_run_documents) == 1 and stack.log_count(PENDING) == 1
    body = boto3.client("s3").get_object(Bucket=stack.bucket, Key=summary.dry_run_documents[0])["Body"].read()
    assert len(json.loads(body)["messages"]) == 2 * len(stack.catalogue.offers)


@pytest.mark.parametrize("point", ["after_claim", "after_s3", "after_create_feed"])
def test_a_crash_loses_nothing_and_acknowledges_once(make_stack, point):
    stack = make_stack()
    product, attribute = stack.catalogue.offers[5]
    change_stock(stack, product, attribute, 17)
    with pytest.raises(CrashPoint):
        # on Amazon's clock: the feed it received is found by its createdTime next to our intent's, and the
        # manual clock of the simulator stands still while a loaded machine builds the stack
        stack.export(_exporter={"on_step": crash_at(point), "now": stack.amazon.clock.now})
    assert stack.log_count() == 1  # nothing deleted
    # time passes: the claims of the dead run outlive its lease
    stack.runtime.settings.lease_seconds = 60
    import time as clock
    later = clock.time() + 3600
    stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL 2 HOUR")
    stack.advance()
    with service_log() as records:
        stack.runtime.acknowledger(now=lambda: later).run()
        for _ in range(4):
            stack.export()
            stack.advance()
            stack.ack()
    assert stack.log_count() == 0
    sku = next(iter({m["sku"] for m in feed_messages(stack)}))
    assert stack.listing(sku)["quantity"] == 17
    submitted = [f for f in stack.amazon.feeds.values()]
    tracked = {f.feed_id for f in stack.runtime.state.feeds_in_flight(limit=100)}
    assert not tracked  # nothing left in flight, no orphan
    if point == "after_create_feed":
        # the feed Amazon received before the crash was adopted, not sent twice
        intents = [stack.runtime.state.intent_for_feed_id(f.feed_id) for f in submitted]
        assert all(intents)
        # the operator's line about it reaches the service's Powertools logger, keyed by batch and feed
        adopted = [r for r in records if r.getMessage() == "adopted a feed left by a crashed run"]
        assert [(r.feed_id, r.batch_id) for r in adopted] == [(submitted[0].feed_id, 1)]


def test_a_full_sync_larger_than_amazons_feed_budget_continues_in_the_next_runs(make_stack):
    stack = make_stack(max_messages_per_feed=10, feeds_per_window=2)
    stack.listed_and_read()
    first = stack.export(mode="full")
    assert first.feeds_submitted == 2 and first.messages == 2 * len(stack.catalogue.offers)
    assert first.continuation_rows == len(stack.catalogue.offers) - 10  # 5 offers (10 messages) per feed
    assert stack.log_count(0) == first.continuation_rows  # the rest waits in the queue, not lost
    stack.sync_until_quiet(rounds=20)
    assert stack.mismatches() == []


def test_a_catalogue_wide_change_larger_than_a_run_is_carried_by_its_own_row(make_stack):
    """What a run made full by a catalogue-wide row cannot send, the row itself carries: it is handed back
    and the next pass sends what is not yet accepted. Rows per offer on top would be written again by
    every run of the pass (a 200,000-offer shop: 200,000 rows a run)."""
    stack = make_stack(max_messages_per_feed=10, feeds_per_window=2)
    stack.listed_and_read()
    stack.sync_until_quiet()
    stack.db.sql(CATALOGUE_WIDE_SALE)
    first = stack.export()
    assert first.feeds_submitted == 2 and first.continuation_rows == 0
    assert stack.log_count() == 1  # the catalogue-wide row, held by the batch until its feeds' reports
    stack.sync_until_quiet(rounds=20)
    assert stack.mismatches() == []


def test_a_catalogue_wide_change_reaches_products_whose_feed_was_in_flight(make_stack):
    """A specific price for every product (id_product 0) while one product's feed is still in flight."""
    stack = make_stack()
    stack.listed_and_read()
    stack.sync_until_quiet()
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    change_stock(stack, product, 0, 3)
    assert stack.export().feeds_submitted == 1  # in flight from now on
    stack.db.sql(CATALOGUE_WIDE_SALE)
    summary = stack.export()
    assert summary.continuation_rows >= 1
    stack.sync_until_quiet()
    sku = stack.expected_sku(product, 0)
    offer = stack.amazon.listings[sku].offer(MARKETPLACE_FR)
    assert offer["discounted_price"][0]["schedule"][0]["value_with_tax"] == pytest.approx(
        offer["our_price"][0]["schedule"][0]["value_with_tax"] / 2, abs=0.01)


def test_a_crash_before_the_second_marketplace_still_reaches_it(make_stack):
    import time as clock

    fr = base_config()["marketplaces"][0]
    stack = make_stack(marketplaces=[fr, {**fr, "marketplace_id": MARKETPLACE_DE, "country": "DE"}])
    stack.sync_until_quiet()
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    stack.db.sql("UPDATE ps_product_shop SET price = price + 10 WHERE id_product = %s", (product,))
    with pytest.raises(CrashPoint):  # the French feed reached Amazon; the German one was never built
        stack.export(_exporter={"on_step": crash_at("after_create_feed")})
    stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL 2 HOUR")
    stack.advance()
    later = clock.time() + 3600
    stack.runtime.acknowledger(now=lambda: later).run()
    stack.sync_until_quiet()
    sku = stack.expected_sku(product, 0)
    assert stack.mismatches(MARKETPLACE_FR, {sku}) == [] and stack.mismatches(MARKETPLACE_DE, {sku}) == []
