"""PrestaShop selling while a benchmark runs: single-row stock updates from a process of its own."""

from __future__ import annotations

import multiprocessing
import random
import time

from amazon_sync.adapters.mysql.connection import connect


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
