"""`make bench-coldstart`: what a cold start costs each function, loaded the way Lambda loads it.

The layer is built for this machine by layers/shared/Makefile (the recipe `sam build` runs for arm64),
the runtime's AWS SDK sits in a directory of its own, and every measurement runs in a fresh interpreter
without site-packages (``python -S``) whose path is Lambda's: the function, the layer, the runtime.
Bytecode is never written (/opt and /var/task are read-only in Lambda).

Per handler: the median of 7 imports; the same with the X-Ray SDK switched on; then one first
invocation (import + handler) against the local stack: a scheduled export of a few hundred changes
(one feed), then the acknowledgment poll that follows the feed to Amazon's verdict. Also the layer's
size from `sam build` (.aws-sam/build/SharedLayer), and how many AWS calls the first invocation makes and
how long it waits on them (moto_server here). Targets on this machine: import < 300 ms,
first invocation < 1 s. Beside each wall time its CPU time in the child: on a busy machine the wall
times grow with the load (printed as load_average), the CPU times much less. The last line printed is
one JSON object.

``--layer DIR --functions DIR`` measure another build (e.g. of an older commit) as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.common import TABLES, print_result
from bench.stack import bench_stack

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "coldstart"
IMPORTS = 7
HANDLERS = {"export": "export_handler", "ack": "ack_handler"}
HEAVY = ("boto3", "botocore", "sp_api", "httpx", "yaml", "aws_xray_sdk", "pymysql")
MARK = "COLDSTART "
CHANGES = 300

CHILD = """
import json, sys, time
sys.path[:0] = {path!r}
started, started_cpu = time.perf_counter(), time.process_time()
import {module} as handler_module
imported, imported_cpu = time.perf_counter(), time.process_time()
heavy = {heavy!r}
out = {{"import_ms": round((imported - started) * 1000, 1),
        "import_cpu_ms": round((imported_cpu - started_cpu) * 1000, 1),
        "loaded_by_import": sorted(m for m in heavy if m in sys.modules)}}
event = {event!r}
if event is not None:
    class Context:
        function_name = "bench-" + {module!r}
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
        memory_limit_in_mb = 1024
        aws_request_id = "bench-request"
        log_group_name = log_stream_name = "bench"

        def get_remaining_time_in_millis(self):
            return 300000

    # how long the invocation waits on AWS (moto_server here, a few ms a call in-region on Lambda)
    import botocore.client
    aws = {{"calls": 0, "seconds": 0.0}}
    make_api_call = botocore.client.BaseClient._make_api_call

    def timed_api_call(self, operation, params):
        began = time.perf_counter()
        try:
            return make_api_call(self, operation, params)
        finally:
            aws["calls"] += 1
            aws["seconds"] += time.perf_counter() - began

    botocore.client.BaseClient._make_api_call = timed_api_call
    result = handler_module.handler(event, Context())
    out["aws_calls"], out["aws_call_ms"] = aws["calls"], round(aws["seconds"] * 1000, 1)
    out["invoke_ms"] = round((time.perf_counter() - imported) * 1000, 1)
    out["first_invocation_ms"] = round((time.perf_counter() - started) * 1000, 1)
    out["first_invocation_cpu_ms"] = round((time.process_time() - started_cpu) * 1000, 1)
    out["loaded_by_invocation"] = sorted(m for m in heavy if m in sys.modules)
    out["result"] = {{k: result.get(k) for k in ("rows_claimed", "feeds_submitted", "rows_deleted", "feeds_done",
                                              "error", "skipped_reason")}}
print({mark!r} + json.dumps(out), flush=True)
"""


def template_env(template: Path) -> dict[str, str]:
    """The settings of the measured tree's template.yaml that change what a cold start does."""
    text = template.read_text() if template.is_file() else ""
    env = {}
    if "POWERTOOLS_TRACE_DISABLED" in text:  # the default deployment: SdkTracing=false
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    if "PYDANTIC_DISABLE_PLUGINS" in text:
        env["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    return env


def lambda_env(function: str, settings: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """What Lambda and template.yaml put in a function's environment (no site-packages, no bytecode)."""
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
    env.update({"AWS_LAMBDA_FUNCTION_NAME": f"bench-{function}", "LAMBDA_TASK_ROOT": f"/var/task/{function}",
                "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
                "POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "PrestaShopAmazonSync",
                "POWERTOOLS_LOG_LEVEL": "WARNING", "PYTHONDONTWRITEBYTECODE": "1", **settings})
    env.update(extra or {})
    return env


def run_child(function: str, path: list[str], env: dict[str, str], event: dict[str, Any] | None) -> dict[str, Any]:
    code = CHILD.format(path=path, module=HANDLERS[function], heavy=HEAVY, event=event, mark=MARK)
    done = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{function} child failed ({done.returncode}): {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARK):])
    return result


def build_layer() -> Path:
    """The layer for this machine's platform, by the same Makefile `sam build` uses."""
    target = WORK / "layer"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT / "layers" / "shared"), "build-SharedLayer",
                    f"ARTIFACTS_DIR={target}", f"PYTHON={sys.executable}", "PLATFORM=manylinux2014_x86_64"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return target / "python"


