"""The acknowledgment: every branch through the real parts."""

import json
import time

import pytest

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import CLAIMED, FAILED, PENDING
from amazon_sync.services.acknowledge import AckSettings, FeedNotification
from amazon_sync_devkit.crashes import CrashPoint, crash_at
from tests.conftest import MARKETPLACE_FR
from tests.integration.test_export import change_stock, feed_messages


def one_change(stack, index=0, quantity=5):
    product, attribute = stack.catalogue.offers[index]
    change_stock(stack, product, attribute, quantity)
    summary = stack.export()
    assert summary.feeds_submitted == 1
    return feed_messages(stack)[-1]["sku"], summary.feed_ids[0]


def test_accepted_messages_delete_exactly_their_rows_and_are_remembered(make_stack):
    stack = make_stack()
    sku, _ = one_change(stack)
    product, attribute = stack.catalogue.offers[0]
    change_stock(stack, product, attribute, 77)  # arrives after the feed was built
    stack.advance()
    summary = stack.ack()
    # the offer's quantity and price messages
    assert summary.feeds_done == 1 and summary.messages_accepted == 2 and summary.rows_deleted == 1
    assert stack.log_count(PENDING) == 1  # the later change is still waiting
    remembered = stack.db.sql("SELECT quantity, fingerprint FROM ps_amazon_sync_offer_state WHERE sku = %s", (sku,))
    assert remembered[0][0] == 5 and remembered[0][1]
    feed = stack.runtime.state.get_feed(stack.runtime.state.intent_for_feed_id(next(iter(stack.amazon.feeds))))
    assert feed.status == "DONE" and feed.report_key.endswith(".report.json")
    assert json.loads(stack.runtime.store.get(feed.report_key))["summary"]["messagesAccepted"] == 2


def test_feeds_of_one_batch_finishing_together_are_settled_with_one_read_of_its_rows(make_stack, monkeypatch):
    """Settling reads every row a batch holds: a polling run settles each batch once, after following all
    its finished feeds, not once per feed (16 feeds of a 1M-row batch read its rows 14 times)."""
    stack = make_stack(max_messages_per_feed=4)
    for index in range(6):
        change_stock(stack, *stack.catalogue.offers[index], 40 + index)
    export = stack.export()
    assert export.feeds_submitted == 3
    reads = []
    claimed_keys = EventLog.claimed_keys

    def counted(log, batch_id):
        reads.append(batch_id)
        return claimed_keys(log, batch_id)

    monkeypatch.setattr(EventLog, "claimed_keys", counted)
    stack.advance()
    summary = stack.ack()
    assert summary.feeds_done == 3 and summary.rows_deleted == 6 and stack.log_count() == 0
    assert reads == [export.batch_id]


def test_a_feed_whose_follow_raises_does_not_stop_other_finished_batches_being_settled(make_stack):
    """Settlement waits for the end of the polling loop: an unexpected exception while following a later
    feed (getFeed failing with a non-Amazon error, every run) must not leave the batch of a feed that
    finished, saved DONE, unsettled run after run. Found by review; failed before the fix."""
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 11)
    first = stack.export()
    change_stock(stack, *stack.catalogue.offers[5], 12)
    second = stack.export()
    assert first.feeds_submitted == 1 and second.feeds_submitted == 1
    poison = second.feed_ids[0]
    stack.advance()
    for _ in range(2):
        ack = stack.runtime.acknowledger()
        real = ack.gateway_for

        def gateway_for(marketplace_id, real=real):
            gateway = real(marketplace_id)

            class Poisoned:
                def __getattr__(self, name):
                    return getattr(gateway, name)

                def get_feed(self, feed_id):
                    if feed_id == poison:
                        raise RuntimeError("unexpected answer")
                    return gateway.get_feed(feed_id)
            return Poisoned()

        ack.gateway_for = gateway_for
        with pytest.raises(RuntimeError):
            ack.run()
    feed = stack.runtime.state.get_feed(stack.runtime.state.intent_for_feed_id(first.feed_ids[0]))
    assert feed.status == "DONE"
    still_claimed = stack.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state = %s AND batch_id = %s",
                                    (CLAIMED, first.batch_id))
    assert still_claimed == 0, f"{still_claimed} row(s) of batch {first.batch_id}, whose feed is DONE, stay claimed"


def test_batches_left_unsettled_for_lack_of_time_are_settled_by_the_next_run(make_stack, monkeypatch):
    from amazon_sync.services import acknowledge

    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 11)
    export = stack.export()
    stack.advance()
    monkeypatch.setattr(acknowledge, "SETTLE_RESERVE_SECONDS", 10_000.0)  # more than any run has left
    summary = stack.ack()
    assert summary.feeds_done == 1 and summary.rows_deleted == 0
    assert stack.log_count(CLAIMED) == 1  # held by its batch, not lost
    monkeypatch.setattr(acknowledge, "SETTLE_RESERVE_SECONDS", 10.0)
    assert stack.ack().rows_deleted == 1 and stack.log_count() == 0
    assert stack.runtime.state.get_batch(export.batch_id).status == "SETTLED"


