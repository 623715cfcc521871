"""The processes of the randomized no-lost-update test: one handler invocation, and the shop's writer.

Each handler invocation (export, acknowledgment, notification delivery, reconciliation) runs in an OS
process of its own, as a Lambda invocation does, and may be
killed with SIGKILL: at a random moment, or while it waits at a chosen point (a named step of the
run, or inside the n-th short transaction on the event log, before its commit) for the parent to
kill it. The writer changes PrestaShop by plain SQL (the capture triggers fire) while handlers run.

This module is imported by the fork server before any test runs, so every invocation starts from a
process that has already imported the code (a Lambda's warm start) and costs a fork, not an import.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from typing import Any

import pymysql

from amazon_sync.adapters.mysql import eventlog
from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.bootstrap import Runtime
from amazon_sync.services.acknowledge import AckSettings, FeedNotification
from amazon_sync.services.export import ExportRequest
from amazon_sync.services.reconcile import ReconcileRequest


def _warm_up() -> None:
    """What a warm Lambda container has already done: the AWS service models loaded into the default
    session, and the SP-API client library its first invocation imported (the code imports it when a
    client is first built). Done once here, in the fork server; every invocation forked from it inherits
    them."""
    import boto3
    import httpx  # noqa: F401
    import sp_api.api  # noqa: F401

    boto3.setup_default_session(region_name=os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))
    session = boto3.DEFAULT_SESSION
    assert session is not None
    for service in ("dynamodb", "s3", "secretsmanager"):
        session.client(service, region_name="eu-west-1")
    session.resource("dynamodb", region_name="eu-west-1")
    session.resource("s3", region_name="eu-west-1")


_warm_up()
PAUSED = "paused"
DONE = "done"
FAILED = "failed"


def invoke(kind: str, env: dict[str, str], now: float, pause: str | None, options: dict[str, Any],
           pipe: Pipe) -> None:
    """Run one export ("export"), acknowledgment ("ack"), notification delivery ("deliver") or
    reconciliation ("reconcile")."""
    os.environ.update(env)
    started = time.monotonic()

    def clock() -> float:
        return now + (time.monotonic() - started)

    def wait_to_be_killed(where: str) -> None:
        pipe.send((PAUSED, where))
        time.sleep(3600)

    def at_step(step: str) -> None:
        if step == pause:
            wait_to_be_killed(step)

    if pause and pause.startswith("transaction:"):
        wanted = int(pause.split(":")[1])
        real = eventlog.transaction
        counter = itertools.count(1)

        @contextlib.contextmanager
        def paused_transaction(conn: Any) -> Iterator[Any]:
            with real(conn) as cur:
                yield cur
                if next(counter) == wanted:
                    wait_to_be_killed(pause or "")  # the statements ran, the commit did not

        eventlog.transaction = paused_transaction
    try:
        runtime = Runtime.from_env()
        for marketplace in runtime.config.marketplaces:
            gateway = runtime.gateway_for()(marketplace.marketplace_id)
            gateway.retry.base_delay, gateway.retry.attempts = 0.001, 2
            reports = runtime.reports_for()(marketplace.marketplace_id)
            reports.retry.base_delay, reports.retry.attempts = 0.001, 2
        if kind == "export":
            exporter = runtime.exporter(on_step=at_step, now=clock)
            summary = exporter.run(ExportRequest(mode=options.get("mode", "incremental")))
            result: Any = summary.as_dict()
        elif kind == "reconcile":
            # a report Amazon has not finished is left for the next run (report_wait_seconds 0): a run never
            # sleeps on the simulated clock, which only the driver moves
            result = runtime.reconciler(now=clock).run(ReconcileRequest()).as_dict()
        elif kind == "ack":
            acknowledger = runtime.acknowledger(now=clock, on_step=at_step,
                                                settings=AckSettings(backoff_seconds=1, lease_seconds=60))
            result = acknowledger.run().as_dict()
        else:
            acknowledger = runtime.acknowledger(now=clock, on_step=at_step,
                                                settings=AckSettings(lease_seconds=60))
            for notification in options["notifications"]:
                acknowledger.handle_notification(FeedNotification.model_validate(notification))
            result = None
        pipe.send((DONE, result))
    except BaseException:  # everything goes to the parent, which fails the test
        pipe.send((FAILED, traceback.format_exc()))


# -- the shop's writer --------------------------------------------------------------------------------


class ShopWriter:
    """Random changes to PrestaShop by plain SQL: what a merchant, an ERP and the shop's orders do."""

    def __init__(self, conn: pymysql.connections.Connection[pymysql.cursors.Cursor], rng: random.Random,
                 sim_now: Any, amazon_only: list[str] | None = None) -> None:
        self.conn = conn
        self.rng = rng
        self.sim_now = sim_now
        # SKUs of listings only Amazon has (FBA ones among them), each given to a shop offer at most once:
        # the merchant matching a product to its existing Amazon listing
        self.amazon_only = list(amazon_only or [])
        self.renames = itertools.count(1)
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM ps_product")
            self.products_at_start = int(cur.fetchone()[0])

    def sql(self, statement: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def offer(self) -> tuple[int, int] | None:
        rows = self.sql("SELECT p.id_product, COALESCE(pa.id_product_attribute, 0) FROM ps_product p "
                        "LEFT JOIN ps_product_attribute pa ON pa.id_product = p.id_product")
        return self.rng.choice(rows) if rows else None

    def shop_time(self, offset: float) -> str:
        moment = datetime.fromtimestamp(self.sim_now.value + offset, UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S")  # the test's shops are on UTC

    def specific_price(self, product: int, reduction: float, start: str, end: str, shop: int = 0) -> None:
        self.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, "
                 "id_shop_group, id_currency, id_country, id_group, id_customer, id_product_attribute, price, "
                 "from_quantity, reduction, reduction_tax, reduction_type, `from`, `to`) VALUES "
                 "(0, 0, %s, %s, 0, 0, 0, 0, 0, 0, -1, 1, %s, 1, 'percentage', %s, %s)",
                 (product, shop, reduction, start, end))

    def window(self) -> tuple[float, float]:
        start = self.rng.choice([-600, 0, 5, 60, 300, 900])
        return start, start + self.rng.choice([30, 300, 900, 3600])

    def change(self) -> str:
        offer = self.offer()
        if offer is None:
            return "nothing"
        product, attribute = offer
        rng = self.rng
        kind = rng.choices(["stock", "price", "impact", "sale", "consecutive", "overlapping", "catalogue",
                            "active", "rename", "delete_combination", "delete_product", "leave_shop", "take"],
                           [30, 14, 6, 6, 5, 4, 3, 3, 4, 2, 1, 1, 1])[0]
        if kind == "stock":
            self.sql("UPDATE ps_stock_available SET quantity = %s WHERE id_product = %s "
                     "AND id_product_attribute = %s AND id_shop = %s",
                     (rng.randint(0, 25), product, attribute, rng.choice([1, 2])))
        elif kind == "price":
            self.sql("UPDATE ps_product_shop SET price = %s WHERE id_product = %s AND id_shop = %s",
                     (round(rng.uniform(5, 200), 2), product, rng.choice([1, 2])))
        elif kind == "impact" and attribute:
            self.sql("UPDATE ps_product_attribute_shop SET price = %s WHERE id_product_attribute = %s",
                     (rng.choice([0, 1, 2.5, -1]), attribute))
        elif kind == "sale":
            self.sql("DELETE FROM ps_specific_price WHERE id_product = %s", (product,))
            self.specific_price(product, rng.choice([0.1, 0.2, 0.3]), "0000-00-00 00:00:00", "0000-00-00 00:00:00")
        elif kind == "consecutive":
            start, end = self.window()
            later = end + rng.choice([300, 900])
            self.specific_price(product, 0.1, self.shop_time(start), self.shop_time(end))
            self.specific_price(product, 0.25, self.shop_time(end), self.shop_time(later))
        elif kind == "overlapping":
            start, end = self.window()
            self.specific_price(product, 0.15, self.shop_time(start), self.shop_time(end))
            self.specific_price(product, 0.35, self.shop_time((start + end) / 2), self.shop_time(end + 600))
        elif kind == "catalogue":
            self.sql("DELETE FROM ps_specific_price WHERE id_product = 0")
            if rng.random() < 0.7:
                start, end = self.window()
                dated = rng.random() < 0.6
                self.specific_price(0, 0.05, self.shop_time(start) if dated else "0000-00-00 00:00:00",
                                    self.shop_time(end) if dated else "0000-00-00 00:00:00")
        elif kind == "active":
            self.sql("UPDATE ps_product_shop SET active = %s WHERE id_product = %s", (rng.choice([0, 1]), product))
        elif kind in ("rename", "take") and (kind == "rename" or self.amazon_only):
            sku = (self.amazon_only.pop(rng.randrange(len(self.amazon_only))) if kind == "take"
                   else f"PS-{product:07d}-{attribute}-R{next(self.renames)}-{rng.randint(0, 999)}")
            if attribute:
                self.sql("UPDATE ps_product_attribute SET reference = %s WHERE id_product_attribute = %s",
                         (sku, attribute))
            else:
                self.sql("UPDATE ps_product SET reference = %s WHERE id_product = %s", (sku, product))
        elif kind == "delete_combination" and attribute:
            for table in ("stock_available", "product_attribute_shop", "product_attribute"):
                self.sql(f"DELETE FROM ps_{table} WHERE id_product_attribute = %s", (attribute,))
        elif kind == "delete_product" and self.deleted_products() < self.products_at_start // 3:
            for table in ("stock_available", "specific_price", "product_attribute_shop", "product_attribute",
                          "product_shop", "product"):
                self.sql(f"DELETE FROM ps_{table} WHERE id_product = %s", (product,))
        elif kind == "leave_shop":
            shop = rng.choice([1, 2])
            for table in ("product_attribute_shop", "product_shop"):
                self.sql(f"DELETE FROM ps_{table} WHERE id_product = %s AND id_shop = %s", (product, shop))
        else:
            return "nothing"
        return kind

    def deleted_products(self) -> int:
        count = self.sql("SELECT COUNT(*) FROM ps_product")[0][0]
        return self.products_at_start - int(count)


def write_shop(settings: dict[str, Any], seed: int, sim_now: Any, stop: Any, pipe: Pipe,
               amazon_only: list[str] | None = None) -> None:
    """Change the shop until told to stop, a few changes a second; report how many of each kind."""
    conn = connect(DatabaseSettings.model_validate(settings))
    writer = ShopWriter(conn, random.Random(seed), sim_now, amazon_only)
    counts: dict[str, int] = {}
    try:
        while not stop.is_set():
            try:
                kind = writer.change()
            except (pymysql.err.OperationalError, pymysql.err.IntegrityError) as exc:
                kind = f"refused {exc.args[0]}"  # a deadlock, a lock wait, the same window twice
            counts[kind] = counts.get(kind, 0) + 1
            time.sleep(writer.rng.uniform(0.01, 0.15))
        pipe.send((DONE, counts))
    except BaseException:  # everything goes to the parent, which fails the test
        pipe.send((FAILED, traceback.format_exc()))