def runtime_sdk() -> Path:
    """boto3 as the python3.12 runtime provides it (at the version the project pins for local runs)."""
    # the lock carries hashes: "boto3==1.2.3 \\" continues on the next lines
    pin = next(line.split()[0] for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
               if line.startswith("boto3=="))
    target = WORK / ("runtime-" + pin.replace("==", "-"))
    if not (target / "boto3").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--root-user-action=ignore", "--target", str(target), pin], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return target


def directory_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024 / 1024, 1)


def sam_layer_mb(tree: Path) -> float | None:
    built = tree / ".aws-sam" / "build" / "SharedLayer"
    return directory_mb(built) if built.is_dir() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", type=Path, help="a layer's python/ directory to measure instead of building one")
    parser.add_argument("--functions", type=Path, default=ROOT / "functions", help="the functions' source folder")
    args = parser.parse_args()
    functions = args.functions.resolve()
    settings = template_env(functions.parent / "template.yaml")
    WORK.mkdir(parents=True, exist_ok=True)
    layer = args.layer.resolve() if args.layer else build_layer()
    runtime = runtime_sdk()
    figures: dict[str, Any] = {"functions": str(functions), "layer": str(layer), **settings,
                               "layer_mb_sam_build": sam_layer_mb(functions.parent),
                               "layer_mb_measured": directory_mb(layer),
                               "layer_ships_botocore": (layer / "botocore").is_dir()}

    def path_for(function: str) -> list[str]:
        return [str(functions / function), str(layer), str(runtime)]

    for function in HANDLERS:
        runs = [run_child(function, path_for(function), lambda_env(function, settings), None) for _ in range(IMPORTS)]
        figures[f"{function}_import_ms_median"] = statistics.median(r["import_ms"] for r in runs)
        figures[f"{function}_import_cpu_ms_median"] = statistics.median(r["import_cpu_ms"] for r in runs)
        figures[f"{function}_import_loads"] = runs[0]["loaded_by_import"]
        traced = [run_child(function, path_for(function),
                            lambda_env(function, settings, {"POWERTOOLS_TRACE_DISABLED": "false"}), None)
                  for _ in range(IMPORTS)]
        figures[f"{function}_import_ms_median_with_xray_sdk"] = statistics.median(r["import_ms"] for r in traced)

    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp, offers=2000, rows=0) as stack:
        ssm, secrets = boto3.client("ssm"), boto3.client("secretsmanager")
        config = json.loads(Path(stack.env["CONFIG_SOURCE"]).read_text())
        ssm.put_parameter(Name="/bench/marketplaces", Value=json.dumps(config), Type="String")
        database = secrets.create_secret(Name="bench-db", SecretString=json.dumps({
            "host": "127.0.0.1", "port": stack.settings.port, "username": "root", "password": "",
            "dbname": stack.settings.database}))["ARN"]
        boto3.client("dynamodb").create_table(
            TableName="bench-idempotency", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        env = {**{k: v for k, v in stack.env.items() if not k.startswith("DB_")},
               "CONFIG_SOURCE": "ssm:/bench/marketplaces", "DB_SECRET_ARN": database,
               "IDEMPOTENCY_TABLE": "bench-idempotency"}
        from amazon_sync.adapters.mysql.connection import connect
        from amazon_sync_devkit.catalogue import seed_log_rows

        with connect(stack.settings) as conn:
            seed_log_rows(conn, TABLES, stack.catalogue.offers[:CHANGES], CHANGES)
        export = run_child("export", path_for("export"), lambda_env("export", settings, env),
                           {"mode": "incremental", "scheduledTime": "2026-11-29T10:00:00Z"})
        stack.advance_amazon(7200)  # Amazon processes the feed
        ack = run_child("ack", path_for("ack"), lambda_env("ack", settings, env), {})
    for function, run in (("export", export), ("ack", ack)):
        figures[f"{function}_first_invocation_ms"] = run["first_invocation_ms"]
        figures[f"{function}_first_invocation_cpu_ms"] = run["first_invocation_cpu_ms"]
        figures[f"{function}_first_invocation_handler_ms"] = run["invoke_ms"]
        figures[f"{function}_first_invocation_loads"] = run["loaded_by_invocation"]
        figures[f"{function}_first_invocation_aws_calls"] = run["aws_calls"]
        figures[f"{function}_first_invocation_aws_call_ms"] = run["aws_call_ms"]
        figures[f"{function}_first_invocation_result"] = run["result"]
    figures["target_import_under_300ms"] = all(figures[f"{f}_import_ms_median"] < 300 for f in HANDLERS)
    figures["target_first_invocation_under_1s"] = all(figures[f"{f}_first_invocation_ms"] < 1000 for f in HANDLERS)
    figures["load_average"] = [round(load, 2) for load in os.getloadavg()]
    figures["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print_result(figures)


if __name__ == "__main__":
    main()
