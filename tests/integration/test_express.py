"""The express lane through the real parts: MariaDB with triggers, moto, the simulator's patchListingsItem
reached by python-amazon-sp-api's ListingsItems client."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from amazon_sync.adapters.mysql.schema import CLAIMED, PENDING
from amazon_sync.services.export import ExportRequest
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.local_processes import free_port
from tests.conftest import MARKETPLACE_FR
from tests.stack import CATALOGUE_WIDE_SALE, base_config, build_stack

EXPRESS = {"express_lane": True}


def change_stock(stack, product, attribute, quantity, shop=1):
    stack.db.sql("UPDATE ps_stock_available SET quantity = %s WHERE id_product = %s AND id_product_attribute = %s "
                 "AND id_shop = %s", (quantity, product, attribute, shop))


def simple_products(stack, count):
    return [(p, a) for p, a in stack.catalogue.offers if a == 0][:count]


def patches_sent(stack):
    return stack.amazon.calls.get("patchListingsItem", 0)


def one_offer(make_stack):
    """An express stack and one product without combinations: (stack, product, attribute, sku)."""
    stack = make_stack(**EXPRESS)
    product, attribute = simple_products(stack, 1)[0]
    return stack, product, attribute, stack.expected_sku(product, attribute)


def settle_amazon(stack, seconds=60):
    stack.advance(seconds)


def quantities_shown(stack, sku):
    """The quantities Amazon showed for the SKU, in order, each once."""
    shown = []
    for entry in stack.amazon.listings[sku].history:
        if entry["quantity"] is not None and (not shown or shown[-1] != entry["quantity"]):
            shown.append(entry["quantity"])
    return shown


def test_a_small_change_goes_express_and_its_rows_are_deleted_on_accepted(make_stack):
    stack, product, attribute, sku = one_offer(make_stack)
    for quantity in (4, 5, 6):
        change_stock(stack, product, attribute, quantity)
    summary = stack.export()
    # quantity and price are one submission each, as they are separate feed messages
    assert summary.express_messages == 2 and summary.express_accepted == 2
    assert summary.feeds_submitted == 0 and stack.amazon.feeds == {}
    assert summary.rows_deleted_without_feed == 3 and stack.log_count() == 0
    # ACCEPTED is queued on Amazon's side: it shows once Amazon has processed it
    settle_amazon(stack)
    assert stack.amazon.listings[sku].quantity() == 6
    # what was accepted is remembered exactly as for a feed: the same value again is not sent
    change_stock(stack, product, attribute, 7)
    change_stock(stack, product, attribute, 6)
    again = stack.export()
    assert again.skipped_unchanged == 1 and again.express_messages == 0 and stack.log_count() == 0
    record = stack.runtime.state.get_feed(f"{summary.batch_id}-{MARKETPLACE_FR}-express")
    assert record is not None and record.lane == "listings" and record.accepted == 2


def test_an_invalid_answer_records_the_skus_issues_like_a_feed_rejection(make_stack):
    stack = make_stack(**EXPRESS)
    (product, attribute), (other, other_attribute) = simple_products(stack, 2)
    sku = stack.expected_sku(product, attribute)
    stack.amazon.faults.sku_errors[sku] = {"code": "8560", "message": "SKU does not match any ASIN",
                                           "attributeName": "fulfillment_availability"}
    change_stock(stack, product, attribute, 902)
    change_stock(stack, other, other_attribute, 903)
    summary = stack.export()
    assert summary.express_rejected == 2 and summary.express_accepted == 2
    # a rejection is Amazon's final word on that message: its rows go, as after a feed's report
    assert stack.log_count() == 0
    [error] = stack.runtime.state.sku_errors(sku=sku)
    assert error.code == "8560" and error.feed_id == "patchListingsItem" and error.severity == "ERROR"
    # once Amazon accepts the SKU again the error is cleared
    del stack.amazon.faults.sku_errors[sku]
    change_stock(stack, product, attribute, 5)
    assert stack.export().express_accepted == 2
    assert stack.runtime.state.sku_errors(sku=sku) == []


@pytest.mark.parametrize("fault", ["throttle", "5xx"])
def test_a_throttled_or_failing_lane_stops_and_leaves_the_rest_pending(make_stack, fault):
    stack = make_stack(**EXPRESS)
    offers = simple_products(stack, 3)
    for quantity, (product, attribute) in enumerate(offers, 901):
        change_stock(stack, product, attribute, quantity)
    if fault == "throttle":
        stack.amazon.faults.throttle["patchListingsItem"] = 2  # the call and its one retry
    else:
        stack.amazon.faults.patch_statuses = [500, 503]
    summary = stack.export()
    assert summary.express_stopped and summary.express_unsent == 3 and summary.express_accepted == 0
    assert patches_sent(stack) == 2  # stopped: no hammering of a throttled API
    assert stack.log_count(PENDING) == 3 and stack.log_count(CLAIMED) == 0
    after = stack.export()
    assert after.express_accepted == 6 and stack.log_count() == 0
    settle_amazon(stack)
    assert stack.mismatches(skus={stack.expected_sku(p, a) for p, a in offers}) == []


def test_a_500_that_amazon_applied_anyway_is_never_skipped_as_unchanged(make_stack):
    """A 5xx may hide an applied patch: the SKU's last accepted value is forgotten before the call, so
    going back to that value is sent again rather than skipped."""
    stack, product, attribute, sku = one_offer(make_stack)
    change_stock(stack, product, attribute, 10)
    stack.export()
    settle_amazon(stack)
    change_stock(stack, product, attribute, 11)
    stack.amazon.faults.patch_statuses = [500, 500]
    assert stack.export().express_unsent == 1
    # Amazon applied 11 behind the 500s, as it may
    stack.amazon.listings[sku].attributes["fulfillment_availability"][0]["quantity"] = 11
    change_stock(stack, product, attribute, 10)
    summary = stack.export()
    assert summary.express_accepted == 2 and summary.skipped_unchanged == 0
    settle_amazon(stack)
    assert stack.amazon.listings[sku].quantity() == 10


def test_above_the_threshold_the_freshest_changes_go_express_and_feeds_carry_the_oldest(make_stack):
    stack = make_stack(express_threshold=6, **EXPRESS)  # six calls: three offers, quantity and price each
    offers = simple_products(stack, 8)
    order = [5, 2, 7, 0, 4, 1, 6, 3]  # neither the products' order nor its reverse
    for quantity, index in enumerate(order, 901):
        change_stock(stack, *offers[index], quantity)
    summary = stack.export()
    assert summary.express_messages == 6 and summary.feed_messages == 10 and summary.feeds_submitted == 1
    [feed] = stack.documents()
    # the three changed last went express, the feed carries the others
    express_skus = {stack.expected_sku(*offers[i]) for i in order[5:]}
    assert {m["sku"] for m in feed["messages"]} == {stack.expected_sku(*offers[i]) for i in order[:5]}
    assert stack.log_count() == 5  # the express rows are gone; the feed's wait for its report
    stack.advance()
    stack.ack()
    settle_amazon(stack)
    assert stack.log_count() == 0
    assert stack.mismatches(skus={stack.expected_sku(p, a) for p, a in offers}) == []
    assert all({h["source"] for h in stack.amazon.listings[sku].history} == {"patchListingsItem"}
               for sku in express_skus)


def test_a_sku_with_a_feed_in_flight_waits_for_it_before_going_express(make_stack):
    stack = make_stack(express_threshold=2, **EXPRESS)  # one offer's two calls
    first, second = simple_products(stack, 2)
    change_stock(stack, *first, 901)  # older: goes by feed
    change_stock(stack, *second, 902)  # the freshest: goes express
    assert stack.export().feeds_submitted == 1
    sku = stack.expected_sku(*first)
    change_stock(stack, *first, 909)  # arrives while its feed is in flight
    waiting = stack.export()
    assert waiting.skipped_in_flight_rows == 1 and waiting.express_messages == 0
    assert stack.log_count(PENDING) == 1
    stack.advance()
    stack.ack()  # the feed's report: now the change may go, and it goes express
    after = stack.export()
    assert after.express_accepted == 2
    settle_amazon(stack)
    # Amazon saw our two values in the order PrestaShop had them: the feed's never lands after the PATCH
    assert quantities_shown(stack, sku) == [901, 909]
    assert [h["source"] for h in stack.amazon.listings[sku].history][-1] == "patchListingsItem"


@pytest.mark.parametrize("bulk", ["full sync", "catalogue-wide sale"])
def test_a_change_waits_for_a_bulk_feed_that_carries_its_product_though_no_row_names_it(make_stack, bulk):
    """A full sync has no log row, and a catalogue-wide change one row for every product: the products
    in such a feed are known from its manifest. A later change of one of them must not go express while
    the feed is at Amazon: the PATCH would be applied first and the feed's older value over it."""
    stack = make_stack(**EXPRESS)
    stack.listed_and_read()
    if bulk == "full sync":
        assert stack.export(mode="full").feeds_submitted == 1
    else:
        stack.db.sql(CATALOGUE_WIDE_SALE)
        assert stack.export().feeds_submitted == 1
    product, attribute = simple_products(stack, 1)[0]
    sku = stack.expected_sku(product, attribute)
    change_stock(stack, product, attribute, 977)
    waiting = stack.export()
    assert waiting.express_messages == 0 and waiting.skipped_in_flight_rows == 1
    stack.advance()
    stack.ack()
    after = stack.export()
    assert after.express_accepted == 2
    settle_amazon(stack)
    assert stack.amazon.listings[sku].quantity() == 977
    assert stack.mismatches() == []


