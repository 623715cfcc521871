"""PrestaShop selling while a benchmark runs: single-row stock updates from a process of its own.

Every update slower than ``NOTED_STALL_SECONDS`` is noted with its start (time.perf_counter, which is
CLOCK_MONOTONIC and so comparable across processes), so that the benchmark can say which of its own
statements ran beside it.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Any

from amazon_sync.adapters.mysql.connection import connect
from bench.breakdown import Breakdown
from bench.common import ServerWaits

NOTED_STALL_SECONDS = 0.025
NOTED_STALLS = 200


def shop_writer(settings, offers, stop, longest, updates, stalls) -> None:
    """PrestaShop selling, in a process of its own as PHP would be: single-row stock updates, timed."""
    conn = connect(settings)
    rng = random.Random(3)
    with conn.cursor() as cur:
        while not stop.is_set():
            product, attribute = rng.choice(offers)
            started = time.perf_counter()
            cur.execute("UPDATE ps_stock_available SET quantity = quantity + 1 WHERE id_product = %s "
                        "AND id_product_attribute = %s", (product, attribute))
            took = time.perf_counter() - started
            longest.value = max(longest.value, took)
            if took > NOTED_STALL_SECONDS and stalls.qsize() < NOTED_STALLS:
                stalls.put((started, took))
            updates.value += 1
            time.sleep(0.002)


class ShopWriter:
    def __init__(self, settings, offers) -> None:
        context = multiprocessing.get_context("fork")
        self.stop = context.Event()
        self._longest = context.Value("d", 0.0)
        self._updates = context.Value("i", 0)
        self._stalls = context.Queue()
        self.stalls: list[tuple[float, float]] = []
        self.process = context.Process(target=shop_writer, daemon=True,
                                       args=(settings, offers[:50000], self.stop, self._longest, self._updates,
                                             self._stalls))

    def start(self) -> None:
        self.process.start()

    def join(self) -> None:
        self.stop.set()
        self.process.join(30)
        self.stalls.extend(self._drain())

    def _drain(self) -> list[tuple[float, float]]:
        drained = []
        while not self._stalls.empty():
            drained.append(self._stalls.get())
        return drained

    @property
    def longest(self) -> float:
        return float(self._longest.value)

    def reset(self) -> float:
        """The longest stall so far; the stalls noted so far are dropped (they were not ours to explain)."""
        value = self.longest
        self._longest.value = 0.0
        self._drain()
        return value

    @property
    def updates(self) -> int:
        return int(self._updates.value)


def stall_report(writer: ShopWriter, breakdown: Breakdown, waits: ServerWaits) -> dict[str, Any]:
    """What a benchmark prints about the shop's stalls: how many were noted, what the server counted as
    waits meanwhile, and the five longest with what ran beside them."""
    return {f"stalls_over_{round(NOTED_STALL_SECONDS * 1000)}ms": len(writer.stalls), "server_waits": waits.grown,
            "longest_stalls_beside": breakdown.beside(writer.stalls)[:5]}
