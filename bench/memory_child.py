"""One function's runs in a fresh interpreter, as a Lambda execution environment holds them (bench-memory).

``python -m bench.memory_child export|ack RUNS``, with a local stack's environment. Nothing but the
standard library and amazon_sync is imported, so the process's memory is the function's own: the
benchmark's process holds the seeded catalogue and the seeding's freed memory, which would count in a
peak measured there. Per run one line, MARK and a JSON object: wall and CPU seconds, this thread's wait
for a CPU of the machine (schedstat), RSS before the run and the process's peak RSS so far (the
kernel's high-water mark, ru_maxrss), and the run's counts.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARK = "MEMORY "


def runqueue_seconds() -> float:
    """How long this thread has waited for a CPU so far (Linux schedstat; 0 where there is none)."""
    path = Path("/proc/thread-self/schedstat")
    return int(path.read_text().split()[1]) / 1e9 if path.is_file() else 0.0


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def main(function: str, runs: int) -> None:
    from amazon_sync.bootstrap import Runtime

    runtime = Runtime.from_env(dict(os.environ))
    step: Callable[[], Any]
    if function == "export":
        from amazon_sync.services.export import ExportRequest

        exporter = runtime.exporter(remaining_seconds=lambda: 900.0)
        step, fields = (lambda: exporter.run(ExportRequest())), ("rows_claimed", "feeds_submitted")
    else:
        from amazon_sync.services.acknowledge import AckSettings

        step = runtime.acknowledger(remaining_seconds=lambda: 900.0, settings=AckSettings(max_get_feed_calls=100)).run
        fields = ("rows_deleted", "feeds_done")
    for _ in range(runs):
        before = rss_mb()
        queued, cpu, started = runqueue_seconds(), time.process_time(), time.perf_counter()
        summary = step()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        queued = runqueue_seconds() - queued
        print(MARK + json.dumps({
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "wait_s": round(wall - cpu, 2),
            "of_which_cpu_queue_s": round(queued, 2), "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            **{name: getattr(summary, name) for name in fields}}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
