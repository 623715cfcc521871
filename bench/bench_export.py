"""`make bench-export`: one export run over 1,000,000 log rows and 200,000 offers.

Local MariaDB, moto and the simulator with its rate limits lifted: this measures our own cost.
The floor it is compared with, in the same run: plain streamed SELECTs of both inputs, the log rows and
the offer data (stock, prices, specific prices, taxes) of the offers they name (bench/baselines.py), read
before the export and again after it; the target is judged on the mean of the two.
Targets: within 3x of that floor, peak memory under 512 MB, no claim transaction over 100 ms, and a
PrestaShop stock update made meanwhile (from another process, through the capture triggers) never
stalled over 50 ms.
Per phase (bench/breakdown.py): calls, wall time, SQL time and statements. BENCH_ROWS / BENCH_OFFERS
make it smaller while iterating; BENCH_SUBMIT_INLINE=1 submits the feeds in the run's thread instead of
the submitting thread, for comparison; BENCH_AMAZON_LATENCY=<seconds> makes each feed call (createFeedDocument,
the upload, createFeed) take that long. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os
import tempfile
import time

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.services import export as export_service
from amazon_sync.services.export import ExportRequest
from bench.baselines import time_log_select, time_offer_select
from bench.breakdown import Breakdown
from bench.common import TABLES, GarbageCollections, ServerWaits, print_result
from bench.shop import ShopWriter, stall_report
from bench.stack import OFFERS, ROWS, PeakMemory, bench_stack

PHASES = {
    "claim": [(EventLog, "claim")],
    "read_claimed_rows": [(EventLog, "claimed_keys")],
    "in_flight_check": [(EventLog, "claimed_products")],
    "offer_reads": [(OfferReader, "shop_context"), (OfferReader, "expand"), (OfferReader, "all_offer_keys"),
                    (OfferReader, "read")],
    "known_skus": [(EventLog, "known_skus")],
    "last_accepted": [(EventLog, "last_accepted")],
    "settle": [(export_service, "settle_rows")],
    "plan_messages": [(export_service.Exporter, "_plan")],
    "write_and_submit_feeds": [(export_service.Exporter, "_submit")],
    # the generator that pulls offers through planning and packs the documents: wrapping FeedSplitter.add
    # instead (200,000 calls) cost the run half a second and the phase timeline 40 MB
    "split_into_feeds": [(export_service, "split_all")],
    "order_oldest_first": [(export_service, "oldest_first")],
    "vanished_offers": [(EventLog, "vanished_offers")],
    "open_ended_sales": [(EventLog, "open_ended_sales"), (export_service.Exporter, "_save_open_ended_sales")],
    "batch_picture": [(export_service, "batch_picture")],
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp, triggers=True) as stack:
        select_seconds = time_log_select(stack.settings)
        offer_select_seconds, offers_selected = time_offer_select(stack.settings)
        # the queue figures the acknowledgment publishes every run, on a log of a million pending rows
        started = time.perf_counter()
        stats = EventLog(connect(stack.settings), TABLES).queue_stats()
        queue_stats_seconds = time.perf_counter() - started
        inline = os.environ.get("BENCH_SUBMIT_INLINE") == "1"
        exporter = stack.runtime.exporter(remaining_seconds=lambda: 900.0, **({"submit_side": None} if inline else {}))
        writer = ShopWriter(stack.settings, stack.catalogue.offers)
        writer.start()
        time.sleep(2)
        idle_longest = writer.reset()
        with (PeakMemory() as memory, Breakdown(PHASES) as breakdown, ServerWaits(stack.server) as waits,
              GarbageCollections(breakdown.active_label) as collections):
            started = time.perf_counter()
            summary = exporter.run(ExportRequest())
            elapsed = time.perf_counter() - started
        writer.join()
        # The machine's speed drifts (up to 20% within an hour here): the floor is read again after the run,
        # and the ratio to the mean of both readings is the one the target is judged on.
        select_after = time_log_select(stack.settings)
        offer_select_after, _ = time_offer_select(stack.settings)
        floor = select_seconds + offer_select_seconds
        floor_after = select_after + offer_select_after
        mean_floor = (floor + floor_after) / 2
        figures = {
            "rows": ROWS, "offers": OFFERS,
            "rows_claimed": summary.rows_claimed, "offers_exported": summary.offers_exported,
            "messages": summary.messages, "feeds_submitted": summary.feeds_submitted,
            "export_seconds": round(elapsed, 2),
            "rows_per_second": round(summary.rows_claimed / elapsed),
            "offers_per_second": round(summary.offers_exported / elapsed),
            "sql_seconds": round(breakdown.sql_seconds, 2),
            "plain_select_seconds": round(select_seconds, 2),
            "offer_select_seconds": round(offer_select_seconds, 2), "offers_selected": offers_selected,
            "ratio_export_vs_plain_select": round(elapsed / select_seconds, 1),
            "ratio_export_vs_both_selects": round(elapsed / floor, 2),
            "both_selects_after_seconds": round(floor_after, 2),
            "ratio_export_vs_both_selects_after": round(elapsed / floor_after, 2),
            "ratio_export_vs_mean_of_both_floors": round(elapsed / mean_floor, 2),
            "submitted_in": "the run's thread" if inline else "a thread of its own",
            "phases": breakdown.figures(elapsed),
            # what ran in the feed-submitting thread: its time overlaps the phases above
            "in_other_threads": {label: phase.as_dict() for label, phase in breakdown.background.items()},
            **collections.figures(),
            "longest_claim_transaction_ms": round(exporter.log.locks.longest_seconds * 1000, 1),
            "claim_transactions": exporter.log.locks.transactions,
            "peak_rss_mb": memory.peak_mb,
            "concurrent_stock_updates": writer.updates,
            "longest_stock_update_stall_ms": round(writer.longest * 1000, 1),
            "longest_stock_update_without_export_ms": round(idle_longest * 1000, 1),
            **stall_report(writer, breakdown, waits),
            "queue_stats_ms": round(queue_stats_seconds * 1000, 1), "queue_depth_counted": stats.pending_rows,
            "target_within_3x_of_both_selects": elapsed < 3 * mean_floor, "target_under_512mb": memory.peak_mb < 512,
            "target_claims_under_100ms": exporter.log.locks.longest_seconds < 0.1,
            "target_stall_under_50ms": writer.longest < 0.05,
        }
        print_result(figures)


if __name__ == "__main__":
    main()