def test_one_feed_at_amazon_at_a_time_keeps_a_backlog_free_for_the_express_lane(make_stack):
    """With the express lane on, a marketplace has one feed at Amazon at a time. The rest of a backlog
    stays pending instead of queueing behind it at Amazon, where its products would be held for the whole
    queue: a product of the backlog that changes again goes express at once with its current value; a
    product in the feed at Amazon waits for that feed's report; the next feed, oldest changes first,
    goes once the first is acknowledged. Waiting for Amazon is no failure of the run."""
    stack = make_stack(express_threshold=2, max_messages_per_feed=4, **EXPRESS)  # one offer express, two per feed
    offers = simple_products(stack, 7)
    sku = [stack.expected_sku(*offer) for offer in offers]
    for quantity, offer in enumerate(offers, 901):
        change_stock(stack, *offer, quantity)

    def fed() -> list[list[str]]:
        return [sorted({m["sku"] for m in document["messages"]}) for document in stack.documents()]

    first = stack.export()
    # the freshest change goes express, and the next freshest, which the lane's budget left, heads the feed;
    # the feed is full with the oldest change, and the other four wait, unclaimed
    assert first.express_accepted == 2 and first.feeds_submitted == 1 and fed() == [sorted([sku[5], sku[0]])]
    assert first.waiting_for_feed_products == 4 and first.failure is None
    assert stack.log_count(PENDING) == 4 and stack.log_count(CLAIMED) == 2
    change_stock(stack, *offers[3], 950)  # a product of the backlog changes again
    change_stock(stack, *offers[0], 960)  # and one in the feed at Amazon
    # the marketplace's feed is at Amazon: the run claims only the newest rows, all the lane can use
    second = stack.export(_exporter={"claim_chunk": 2})
    assert second.rows_claimed == 2
    assert second.feeds_submitted == 0 and second.failure is None and second.skipped_in_flight_rows == 1
    # pending: offers 1, 2 and 4, offer 0's change (held) and offer 3's older row (found unchanged later)
    assert second.express_accepted == 2 and stack.log_count(PENDING) == 5
    settle_amazon(stack)
    assert stack.amazon.listings[sku[3]].quantity() == 950
    assert stack.amazon.listings[sku[0]].quantity() == 901  # the feed, processed, not yet acknowledged
    stack.ack()
    third = stack.export()
    # the change that waited for its feed is the freshest now: express; the next feed takes the lane's
    # leftover and the oldest change
    assert third.express_accepted == 2 and fed()[1:] == [sorted([sku[4], sku[1]])]
    stack.sync_until_quiet()
    settle_amazon(stack)
    assert stack.log_count() == 0
    assert stack.mismatches(skus=set(sku)) == []
    assert quantities_shown(stack, sku[0]) == [901, 960]


