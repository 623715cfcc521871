"""No dead ends: report downloads that fail, ATTENTION and its ways out, missing manifests, exports that
fail after claiming, notifications taken as hints. Through the real parts (MariaDB, moto, the simulator)."""

import boto3
import pytest

from amazon_sync.adapters.mysql.schema import CLAIMED, PENDING
from amazon_sync.services.acknowledge import FeedNotification
from tests.integration.test_ack import one_change
from tests.integration.test_export import change_stock

EXPORT_INTERVAL = 300


def feed_of(stack, feed_id):
    return stack.runtime.state.get_feed(stack.runtime.state.intent_for_feed_id(feed_id))


def ack_later(stack, seconds=EXPORT_INTERVAL + 1, **kwargs):
    """One acknowledgment run `seconds` after the previous one, on the simulator's clock."""
    stack.advance(seconds)
    return stack.ack(now=stack.amazon.clock.now, **kwargs)


@pytest.mark.parametrize("fault", [
    {"throttle": {"getFeedDocument": 10}},
    {"statuses": {"getFeedDocument": [503, 500, 503]}},
    {"download_statuses": [500, 403, 503]},  # S3's XML error page, which the library took for the report
], ids=["429x10", "5xx", "error-page"])
def test_failed_report_downloads_leave_the_feed_in_flight_until_one_succeeds(make_stack, fault):
    stack = make_stack()
    sku, feed_id = one_change(stack, quantity=9)
    stack.advance()
    stack.amazon.set_faults(fault)
    runs = 0
    while feed_of(stack, feed_id).status == "IN_FLIGHT" and runs < 15:
        calls_before = stack.amazon.calls.get("getFeedDocument", 0)
        summary = ack_later(stack)
        runs += 1
        assert stack.amazon.calls.get("getFeedDocument", 0) - calls_before <= 1  # one try per run, paced
        assert summary.feeds_attention == 0
        if feed_of(stack, feed_id).status == "IN_FLIGHT":
            assert stack.log_count(CLAIMED) == 1 and feed_of(stack, feed_id).download_error
    record = feed_of(stack, feed_id)
    assert record.status == "DONE" and runs > 1
    assert stack.log_count() == 0 and stack.listing(sku)["quantity"] == 9
    assert stack.runtime.state.feeds_needing_attention() == []


def test_download_attempts_are_bounded_and_attention_has_a_way_out(make_stack):
    stack = make_stack()
    sku, feed_id = one_change(stack, quantity=4)
    stack.advance()
    stack.amazon.set_faults({"download_statuses": [500, 500]})
    settings = stack.runtime.ack_settings(max_download_attempts=2)
    ack_later(stack, settings=settings)
    summary = ack_later(stack, settings=settings)
    record = feed_of(stack, feed_id)
    assert record.status == "ATTENTION" and "HTTP 500" in record.attention and "2 attempts" in record.attention
    assert summary.feeds_waiting_attention == 1 and stack.log_count(CLAIMED) == 1
    # Amazon did apply it: the release must not let the next export skip the SKU as unchanged
    assert stack.listing(sku)["quantity"] == 4
    stack.runtime.state.table.delete_item(Key={"pk": "SUBMISSIONS", "sk": "SUBMISSIONS"})
    stack.amazon.listings[sku].attributes["fulfillment_availability"][0]["quantity"] = 1  # changed behind us
    released = stack.runtime.acknowledger().release_attention([feed_id])
    assert released.feeds_released == 1 and released.rows_released == 1 and stack.log_count(PENDING) == 1
    assert stack.db.scalar("SELECT fingerprint FROM ps_amazon_sync_offer_state WHERE sku = %s", (sku,)) is None
    stack.amazon._json_window.events.clear()
    stack.sync_until_quiet()
    assert stack.listing(sku)["quantity"] == 4 and feed_of(stack, feed_id).status == "RELEASED"
    assert stack.ack().feeds_waiting_attention == 0


