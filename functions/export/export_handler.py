"""Export Lambda: scheduled by EventBridge Scheduler, or invoked by hand for an immediate sync.

Event: {"mode": "incremental" | "full", "marketplaces": [...], "dryRun": bool}; the schedule adds
"scheduledTime", by which repeated deliveries of one schedule tick are recognised and run once.

Only what every run needs is imported with the module (a cold start pays for it): the idempotency
utility and its DynamoDB client are built by the first scheduled run, the SP-API client by the first
feed, the X-Ray SDK only when tracing through it is switched on (amazon_sync.tracing).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from pydantic import ValidationError

from amazon_sync.bootstrap import shared_runtime
from amazon_sync.errors import SyncError, validation_problems
from amazon_sync.metrics import BAD_EVENTS, EXPORT_FAILURES, publish_export
from amazon_sync.services.export import ExportRequest, ExportSummary
from amazon_sync.tracing import traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
runtime = shared_runtime


def export(request: ExportRequest, context: LambdaContext) -> dict[str, Any]:
    throttles: list[str] = []
    exporter = runtime().exporter(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
                                  on_throttle=throttles.append)
    summary: ExportSummary = exporter.run(request)
    summary.throttles = len(throttles)
    if not request.dryRun and summary.skipped_reason is None:
        publish_export(metrics, summary)
    if summary.failure:
        logger.error("export could not do its work", extra={"reason": summary.failure})
    logger.info("export finished", extra={"summary": summary.as_dict()})
    return summary.as_dict()


def bad_event(problems: str) -> dict[str, Any]:
    """Refused, and also logged and counted: a manual invocation's mistake is seen by the alarm."""
    logger.error("bad export event", extra={"problems": problems})
    metrics.add_metric(name=BAD_EVENTS, unit="Count", value=1)
    return {"error": f"bad export event: {problems}"}


def scheduled_export(*, request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return export(ExportRequest.model_validate(request), context)


@functools.cache
def once_per_tick() -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """The idempotency utility and its DynamoDB client, built by the first scheduled run."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(event_key_jmespath="scheduledTime", expires_after_seconds=24 * 3600)
    import boto3

    persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("IDEMPOTENCY_TABLE", "idempotency"),
                                           boto3_client=boto3.client("dynamodb"))  # the shared default session
    run: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="request", config=config, persistence_store=persistence)(scheduled_export)
    return config, run


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    try:
        request = ExportRequest.model_validate(event or {})
    except ValidationError as exc:
        return bad_event(validation_problems(exc, "event"))
    try:
        configured = {m.marketplace_id for m in runtime().config.marketplaces}
        unknown = [m for m in request.marketplaces or [] if m not in configured]
        if unknown:
            return bad_event(f"marketplaces: {', '.join(unknown)} not configured (configured: "
                             f"{', '.join(sorted(configured))})")
        if request.scheduledTime:
            config, run_once = once_per_tick()
            config.register_lambda_context(context)
            return run_once(request=request.model_dump(), context=context)
        return export(request, context)
    except SyncError as exc:
        logger.error("export failed", extra={"reason": str(exc)})
        metrics.add_metric(name=EXPORT_FAILURES, unit="Count", value=1)
        raise
