"""The Lambda handlers with the sample events in events/, as Lambda would invoke them."""

import json
from pathlib import Path

import pytest

from amazon_sync.bootstrap import use_runtime
from amazon_sync.services.export import ExportRequest
from amazon_sync_devkit.aws_fixtures import create_idempotency_table
from amazon_sync_devkit.crashes import CrashPoint, crash_at
from tests.conftest import MARKETPLACE_FR
from tests.integration.test_ack import LambdaContextStub
from tests.integration.test_export import change_stock

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event(name):
    return json.loads((EVENTS / name).read_text())


def emitted_metrics(output):
    names = set()
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                names.update(metric["Name"] for metric in directive["Metrics"])
    return names


@pytest.fixture
def handlers(make_stack):
    import ack_handler
    import export_handler

    stack = make_stack()
    create_idempotency_table("sync-idempotency")
    use_runtime(stack.runtime)
    export_handler.once_per_tick.cache_clear()  # a persistence layer (and client) of this stack's own
    yield stack, export_handler, ack_handler
    use_runtime(None)
    export_handler.once_per_tick.cache_clear()


def test_manual_events_run_and_publish_metrics(handlers, capsys):
    stack, export_handler, ack_handler = handlers
    change_stock(stack, *stack.catalogue.offers[0], 3)
    result = export_handler.handler(event("export-manual-incremental.json"), LambdaContextStub())
    assert result["feeds_submitted"] == 1
    assert {"RowsClaimed", "FeedsSubmitted", "MessagesSubmitted", "Throttles"} <= emitted_metrics(
        capsys.readouterr().out)
    stack.advance()
    result = ack_handler.handler(event("ack-poll.json"), LambdaContextStub())
    assert result["rows_deleted"] == 1
    assert {"QueueDepth", "OldestPendingAgeSeconds", "MessagesAccepted", "FeedProcessingSeconds"} <= emitted_metrics(
        capsys.readouterr().out)


def test_full_and_dry_run_events(handlers):
    stack, export_handler, _ = handlers
    stack.listed_and_read()
    dry = export_handler.handler(event("export-dry-run.json"), LambdaContextStub())
    assert dry["dry_run_documents"] and stack.amazon.feeds == {}
    full = export_handler.handler(event("export-manual-full.json"), LambdaContextStub())
    assert full["messages"] == 2 * len(stack.catalogue.offers)  # quantity and price apart


def test_a_scheduled_tick_delivered_twice_runs_once(handlers):
    stack, export_handler, _ = handlers
    change_stock(stack, *stack.catalogue.offers[0], 3)
    first = export_handler.handler(event("export-scheduled.json"), LambdaContextStub())
    change_stock(stack, *stack.catalogue.offers[1], 4)
    again = export_handler.handler(event("export-scheduled.json"), LambdaContextStub())
    assert again == first and len(stack.amazon.feeds) == 1
    assert stack.log_count(0) == 1  # the second change waits for the next tick


def test_bad_export_event_names_the_problem(handlers):
    _, export_handler, _ = handlers
    result = export_handler.handler({"mode": "sometimes", "extra": 1}, LambdaContextStub())
    assert "mode" in result["error"] and "extra" in result["error"]


def a_finished_feed_notification(stack, export_handler):
    """One change exported by the handler; the FEED_PROCESSING_FINISHED notification Amazon then sends."""
    received = []
    stack.amazon.notify = received.append
    change_stock(stack, *stack.catalogue.offers[0], 3)
    export_handler.handler(event("export-manual-incremental.json"), LambdaContextStub())
    stack.advance()
    return received[0]


def test_sqs_notifications_with_partial_batch_response(handlers, capsys):
    stack, export_handler, ack_handler = handlers
    received = [a_finished_feed_notification(stack, export_handler)]
    sqs_event = event("ack-sqs-notification.json")
    template = sqs_event["Records"][0]
    good = {**template, "messageId": "good", "body": json.dumps(received[0])}
    junk = {**template, "messageId": "junk", "body": "not a notification"}
    result = ack_handler.handler({"Records": [good, junk]}, LambdaContextStub())
    assert result == {"batchItemFailures": []}
    assert stack.log_count() == 0
    assert "MessagesAccepted" in emitted_metrics(capsys.readouterr().out)


def test_a_notification_that_fails_is_reported_for_retry(handlers, monkeypatch):
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    stack, _, ack_handler = handlers
    record = event("ack-sqs-notification.json")["Records"][0]
    real = stack.runtime.acknowledger
    calls = []

    def fails_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(stack.runtime, "acknowledger", fails_first)
    records = [{**record, "messageId": "first"}, {**record, "messageId": "second"}]
    result = ack_handler.handler({"Records": records}, LambdaContextStub())
    assert result == {"batchItemFailures": [{"itemIdentifier": "first"}]}
    calls.clear()
    monkeypatch.setattr(stack.runtime, "acknowledger", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(BatchProcessingError):  # every record failed: SQS redelivers the whole batch
        ack_handler.handler({"Records": records[:1]}, LambdaContextStub())


def test_a_notification_without_time_left_goes_back_to_the_queue(handlers):
    """Finding 9: the SQS path honours the invocation's remaining time; the ack runs with that clock."""
    stack, export_handler, ack_handler = handlers
    notification = a_finished_feed_notification(stack, export_handler)
    record = {**event("ack-sqs-notification.json")["Records"][0], "messageId": "late", "body": json.dumps(notification)}

    class AlmostOut(LambdaContextStub):
        @staticmethod
        def get_remaining_time_in_millis():
            return 10_000

    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):  # the only record failed: SQS delivers it again later
        ack_handler.handler({"Records": [record]}, AlmostOut())
    assert stack.log_count() == 1  # nothing settled by a run with no time for it
    seen = []
    real = stack.runtime.acknowledger

    def spy(*args, **kwargs):
        seen.append(kwargs["remaining_seconds"]())
        return real(*args, **kwargs)

    stack.runtime.acknowledger = spy
    try:
        assert ack_handler.handler({"Records": [record]}, LambdaContextStub()) == {"batchItemFailures": []}
    finally:
        del stack.runtime.acknowledger
    assert seen == [300.0] and stack.log_count() == 0


