"""`make bench-freshness`: how long a change takes from PrestaShop's SQL commit to Amazon showing it.

The whole system on a simulated clock: MariaDB with the capture triggers, the export and acknowledgment
services built exactly as the Lambda handlers build them (bootstrap.Runtime), run on their schedules,
moto, and the SP-API simulator in its realistic mode:

- feeds: one FIFO queue per seller, each feed taking U(30 s, 300 s) + 5 ms per message (the "normal"
  profile of docs/amazon-behaviours.md), Amazon's real rate limits (5 feeds per 5 minutes, 5 PATCH/s);
- patchListingsItem: 0.25 s per call; an ACCEPTED submission shows after U(2 s, 30 s) (an assumption:
  Amazon documents no figure, see docs/amazon-behaviours.md).

Our own computing takes no simulated time (a run is instantaneous apart from its calls to Amazon), so
the figures are what the design and Amazon's timing give, not this machine's speed.

Workloads, each on a fresh stack: (a) trickle: one stock or price change every 10 s for an hour;
(b) burst: 50,000 stock changes committed at once, then the same trickle. Each runs with the express
lane on a one-minute schedule, and without it on a five-minute schedule (the sync before the lane).
For each change the time from commit to the first moment the simulated Amazon shows its value is
taken from the simulator's listing history. Targets: trickle p50 < 90 s and p95 < 150 s with the
express lane; during the burst the trickle's p95 < 5 minutes.

Printed per scenario: the percentiles, each feed's life on Amazon's side (submitted, started,
finished, messages) and, for the burst, where the import's time went (feeds processing, Amazon's
queue idle between two feeds); the wall time of an export run on this machine (the simulated clock
does not see it). Then a table of the trickle's p50 / p95 / max for both workloads with and without
the express lane (during the burst split into changes to imported products, which wait for the
import's feed that carries them, and to others). The last line is one JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import install_triggers
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.bootstrap import Runtime
from amazon_sync.services.export import ExportRequest
from amazon_sync.services.express import ExpressLane
from amazon_sync_devkit.aws_fixtures import create_state_table
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.simulator.amazon import SimulatorConfig
from amazon_sync_devkit.simulator.clock import Clock
from amazon_sync_devkit.simulator.http import SimulatorServer
from bench.common import TABLES, print_result, shop_database

OFFERS = int(os.environ.get("BENCH_FRESHNESS_OFFERS", "200000"))
BURST = int(os.environ.get("BENCH_FRESHNESS_BURST", "50000"))
HOUR = float(os.environ.get("BENCH_FRESHNESS_SECONDS", "3600"))
TRICKLE_EVERY = 10.0
STEP = 1.0  # the simulated clock's step between looks at the world
ACK_EVERY = 120.0  # the acknowledgment's schedule; FEED_PROCESSING_FINISHED also starts it
MARKETPLACE = "A13V1IB3VIYZZH"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()


@dataclass
class Change:
    sku: str
    committed: float
    kind: str  # "stock" or "price"
    value: Any
    in_burst: bool = False
    shown: float | None = None
    superseded: bool = False  # a later change of the SKU came before this one showed: coalesced away


def realistic_simulator() -> SimulatorConfig:
    return SimulatorConfig(processing_profile="realistic", patch_latency_seconds=0.25,
                           listing_apply_seconds=(2.0, 30.0), queue_seconds=1.0, validate_messages=50, seed=7)


class World:
    """One stack on one simulated clock."""

    def __init__(self, server: ThrowawayMariaDB, tmp: Path, name: str, express: bool, schedule: float) -> None:
        self.schedule = schedule
        self.express = express
        self.settings = clone_database(server, TEMPLATE, name)
        self.conn = connect(self.settings)
        install_triggers(self.conn, TABLES)
        self.clock = Clock(manual=True, start=START)
        self.finished_feeds = 0
        self.simulator = SimulatorServer(realistic_simulator(), clock=self.clock, notify=self._notified).start()
        config = {"marketplaces": [{"marketplace_id": MARKETPLACE, "seller_id": self.simulator.config.seller_id,
                                    "shop_id": 1, "country": "FR", "currency": "EUR"}], "express_lane": express}
        config_path = tmp / f"{name}.json"
        config_path.write_text(json.dumps(config))
        bucket, table = f"{name}-documents", f"{name}-state"
        boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        create_state_table(table)
        sim = self.simulator.config
        secret = boto3.client("secretsmanager").create_secret(Name=f"{name}-sp-api", SecretString=json.dumps({
            "lwa_app_id": sim.client_id, "lwa_client_secret": sim.client_secret,
            "refresh_token": sim.refresh_tokens[0]}))["ARN"]
        self.runtime = Runtime.from_env({
            "STATE_TABLE": table, "DOCUMENT_BUCKET": bucket, "CONFIG_SOURCE": str(config_path),
            "SPAPI_SECRET_ARN": secret, "SPAPI_ENDPOINT_URL": self.simulator.url,
            "LWA_TOKEN_URL": f"{self.simulator.url}/auth/o2/token", "DB_HOST": "127.0.0.1",
            "DB_PORT": str(server.port), "DB_USER": "root", "DB_PASSWORD": "", "DB_NAME": name,
            "AMAZON_SYNC_LOCAL_DEVELOPMENT": "true"})
        marketplace = self.runtime.config.marketplaces[0]
        self.reader = OfferReader(self.conn, TABLES, "reference")
        self.context = self.reader.shop_context(1, marketplace.country, marketplace.currency,
                                                marketplace.shop_timezone, marketplace.conversion_rate,
                                                marketplace.allow_orders_when_out_of_stock)
        self.marketplace = marketplace
        self.changes: list[Change] = []
        self.runs = {"export": 0, "ack": 0, "express_messages": 0, "feeds": 0, "feed_messages": 0}
        self.export_wall_seconds: list[float] = []

    def _notified(self, notification: dict[str, Any]) -> None:
        self.finished_feeds += 1

    def close(self) -> None:
        self.simulator.stop()
        self.conn.close()

    # -- the shop's side ---------------------------------------------------------------------------

    def sku(self, product: int) -> str:
        return f"PS-{product:07d}"

    def burst(self, products: list[int]) -> None:
        now = self.clock.now()
        for start in range(0, len(products), 5000):
            part = products[start:start + 5000]
            with self.conn.cursor() as cur:
                cur.execute(f"UPDATE {TABLES.table('stock_available')} SET quantity = 7000 + MOD(id_product, 997) "
                            f"WHERE id_product_attribute = 0 AND id_product IN ({', '.join(['%s'] * len(part))})",
                            part)
        self.changes.extend(Change(self.sku(p), now, "stock", 7000 + p % 997, True) for p in products)

    def trickle(self, index: int, product: int) -> None:
        now = self.clock.now()
        with self.conn.cursor() as cur:
            if index % 2 == 0:
                quantity = 20000 + index
                cur.execute(f"UPDATE {TABLES.table('stock_available')} SET quantity = %s "
                            "WHERE id_product = %s AND id_product_attribute = 0", (quantity, product))
                self.changes.append(Change(self.sku(product), now, "stock", quantity))
                return
            cur.execute(f"UPDATE {TABLES.table('product_shop')} SET price = price + %s WHERE id_product = %s",
                        (Decimal(index % 89 + 11) / 100, product))
        [offer] = self.reader.read(self.context, [(product, 0)], datetime.fromtimestamp(now, UTC))
        assert offer.price is not None
        self.changes.append(Change(self.sku(product), now, "price", float(self.marketplace.price.apply(offer.price))))

    # -- the functions, on their schedules -------------------------------------------------------

    def export(self) -> None:
        overrides: dict[str, Any] = {"now": self.clock.now}
        if self.express:
            overrides["express"] = ExpressLane(self.runtime.listings_for(), sleep=self.clock.advance,
                                               clock=self.clock.now)
        started = time.perf_counter()
        summary = self.runtime.exporter(**overrides).run(ExportRequest())
        # this machine's time, not the simulated clock's: what a run costs while a backlog waits
        self.export_wall_seconds.append(time.perf_counter() - started)
        self.runs["export"] += 1
        self.runs["express_messages"] += summary.express_messages
        self.runs["feeds"] += summary.feeds_submitted
        self.runs["feed_messages"] += summary.feed_messages

    def ack(self) -> None:
        self.runtime.acknowledger(now=self.clock.now).run()
        self.runs["ack"] += 1

    def run(self, seconds: float, trickle_products: list[int]) -> None:
        """The clock goes from 0 to ``seconds``: trickle changes every 10 s, the export every schedule
        tick, the acknowledgment every 2 minutes and right after a feed finished (its notification)."""
        began = self.clock.now()
        next_export = began + self.schedule / 2  # the first tick falls anywhere in the schedule
        next_ack, next_change, index, seen_feeds = began + ACK_EVERY, began + 5.0, 0, 0
        while self.clock.now() - began < seconds:
            now = self.clock.now()
            if now >= next_change and index < len(trickle_products):
                self.trickle(index, trickle_products[index])
                index += 1
                next_change += TRICKLE_EVERY
            if now >= next_export:
                self.export()
                next_export += self.schedule
            if now >= next_ack or self.finished_feeds != seen_feeds:
                seen_feeds = self.finished_feeds
                self.ack()
                next_ack = self.clock.now() + ACK_EVERY
            self.clock.advance(STEP)
            self.simulator.amazon.advance()
        # time for the last changes to get through, without new ones
        for step in range(int(3600 / STEP)):
            if step % 30 == 0 and all(c.shown is not None or c.superseded for c in self._measure()):
                break
            if self.clock.now() >= next_export:
                self.export()
                next_export += self.schedule
            if self.clock.now() >= next_ack or self.finished_feeds != seen_feeds:
                seen_feeds = self.finished_feeds
                self.ack()
                next_ack = self.clock.now() + ACK_EVERY
            self.clock.advance(STEP)
            self.simulator.amazon.advance()

    def feed_timeline(self) -> list[dict[str, Any]]:
        """Each feed on Amazon's side, seconds from the start: submitted, started, finished, and its size;
        where a feed waited in Amazon's queue, or Amazon's queue stood idle between two feeds."""
        timeline = []
        for feed in self.simulator.amazon.feeds.values():
            data = self.simulator.amazon.documents[feed.input_document_id].data or b""
            timeline.append({"submitted": round(feed.created - START, 1),
                             "started": round(feed.started - START, 1) if feed.started else None,
                             "finished": round(feed.ended - START, 1) if feed.ended else None,
                             "messages": len(json.loads(data).get("messages", []))})
        return timeline

    def _measure(self) -> list[Change]:
        listings = self.simulator.amazon.listings
        latest: dict[str, float] = {}
        for change in self.changes:
            latest[change.sku] = max(latest.get(change.sku, change.committed), change.committed)
        for change in self.changes:
            if change.shown is not None:
                continue
            listing = listings.get(change.sku)
            for entry in listing.history if listing else []:
                if entry["at"] < change.committed:
                    continue
                value = entry["quantity"] if change.kind == "stock" else entry["price"]
                if value is not None and abs(float(value) - float(change.value)) < 0.001:
                    change.shown = entry["at"]
                    break
            # never shown, and a later change of the SKU exists: the export coalesced it into that one
            change.superseded = change.shown is None and latest[change.sku] > change.committed
        return self.changes


TEMPLATE = "freshness_catalogue"


def clone_database(server: ThrowawayMariaDB, source: str, target: str) -> DatabaseSettings:
    """A fresh copy of the shop built once (building 200,000 products takes minutes, copying seconds)."""
    with server.root_connection() as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{target}` CHARACTER SET utf8mb4")
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND "
                    "table_type = 'BASE TABLE'", (source,))
        for (table,) in cur.fetchall():
            cur.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
            cur.execute(f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`")
    return DatabaseSettings(port=server.port, database=target)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "count": 0}
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "max": round(ordered[-1], 1), "count": len(ordered)}


def scenario(server: ThrowawayMariaDB, tmp: Path, name: str, *, express: bool, burst: bool) -> dict[str, Any]:
    started = time.perf_counter()
    world = World(server, tmp, name, express, 60.0 if express else 300.0)
    try:
        rng = random.Random(11)
        products = list(range(1, OFFERS + 1))
        burst_products = sorted(rng.sample(products, BURST)) if burst else []
        trickle_products = rng.sample(products, int(HOUR / TRICKLE_EVERY))
        if burst:
            world.burst(burst_products)
        world.run(HOUR, trickle_products)
        changes = world._measure()
        trickle = [c for c in changes if not c.in_burst]
        bursts = [c for c in changes if c.in_burst]
        burst_done = max((c.shown or float("inf") for c in bursts if not c.superseded), default=START)
        during = [c for c in trickle if c.committed <= burst_done]
        result: dict[str, Any] = {
            "trickle": percentiles([c.shown - c.committed for c in trickle if c.shown is not None]),
            "not_shown": sum(c.shown is None and not c.superseded for c in changes),
            "superseded": sum(c.superseded for c in changes),
            "runs": world.runs, "wall_seconds": round(time.perf_counter() - started, 1),
            "export_run_wall_seconds": {"p50": percentiles(world.export_wall_seconds)["p50"],
                                        "max": percentiles(world.export_wall_seconds)["max"]},
            "feeds": world.feed_timeline(),
        }
        if burst:
            result["burst"] = percentiles([c.shown - c.committed for c in bursts if c.shown is not None])
            result["trickle_during_burst"] = percentiles([c.shown - c.committed for c in during
                                                          if c.shown is not None])
            # a product of the import waits for the import's feed (one SKU, one update in flight at a time)
            in_import = {c.sku for c in bursts}
            result["trickle_during_burst_on_imported_products"] = percentiles(
                [c.shown - c.committed for c in during if c.shown is not None and c.sku in in_import])
            result["trickle_during_burst_on_other_products"] = percentiles(
                [c.shown - c.committed for c in during if c.shown is not None and c.sku not in in_import])
            result["burst_all_shown_after_seconds"] = round(burst_done - START, 1)
            result["import_time"] = import_time(result["feeds"], burst_done - START)
        return result
    finally:
        world.close()


def import_time(feeds: list[dict[str, Any]], done: float) -> dict[str, float]:
    """Where the import's time went on Amazon's side: feeds processing (one after the other), Amazon's
    queue standing idle between two feeds while the import waited (the next run, the acknowledgment),
    and the wait before the first feed."""
    during = sorted((f for f in feeds if f["started"] is not None and f["started"] <= done),
                    key=lambda f: f["started"])
    processing = sum((f["finished"] or done) - f["started"] for f in during)
    idle = sum(max(0.0, later["started"] - (earlier["finished"] or done))
               for earlier, later in pairwise(during))
    return {"before_first_feed": during[0]["started"] if during else 0.0, "feeds_processing": round(processing, 1),
            "queue_idle_between_feeds": round(idle, 1)}


def trickle_table(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The trickle's p50 / p95 / max for each workload, with and without the express lane, side by side."""
    rows: dict[str, dict[str, Any]] = {}
    for workload, parts in (("trickle", ("trickle",)),
                            ("burst", ("trickle", "trickle_during_burst", "trickle_during_burst_on_imported_products",
                                       "trickle_during_burst_on_other_products"))):
        for lane in ("express_1min", "feeds_only_5min"):
            scenario_figures = figures.get(f"{workload}_{lane}")
            if scenario_figures is None:
                continue
            for part in parts:
                row = scenario_figures[part]
                name = f"{workload} {lane}: {part.replace('_', ' ')}"
                rows[name] = {"p50": row["p50"], "p95": row["p95"], "max": row["max"], "count": row["count"]}
    return rows


