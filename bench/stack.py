"""A large local stack for the benchmarks: 200,000 offers, 1,000,000 log rows.

moto_server and the SP-API simulator run as processes of their own, as AWS and Amazon are elsewhere:
the benchmark process holds only what a Lambda would, so its memory and time are ours alone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.schema import install_triggers
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.bootstrap import Runtime
from amazon_sync_devkit.catalogue import Catalogue, CatalogueSpec, seed_log_rows
from amazon_sync_devkit.local_processes import LocalProcesses
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.simulator.amazon import SimulatorConfig
from amazon_sync_devkit.stack import provision
from bench.common import TABLES, global_status, shop_database

OFFERS = int(os.environ.get("BENCH_OFFERS", "200000"))
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
MARKETPLACE = "A13V1IB3VIYZZH"


class PeakMemory:
    """Samples this process's RSS while a block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._process = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 1024 / 1024, 1)


@dataclass
class BenchStack:
    server: ThrowawayMariaDB
    settings: DatabaseSettings
    catalogue: Catalogue
    simulator_url: str
    runtime: Runtime
    env: dict[str, str]  # what a function deployed on this stack would find in its environment

    def advance_amazon(self, seconds: float) -> None:
        httpx.post(f"{self.simulator_url}/_simulator/clock", json={"advance": seconds}, timeout=3600)


def settle_redo_log(server: ThrowawayMariaDB, timeout: float = 300.0) -> None:
    """Let the server write back what loading the shop left dirty before anything is measured.

    Loading a million rows leaves the redo log some 80% full: InnoDB then makes every writer wait
    while it flushes, and a shop update measured in that state is stalled by the set-up, not by the
    statements under test. A shop's server at work has a settled log; so has the benchmark's, now.
    """
    started = time.perf_counter()
    settled = False
    with server.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
        (dirty_pct,) = cur.fetchone() or (90,)
        cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        try:
            while not settled and time.perf_counter() - started < timeout:
                status = global_status(cur, ("Innodb_checkpoint_age", "Innodb_checkpoint_max_age"))
                settled = status["Innodb_checkpoint_age"] < status["Innodb_checkpoint_max_age"] * 0.1
                if not settled:
                    time.sleep(0.5)
        finally:
            cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = %s", (dirty_pct,))
    elapsed = time.perf_counter() - started
    # a log still full makes the stall figures the set-up's: said on the line, not left to be guessed
    print(f"# redo log settled in {elapsed:.1f} s" if settled else
          f"# redo log NOT settled after {elapsed:.0f} s: stall figures include the set-up's flushing", flush=True)


@contextmanager
def bench_stack(tmp: str, *, triggers: bool = False, offers: int = OFFERS, rows: int = ROWS) -> Iterator[BenchStack]:
    """The devkit's local stack with moto_server and the simulator as processes of their own."""
    with ThrowawayMariaDB(buffer_pool="1G") as server, LocalProcesses() as processes:
        started = time.perf_counter()
        settings, catalogue = shop_database(server, "bench", CatalogueSpec(
            products=offers, combination_share=0, shops=1, specific_price_share=0.05, seed=1, unicode_skus=True))
        conn = connect(settings)
        seed_log_rows(conn, TABLES, catalogue.offers, rows)
        if triggers:
            install_triggers(conn, TABLES)
        conn.close()
        print(f"# set-up: {offers} offers, {rows} log rows in {time.perf_counter() - started:.1f} s", flush=True)
        settle_redo_log(server)
        processes.moto_server()
        # Amazon processes feeds on its own machines, after a delay the benchmark advances past.
        # BENCH_AMAZON_LATENCY: seconds each feed call takes, as with Amazon and S3 a network away (default 0)
        sim_url = processes.simulator("--no-rate-limits", "--queue-seconds", "3600", "--processing-seconds", "1",
                                      "--validate-messages", "100",
                                      "--feed-call-latency", os.environ.get("BENCH_AMAZON_LATENCY", "0"))
        sim_config = SimulatorConfig()
        provisioned = provision("bench", simulator_url=sim_url, simulator=sim_config, database=settings, config={
            "marketplaces": [{"marketplace_id": MARKETPLACE, "seller_id": sim_config.seller_id, "shop_id": 1,
                              "country": "FR", "currency": "EUR"}],
            # the feed path is what these benchmarks measure (bench-freshness has both lanes)
            "max_feeds_per_run": 100, "feeds_per_window": 100, "express_lane": False}, config_dir=Path(tmp))
        runtime = Runtime.from_env({**os.environ, **provisioned.env})
        yield BenchStack(server, settings, catalogue, sim_url, runtime, {**provisioned.env, **{
            k: v for k, v in os.environ.items() if k.startswith("AWS_")}})