def test_without_the_express_lane_every_feed_goes_at_once(make_stack):
    """Holding feeds back only helps the express lane: without it, every change goes by feed, and a
    feed held back would only reach Amazon's queue later."""
    stack = make_stack(max_messages_per_feed=4)
    offers = simple_products(stack, 5)
    for quantity, offer in enumerate(offers, 901):
        change_stock(stack, *offer, quantity)
    summary = stack.export()
    assert summary.feeds_submitted == 3 and summary.waiting_for_feed_products == 0


def test_a_restock_with_a_new_price_sends_the_price_by_feed_before_the_quantity(make_stack):
    stack, product, attribute, sku = one_offer(make_stack)
    change_stock(stack, product, attribute, 0)
    stack.export()
    settle_amazon(stack)
    change_stock(stack, product, attribute, 5)
    stack.db.sql("UPDATE ps_product_shop SET price = price + 7 WHERE id_product = %s", (product,))
    summary = stack.export()
    assert summary.quantities_held == 1 and summary.feeds_submitted == 1 and summary.express_messages == 0
    stack.advance()
    stack.ack()  # DONE: the price is in; the held quantity follows, through the express lane
    assert stack.amazon.listings[sku].quantity() == 0
    follow = stack.export()
    assert follow.express_accepted >= 1 and follow.express_rejected == 0
    settle_amazon(stack)
    assert stack.mismatches(skus={sku}) == []
    history = stack.amazon.listings[sku].history
    first_in_stock = next(h for h in history if h["quantity"])
    assert first_in_stock["price"] == pytest.approx(float(stack.expected()[sku][1]))


