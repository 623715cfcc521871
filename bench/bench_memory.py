"""`make bench-memory`: the functions' Lambda memory size, chosen from measured time and memory.

Two fresh stacks (bench/stack.py), as bench-export builds them: 10,000 log rows over 2,000 offers, then
1,000,000 rows over 200,000 offers. On each, one export run (bench-export's, all rows in one run) and,
on the small one, the idle run that follows it (nothing pending: 43,200 of these a month), then the
acknowledgment of the run's feeds once Amazon has processed them. Per run: wall seconds, CPU seconds of
this process (MariaDB, moto_server and the simulator are other processes and stand for the remote
services), this thread's time waiting for a CPU on this shared machine (/proc schedstat: it would not
happen on a Lambda vCPU, so it is taken out of the waiting), peak RSS, rows and feeds.

Then bench/memory_model.py per memory size: each run's duration and cost, the cold start (CPU figures
of `make bench-coldstart`, stretched the same way), what each function's runs cost a month, and which
sizes are feasible: peak RSS with its headroom fits, the export's 1M-row run stays within half its
900 s timeout, the acknowledgment's within half its 300 s. The cheapest feasible size is chosen.
The last line printed is one JSON object. BENCH_MEMORY_LARGE_ROWS / BENCH_MEMORY_LARGE_OFFERS make the
large stack smaller while iterating.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from amazon_sync.services.acknowledge import AckSettings
from amazon_sync.services.export import ExportRequest
from bench.common import print_result
from bench.memory_model import (
    FULL_VCPU_MB,
    MEMORY_HEADROOM,
    MEMORY_SIZES_MB,
    Measured,
    cheapest,
    cost_usd,
    cpu_stretch,
    duration_seconds,
    fits_memory,
    fits_time,
)
from bench.stack import PeakMemory, bench_stack

SMALL = (10_000, 2_000)  # (log rows, offers)
LARGE = (int(os.environ.get("BENCH_MEMORY_LARGE_ROWS", "1000000")),
         int(os.environ.get("BENCH_MEMORY_LARGE_OFFERS", "200000")))
EXPORT_TIMEOUT, ACK_TIMEOUT = 900.0, 300.0  # template.yaml
EXPORT_RUNS_A_MONTH, ACK_RUNS_A_MONTH = 43_200, 21_600  # every minute, every 2 minutes
# `make bench-coldstart` on this machine, 2026-11-29 at a load average of 4.5: first invocation CPU of a
# fresh interpreter on Lambda's path, from before the handler's import to the end of a scheduled run of
# 300 changes (export) and of the poll that settles their feed (ack). The import (0.22 s / 0.23 s) is
# inside these figures; the run's own work too, so they overstate what a cold start adds.
COLD_START_CPU = {"export": 1.355, "ack": 1.110}


def runqueue_seconds() -> float:
    """How long this thread has waited for a CPU so far (Linux schedstat; 0 where there is none)."""
    path = Path("/proc/thread-self/schedstat")
    return int(path.read_text().split()[1]) / 1e9 if path.is_file() else 0.0


def measure(label: str, run: Callable[[], Any]) -> tuple[Any, Measured, dict[str, Any]]:
    rss_before = psutil.Process().memory_info().rss / 1024 / 1024
    with PeakMemory() as memory:
        queued, cpu, started = runqueue_seconds(), time.process_time(), time.perf_counter()
        result = run()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        queued = runqueue_seconds() - queued
    measured = Measured(wall_seconds=wall, cpu_seconds=cpu, peak_rss_mb=memory.peak_mb, runqueue_seconds=queued)
    figures = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "wait_s": round(wall - cpu, 2),
               "of_which_cpu_queue_s": round(queued, 2), "peak_rss_mb": memory.peak_mb,
               "rss_before_mb": round(rss_before, 1), "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(f"# {label}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    return result, measured, figures


def measure_stack(rows: int, offers: int, *, idle_run: bool) -> dict[str, tuple[Measured, dict[str, Any]]]:
    runs: dict[str, tuple[Measured, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp, rows=rows, offers=offers) as stack:
        exporter = stack.runtime.exporter(remaining_seconds=lambda: 900.0)
        summary, measured, figures = measure(f"export {rows} rows", lambda: exporter.run(ExportRequest()))
        runs["export"] = (measured, {**figures, "rows_claimed": summary.rows_claimed,
                                     "feeds_submitted": summary.feeds_submitted})
        if idle_run:
            summary, measured, figures = measure("idle export", lambda: exporter.run(ExportRequest()))
            runs["idle_export"] = (measured, {**figures, "rows_claimed": summary.rows_claimed,
                                              "feeds_submitted": summary.feeds_submitted})
        stack.advance_amazon(7200)  # Amazon processes the feeds (in the simulator's own process)
        acknowledger = stack.runtime.acknowledger(remaining_seconds=lambda: 900.0,
                                                  settings=AckSettings(max_get_feed_calls=100))
        summary, measured, figures = measure(f"ack {rows} rows", acknowledger.run)
        runs["ack"] = (measured, {**figures, "rows_deleted": summary.rows_deleted, "feeds_done": summary.feeds_done})
    return runs


def size_table(runs: dict[str, Measured], cpu_factor: float) -> dict[str, dict[str, Any]]:
    """Per memory size: durations, costs, the cold start and feasibility, for the export and the ack."""
    table: dict[str, dict[str, Any]] = {}
    export_peak = max(runs["export_10k"].peak_rss_mb, runs["export_1m"].peak_rss_mb, runs["idle_export"].peak_rss_mb)
    ack_peak = max(runs["ack_10k"].peak_rss_mb, runs["ack_1m"].peak_rss_mb)
    for size in MEMORY_SIZES_MB:
        def seconds(name: str, size: int = size) -> float:
            return duration_seconds(runs[name], size, cpu_factor)

        cold = {f: c * cpu_factor * cpu_stretch(size) for f, c in COLD_START_CPU.items()}
        export_ok = fits_memory(export_peak, size) and fits_time(seconds("export_1m"), EXPORT_TIMEOUT)
        ack_ok = fits_memory(ack_peak, size) and fits_time(seconds("ack_1m"), ACK_TIMEOUT)
        table[f"{size} MB"] = {
            "export_10k_s": round(seconds("export_10k"), 2), "export_1m_s": round(seconds("export_1m"), 1),
            "idle_s": round(seconds("idle_export"), 3),
            "usd_10k": f"{cost_usd(size, seconds('export_10k')):.7f}",
            "usd_1m": f"{cost_usd(size, seconds('export_1m')):.6f}",
            "usd_idle_month": round(EXPORT_RUNS_A_MONTH * cost_usd(size, seconds("idle_export")), 3),
            "cold_start_s": round(cold["export"], 2), "usd_cold_start": f"{cost_usd(size, cold['export']):.7f}",
            "export_feasible": export_ok,
            "ack_1m_s": round(seconds("ack_1m"), 1), "usd_ack_1m": f"{cost_usd(size, seconds('ack_1m')):.6f}",
            "ack_feasible": ack_ok,
        }
    return table


def choose(table: dict[str, dict[str, Any]], column: str, feasible: str) -> int:
    sizes = [int(name.split()[0]) for name, row in table.items() if row[feasible]]
    return cheapest(sizes, {int(name.split()[0]): float(row[column]) for name, row in table.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-factor", type=float, default=1.0,
                        help="how much slower a Graviton vCPU runs this code than a core here (1.0: as fast)")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    small = measure_stack(*SMALL, idle_run=True)
    large = measure_stack(*LARGE, idle_run=False)
    runs = {"export_10k": small["export"][0], "idle_export": small["idle_export"][0], "ack_10k": small["ack"][0],
            "export_1m": large["export"][0], "ack_1m": large["ack"][0]}
    table = size_table(runs, args.cpu_factor)
    # the month of the export: 43,200 runs, almost all idle (a busy one's extra is in usd_10k, usd_1m)
    export_size = choose(table, "usd_idle_month", "export_feasible")
    ack_size = choose(table, "usd_ack_1m", "ack_feasible")
    figures: dict[str, Any] = {
        "rows_offers_small": list(SMALL), "rows_offers_large": list(LARGE),
        "measured": {"export_10k": small["export"][1], "idle_export": small["idle_export"][1],
                     "ack_10k": small["ack"][1], "export_1m": large["export"][1], "ack_1m": large["ack"][1]},
        "cpu_factor": args.cpu_factor, "full_vcpu_mb": FULL_VCPU_MB, "memory_headroom": MEMORY_HEADROOM,
        "cold_start_cpu_s": COLD_START_CPU,
        "sizes": table,
        "chosen_export_mb": export_size, "chosen_ack_mb": ack_size,
        "why": ("below 1,769 MB the CPU part of a run costs the same at every size and only the waiting part "
                "grows with the memory: the cheapest size is the smallest whose memory has the headroom and whose "
                "1M-row run stays within half the timeout"),
        "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print_result(figures)


if __name__ == "__main__":
    main()
