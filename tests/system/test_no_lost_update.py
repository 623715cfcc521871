"""No lost update: a seeded random driver over the real MariaDB, moto and the simulator, with real kills.

Every handler invocation (export, acknowledgment, notification delivery) runs in an OS process of its
own and may be killed with SIGKILL: at a random moment, at a named step of the run, or inside one of
its short transactions on the event log (the claim, the delete, the release) before the commit. A
writer process changes PrestaShop by plain SQL all the while: stock, prices, dated sale windows
(consecutive and overlapping), catalogue-wide sales, SKU changes, deleted products and combinations,
products leaving a shop. Two marketplaces on two shops; the simulator (a thread of this process, so a
kill never takes Amazon down) throttles past the client's retries, answers 5xx, ends feeds FATAL or
CANCELLED, processes part of a feed, and sends notifications twice.

When the changes stop and the functions run until quiet, Amazon must show PrestaShop's values for
every SKU of both shops at that moment (sale windows included), every SKU PrestaShop no longer has
(deleted, renamed, left the shop) must show quantity 0, the log must hold only rows deliberately
marked failed, and no row may ever have been deleted before Amazon's verdict on every message built
from it (checked after every step against the simulator's own record of the feeds).

SOAK_SEEDS and SOAK_STEPS set the amount; CI runs a moderate one, `make soak` a long one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import FAILED
from amazon_sync.adapters.s3 import get_json_gz
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.local_processes import free_port
from tests.conftest import MARKETPLACE_FR
from tests.stack import MARKETPLACE_DE, base_config, build_stack, check_documents_against_schema
from tests.system import processes

SEEDS = int(os.environ.get("SOAK_SEEDS", "1"))
STEPS = int(os.environ.get("SOAK_STEPS", "20"))
EXPORT_STEPS = ["after_claim", "after_s3", "before_create_feed", "after_create_feed", "express_answered",
                "express_booked"]
ACK_STEPS = ["after_report", "before_settle"]
KILL_TIMEOUT = 120.0

# Each invocation is a fork of a server that has imported the code already: a warm Lambda start.
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["tests.system.processes"])


@pytest.fixture
def moto_server(monkeypatch):
    """moto as a server (a thread here): the handler processes reach the same S3 and DynamoDB."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its state per process, not per server: each test starts from an empty account
    httpx.post(f"http://{host}:{port}/moto-api/reset", timeout=30).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    yield
    server.stop()


class DeletionAudit:
    """Every row the sync deletes is copied by a trigger; after each step, each one is checked against
    what the simulator says about the feeds of its batch."""

    def __init__(self, stack):
        self.stack = stack
        self.violations: list[str] = []
        self.deleted = 0
        self.checked_up_to = 0
        stack.db.sql("CREATE TABLE audit_deleted (id INT AUTO_INCREMENT PRIMARY KEY, row_id BIGINT, "
                     "id_product INT, id_product_attribute INT, id_shop INT, batch_id BIGINT, state INT)")
        stack.db.sql("CREATE TRIGGER audit_log_delete AFTER DELETE ON ps_amazon_sync_log FOR EACH ROW "
                     "INSERT INTO audit_deleted (row_id, id_product, id_product_attribute, id_shop, batch_id, state) "
                     "VALUES (OLD.id_amazon_sync_log, OLD.id_product, OLD.id_product_attribute, OLD.id_shop, "
                     "OLD.batch_id, OLD.state)")

    def batch_messages(self, batch_id):
        """Every message of the batch's feeds, with its feed and shop (read once per check)."""
        state, store = self.stack.runtime.state, self.stack.runtime.store
        batch = state.get_batch(batch_id)
        shops = {m.marketplace_id: m.shop_id for m in self.stack.runtime.config.marketplaces}
        messages = []
        for intent_id in batch.feed_intents if batch else []:
            feed = state.get_feed(intent_id)
            if feed is not None:
                messages.extend((feed, FeedMessageRef.from_row(row), shops[feed.marketplace_id])
                                for row in get_json_gz(store, feed.manifest_key))
        return messages

    @staticmethod
    def covering(messages, key):
        return [(feed, ref) for feed, ref, shop in messages if key[0] in (0, ref.id_product)
                and key[1] in (0, ref.id_product_attribute) and key[2] in (0, shop)]

    def check(self):
        rows = self.stack.db.sql("SELECT id, row_id, id_product, id_product_attribute, id_shop, batch_id, state "
                                 "FROM audit_deleted WHERE id > %s ORDER BY id", (self.checked_up_to,))
        amazon = self.stack.amazon
        batches: dict[int, list[Any]] = {}
        for audit_id, row_id, product, attribute, shop, batch_id, state in rows:
            self.checked_up_to = audit_id
            self.deleted += 1
            if state != 1:
                self.violations.append(f"row {row_id} deleted in state {state}, not claimed")
            if batch_id not in batches:
                batches[batch_id] = self.batch_messages(batch_id)
            for feed, ref in self.covering(batches[batch_id], (product, attribute, shop)):
                if feed.lane == "listings":  # the express lane: Amazon's synchronous answer is the verdict
                    answers = {a["status"] for a in amazon.listing_submissions
                               if a["sku"] == ref.sku and a["marketplace_id"] == feed.marketplace_id}
                    if not answers & {"ACCEPTED", "INVALID"}:
                        self.violations.append(f"row {row_id} deleted without Amazon's answer for {ref.sku}")
                    continue
                simulated = amazon.feeds.get(feed.feed_id) if feed.feed_id else None
                if simulated is None or simulated.status != "DONE":
                    self.violations.append(f"row {row_id} deleted while feed {feed.feed_id} is "
                                           f"{simulated.status if simulated else 'unknown to Amazon'}")
                    continue
                issues = [i for i in (simulated.report or {}).get("issues", [])
                          if i.get("messageId") == ref.message_id and i["severity"] == "ERROR"]
                if any(i["code"] == "4000000" for i in issues):
                    self.violations.append(f"row {row_id} deleted although its message must be retried")


