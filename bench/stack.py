"""A large local stack for the benchmarks: 200,000 offers, 1,000,000 log rows.

moto_server and the SP-API simulator run as processes of their own, as AWS and Amazon are elsewhere:
the benchmark process holds only what a Lambda would, so its memory and time are ours alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
import pymysql

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.bootstrap import Runtime
from amazon_sync_devkit.aws_fixtures import create_state_table
from amazon_sync_devkit.catalogue import Catalogue, CatalogueSpec, seed_log_rows
from amazon_sync_devkit.local_processes import free_port, wait_for_http
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.simulator.amazon import SimulatorConfig
from bench.common import TABLES, shop_database

OFFERS = int(os.environ.get("BENCH_OFFERS", "200000"))
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
MARKETPLACE = "A13V1IB3VIYZZH"
BIN = Path(sys.executable).parent


class SqlTimer:
    """Time spent inside pymysql's execute calls, to tell SQL time from our own."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._patched: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> SqlTimer:
        for name in ("execute", "executemany"):
            original = getattr(pymysql.cursors.Cursor, name)

            def timed(cursor: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _original(cursor, *args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - started

            self._patched.append((pymysql.cursors.Cursor, name, original))
            setattr(pymysql.cursors.Cursor, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in self._patched:
            setattr(owner, name, original)


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


@contextmanager
def bench_stack(tmp: str, *, triggers: bool = False, offers: int = OFFERS, rows: int = ROWS) -> Iterator[BenchStack]:
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with ThrowawayMariaDB(buffer_pool="1G") as server:
            started = time.perf_counter()
            settings, catalogue = shop_database(server, "bench", CatalogueSpec(
                products=offers, combination_share=0, shops=1, specific_price_share=0.05, seed=1, unicode_skus=True))
            conn = connect(settings)
            seed_log_rows(conn, TABLES, catalogue.offers, rows)
            if triggers:
                from amazon_sync.adapters.mysql.schema import install_triggers
                install_triggers(conn, TABLES)
            conn.close()
            print(f"# set-up: {offers} offers, {rows} log rows in {time.perf_counter() - started:.1f} s", flush=True)
            moto_port, sim_port = free_port(), free_port()
            processes.append(subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            # Amazon processes feeds on its own machines, after a delay the benchmark advances past.
            processes.append(subprocess.Popen(
                [str(BIN / "amazon-sync"), "simulator", "--port", str(sim_port), "--no-rate-limits",
                 "--queue-seconds", "3600", "--processing-seconds", "1", "--validate-messages", "100"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            moto_url, sim_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{sim_port}"
            wait_for_http(moto_url, processes[0], "moto_server")
            wait_for_http(f"{sim_url}/_simulator/stats", processes[1], "simulator")
            os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                               "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": moto_url})
            sim_config = SimulatorConfig()
            boto3.client("s3").create_bucket(Bucket="bench-documents",
                                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            create_state_table("bench-state")
            secret = boto3.client("secretsmanager").create_secret(Name="bench-sp-api", SecretString=json.dumps({
                "lwa_app_id": sim_config.client_id, "lwa_client_secret": sim_config.client_secret,
                "refresh_token": sim_config.refresh_tokens[0]}))["ARN"]
            config_path = os.path.join(tmp, "marketplaces.json")
            with open(config_path, "w") as handle:
                json.dump({"marketplaces": [{"marketplace_id": MARKETPLACE, "seller_id": sim_config.seller_id,
                                             "shop_id": 1, "country": "FR", "currency": "EUR"}],
                           # the feed path is what these benchmarks measure (bench-freshness has both lanes)
                           "max_feeds_per_run": 100, "feeds_per_window": 100, "express_lane": False}, handle)
            env = {"STATE_TABLE": "bench-state", "DOCUMENT_BUCKET": "bench-documents",
                   "CONFIG_SOURCE": config_path, "SPAPI_SECRET_ARN": secret, "SPAPI_ENDPOINT_URL": sim_url,
                   "AMAZON_SYNC_LOCAL_DEVELOPMENT": "true",
                   "LWA_TOKEN_URL": f"{sim_url}/auth/o2/token", "DB_HOST": "127.0.0.1",
                   "DB_PORT": str(server.port), "DB_USER": "root", "DB_PASSWORD": "", "DB_NAME": "bench"}
            runtime = Runtime.from_env({**os.environ, **env})
            yield BenchStack(server, settings, catalogue, sim_url, runtime, {**env, **{
                k: v for k, v in os.environ.items() if k.startswith("AWS_")}})
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def time_plain_select(settings: DatabaseSettings) -> float:
    """The baseline: read the same log rows once, streamed, and do nothing with them."""
    conn = connect(settings)
    started = time.perf_counter()
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(f"SELECT id_amazon_sync_log, id_product, id_product_attribute, id_shop, change_kind "
                    f"FROM {TABLES.log} ORDER BY id_amazon_sync_log")
        for _ in cur:
            pass
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed
