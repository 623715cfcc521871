"""No lost update: a seeded random driver over the real MariaDB, moto and the simulator.

Random shop changes through plain SQL (the triggers fire), export and acknowledgment runs, notification
deliveries (some twice), throttling, 5xx, FATAL and CANCELLED feeds, crashes between the steps of
either function and two runs at once. When the changes stop and the functions run until quiet, Amazon
must show PrestaShop's values for every SKU, the log must hold only rows deliberately marked failed,
and no row may ever have been deleted before Amazon's verdict on every message built from it (checked
at the moment of each delete, against the simulator's own record of the feeds).

SOAK_SEEDS and SOAK_STEPS set the amount; CI runs a moderate one, `make soak` a long one.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading

import pytest

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import FAILED
from amazon_sync.adapters.s3 import get_json_gz
from amazon_sync.bootstrap import Runtime
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.services.acknowledge import AckSettings, FeedNotification
from amazon_sync.services.export import ExportRequest
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.crashes import CrashPoint
from tests.conftest import MARKETPLACE_FR
from tests.stack import MARKETPLACE_DE, base_config

SEEDS = int(os.environ.get("SOAK_SEEDS", "5"))
STEPS = int(os.environ.get("SOAK_STEPS", "100"))
EXPORT_CRASH_POINTS = ["after_claim", "after_s3", "after_create_feed"]
ACK_CRASH_POINTS = ["after_report", "before_settle"]


class DeletionAudit:
    """Checks every delete, when it happens, against what the simulator says about the feeds."""

    def __init__(self, stack):
        self.stack = stack
        self.violations: list[str] = []
        self.deleted = 0
        self.lock = threading.Lock()

    def covering_messages(self, batch_id, key):
        state, store = self.stack.runtime.state, self.stack.runtime.store
        batch = state.get_batch(batch_id)
        shops = {m.marketplace_id: m.shop_id for m in self.stack.runtime.config.marketplaces}
        for intent_id in batch.feed_intents if batch else []:
            feed = state.get_feed(intent_id)
            for row in get_json_gz(store, feed.manifest_key):
                ref = FeedMessageRef.from_row(row)
                if ((key[0] in (0, ref.id_product)) and (key[1] in (0, ref.id_product_attribute))
                        and key[2] in (0, shops[feed.marketplace_id])):
                    yield feed, ref

    def check(self, conn, tables, ids):
        with conn.cursor() as cur:
            cur.execute(f"SELECT id_amazon_sync_log, id_product, id_product_attribute, id_shop, batch_id "
                        f"FROM {tables.log} WHERE id_amazon_sync_log IN ({', '.join(['%s'] * len(ids))}) "
                        "AND state = 1", tuple(ids))
            rows = cur.fetchall()
        amazon = self.stack.amazon
        for row_id, product, attribute, shop, batch_id in rows:
            for feed, ref in self.covering_messages(batch_id, (product, attribute, shop)):
                simulated = amazon.feeds.get(feed.feed_id) if feed.feed_id else None
                if simulated is None or simulated.status != "DONE":
                    self.violations.append(f"row {row_id} deleted while feed {feed.feed_id} is "
                                           f"{simulated.status if simulated else 'unknown to Amazon'}")
                    continue
                issues = [i for i in (simulated.report or {}).get("issues", [])
                          if i.get("messageId") == ref.message_id and i["severity"] == "ERROR"]
                if any(i["code"] == "4000000" for i in issues):
                    self.violations.append(f"row {row_id} deleted although its message must be retried")
        with self.lock:
            self.deleted += len(rows)


@pytest.fixture
def audited(monkeypatch):
    audits: list[DeletionAudit] = []
    real_delete = EventLog.delete

    def delete(self, ids):
        for audit in audits:
            if ids:
                audit.check(self.conn, self.t, list(ids))
        return real_delete(self, ids)

    monkeypatch.setattr(EventLog, "delete", delete)
    return audits


class Driver:
    def __init__(self, stack, rng: random.Random):
        self.stack = stack
        self.rng = rng
        self.clock = stack.amazon.clock
        self.notifications: list[dict[str, object]] = []
        stack.amazon.notify = self.notifications.append
        self.crashes = 0

    def now(self) -> float:
        return self.clock.now()

    # -- the shop ----------------------------------------------------------------------------------

    def shop_change(self):
        db, rng = self.stack.db, self.rng
        product, attribute = rng.choice(self.stack.catalogue.offers)
        choice = rng.random()
        if choice < 0.5:
            db.sql("UPDATE ps_stock_available SET quantity = %s WHERE id_product = %s AND id_product_attribute = %s",
                   (rng.randint(0, 25), product, attribute))
        elif choice < 0.75:
            db.sql("UPDATE ps_product_shop SET price = %s WHERE id_product = %s",
                   (round(rng.uniform(5, 200), 2), product))
        elif choice < 0.85 and attribute:
            db.sql("UPDATE ps_product_attribute_shop SET price = %s WHERE id_product_attribute = %s",
                   (rng.choice([0, 1, 2.5, -1]), attribute))
        elif choice < 0.95:
            db.sql("DELETE FROM ps_specific_price WHERE id_product = %s", (product,))
            db.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, "
                   "id_shop_group, id_currency, id_country, id_group, id_customer, id_product_attribute, price, "
                   "from_quantity, reduction, reduction_tax, reduction_type, `from`, `to`) VALUES "
                   "(0, 0, %s, 0, 0, 0, 0, 0, 0, 0, -1, 1, %s, 1, 'percentage', '0000-00-00 00:00:00', "
                   "'0000-00-00 00:00:00')", (product, rng.choice([0.1, 0.2, 0.3])))
        elif choice < 0.97:
            # a catalogue-wide sale (id_product 0) starts or ends
            db.sql("DELETE FROM ps_specific_price WHERE id_product = 0")
            if rng.random() < 0.5:
                db.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, "
                       "id_shop_group, id_currency, id_country, id_group, id_customer, id_product_attribute, "
                       "price, from_quantity, reduction, reduction_tax, reduction_type, `from`, `to`) VALUES "
                       "(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 1, 0.05, 1, 'percentage', '0000-00-00 00:00:00', "
                       "'0000-00-00 00:00:00')")
        else:
            db.sql("UPDATE ps_product_shop SET active = %s WHERE id_product = %s", (rng.choice([0, 1]), product))

    # -- the functions -----------------------------------------------------------------------------

    def crash_hook(self, points, probability):
        point = self.rng.choice(points) if self.rng.random() < probability else None

        def hook(where):
            if where == point:
                self.crashes += 1
                raise CrashPoint(where)

        return hook

    def export(self, runtime=None, crash=0.15, mode="incremental"):
        runtime = runtime or self.stack.runtime
        exporter = runtime.exporter(on_step=self.crash_hook(EXPORT_CRASH_POINTS, crash), now=self.now)
        for gateway_marketplace in (MARKETPLACE_FR, MARKETPLACE_DE):
            gateway = exporter.gateway_for(gateway_marketplace)
            gateway.retry.base_delay = 0.001
            gateway.retry.attempts = 2
        with contextlib.suppress(CrashPoint):
            exporter.run(ExportRequest(mode=mode))

    def ack(self, runtime=None, crash=0.1):
        runtime = runtime or self.stack.runtime
        acknowledger = runtime.acknowledger(now=self.now, on_step=self.crash_hook(ACK_CRASH_POINTS, crash),
                                            settings=AckSettings(backoff_seconds=1, lease_seconds=60))
        with contextlib.suppress(CrashPoint):
            acknowledger.run()

    def deliver(self):
        pending, self.notifications[:] = list(self.notifications), []
        acknowledger = self.stack.runtime.acknowledger(now=self.now, settings=AckSettings(lease_seconds=60))
        for notification in pending:
            for _ in range(self.rng.choice([1, 1, 2])):
                acknowledger.handle_notification(FeedNotification.model_validate(notification))

    def pass_time(self, seconds):
        """The simulator's clock is ours; MySQL's NOW() is real time, so the log's times move back."""
        self.clock.advance(seconds)
        self.stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL %s SECOND, "
                          "not_before = not_before - INTERVAL %s SECOND", (seconds, seconds))
        self.stack.amazon.advance()

    def fault(self):
        faults = self.stack.amazon.faults
        kind = self.rng.choice(["throttle", "5xx", "FATAL", "FATAL_APPLIED", "CANCELLED", "duplicates", "getFeed",
                                "partial"])
        if kind == "throttle":
            faults.throttle["createFeed"] = self.rng.randint(1, 3)
        elif kind == "5xx":
            faults.create_feed_statuses.append(self.rng.choice([500, 503]))
        elif kind in ("FATAL", "FATAL_APPLIED", "CANCELLED"):
            faults.feed_outcomes.append(kind)
        elif kind == "partial":
            faults.partial_processing = self.rng.randint(0, 2)
        elif kind == "duplicates":
            faults.duplicate_notifications = not faults.duplicate_notifications
        else:
            faults.throttle["getFeed"] = self.rng.randint(1, 4)

    def concurrently(self):
        """An export and an acknowledgment at the same time, each with its own connections."""
        other = Runtime.from_env()
        threads = [threading.Thread(target=self.export, kwargs={"runtime": other, "crash": 0}),
                   threading.Thread(target=self.ack, kwargs={"crash": 0})]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        other.connection().close()

    def step(self):
        action = self.rng.choices(
            ["shop", "export", "time", "ack", "deliver", "fault", "concurrent"], [6, 3, 2, 3, 2, 1, 1])[0]
        if action == "shop":
            for _ in range(self.rng.randint(1, 4)):
                self.shop_change()
        elif action == "export":
            self.export(mode="full" if self.rng.random() < 0.1 else "incremental")
        elif action == "time":
            self.pass_time(self.rng.choice([1, 3, 10, 90, 400]))
        elif action == "ack":
            self.ack()
        elif action == "deliver":
            self.deliver()
        elif action == "fault":
            self.fault()
        else:
            self.concurrently()

    def run_until_quiet(self, rounds=40):
        faults = self.stack.amazon.faults
        faults.throttle.clear()
        faults.create_feed_statuses.clear()
        faults.feed_outcomes.clear()
        faults.partial_processing = None
        for _ in range(rounds):
            self.pass_time(400)  # past leases, backoffs and the 5-feeds-per-5-minutes window
            self.export(crash=0)
            self.pass_time(10)
            self.deliver()
            self.ack(crash=0)
            busy = self.stack.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state <> %s", (FAILED,))
            in_flight = self.stack.runtime.state.feeds_in_flight()
            if not busy and not in_flight:
                return
        raise AssertionError("the system did not become quiet")


