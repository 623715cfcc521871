"""X-Ray through Powertools' Tracer, built only when the deployment switches the SDK on.

Lambda's active tracing (``Tracing: Active``) already records every invocation with its init and
duration, without any SDK in the function. The X-Ray SDK adds a subsegment per AWS and SP-API call,
but importing and patching it costs about a third of a second at every cold start: the functions
build a Tracer only when ``POWERTOOLS_TRACE_DISABLED`` is false (template parameter ``SdkTracing``),
by the rule Powertools itself applies (never outside Lambda, nor under ``sam local``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, cast

TRUE = ("1", "true", "yes", "on", "y", "t")
# Only the calls worth a subsegment: AWS services and the SP-API (the SQL statements would be thousands).
TRACED_MODULES = ("botocore", "httpx")


def sdk_tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in TRUE:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL") and not env.get("CHALICE_LOCAL")


def traced[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    """``handler`` under Tracer.capture_lambda_handler when SDK tracing is on, else unchanged."""
    if not sdk_tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    tracer = Tracer(patch_modules=TRACED_MODULES)
    return cast(Handler, tracer.capture_lambda_handler(handler))