def main() -> None:
    figures: dict[str, Any] = {"offers": OFFERS, "burst_changes": BURST, "trickle_every_seconds": TRICKLE_EVERY,
                               "simulated_seconds": HOUR,
                               "feed_timing": "FIFO per seller, U(30,300) s + 5 ms/message",
                               "patch_shows_after": "U(2,30) s"}
    with tempfile.TemporaryDirectory() as tmp, ThrowawayMariaDB(buffer_pool="512M") as server, mock_aws():
        started = time.perf_counter()
        shop_database(server, TEMPLATE, CatalogueSpec(products=OFFERS, combination_share=0, shops=1,
                                                      specific_price_share=0, seed=3, unicode_skus=False))
        print(f"# set-up: {OFFERS} offers in {time.perf_counter() - started:.0f} s", flush=True)
        only = os.environ.get("BENCH_FRESHNESS_ONLY")  # one scenario, e.g. burst_express_1min
        for workload, burst in (("trickle", False), ("burst", True)):
            for lane, express in (("express_1min", True), ("feeds_only_5min", False)):
                name = f"{workload}_{lane}"
                if only and name != only:
                    continue
                print(f"# {name} ...", flush=True)
                figures[name] = scenario(server, Path(tmp), name, express=express, burst=burst)
                print(f"# {name}: {json.dumps(figures[name])}", flush=True)
    figures["trickle_seconds"] = trickle_table(figures)
    if "trickle_express_1min" in figures:
        trickle = figures["trickle_express_1min"]["trickle"]
        figures["target_trickle_p50_under_90s"] = trickle["p50"] is not None and trickle["p50"] < 90
        figures["target_trickle_p95_under_150s"] = trickle["p95"] is not None and trickle["p95"] < 150
    if "burst_express_1min" in figures:
        during = figures["burst_express_1min"]["trickle_during_burst"]["p95"]
        figures["target_trickle_p95_during_burst_under_300s"] = during is not None and during < 300
    print_result(figures)


if __name__ == "__main__":
    # a stopped benchmark still stops its MariaDB and simulator
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for _name, _value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                          "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        os.environ.setdefault(_name, _value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the simulator's line per request, thousands an hour
    main()
