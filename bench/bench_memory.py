"""`make bench-memory`: the functions' Lambda memory size, chosen from measured time and memory.

Two fresh stacks (bench/stack.py), as bench-export builds them: 10,000 log rows over 2,000 offers, then
1,000,000 rows over 200,000 offers. On each, one export run (bench-export's: every row in one run) and,
on the small one, the idle run that follows it (nothing pending: 43,200 of those a month), then the
acknowledgment of the run's feeds once Amazon has processed them. Each function runs in a fresh
interpreter of its own (bench/memory_child.py), as in a Lambda execution environment: this process
holds the seeded catalogue and the seeding's freed memory, which would inflate a peak measured here.
Per run: wall seconds, CPU seconds of the function's process (MariaDB, moto_server and the simulator are
other processes and stand for the remote services), its wait for a CPU of this shared machine (Linux
schedstat: no Lambda vCPU makes it wait so, so it is taken out of the waiting), RSS before the run and
peak RSS (the kernel's high-water mark), rows and feeds.

Then bench/memory_model.py per memory size: each run's duration and cost, the cold start (CPU figures
of `make bench-coldstart`, stretched the same way), the idle runs' month, and which sizes are feasible:
the export's peak RSS, extrapolated to the largest run the configuration allows (max_rows_per_run), fits
with its headroom and that run stays within half the 900 s timeout; the acknowledgment's peak fits and
one feed's worth of it stays within half its 300 s. The cheapest feasible size is chosen.
``--from-json FILE`` models a previous run's last line again (another ``--cpu-factor``) without
measuring. The last line printed is one JSON object. BENCH_MEMORY_LARGE_ROWS / BENCH_MEMORY_LARGE_OFFERS
make the large stack smaller while iterating.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from amazon_sync.config import SyncConfig
from bench.common import print_result
from bench.memory_child import MARK
from bench.memory_model import (
    FULL_VCPU_MB,
    MEMORY_HEADROOM,
    MEMORY_SIZES_MB,
    Measured,
    cheapest,
    cost_usd,
    cpu_stretch,
    duration_seconds,
    extrapolate,
    fits_memory,
    fits_time,
)
from bench.stack import bench_stack

ROOT = Path(__file__).resolve().parents[1]

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
MAX_ROWS_PER_RUN: int = SyncConfig.model_fields["max_rows_per_run"].default
# Not measured here: `make bench-reconcile`'s first run (the longer of its two) over a 1,000,000-listing
# report and 200,000 offers, at a load average of ~6.3: 36.7 s wall, 25.6 s CPU, peak RSS 254 MB. The
# report's preparation at Amazon is waited for before it (up to report_wait_seconds, billed at any size);
# the run stops waiting with 120 s left, so its processing must fit in those.
RECONCILE = Measured(wall_seconds=36.7, cpu_seconds=25.6, peak_rss_mb=254.0)
RECONCILE_RESERVE = 120.0


def run_child(function: str, runs: int, env: dict[str, str]) -> list[dict[str, Any]]:
    """``runs`` runs of one function in a fresh interpreter (bench/memory_child.py)."""
    done = subprocess.run([sys.executable, "-m", "bench.memory_child", function, str(runs)], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=3600, check=False)
    lines = [json.loads(line[len(MARK):]) for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or len(lines) != runs:
        raise RuntimeError(f"{function} child failed ({done.returncode}): {done.stderr[-3000:]}")
    for number, figures in enumerate(lines, 1):
        print(f"# {function} run {number}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    return lines


def measure_stack(rows: int, offers: int, *, idle_run: bool) -> dict[str, dict[str, Any]]:
    """The export, then the acknowledgment of its feeds; with ``idle_run``, each followed by an idle run."""
    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp, rows=rows, offers=offers) as stack:
        exports = run_child("export", 2 if idle_run else 1, stack.env)
        stack.advance_amazon(7200)  # Amazon processes the feeds (in the simulator's own process)
        acks = run_child("ack", 2 if idle_run else 1, stack.env)
    runs = {"export": exports[0], "ack": acks[0]}
    if idle_run:
        runs["idle_export"], runs["idle_ack"] = exports[1], acks[1]
    return runs


def as_measured(figures: dict[str, Any]) -> Measured:
    return Measured(wall_seconds=figures["wall_s"], cpu_seconds=figures["cpu_s"], peak_rss_mb=figures["peak_rss_mb"],
                    runqueue_seconds=figures["of_which_cpu_queue_s"])


def size_table(runs: dict[str, Measured], feeds_acknowledged: int, cpu_factor: float) -> dict[str, dict[str, Any]]:
    """Per memory size: durations, costs, the cold start and feasibility, for the export and the ack."""
    table: dict[str, dict[str, Any]] = {}
    export_peak = max(run.peak_rss_mb for name, run in runs.items() if "export" in name)
    ack_peak = max(run.peak_rss_mb for name, run in runs.items() if name.startswith("ack"))
    for size in MEMORY_SIZES_MB:
        def seconds(name: str, size: int = size) -> float:
            return duration_seconds(runs[name], size, cpu_factor)

        cold = {f: c * cpu_factor * cpu_stretch(size) for f, c in COLD_START_CPU.items()}
        export_ok = verdict(export_peak, size, seconds("export_max"), EXPORT_TIMEOUT)
        # the acknowledgment settles feed after feed and leaves the rest for its next run when time runs
        # short: what must fit is one feed's worth (a 1M-row backlog was 16 feeds), not the backlog
        ack_feed = seconds("ack_1m") / max(1, feeds_acknowledged)
        ack_ok = verdict(ack_peak, size, ack_feed, ACK_TIMEOUT)
        table[f"{size} MB"] = {
            "export_10k_s": round(seconds("export_10k"), 2), "export_1m_s": round(seconds("export_1m"), 1),
            "usd_10k": f"{cost_usd(size, seconds('export_10k')):.7f}",
            "usd_1m": f"{cost_usd(size, seconds('export_1m')):.6f}",
            "cold_start_s": round(cold["export"], 2), "usd_cold_start": f"{cost_usd(size, cold['export']):.7f}",
            "idle_s": round(seconds("idle_export"), 3),
            "usd_idle_month": round(EXPORT_RUNS_A_MONTH * cost_usd(size, seconds("idle_export")), 3),
            "export_max_rows_s": round(seconds("export_max"), 1), "export_feasible": export_ok,
            "ack_1m_s": round(seconds("ack_1m"), 1), "ack_per_feed_s": round(ack_feed, 1),
            "usd_ack_1m": f"{cost_usd(size, seconds('ack_1m')):.6f}",
            "ack_cold_start_s": round(cold["ack"], 2), "ack_feasible": ack_ok,
            **({"ack_idle_s": round(seconds("idle_ack"), 3),
                "usd_ack_idle_month": round(ACK_RUNS_A_MONTH * cost_usd(size, seconds("idle_ack")), 3)}
               if "idle_ack" in runs else {}),
        }
        reconcile = duration_seconds(RECONCILE, size, cpu_factor)
        table[f"{size} MB"].update({
            "reconcile_s": round(reconcile, 1),
            "reconcile_feasible": verdict(RECONCILE.peak_rss_mb, size, reconcile, RECONCILE_RESERVE)})
    return table


def verdict(peak_rss_mb: float, size: int, seconds: float, limit_seconds: float) -> bool | str:
    """True, or what does not fit."""
    if not fits_memory(peak_rss_mb, size):
        return f"no: needs {peak_rss_mb * MEMORY_HEADROOM:.0f} MB"
    if not fits_time(seconds, limit_seconds):
        return f"no: {seconds:.0f} s > half of {limit_seconds:.0f} s"
    return True


COLUMNS = {"export_10k_s": "export 10k s", "export_1m_s": "export 1M s", "usd_10k": "$ per 10k run",
           "usd_1m": "$ per 1M run", "cold_start_s": "cold start s", "usd_idle_month": "$ idle runs/month",
           "export_feasible": "export", "ack_per_feed_s": "ack s/feed", "usd_ack_idle_month": "$ ack idle/month",
           "ack_feasible": "ack", "reconcile_s": "reconcile s", "reconcile_feasible": "reconcile"}


def print_table(table: dict[str, dict[str, Any]]) -> None:
    columns = [key for key in COLUMNS if all(key in row for row in table.values())]
    cells = [["memory", *(COLUMNS[key] for key in columns)]]
    cells += [[size, *("yes" if row[key] is True else str(row[key]) for key in columns)] for size, row in table.items()]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    for line in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


def choose(table: dict[str, dict[str, Any]], column: str, feasible: str) -> int | None:
    sizes = [int(name.split()[0]) for name, row in table.items() if row[feasible] is True]
    return cheapest(sizes, {int(name.split()[0]): float(row[column]) for name, row in table.items()}) if sizes else None


def measure_small() -> dict[str, dict[str, Any]]:
    small = measure_stack(*SMALL, idle_run=True)
    return {"export_10k": small["export"], "idle_export": small["idle_export"], "ack_10k": small["ack"],
            "idle_ack": small["idle_ack"]}


def measure_all() -> dict[str, Any]:
    load_before = [round(x, 2) for x in os.getloadavg()]
    small = measure_small()
    large = measure_stack(*LARGE, idle_run=False)
    return {"rows_offers_small": list(SMALL), "rows_offers_large": list(LARGE),
            "measured": {**small, "export_1m": large["export"], "ack_1m": large["ack"]},
            "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-factor", type=float, default=1.0,
                        help="how much slower a Graviton vCPU runs this code than a core here (1.0: as fast)")
    parser.add_argument("--from-json", type=Path,
                        help="a previous run's output: model its measured figures again without measuring")
    parser.add_argument("--remeasure-small", action="store_true",
                        help="with --from-json: measure the 10,000-row stack again, keep the 1M-row figures")
    args = parser.parse_args()
    if args.from_json:
        lines = [line for line in args.from_json.read_text().splitlines() if line.startswith("{")]
        previous = json.loads(lines[-1])
        measured = {key: previous[key] for key in ("rows_offers_small", "rows_offers_large", "measured",
                                                   "load_average_before", "load_average_after", "measured_at")}
        if args.remeasure_small:
            measured["measured"].update(measure_small())
            measured["small_remeasured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            measured["small_remeasured_load_average"] = [round(x, 2) for x in os.getloadavg()]
    else:
        measured = measure_all()
    runs = {name: as_measured(figures) for name, figures in measured["measured"].items()}
    # the largest run the configuration allows (max_rows_per_run), on the line through the two measured
    (small_rows, _), (large_rows, _) = measured["rows_offers_small"], measured["rows_offers_large"]
    runs["export_max"] = extrapolate(runs["export_10k"], runs["export_1m"], small_rows, large_rows, MAX_ROWS_PER_RUN)
    table = size_table(runs, measured["measured"]["ack_1m"]["feeds_done"], args.cpu_factor)
    # a month of the export is 43,200 runs, almost all of them idle (a busy run's price is usd_10k, usd_1m)
    export_size = choose(table, "usd_idle_month", "export_feasible")
    # the acknowledgment's month: 21,600 runs, almost all with nothing to settle
    ack_size = choose(table, "usd_ack_idle_month" if "idle_ack" in runs else "usd_ack_1m", "ack_feasible")
    # once a day: the smallest feasible size is the cheapest (the CPU part costs the same below 1,769 MB)
    reconcile_size = min((int(name.split()[0]) for name, row in table.items() if row["reconcile_feasible"] is True),
                         default=None)
    max_run = runs["export_max"]
    figures: dict[str, Any] = {
        **measured,
        "export_max_rows": MAX_ROWS_PER_RUN,
        "export_max_rows_extrapolated": {"wall_s": round(max_run.wall_seconds, 1),
                                         "cpu_s": round(max_run.cpu_seconds, 1),
                                         "peak_rss_mb": round(max_run.peak_rss_mb, 1)},
        "cpu_factor": args.cpu_factor, "full_vcpu_mb": FULL_VCPU_MB, "memory_headroom": MEMORY_HEADROOM,
        "cold_start_cpu_s": COLD_START_CPU,
        "sizes": table,
        "chosen_export_mb": export_size, "chosen_ack_mb": ack_size, "chosen_reconcile_mb": reconcile_size,
        "why": {
            "rule": "below 1,769 MB the CPU part of a run costs the same at every size and only the waiting part "
                    "grows with the memory: the cheapest size is the smallest feasible one",
            "export": f"peak RSS {max_run.peak_rss_mb:.0f} MB extrapolated to a run of {MAX_ROWS_PER_RUN:,} rows "
                      f"(max_rows_per_run), x{MEMORY_HEADROOM} headroom; that run within half the 900 s timeout",
            "ack": f"peak RSS {runs['ack_1m'].peak_rss_mb:.0f} MB (1M rows), x{MEMORY_HEADROOM} headroom; one feed's "
                   "acknowledgment within half the 300 s timeout",
            "reconcile": f"peak RSS {RECONCILE.peak_rss_mb:.0f} MB (bench-reconcile), x{MEMORY_HEADROOM} headroom; "
                         f"the run after Amazon's report within half the {RECONCILE_RESERVE:.0f} s it keeps for it",
        },
        "load_average_now": [round(x, 2) for x in os.getloadavg()],
    }
    print_table(table)
    print_result(figures)


if __name__ == "__main__":
    main()
