"""Export Lambda: scheduled by EventBridge Scheduler, or invoked by hand for an immediate sync.

Event: {"mode": "incremental" | "full", "marketplaces": [...], "dryRun": bool}; the schedule adds
"scheduledTime", by which repeated deliveries of one schedule tick are recognised and run once.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from amazon_sync.bootstrap import shared_runtime
from amazon_sync.errors import SyncError, validation_problems
from amazon_sync.metrics import publish_export
from amazon_sync.services.export import ExportRequest, ExportSummary

logger = Logger()
metrics = Metrics()
tracer = Tracer()
idempotency = IdempotencyConfig(event_key_jmespath="scheduledTime", expires_after_seconds=24 * 3600)
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("IDEMPOTENCY_TABLE", "idempotency"))
runtime = shared_runtime


def export(request: ExportRequest, context: LambdaContext) -> dict[str, Any]:
    throttles: list[str] = []
    exporter = runtime().exporter(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
                                  on_throttle=throttles.append)
    summary: ExportSummary = exporter.run(request)
    summary.throttles = len(throttles)
    if not request.dryRun and summary.skipped_reason is None:
        publish_export(metrics, summary)
    logger.info("export finished", extra={"summary": summary.as_dict()})
    return summary.as_dict()


@idempotent_function(data_keyword_argument="request", config=idempotency,  # type: ignore[untyped-decorator]
                     persistence_store=persistence)
def scheduled_export(*, request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return export(ExportRequest.model_validate(request), context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    try:
        request = ExportRequest.model_validate(event or {})
    except ValidationError as exc:
        problems = validation_problems(exc, "event")
        logger.error("bad export event", extra={"problems": problems})
        return {"error": f"bad export event: {problems}"}
    try:
        if request.scheduledTime:
            idempotency.register_lambda_context(context)
            result: dict[str, Any] = scheduled_export(request=request.model_dump(), context=context)
            return result
        return export(request, context)
    except SyncError as exc:
        logger.error("export failed", extra={"reason": str(exc)})
        raise