def test_excluded_skus_never_go_express(make_stack):
    stack = make_stack(**EXPRESS)
    product, attribute = simple_products(stack, 1)[0]
    stack.runtime.config.marketplaces[0].exclude_skus.append(stack.expected_sku(product, attribute))
    change_stock(stack, product, attribute, 903)
    summary = stack.export()
    assert summary.skipped_excluded == 1 and summary.express_messages == 0 and patches_sent(stack) == 0


def test_dry_run_validate_asks_amazon_to_check_a_sample_and_changes_nothing(make_stack):
    stack = make_stack(**EXPRESS)
    offers = simple_products(stack, 3)
    for quantity, (product, attribute) in enumerate(offers, 901):
        change_stock(stack, product, attribute, quantity)
    bad_sku = stack.expected_sku(*offers[0])
    stack.amazon.faults.sku_errors[bad_sku] = {"code": "90220", "message": "'size' is required"}
    summary = stack.export(dryRun=True, validate=True)
    statuses = {entry["sku"]: entry["status"] for entry in summary.validation}
    assert statuses[bad_sku] == "INVALID" and list(statuses.values()).count("VALID") == 2
    settle_amazon(stack)
    assert stack.amazon.pending_patches == [] and stack.log_count(PENDING) == 3
    assert all(stack.amazon.listings.get(stack.expected_sku(*o)) is None for o in offers)
    with pytest.raises(ValueError, match="dryRun"):
        stack.export(validate=True)


# -- a real crash between Amazon's ACCEPTED and the delete ----------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    from amazon_sync.bootstrap import Runtime
    from amazon_sync.services.export import ExportRequest

    def crash(step):
        if step == sys.argv[1]:
            os.kill(os.getpid(), signal.SIGKILL)

    Runtime.from_env().exporter(on_step=crash).run(ExportRequest())
    print("finished without reaching", sys.argv[1])
""")


@pytest.fixture
def served_aws(monkeypatch):
    """moto as a server, so a second process sees the same S3 and DynamoDB."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    httpx.post(f"http://127.0.0.1:{port}/moto-api/reset")  # moto's state is per Python process, not per server
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    yield
    server.stop()


@pytest.mark.parametrize("point", ["express_answered", "express_booked"])
def test_a_process_killed_between_accepted_and_the_delete_loses_nothing(shop_db, simulator, monkeypatch,
                                                                       tmp_path, served_aws, point):
    stack = build_stack(shop_db, simulator, monkeypatch, tmp_path, CatalogueSpec(products=40, seed=9),
                        base_config(**EXPRESS))
    product, attribute = simple_products(stack, 1)[0]
    sku = stack.expected_sku(product, attribute)
    change_stock(stack, product, attribute, 13)
    child = subprocess.run([sys.executable, "-c", CHILD, point], env=dict(os.environ), capture_output=True,
                           timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert patches_sent(stack) == 2  # quantity and price
    assert stack.log_count(CLAIMED) == 1  # Amazon accepted, the row is still there
    settle_amazon(stack)
    assert stack.amazon.listings[sku].quantity() == 13
    # the dead run's claim outlives its lease; the acknowledgment hands the row back
    stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL 2 HOUR")
    later = time.time() + 3600
    stack.runtime.acknowledger(now=lambda: later).run()
    assert stack.log_count(PENDING) == 1
    summary = stack.runtime.exporter(now=lambda: later).run(ExportRequest())
    assert stack.log_count() == 0
    if point == "express_answered":
        # nothing was booked: sent again, which is safe (a replace applied twice is applied once)
        assert summary.express_accepted == 2 and patches_sent(stack) == 4
    else:
        # booked before the crash: known as accepted, so not sent again
        assert summary.skipped_unchanged == 1 and patches_sent(stack) == 2
    settle_amazon(stack)
    assert stack.mismatches(skus={sku}) == []
    assert {h["quantity"] for h in stack.amazon.listings[sku].history} == {13}