class Driver:
    def __init__(self, stack, rng: random.Random, seed: int):
        self.stack = stack
        self.rng = rng
        self.seed = seed
        self.clock = stack.amazon.clock
        self.notifications: list[dict[str, Any]] = []
        stack.amazon.notify = self.notifications.append
        self.env = dict(os.environ)
        self.kills: dict[str, int] = {}
        self.invocations = 0
        self.started_at: dict[int, tuple[str, float]] = {}
        self.seconds: dict[str, float] = {}
        self.sim_now = CONTEXT.Value("d", self.clock.now())
        self.writer: Any = None
        self.last_export_at = self.clock.now()

    # -- handler processes -------------------------------------------------------------------------

    def start(self, kind: str, kill: float, **options: Any) -> tuple[Any, Any, float | None]:
        pause = kill_after = None
        if self.rng.random() < kill:
            how = self.rng.random()
            if how < 0.35:
                pause = self.rng.choice(EXPORT_STEPS if kind == "export" else ACK_STEPS)
            elif how < 0.7:
                pause = f"transaction:{self.rng.randint(1, 6)}"  # claim, release, delete: whichever comes
            else:
                kill_after = self.rng.uniform(0.05, 2.0)
        receiver, sender = CONTEXT.Pipe(duplex=False)
        now = self.clock.now()
        if kind == "export":
            self.last_export_at = now
        process = CONTEXT.Process(target=processes.invoke, args=(kind, self.env, now, pause, options, sender),
                                  daemon=True)
        process.start()
        sender.close()
        self.invocations += 1
        self.started_at[process.pid] = (kind, time.monotonic())
        return process, receiver, kill_after

    def finish(self, process, receiver, kill_after) -> Any:
        started = time.monotonic()
        outcome: Any = None
        while outcome is None:
            if receiver.poll(0.01):
                try:
                    status, detail = receiver.recv()
                except EOFError:
                    break
                if status == processes.PAUSED:
                    self.kill(process, detail)
                    break
                if status == processes.FAILED:
                    process.join(10)
                    raise AssertionError(f"a handler process failed:\n{detail}")
                outcome = (status, detail)
            elif kill_after is not None and time.monotonic() - started > kill_after:
                self.kill(process, "at a random moment")
                break
            elif not process.is_alive() and not receiver.poll(0):
                break
            elif time.monotonic() - started > KILL_TIMEOUT:
                self.kill(process, "hung")
                raise AssertionError("a handler process did not finish within two minutes")
        process.join(30)
        receiver.close()
        kind, at = self.started_at.pop(process.pid)
        self.seconds[kind] = self.seconds.get(kind, 0.0) + time.monotonic() - at
        return outcome

    def kill(self, process, where: str) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
        self.kills[where] = self.kills.get(where, 0) + 1

    def run(self, kind: str, kill: float = 0.0, **options: Any) -> Any:
        return self.finish(*self.start(kind, kill, **options))

    def export(self, kill=0.2, mode="incremental"):
        return self.run("export", kill, mode=mode)

    def ack(self, kill=0.15):
        return self.run("ack", kill)

    def deliver(self, kill=0.1):
        pending, self.notifications[:] = list(self.notifications), []
        doubled = [n for n in pending for _ in range(self.rng.choice([1, 1, 2]))]
        if doubled:
            self.run("deliver", kill, notifications=doubled)

    def concurrently(self):
        """An export and an acknowledgment at the same time, each in its own process."""
        export = self.start("export", 0.2, mode="incremental")
        ack = self.start("ack", 0.15)
        self.finish(*export)
        self.finish(*ack)

    # -- the world around ------------------------------------------------------------------------

    def pass_time(self, seconds):
        """The simulator's clock is ours; MySQL's NOW() is real time, so the log's times move back."""
        self.clock.advance(seconds)
        self.sim_now.value = self.clock.now()
        self.stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL %s SECOND, "
                          "not_before = not_before - INTERVAL %s SECOND", (seconds, seconds))
        self.stack.amazon.advance()

    def fault(self):
        faults = self.stack.amazon.faults
        kind = self.rng.choice(["throttle", "exhausted", "5xx", "FATAL", "FATAL_APPLIED", "CANCELLED", "duplicates",
                                "getFeed", "getFeeds", "partial", "patch429", "patch5xx"])
        if kind == "throttle":
            faults.throttle["createFeed"] = 1  # the client's retry absorbs it
        elif kind == "exhausted":  # more 429s in a row than the client retries
            faults.throttle[self.rng.choice(["createFeedDocument", "createFeed", "getFeed", "getFeeds",
                                             "getFeedDocument"])] = self.rng.randint(3, 8)
        elif kind == "5xx":
            faults.create_feed_statuses.extend([self.rng.choice([500, 503])] * self.rng.randint(1, 3))
        elif kind in ("FATAL", "FATAL_APPLIED", "CANCELLED"):
            faults.feed_outcomes.append(kind)
        elif kind == "patch429":  # the express lane stops for the run
            faults.throttle["patchListingsItem"] = self.rng.randint(1, 4)
        elif kind == "patch5xx":
            faults.patch_statuses.extend([self.rng.choice([500, 503])] * self.rng.randint(1, 3))
        elif kind == "partial":
            faults.partial_processing = self.rng.randint(0, 2)
        elif kind == "duplicates":
            faults.duplicate_notifications = not faults.duplicate_notifications
        else:
            faults.throttle[kind] = self.rng.randint(1, 4)

    def start_writer(self):
        receiver, sender = CONTEXT.Pipe(duplex=False)
        stop = CONTEXT.Event()
        settings = self.stack.db.settings.model_dump()
        settings["password"] = ""
        process = CONTEXT.Process(target=processes.write_shop,
                                  args=(settings, self.seed, self.sim_now, stop, sender), daemon=True)
        process.start()
        sender.close()
        self.writer = (process, receiver, stop)

    def stop_writer(self) -> dict[str, int]:
        process, receiver, stop = self.writer
        stop.set()
        status, detail = receiver.recv()
        process.join(30)
        assert status == processes.DONE, f"the shop's writer failed:\n{detail}"
        return dict(detail)

    def step(self):
        action = self.rng.choices(["export", "time", "ack", "deliver", "fault", "concurrent"],
                                  [4, 3, 3, 2, 1, 1])[0]
        if action == "export":
            self.export(mode="full" if self.rng.random() < 0.1 else "incremental")
        elif action == "time":
            self.pass_time(self.rng.choice([1, 3, 10, 90, 400, 900]))
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
        faults.patch_statuses.clear()
        faults.feed_outcomes.clear()
        faults.partial_processing = None
        for _ in range(rounds):
            self.pass_time(400)  # past leases, backoffs and the 5-feeds-per-5-minutes window
            self.export(kill=0)
            self.pass_time(10)
            self.deliver(kill=0)
            self.ack(kill=0)
            busy = self.stack.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state <> %s", (FAILED,))
            in_flight = self.stack.runtime.state.feeds_in_flight()
            if not busy and not in_flight:
                return
        raise AssertionError("the system did not become quiet")