def test_bad_and_unknown_marketplace_events_are_counted(handlers, capsys):
    _, export_handler, ack_handler = handlers
    result = export_handler.handler({"marketplaces": ["ATVPDKIKX0DER"]}, LambdaContextStub())
    assert result["error"].startswith("bad export event: marketplaces: ATVPDKIKX0DER not configured")
    assert "BadEvents" in emitted_metrics(capsys.readouterr().out)
    result = ack_handler.handler({"feedIds": "not-a-list"}, LambdaContextStub())
    assert "feedIds" in result["error"] and "BadEvents" in emitted_metrics(capsys.readouterr().out)


@pytest.mark.parametrize("body", [
    "not a notification",
    json.dumps({"notificationType": "FEED_PROCESSING_FINISHED", "payload": {}}),  # was a KeyError, then the DLQ
    json.dumps({"notificationType": "FEED_PROCESSING_FINISHED", "payload": {"somethingElse": {"feedId": "1"}}}),
    json.dumps({"notificationType": "REPORT_PROCESSING_FINISHED", "payload": {}}),
    json.dumps(["a", "list"]),
], ids=["not-json", "empty-payload", "other-key", "other-type", "list"])
def test_every_malformed_notification_is_logged_counted_and_dropped(handlers, capsys, body):
    _, _, ack_handler = handlers
    record = {**event("ack-sqs-notification.json")["Records"][0], "messageId": "m", "body": body}
    result = ack_handler.handler({"Records": [record]}, LambdaContextStub())
    assert result == {"batchItemFailures": []}  # deleted, never redelivered to the dead-letter queue
    assert "BadNotifications" in emitted_metrics(capsys.readouterr().out)


def test_an_export_amazon_refuses_is_logged_at_error_and_counted(handlers, capsys):
    stack, export_handler, _ = handlers
    change_stock(stack, *stack.catalogue.offers[0], 3)
    stack.amazon.faults.create_feed_statuses = [400] * 10
    result = export_handler.handler(event("export-manual-incremental.json"), LambdaContextStub())
    assert result["failure"] and result["feeds_abandoned"] == 1
    assert "ExportFailures" in emitted_metrics(capsys.readouterr().out)


def test_reconcile_events_run_and_publish_metrics(handlers, capsys):
    import reconcile_handler

    stack, _, _ = handlers
    reconcile_handler.persistence.table_name = "sync-idempotency"
    stack.list_on_amazon()
    stack.amazon.config.report_seconds = 0  # the handler waits in real time: no report preparation time
    stack.amazon.config.queue_seconds = 0
    result = reconcile_handler.handler(event("reconcile-manual.json"), LambdaContextStub())
    assert result["failed"] == 0 and result["listings_read"] == len(stack.catalogue.offers)
    assert {"DriftSkus", "SkusNotOnAmazon", "SkusFoughtOver", "ListingsRead"} <= emitted_metrics(
        capsys.readouterr().out)
    created = stack.amazon.calls["createReport"]
    first = reconcile_handler.handler(event("reconcile-scheduled.json"), LambdaContextStub())
    again = reconcile_handler.handler(event("reconcile-scheduled.json"), LambdaContextStub())
    assert first == again and stack.amazon.calls["createReport"] == created + 1  # one tick, one run
    bad = reconcile_handler.handler({"marketplace": "x"}, LambdaContextStub())
    assert "bad reconciliation event" in bad["error"]


def metric_values(output, name):
    """The values of one metric in the EMF documents printed (Powertools writes a list per name)."""
    values = []
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line and name in (document := json.loads(line)):
            value = document[name]
            values.extend(value if isinstance(value, list) else [value])
    return values


def test_a_marketplace_held_back_by_an_unresolved_intent_is_published(handlers, capsys):
    stack, export_handler, _ = handlers
    change_stock(stack, *stack.catalogue.offers[0], 3)
    # a run dies right after createFeed, before it records Amazon's feed id; Amazon's getFeeds then fails
    with pytest.raises(CrashPoint):
        stack.runtime.exporter(on_step=crash_at("after_create_feed")).run(ExportRequest())
    # (raised in-process, the crash let the run give its lease back; a killed run's lease would expire)
    stack.amazon.faults.throttle["getFeeds"] = 50
    capsys.readouterr()
    blocked = export_handler.handler(event("export-manual-incremental.json"), LambdaContextStub())
    assert blocked["marketplaces_blocked"] == [MARKETPLACE_FR] and blocked["feeds_submitted"] == 0
    assert metric_values(capsys.readouterr().out, "MarketplacesBlocked") == [1.0]

    stack.amazon.faults.throttle.clear()  # getFeeds answers: the intent is adopted, nothing is held back
    resolved = export_handler.handler(event("export-manual-incremental.json"), LambdaContextStub())
    assert resolved["marketplaces_blocked"] == [] and resolved["recovered_intents"] == 1
    assert metric_values(capsys.readouterr().out, "MarketplacesBlocked") == [0.0]
