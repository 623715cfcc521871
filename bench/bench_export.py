"""`make bench-export`: one export run over 1,000,000 log rows and 200,000 offers.

Local MariaDB, moto and the simulator with its rate limits lifted: this measures our own cost.
Targets: the whole million in one run under 60 s on 2 cores, peak memory under 512 MB, no claim
transaction over 100 ms. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import tempfile
import time

from amazon_sync.services.export import ExportRequest
from bench.common import print_result
from bench.stack import OFFERS, ROWS, PeakMemory, SqlTimer, bench_stack, time_plain_select


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp) as stack:
        select_seconds = time_plain_select(stack.settings)
        # the queue figures the acknowledgment publishes every run, on a log of a million pending rows
        from amazon_sync.adapters.mysql.connection import connect
        from amazon_sync.adapters.mysql.eventlog import EventLog
        from bench.common import TABLES

        started = time.perf_counter()
        stats = EventLog(connect(stack.settings), TABLES).queue_stats()
        queue_stats_seconds = time.perf_counter() - started
        exporter = stack.runtime.exporter(remaining_seconds=lambda: 900.0)
        with PeakMemory() as memory, SqlTimer() as sql:
            started = time.perf_counter()
            summary = exporter.run(ExportRequest())
            elapsed = time.perf_counter() - started
        figures = {
            "rows": ROWS, "offers": OFFERS,
            "rows_claimed": summary.rows_claimed, "offers_exported": summary.offers_exported,
            "messages": summary.messages, "feeds_submitted": summary.feeds_submitted,
            "export_seconds": round(elapsed, 2),
            "rows_per_second": round(summary.rows_claimed / elapsed),
            "offers_per_second": round(summary.offers_exported / elapsed),
            "sql_seconds": round(sql.seconds, 2),
            "plain_select_seconds": round(select_seconds, 2),
            "ratio_export_vs_plain_select": round(elapsed / select_seconds, 1),
            "longest_claim_transaction_ms": round(exporter.log.locks.longest_seconds * 1000, 1),
            "claim_transactions": exporter.log.locks.transactions,
            "peak_rss_mb": memory.peak_mb,
            "queue_stats_ms": round(queue_stats_seconds * 1000, 1), "queue_depth_counted": stats.pending_rows,
            "target_under_60s": elapsed < 60, "target_under_512mb": memory.peak_mb < 512,
            "target_claims_under_100ms": exporter.log.locks.longest_seconds < 0.1,
        }
        print_result(figures)


if __name__ == "__main__":
    main()