def current_skus(stack, marketplace_id: str) -> set[str]:
    """Every SKU an offer of the marketplace's shop has now, sendable or not."""
    marketplace = stack.runtime.config.marketplace(marketplace_id)
    reader = OfferReader(stack.db.conn, stack.db.tables)
    ctx = reader.shop_context(marketplace.shop_id, marketplace.country, marketplace.currency)
    return {offer.sku for chunk in reader.all_offer_keys(ctx) for offer in reader.read(ctx, chunk) if offer.sku}


@pytest.mark.parametrize("seed", range(SEEDS))
def test_no_update_is_ever_lost(shop_db, simulator, monkeypatch, tmp_path, moto_server, amazon_models, seed):
    # SKUs renamed during the run are new to Amazon: this test lets the sync create their listings (and a
    # full sync run before any reconciliation), as it did before the listings report was read back
    fr = {**base_config()["marketplaces"][0], "send_to_skus_not_on_amazon": True}
    config = base_config(marketplaces=[fr, {**fr, "marketplace_id": MARKETPLACE_DE, "country": "DE", "shop_id": 2,
                                                "send_quantity": False}],
                         max_attempts=6,
                         # both lanes in every run that has more than three offers' worth of changes
                         express_lane=True, express_threshold=6)
    stack = build_stack(shop_db, simulator, monkeypatch, tmp_path,
                        CatalogueSpec(products=12, seed=100 + seed, combination_share=0.4, specific_price_share=0.3,
                                      unicode_skus=False), config)
    audit = DeletionAudit(stack)
    driver = Driver(stack, random.Random(seed), seed)
    phases = {"start": time.monotonic()}
    driver.export(kill=0, mode="full")  # the reconciliation a merchant runs after set-up
    driver.run_until_quiet()
    phases["first sync"] = time.monotonic()
    driver.start_writer()
    try:
        for _ in range(STEPS):
            driver.step()
            audit.check()
    finally:
        changes = driver.stop_writer()
    phases["steps"] = time.monotonic()
    driver.run_until_quiet()
    audit.check()
    phases["until quiet"] = time.monotonic()

    at = datetime.fromtimestamp(driver.last_export_at, UTC)  # the sale windows in force at the last export
    failed_products = {int(r[0]) for r in stack.db.sql(
        "SELECT DISTINCT id_product FROM ps_amazon_sync_log WHERE state = %s", (FAILED,))}
    assert stack.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state <> %s", (FAILED,)) == 0

    def of_failed_product(sku: str) -> bool:
        product = stack.db.scalar("SELECT id_product FROM ps_amazon_sync_offer_state WHERE sku = %s LIMIT 1", (sku,))
        return product is not None and int(product) in failed_products

    fr_skus = {sku for sku in stack.expected(MARKETPLACE_FR, at) if not of_failed_product(sku)}
    de_skus = {sku for sku in stack.expected(MARKETPLACE_DE, at) if not of_failed_product(sku)}
    assert stack.mismatches(MARKETPLACE_FR, fr_skus, at) == []
    # the German marketplace (the second shop) carries prices only: Amazon keeps one quantity per seller and SKU
    assert stack.mismatches(MARKETPLACE_DE, de_skus, at, quantity_too=False) == []
    # every SKU the French shop no longer has (deleted, renamed, left the shop) shows no stock
    in_shop = current_skus(stack, MARKETPLACE_FR)
    gone = {sku: listing.quantity() for sku, listing in stack.amazon.listings.items()
            if sku not in in_shop and not of_failed_product(sku)}
    assert {sku: q for sku, q in gone.items() if q not in (0, None)} == {}
    assert audit.violations == []
    assert audit.deleted > 0
    print(f"seed {seed}: {STEPS} steps, {driver.invocations} handler processes, kills {driver.kills}, "
          f"shop changes {changes}, {len(gone)} SKUs gone from the shop, {len(failed_products)} failed products, "
          f"seconds in handlers {({k: round(v, 1) for k, v in driver.seconds.items()})}, phases "
          f"{({name: round(at - phases['start'], 1) for name, at in phases.items() if name != 'start'})}")
    check_documents_against_schema(stack, amazon_models)
