"""What importing a handler costs: only what every invocation needs (the figures: make bench-coldstart)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_sync.tracing import sdk_tracing_enabled

ROOT = Path(__file__).resolve().parents[2]
# needed by some paths only: the first feed (sp_api, httpx), a YAML configuration, the X-Ray SDK when
# switched on, boto3 by the first call to AWS
ON_DEMAND = ("boto3", "sp_api", "httpx", "yaml", "aws_xray_sdk")
# the other functions' services (and the Reports client): never needed by this function
EXPORT = ("amazon_sync.services.export", "amazon_sync.services.express")
ACK = ("amazon_sync.services.acknowledge",)
RECONCILE = ("amazon_sync.services.reconcile", "amazon_sync.adapters.reports")


@pytest.mark.parametrize("function, module, others", [("export", "export_handler", ACK + RECONCILE),
                                                      ("ack", "ack_handler", EXPORT + RECONCILE)])
def test_importing_a_handler_loads_nothing_a_path_may_not_need(function, module, others):
    unwanted = ON_DEMAND + others
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'functions' / function)!r}); import {module}; "
            f"print(json.dumps(sorted(m for m in {unwanted!r} if m in sys.modules)))")
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
           "LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": function, "POWERTOOLS_TRACE_DISABLED": "true",
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}  # a worktree's sources
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_sdk_tracing_follows_powertools_rule():
    lambda_env = {"LAMBDA_TASK_ROOT": "/var/task"}
    assert sdk_tracing_enabled(lambda_env)
    assert sdk_tracing_enabled({**lambda_env, "POWERTOOLS_TRACE_DISABLED": "false"})
    assert not sdk_tracing_enabled({**lambda_env, "POWERTOOLS_TRACE_DISABLED": "true"})
    assert not sdk_tracing_enabled({**lambda_env, "POWERTOOLS_TRACE_DISABLED": "1"})
    assert not sdk_tracing_enabled({})  # outside Lambda there is no daemon to send to
    assert not sdk_tracing_enabled({**lambda_env, "AWS_SAM_LOCAL": "true"})


def test_a_client_class_loads_one_api_module_and_the_package_still_answers_for_the_others():
    code = """
import json, sys
from amazon_sync.adapters.spapi import sp_api_class
feeds = sp_api_class("sp_api.api.feeds.feeds_2021_06_30", "FeedsV20210630")
listings = sp_api_class("sp_api.api.listings_items.listings_items_2021_08_01", "ListingsItemsV20210801")
apis = sorted({m.split(".")[2] for m in sys.modules if m.startswith("sp_api.api.")})
from sp_api.api import FeedsV20210630, Orders  # the package's own names: its __init__ runs now
import sp_api.api
print(json.dumps({"apis": apis, "same": FeedsV20210630 is feeds, "orders": Orders.__module__,
                  "listings": listings.__name__, "all_loaded": "sp_api.api.orders" in sys.modules,
                  "reports": sp_api.api.Reports.__name__}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["apis"] == ["feeds", "listings_items"]
    assert result["same"] is True
    assert result["orders"].startswith("sp_api.api.orders")
    assert result["listings"] == "ListingsItemsV20210801"
    assert result["all_loaded"] is True
    assert result["reports"] == "Reports"


def test_threads_asking_the_package_for_names_at_once_all_get_them():
    code = """
import json, sys, threading
from amazon_sync.adapters.spapi import sp_api_class
sp_api_class("sp_api.api.feeds.feeds_2021_06_30", "FeedsV20210630")
import sp_api.api
start, found, failed = threading.Barrier(8), [], []

def ask():
    start.wait()
    try:
        found.append(getattr(sp_api.api, "Reports").__name__)
    except Exception as exc:
        failed.append(repr(exc))

threads = [threading.Thread(target=ask) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"found": found, "failed": failed}))
"""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        result = json.loads(done.stdout.splitlines()[-1])
        assert result == {"found": ["Reports"] * 8, "failed": []}
