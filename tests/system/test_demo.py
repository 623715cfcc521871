"""`make demo`'s driver end to end, in a process of its own as `make demo` runs it: the summary, the
artefacts, and no process left behind."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("mariadbd", "moto_server", "amazon-sync")


def service_processes(marker):
    """The services started by the run carrying ``marker`` in its environment (which every process it
    starts inherits): other runs on the same machine (other checkouts, CI jobs) are not counted."""
    found = set()
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if any(name in cmdline for name in SERVICES):
            try:
                if process.environ().get("AMAZON_SYNC_DEMO_RUN") == marker:
                    found.add(process.info["pid"])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
    return found


def test_demo_syncs_everything_and_cleans_up(tmp_path):
    marker = uuid.uuid4().hex
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "demo.driver", "--out", str(out), "--products", "80"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "AMAZON_SYNC_DEMO_RUN": marker})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[6/6]" in run.stdout and "in sync" in run.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["in_sync"] and summary["mismatches"] == []
    assert summary["queue_depth_after"] == 0 and summary["changes_captured"] == summary["changes_made"] > 0
    # the rejected SKU's quantity and price messages
    assert summary["messages_rejected"] == 2 and summary["rejections"][0]["code"] == "8560"
    assert summary["incremental"]["throttles_retried"] >= 1 and summary["notifications_delivered"] >= 1
    assert summary["messages_accepted"] == summary["incremental"]["messages"] - 2
    assert summary["sales_ended"]["removed_on_amazon"] and summary["open_ended_sales"] >= 1
    # the three SKUs Amazon has no listing for changed in the shop and were not created; the FBA SKU's
    # stock changed too and no quantity of ours ever reached its listing
    assert summary["unknown_skus_not_created"] == 3 and summary["incomplete_listings_created"] == 0
    assert summary["fba_skus_left_alone"] == 1
    feeds = list((out / "feeds").glob("*.json"))
    reports = list((out / "reports").glob("*.json"))
    assert len(feeds) == summary["feeds_sent"] >= 2 and len(reports) == len(feeds)
    assert all(json.loads(f.read_text())["header"]["version"] == "2.0" for f in feeds)
    assert all("summary" in json.loads(r.read_text()) for r in reports)
    assert service_processes(marker) == set()
