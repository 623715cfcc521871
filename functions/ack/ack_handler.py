"""Acknowledgment Lambda: on its schedule (polling), by hand, and from FEED_PROCESSING_FINISHED
notifications delivered through SQS (partial batch responses: one bad message fails alone).

The SQS batch utility is imported by the first notification batch, the X-Ray SDK only when tracing
through it is switched on (amazon_sync.tracing): a scheduled poll never pays for either.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from pydantic import ValidationError

from amazon_sync.bootstrap import shared_runtime
from amazon_sync.errors import validation_problems
from amazon_sync.metrics import BAD_EVENTS, BAD_NOTIFICATIONS, publish_ack
from amazon_sync.services.acknowledge import AckRequest, FeedNotification
from amazon_sync.tracing import traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
runtime = shared_runtime
# A notification is worth starting only with time to download and settle a report; otherwise it fails
# back to the queue (ReportBatchItemFailures) and is delivered again, to a fresh invocation.
NOTIFICATION_MIN_SECONDS = 60.0


class NoTimeLeft(Exception):
    """Raised for a notification the invocation has no time left for: SQS delivers it again."""


@functools.cache
def sqs_processor() -> BatchProcessor:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS)


def handle_notification(record: SQSRecord, lambda_context: LambdaContext) -> None:
    try:
        notification = FeedNotification.model_validate(json.loads(record.body))
    except (ValueError, ValidationError) as exc:
        # Every malformed message alike (not JSON, another type, a field missing or wrong): it will
        # never become a notification, so it is logged, counted and deleted, never retried; the
        # poll finds the feed's result anyway.
        logger.error("not a FEED_PROCESSING_FINISHED notification", extra={"reason": str(exc)[:500]})
        metrics.add_metric(name=BAD_NOTIFICATIONS, unit="Count", value=1)
        return
    def remaining() -> float:
        return lambda_context.get_remaining_time_in_millis() / 1000

    if remaining() < NOTIFICATION_MIN_SECONDS:
        raise NoTimeLeft(f"{remaining():.0f} s left: feed {notification.feed.feedId} waits for the next delivery")
    summary = runtime().acknowledger(remaining_seconds=remaining).handle_notification(notification)
    publish_ack(metrics, summary, include_queue=False)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    if "Records" in event:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        response = process_partial_response(event=event, record_handler=handle_notification,
                                            processor=sqs_processor(), context=context)
        return dict(response)
    try:
        request = AckRequest.model_validate({k: v for k, v in event.items() if k not in ("source", "scheduledTime")})
    except ValidationError as exc:
        problems = validation_problems(exc, "event")
        logger.error("bad acknowledgment event", extra={"problems": problems})
        metrics.add_metric(name=BAD_EVENTS, unit="Count", value=1)
        return {"error": f"bad acknowledgment event: {problems}"}
    acknowledger = runtime().acknowledger(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
    summary = acknowledger.run(request)
    publish_ack(metrics, summary)
    if summary.failure:
        logger.error("acknowledgment could not do its work", extra={"reason": summary.failure})
    logger.info("acknowledgment finished", extra={"summary": summary.as_dict()})
    return summary.as_dict()