@pytest.mark.parametrize("seed", range(SEEDS))
def test_no_update_is_ever_lost(make_stack, audited, seed):
    fr = base_config()["marketplaces"][0]
    stack = make_stack(CatalogueSpec(products=12, seed=100 + seed, combination_share=0.4,
                                     specific_price_share=0.3, unicode_skus=False),
                       marketplaces=[fr, {**fr, "marketplace_id": MARKETPLACE_DE, "country": "DE"}],
                       max_attempts=6)
    audit = DeletionAudit(stack)
    audited.append(audit)
    driver = Driver(stack, random.Random(seed))
    driver.export(crash=0, mode="full")  # the reconciliation a merchant runs after set-up
    driver.run_until_quiet()
    for _ in range(STEPS):
        driver.step()
    driver.run_until_quiet()

    failed_products = {int(r[0]) for r in stack.db.sql(
        "SELECT DISTINCT id_product FROM ps_amazon_sync_log WHERE state = %s", (FAILED,))}
    assert stack.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state <> %s", (FAILED,)) == 0
    skus = {sku for sku in stack.expected(MARKETPLACE_FR)
            if int(sku.split("-")[1]) not in failed_products}
    assert stack.mismatches(MARKETPLACE_FR, skus) == []
    assert stack.mismatches(MARKETPLACE_DE, skus) == []
    assert audit.violations == []
    assert audit.deleted > 0
