"""`make bench-ack`: acknowledge feeds covering 1,000,000 log rows while PrestaShop keeps writing.

A concurrent thread updates stock_available (the capture triggers fire and insert into the log) the
whole time the acknowledgment deletes rows; its longest statement is the stall a shop would feel.
Target: no stall over 50 ms. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import multiprocessing
import random
import tempfile
import time

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.services.acknowledge import AckSettings
from amazon_sync.services.export import ExportRequest
from bench.common import print_result
from bench.stack import OFFERS, ROWS, PeakMemory, SqlTimer, bench_stack


def shop_writer(settings, offers, stop, longest, updates) -> None:
    """PrestaShop selling, in a process of its own as PHP would be: single-row stock updates, timed."""
    conn = connect(settings)
    rng = random.Random(3)
    with conn.cursor() as cur:
        while not stop.is_set():
            product, attribute = rng.choice(offers)
            started = time.perf_counter()
            cur.execute("UPDATE ps_stock_available SET quantity = quantity + 1 WHERE id_product = %s "
                        "AND id_product_attribute = %s", (product, attribute))
            longest.value = max(longest.value, time.perf_counter() - started)
            updates.value += 1
            time.sleep(0.002)


class ShopWriter:
    def __init__(self, settings, offers) -> None:
        context = multiprocessing.get_context("fork")
        self.stop = context.Event()
        self._longest = context.Value("d", 0.0)
        self._updates = context.Value("i", 0)
        self.process = context.Process(target=shop_writer, daemon=True,
                                       args=(settings, offers[:50000], self.stop, self._longest, self._updates))

    def start(self) -> None:
        self.process.start()

    def join(self) -> None:
        self.stop.set()
        self.process.join(30)

    @property
    def longest(self) -> float:
        return float(self._longest.value)

    def reset(self) -> float:
        value = self.longest
        self._longest.value = 0.0
        return value

    @property
    def updates(self) -> int:
        return int(self._updates.value)


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
        with PeakMemory() as memory, SqlTimer() as sql:
            started = time.perf_counter()
            summary = acknowledger.run()
            elapsed = time.perf_counter() - started
        writer.join()
        figures = {
            "rows": ROWS, "offers": OFFERS, "feeds_done": summary.feeds_done,
            "messages_accepted": summary.messages_accepted, "rows_deleted": summary.rows_deleted,
            "ack_seconds": round(elapsed, 2), "rows_deleted_per_second": round(summary.rows_deleted / elapsed),
            "sql_seconds": round(sql.seconds, 2),
            "longest_lock_held_ms": round(acknowledger.log.locks.longest_seconds * 1000, 1),
            "delete_transactions": acknowledger.log.locks.transactions,
            "concurrent_stock_updates": writer.updates,
            "longest_stock_update_stall_ms": round(writer.longest * 1000, 1),
            "longest_stock_update_without_ack_ms": round(idle_longest * 1000, 1),
            "peak_rss_mb": memory.peak_mb,
            "target_stall_under_50ms": writer.longest < 0.05,
        }
        print_result(figures)


if __name__ == "__main__":
    main()
