"""`make bench-ack`: acknowledge feeds covering 1,000,000 log rows while PrestaShop keeps writing.

A concurrent thread updates stock_available (the capture triggers fire and insert into the log) the
whole time the acknowledgment deletes rows; its longest statement is the stall a shop would feel.
Target: no stall over 50 ms. Per phase (bench/breakdown.py): calls, wall time, SQL time and statements.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import tempfile
import time

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.services import acknowledge as ack_service
from amazon_sync.services.acknowledge import AckSettings
from amazon_sync.services.export import ExportRequest
from bench.breakdown import Breakdown
from bench.common import GarbageCollections, ServerWaits, print_result
from bench.shop import ShopWriter, stall_report
from bench.stack import OFFERS, ROWS, PeakMemory, bench_stack

PHASES = {
    "queue_stats": [(EventLog, "queue_stats")],
    "remember_accepted": [(EventLog, "remember_accepted"), (EventLog, "forget_accepted")],
    "settle": [(ack_service, "settle_rows")],
    "delete": [(EventLog, "delete")],
    "release": [(EventLog, "release")],
    "claimed_keys": [(EventLog, "claimed_keys")],
    "follow_feeds_and_reports": [(ack_service.Acknowledger, "_follow")],
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp, triggers=True) as stack:
        export = stack.runtime.exporter().run(ExportRequest())
        print(f"# export: {export.rows_claimed} rows, {export.feeds_submitted} feeds "
              f"in {export.duration_seconds} s", flush=True)
        started = time.perf_counter()
        stack.advance_amazon(7200)  # Amazon processes the feeds (in the simulator's own process)
        print(f"# Amazon processed the feeds in {time.perf_counter() - started:.1f} s", flush=True)
        writer = ShopWriter(stack.settings, stack.catalogue.offers)
        writer.start()
        time.sleep(2)
        idle_longest = writer.reset()
        acknowledger = stack.runtime.acknowledger(remaining_seconds=lambda: 900.0,
                                                  settings=AckSettings(max_get_feed_calls=100))
        with (PeakMemory() as memory, Breakdown(PHASES) as breakdown, ServerWaits(stack.server) as waits,
              GarbageCollections(breakdown.active_label) as collections):
            started = time.perf_counter()
            summary = acknowledger.run()
            elapsed = time.perf_counter() - started
        writer.join()
        figures = {
            "rows": ROWS, "offers": OFFERS, "feeds_done": summary.feeds_done,
            "messages_accepted": summary.messages_accepted, "rows_deleted": summary.rows_deleted,
            "ack_seconds": round(elapsed, 2), "rows_deleted_per_second": round(summary.rows_deleted / elapsed),
            "sql_seconds": round(breakdown.sql_seconds, 2),
            "phases": breakdown.figures(elapsed),
            **collections.figures(),
            "longest_lock_held_ms": round(acknowledger.log.locks.longest_seconds * 1000, 1),
            "delete_transactions": acknowledger.log.locks.transactions,
            "concurrent_stock_updates": writer.updates,
            "longest_stock_update_stall_ms": round(writer.longest * 1000, 1),
            "longest_stock_update_without_ack_ms": round(idle_longest * 1000, 1),
            **stall_report(writer, breakdown, waits),
            "peak_rss_mb": memory.peak_mb,
            "target_stall_under_50ms": writer.longest < 0.05,
        }
        print_result(figures)


if __name__ == "__main__":
    main()
