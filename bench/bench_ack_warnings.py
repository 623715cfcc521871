"""`make bench-ack`, second case: one 25,000-message feed with a WARNING on every message.

Each warning is recorded per SKU (`amazon-sync errors`); done one DynamoDB get and put at a time, such a
report outlived the acknowledgment's 300 s timeout and was retried forever. Measured against the same
feed without warnings, in the same run (the baseline), with the function's real deadline: the report's
issues are recorded in batched writes and in chunks, and a run that runs short keeps its progress.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os
import tempfile
import time

import httpx

from amazon_sync.bootstrap import ACK_DEADLINE_SECONDS, deadline_in
from amazon_sync.services.export import ExportRequest
from bench.common import print_result

MESSAGES = 25_000


def acknowledge(stack: object) -> tuple[float, int, object]:
    """Acknowledgment runs, each with the function's deadline, until the feed is done: time, runs, last."""
    from bench.stack import BenchStack

    assert isinstance(stack, BenchStack)
    started = time.perf_counter()
    runs = 0
    while True:
        runs += 1
        summary = stack.runtime.acknowledger(remaining_seconds=deadline_in(ACK_DEADLINE_SECONDS)).run()
        if summary.feeds_in_flight == 0 or runs >= 5:
            return time.perf_counter() - started, runs, summary


def run_case(warn_every_message: bool) -> tuple[float, int, object, object, int]:
    """A fresh stack, one export of every offer, acknowledgments until done: time, runs, last summary, export,
    warnings recorded. Each case has its own stack, so the baseline acknowledges the same feeds, not an
    export skipped as unchanged."""
    from bench.stack import bench_stack

    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp) as stack:
        if warn_every_message:
            httpx.post(f"{stack.simulator_url}/_simulator/faults", json={"warn_every_message": {
                "code": "18448", "message": "The attribute 'item_name' is missing for some marketplaces.",
                "attributeName": "item_name"}}, timeout=60).raise_for_status()
        export = stack.runtime.exporter().run(ExportRequest())
        print(f"# export: {export.messages} messages in {export.feeds_submitted} feed(s)", flush=True)
        stack.advance_amazon(7200)
        seconds, runs, summary = acknowledge(stack)
        recorded = len(stack.runtime.state.sku_errors(limit=MESSAGES + 1))
        return seconds, runs, summary, export, recorded


def main() -> None:
    os.environ.setdefault("BENCH_OFFERS", str(MESSAGES))
    os.environ.setdefault("BENCH_ROWS", str(MESSAGES))
    warned_seconds, warned_runs, warned, export, recorded = run_case(warn_every_message=True)
    print(f"# with a warning on every message: {warned_seconds:.1f} s in {warned_runs} run(s)", flush=True)
    plain_seconds, plain_runs, plain, baseline_export, _ = run_case(warn_every_message=False)
    print(f"# baseline, no warnings: {plain_seconds:.1f} s in {plain_runs} run(s)", flush=True)
    print_result({
        "messages": export.messages, "warnings_reported": warned.warnings, "warnings_recorded": recorded,
        "ack_seconds_with_warnings": round(warned_seconds, 1), "ack_runs_with_warnings": warned_runs,
        "ack_seconds_without_warnings": round(plain_seconds, 1), "baseline_messages": baseline_export.messages,
        "ratio_vs_baseline": round(warned_seconds / plain_seconds, 2) if plain_seconds else None,
        "rows_deleted": warned.rows_deleted + plain.rows_deleted,
        "function_timeout_seconds": ACK_DEADLINE_SECONDS,
        "within_one_invocation": warned_runs == 1 and warned_seconds < ACK_DEADLINE_SECONDS,
    })


if __name__ == "__main__":
    main()