def test_attention_is_released_automatically_after_the_configured_age(make_stack):
    stack = make_stack(attention_release_after_hours=1)
    stack.amazon.faults.corrupt_reports = 1
    sku, feed_id = one_change(stack, quantity=7)
    first = ack_later(stack, 10)
    assert first.feeds_attention == 1 and feed_of(stack, feed_id).status == "ATTENTION"
    assert ack_later(stack, 600).feeds_released == 0
    summary = ack_later(stack, 3600)
    assert summary.feeds_released == 1 and summary.feeds_waiting_attention == 0
    stack.amazon._json_window.events.clear()
    stack.sync_until_quiet()
    assert stack.listing(sku)["quantity"] == 7 and stack.log_count() == 0


def test_an_expired_manifest_is_attention_and_other_batches_still_settle(make_stack):
    stack = make_stack()
    _, lost_feed = one_change(stack, 0, quantity=5)
    stack.amazon._json_window.events.clear()
    sku, good_feed = one_change(stack, 1, quantity=6)
    record = feed_of(stack, lost_feed)
    boto3.client("s3").delete_object(Bucket=stack.bucket, Key=record.manifest_key)  # DocumentRetentionDays
    summary = ack_later(stack, 10)
    assert feed_of(stack, lost_feed).status == "ATTENTION" and "manifest is missing" in feed_of(
        stack, lost_feed).attention
    assert feed_of(stack, good_feed).status == "DONE" and summary.rows_deleted == 1
    assert stack.runtime.state.last_run("ack")["at"] >= record.created_at and summary.settle_errors == 0
    assert stack.ack().queue_depth == 0  # later runs are not stopped either
    released = stack.runtime.acknowledger().release_attention()
    assert released.feeds_released == 1 and stack.log_count(PENDING) == 1
    stack.amazon._json_window.events.clear()
    stack.runtime.state.table.delete_item(Key={"pk": "SUBMISSIONS", "sk": "SUBMISSIONS"})
    stack.sync_until_quiet()
    assert stack.mismatches(skus={stack.expected_sku(*stack.catalogue.offers[0]), sku}) == []


def test_a_notification_and_a_poll_racing_download_the_report_once(make_stack):
    stack = make_stack()
    received = []
    stack.amazon.notify = received.append
    one_change(stack)
    stack.advance()
    poll = stack.runtime.acknowledger()
    notified = stack.runtime.acknowledger()
    gateway_for = poll.gateway_for
    during_download = []

    class RacingGateway:
        """The poll's gateway: while it downloads, the notification is handled in full."""

        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def download_report(self, document_id):
            during_download.append(notified.handle_notification(FeedNotification.model_validate(received[0])))
            return self.real.download_report(document_id)

    poll.gateway_for = lambda marketplace: RacingGateway(gateway_for(marketplace))
    summary = poll.run()
    assert stack.amazon.calls["getFeedDocument"] == 1
    assert during_download[0].rows_deleted == 0 and summary.rows_deleted == 1 and stack.log_count() == 0


def test_report_downloads_are_paced_within_amazons_rate(make_stack):
    stack = make_stack(max_messages_per_feed=1, max_feeds_per_run=12, feeds_per_window=12)
    stack.amazon.config.rate_limits = False  # twelve feeds at once, as a backlog would
    for index in range(12):
        change_stock(stack, *stack.catalogue.offers[index], 30 + index)
    assert stack.export().feeds_submitted == 12
    stack.amazon.config.rate_limits = True
    first = ack_later(stack, 10)
    assert stack.amazon.calls["getFeedDocument"] == 10 and first.feeds_done == 10 and first.downloads_deferred == 2
    second = ack_later(stack, 10)  # 0.0222 per second: not a whole request yet
    assert second.feeds_done == 0 and stack.amazon.calls["getFeedDocument"] == 10
    third = ack_later(stack, 90)
    assert third.feeds_done == 2 and stack.log_count(CLAIMED) == 0
    assert stack.amazon.throttled.get("getFeedDocument", 0) == 0