def test_rejected_messages_are_recorded_with_amazons_reason_then_deleted(make_stack):
    stack = make_stack()
    product, attribute, sku = stack.first_offer()
    stack.amazon.faults.sku_errors = {sku: {"code": "90220", "message": "'[batteries_required]' is required",
                                            "attributeName": "batteries_required"}}
    change_stock(stack, product, attribute, 3)
    feed_id = stack.export().feed_ids[0]
    stack.advance()
    summary = stack.ack()
    assert summary.messages_rejected == 2 and summary.rows_deleted == 1 and stack.log_count() == 0
    [error] = stack.runtime.state.sku_errors(sku=sku)
    assert (error.code, error.attribute, error.feed_id) == ("90220", "batteries_required", feed_id)
    assert "batteries_required" in error.message and error.first_seen <= error.last_seen
    # once Amazon accepts the SKU again, the error goes away
    stack.amazon.faults.sku_errors = {}
    change_stock(stack, product, attribute, 4)
    stack.cycle()
    assert stack.runtime.state.sku_errors(sku=sku) == []


def test_warnings_are_recorded_but_not_failures(make_stack):
    stack = make_stack()
    product, attribute, sku = stack.first_offer()
    stack.amazon.faults.sku_warnings = {sku: {"code": "18448", "message": "relevant attributes incomplete"}}
    change_stock(stack, product, attribute, 3)
    summary = stack.cycle()
    assert summary.messages_accepted == 2 and summary.warnings == 2 and stack.log_count() == 0
    assert stack.runtime.state.sku_errors(sku=sku)[0].severity == "WARNING"
    assert stack.listing(sku)["quantity"] == 3


def test_temporary_codes_are_retried_a_bounded_number_of_times(make_stack):
    stack = make_stack(max_attempts=2)
    product, attribute, sku = stack.first_offer()
    stack.amazon.faults.sku_errors = {sku: {"code": "4000000", "message": "An internal error occurred"}}
    change_stock(stack, product, attribute, 3)
    stack.export()
    stack.advance()
    first = stack.ack(settings=AckSettings(backoff_seconds=0))
    assert first.messages_retried == 2 and stack.log_count(PENDING) == 1
    stack.export()
    stack.advance()
    stack.ack(settings=AckSettings(backoff_seconds=0))
    assert stack.log_count(FAILED) == 1 and stack.log_count(PENDING) == 0


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_failed_feeds_release_rows_with_backoff_then_mark_them_failed(make_stack, outcome):
    stack = make_stack(max_attempts=2)
    stack.amazon.faults.feed_outcomes = [outcome, outcome]
    product, attribute = stack.catalogue.offers[0]
    change_stock(stack, product, attribute, 3)
    summary = stack.cycle()
    assert summary.feeds_failed == 1 and stack.log_count(PENDING) == 1
    attempts, not_before = stack.db.sql("SELECT attempts, not_before > NOW(6) FROM ps_amazon_sync_log")[0]
    assert attempts == 1 and not_before == 1
    assert stack.export().rows_claimed == 0  # backing off
    stack.db.sql("UPDATE ps_amazon_sync_log SET not_before = NULL")
    summary = stack.cycle()
    assert stack.log_count(FAILED) == 1 and summary.failed_rows == 1
    assert "failed" in stack.db.scalar("SELECT last_error FROM ps_amazon_sync_log")


def test_overdue_feed_raises_the_metric_and_is_not_resubmitted(make_stack):
    stack = make_stack()
    stack.amazon.faults.feed_outcomes = ["STUCK"]
    one_change(stack)
    stack.advance()
    later = time.time() + 9 * 3600
    summary = stack.runtime.acknowledger(now=lambda: later).run()
    assert summary.feeds_overdue == 1 and summary.feeds_in_flight == 1
    assert summary.oldest_feed_in_flight_age_seconds > 8 * 3600
    assert len(stack.amazon.feeds) == 1 and stack.log_count(CLAIMED) == 1


def test_corrupt_report_marks_the_feed_and_keeps_rows(make_stack):
    stack = make_stack()
    stack.amazon.faults.corrupt_reports = 1
    one_change(stack)
    stack.advance()
    summary = stack.ack()
    assert summary.feeds_attention == 1 and summary.rows_deleted == 0 and stack.log_count(CLAIMED) == 1
    feed = stack.runtime.state.get_feed(stack.runtime.state.intent_for_feed_id(next(iter(stack.amazon.feeds))))
    assert feed.status == "ATTENTION" and "unreadable processing report" in feed.attention
    assert stack.ack().rows_deleted == 0


