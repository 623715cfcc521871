"""Reconciliation Lambda: on its own schedule (daily by default), or invoked by hand.

Event: {"marketplaces": [...], "dryRun": bool}; the schedule adds "scheduledTime", by which repeated
deliveries of one schedule tick are recognised and run once. The work is services/reconcile.py.
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
from amazon_sync.errors import SyncError
from amazon_sync.metrics import publish_reconcile
from amazon_sync.services.reconcile import ReconcileRequest

logger = Logger()
metrics = Metrics()
tracer = Tracer()
idempotency = IdempotencyConfig(event_key_jmespath="scheduledTime", expires_after_seconds=24 * 3600)
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("IDEMPOTENCY_TABLE", "idempotency"))
runtime = shared_runtime


def reconcile(request: ReconcileRequest, context: LambdaContext) -> dict[str, Any]:
    reconciler = runtime().reconciler(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
    summary = reconciler.run(request)
    if not request.dryRun and summary.skipped_reason is None:
        publish_reconcile(metrics, summary)
    result = summary.as_dict()
    logger.info("reconciliation finished", extra={"summary": result})
    if summary.failures:
        logger.error("reconciliation failed for some marketplaces", extra={"failures": summary.failures})
    return result


@idempotent_function(data_keyword_argument="request", config=idempotency,  # type: ignore[untyped-decorator]
                     persistence_store=persistence)
def scheduled_reconcile(*, request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return reconcile(ReconcileRequest.model_validate(request), context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    try:
        request = ReconcileRequest.model_validate(event or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors())
        logger.error("bad reconciliation event", extra={"problems": problems})
        return {"error": f"bad reconciliation event: {problems}"}
    try:
        if request.scheduledTime:
            idempotency.register_lambda_context(context)
            result: dict[str, Any] = scheduled_reconcile(request=request.model_dump(), context=context)
            return result
        return reconcile(request, context)
    except SyncError as exc:
        logger.error("reconciliation failed", extra={"reason": str(exc)})
        raise