def test_notifications_are_hints_checked_with_amazon(make_stack):
    stack = make_stack()
    received = []
    stack.amazon.notify = received.append
    sku, feed_id = one_change(stack, quantity=8)
    acknowledger = stack.runtime.acknowledger()

    def forged(status, seller="A1LOCALSELLER", **extra):
        payload = {"sellerId": seller, "accountId": f"amzn1.merchant.o.{seller}", "feedId": feed_id,
                   "feedType": "JSON_LISTINGS_FEED", "processingStatus": status, **extra}
        return FeedNotification.model_validate({"notificationType": "FEED_PROCESSING_FINISHED",
                                                "payload": {"feedProcessingFinishedNotification": payload}})

    # a forged DONE with an invented report while Amazon is still processing: nothing happens
    summary = acknowledger.handle_notification(forged("DONE", resultFeedDocumentId="amzn1.tortuga.4.na.invented"))
    assert summary.feeds_attention == 0 and feed_of(stack, feed_id).status == "IN_FLIGHT"
    assert "getFeedDocument" not in stack.amazon.calls
    # another seller's notification is not even looked up
    calls = stack.amazon.calls.get("getFeed", 0)
    assert acknowledger.handle_notification(forged("CANCELLED", seller="A2OTHERSELLER")).notifications_ignored == 1
    assert stack.amazon.calls.get("getFeed", 0) == calls
    # a forged (or stale) CANCELLED for a feed Amazon accepted: Amazon's DONE is followed
    stack.advance()
    summary = acknowledger.handle_notification(forged("CANCELLED"))
    assert summary.feeds_done == 1 and summary.feeds_failed == 0 and summary.rows_deleted == 1
    assert stack.log_count() == 0 and stack.listing(sku)["quantity"] == 8


def test_an_export_that_fails_after_claiming_releases_its_claims_at_once(make_stack):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 2)
    marketplace = stack.runtime.config.marketplaces[0]
    object.__setattr__(marketplace, "shop_timezone", "Mars/Olympus")  # past validation, as a bad deploy would be
    summary = stack.export()
    assert summary.failure and "Mars/Olympus" in summary.failure
    assert stack.log_count(PENDING) == 1 and stack.log_count(CLAIMED) == 0
    failure = stack.runtime.state.last_failure("export")
    assert failure["reason"] == summary.failure
    object.__setattr__(marketplace, "shop_timezone", "Europe/Paris")
    stack.sync_until_quiet()
    assert stack.log_count() == 0


def test_a_run_failing_while_a_feed_is_being_submitted_keeps_that_feed_and_hands_back_the_rest(make_stack,
                                                                                                 monkeypatch):
    """Feeds are submitted in a thread while the next document is packed. When the run fails meanwhile,
    the submission under way finishes first: the feed Amazon took keeps its rows for the acknowledgment,
    the rows no feed carries go back to the queue at once, and everything reaches Amazon afterwards."""
    import threading

    from amazon_sync.services import export as export_service

    stack = make_stack(max_messages_per_feed=2, max_feeds_per_run=10, feeds_per_window=10)
    stack.listed_and_read()
    for offer, quantity in zip(stack.catalogue.offers[:3], (901, 902, 903), strict=True):
        change_stock(stack, *offer, quantity)
    real_plan_message = export_service.plan_message
    planned: list[int] = []

    def plan_message_failing_on_the_third_offer(*args, **kwargs):
        planned.append(1)
        if len(planned) == 3:
            raise RuntimeError("planning broke on the third offer")
        return real_plan_message(*args, **kwargs)

    monkeypatch.setattr(export_service, "plan_message", plan_message_failing_on_the_third_offer)
    threads: list[str] = []

    def slow_create_feed(step):
        if step == "before_create_feed":  # the first feed, in the submitting thread, still on its way
            threads.append(threading.current_thread().name)
            threading.Event().wait(0.5)

    summary = stack.export(_exporter={"on_step": slow_create_feed})
    assert summary.failure and "planning broke on the third offer" in summary.failure
    assert threads and threads[0].startswith("feed-submit")
    assert summary.feeds_submitted == 1 and len(stack.amazon.feeds) == 1
    assert stack.log_count(CLAIMED) == 1 and stack.log_count(PENDING) == 2
    monkeypatch.setattr(export_service, "plan_message", real_plan_message)
    stack.sync_until_quiet()
    assert stack.log_count() == 0
    quantities = sorted(q for q in (listing.quantity() for listing in stack.amazon.listings.values())
                        if q in (901, 902, 903))
    assert quantities == [901, 902, 903]  # the kept feed's change and the two handed back, all on Amazon