def test_queue_metrics_every_run_even_when_idle(make_stack):
    stack = make_stack()
    summary = stack.ack()
    assert (summary.queue_depth, summary.feeds_in_flight, summary.pending_offers) == (0, 0, 0)
    for quantity in (1, 2, 3):
        change_stock(stack, *stack.catalogue.offers[0], quantity)
    change_stock(stack, *stack.catalogue.offers[1], 9)
    summary = stack.ack()
    assert summary.queue_depth == 4 and summary.pending_offers == 2 and summary.oldest_pending_age_seconds >= 0


def test_notification_and_polling_on_the_same_feed_delete_once(make_stack):
    stack = make_stack()
    received = []
    stack.amazon.notify = received.append
    stack.amazon.faults.duplicate_notifications = True
    one_change(stack)
    stack.advance()
    assert len(received) == 2
    acknowledger = stack.runtime.acknowledger()
    first = acknowledger.handle_notification(FeedNotification.model_validate(received[0]))
    second = acknowledger.handle_notification(FeedNotification.model_validate(received[1]))
    polled = stack.ack()
    assert first.rows_deleted == 1 and second.rows_deleted == 0 and polled.rows_deleted == 0
    assert stack.log_count() == 0


@pytest.mark.parametrize("point", ["after_report", "before_settle"])
def test_a_crash_in_the_acknowledgment_is_finished_by_the_next_run(make_stack, point):
    stack = make_stack()
    sku, _ = one_change(stack, quantity=6)
    stack.advance()
    with pytest.raises(CrashPoint):
        stack.ack(on_step=crash_at(point))
    assert stack.log_count(CLAIMED) == 1
    summary = stack.ack()
    assert summary.rows_deleted == 1 and stack.log_count() == 0
    assert stack.listing(sku)["quantity"] == 6


def test_claims_of_a_batch_nobody_recorded_are_released(make_stack):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 2)
    stack.db.sql("UPDATE ps_amazon_sync_log SET state = 1, batch_id = 42, claimed_at = NOW(6) - INTERVAL 2 HOUR")
    summary = stack.ack()
    assert summary.stale_rows_released == 1 and stack.log_count(PENDING) == 1


def test_bad_manual_event_is_refused_with_a_clear_error(make_stack):
    from ack_handler import handler

    stack = make_stack()
    assert stack is not None
    result = handler({"feedIds": "not-a-list"}, LambdaContextStub())
    assert "feedIds" in result["error"]


class LambdaContextStub:
    function_name = "ack"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:ack"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis():
        return 300_000


def test_after_a_fatal_feed_nothing_is_skipped_as_unchanged(make_stack):
    """FATAL may have applied the messages: a change back to the last accepted value must still be sent."""
    stack = make_stack()
    product = next(p for p, a in stack.catalogue.offers if a == 0)
    sku = stack.expected_sku(product, 0)
    stack.db.sql("UPDATE ps_product_shop SET price = 10 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    stack.amazon.faults.feed_outcomes = ["FATAL_APPLIED"]
    stack.db.sql("UPDATE ps_product_shop SET price = 20 WHERE id_product = %s", (product,))
    stack.export()
    stack.advance()
    assert stack.ack().feeds_failed == 1
    assert stack.amazon.listings[sku].price(MARKETPLACE_FR) == 24.0  # Amazon applied it all the same
    stack.db.sql("UPDATE ps_product_shop SET price = 10 WHERE id_product = %s", (product,))
    stack.db.sql("UPDATE ps_amazon_sync_log SET not_before = NULL")
    stack.sync_until_quiet()
    assert stack.amazon.listings[sku].price(MARKETPLACE_FR) == 12.0


def test_temporary_issue_codes_come_from_the_configuration(make_stack):
    stack = make_stack(temporary_issue_codes=["77777"])
    product, attribute, sku = stack.first_offer()
    stack.amazon.faults.sku_errors = {sku: {"code": "77777", "message": "try again later"}}
    change_stock(stack, product, attribute, 3)
    summary = stack.cycle()
    assert summary.messages_retried == 2 and summary.messages_rejected == 0 and stack.log_count(PENDING) == 1


def test_messages_a_done_report_does_not_account_for_are_retried(make_stack):
    stack = make_stack()
    for index in range(3):
        change_stock(stack, *stack.catalogue.offers[index], 20 + index)
    stack.amazon.faults.partial_processing = 1
    stack.export()
    stack.advance()
    summary = stack.ack(settings=AckSettings(backoff_seconds=0))
    assert summary.messages_accepted == 0 and summary.messages_retried == 6 and stack.log_count(PENDING) == 3
    stack.sync_until_quiet()
    skus = {stack.expected_sku(*stack.catalogue.offers[i]) for i in range(3)}
    assert stack.mismatches(MARKETPLACE_FR, skus) == []
