"""No lost update: a seeded random driver over the real MariaDB, moto and the simulator, with real kills.

Every handler invocation (export, acknowledgment, notification delivery) runs in an OS process of its
own and may be killed with SIGKILL: at a random moment, at a named step of the run, or inside one of
its short transactions on the event log (the claim, the delete, the release) before the commit. A
writer process changes PrestaShop by plain SQL all the while: stock, prices, dated sale windows
(consecutive and overlapping), catalogue-wide sales, SKU changes, deleted products and combinations,
products leaving a shop. Two marketplaces on two shops; the simulator (a thread of this process, so a
kill never takes Amazon down) throttles past the client's retries, answers 5xx, ends feeds FATAL or
CANCELLED, processes part of a feed, and sends notifications twice.

Amazon is as it really behaves (docs/amazon-behaviours.md): some of the shop's SKUs are fulfilled by
Amazon (FBA/AFN, in both marketplaces or in one), some have no listing at all (the French marketplace
lets the sync create them, the German one must not), some listings only Amazon has (an FBA one among
them) are taken over by the shop at random, and at random steps a listing's price or quantity is changed
"behind our back" (Seller Central, a repricer; one SKU is contested more often, so that it may end up
fought over) and a reconciliation runs, in its own killable process like the other handlers.

When the changes stop and the functions run until quiet, a final reconciliation repairs the drift and
the functions run until quiet again. Then Amazon must show PrestaShop's values for every SKU of both
shops at that moment (sale values and windows included) except SKUs reconciliation reports as fought
over, each of which must have been changed behind our back after every repair; no FBA listing may ever
have been sent or shown a DEFAULT (merchant) availability; no German listing may have been created; a
second reconciliation must find no drift; every SKU PrestaShop no longer has (deleted, renamed, left the
shop) must show quantity 0; the log must hold only rows deliberately marked failed; and no row may ever
have been deleted before Amazon's verdict on every message built from it (checked after every step
against the simulator's own record of the feeds).

SOAK_SEEDS and SOAK_STEPS set the amount; CI runs a moderate one, `make soak` a long one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from amazon_sync.adapters.mysql.listings import AmazonListings
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import FAILED
from amazon_sync.adapters.s3 import get_json_gz
from amazon_sync.domain.feeds import OPEN_ENDED_SALE_END, FeedMessageRef
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
NAMED_STEPS = {"export": EXPORT_STEPS, "ack": ACK_STEPS}  # a reconciliation is killed at random moments
# settle 0: the simulator applies what it accepts (a patchListingsItem within a second) before it takes its
# next report; wait 0: a report not ready is picked up by the next run (a run never sleeps on the simulated
# clock, which the driver moves); one repair before a SKU is fought over, so that it happens in short runs
RECONCILE = {"settle_seconds": 0, "report_wait_seconds": 0, "max_repairs": 1}
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


@dataclass
class AmazonSide:
    """What Amazon has besides PrestaShop's view, set up before the first reconciliation."""

    afn: set[str] = field(default_factory=set)  # fulfilled by Amazon: never a DEFAULT entry
    amazon_only: list[str] = field(default_factory=list)  # listings the shop may take over (rename)
    contested: str = ""  # the SKU a repricer changes most often
    initial_shop_skus: set[str] = field(default_factory=set)


def set_up_amazon(stack, rng: random.Random) -> AmazonSide:
    """Listings created in Seller Central before the sync: most of the shop's SKUs merchant-fulfilled in
    both marketplaces, two FBA in both, one FBA in each marketplace only, two with no listing, and two
    listings the shop does not have (one FBA)."""
    amazon = stack.amazon
    skus = sorted(set(stack.expected(MARKETPLACE_FR)) | set(stack.expected(MARKETPLACE_DE)))
    rng.shuffle(skus)
    side = AmazonSide(initial_shop_skus=set(skus))
    for sku in skus[:2]:
        amazon.add_listing(sku, fulfillment="AMAZON_EU")
    amazon.add_listing(skus[2], fulfillment="AMAZON_EU", marketplace_ids=[MARKETPLACE_DE])
    amazon.add_listing(skus[3], fulfillment="AMAZON_EU", marketplace_ids=[MARKETPLACE_FR])
    side.afn = set(skus[:4])
    for sku in skus[6:]:  # skus[4:6] have no listing anywhere
        amazon.add_listing(sku)
    side.contested = skus[6]
    side.amazon_only = ["AMZ-ONLY-FBA-1", "AMZ-ONLY-MFN-1"]
    amazon.add_listing("AMZ-ONLY-FBA-1", fulfillment="AMAZON_EU")
    amazon.add_listing("AMZ-ONLY-MFN-1")
    side.afn.add("AMZ-ONLY-FBA-1")
    for marketplace in (MARKETPLACE_FR, MARKETPLACE_DE):
        stack.change_behind_our_back("AMZ-ONLY-FBA-1", marketplace, price=30.0)
        stack.change_behind_our_back("AMZ-ONLY-MFN-1", marketplace, quantity=4, price=12.5)
    return side


class Driver:
    def __init__(self, stack, rng: random.Random, seed: int, side: AmazonSide):
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
        self.side = side
        self.changed_behind_our_back: Counter[str] = Counter()
        self.reconciliations: Counter[str] = Counter()

    # -- handler processes -------------------------------------------------------------------------

    def start(self, kind: str, kill: float, **options: Any) -> tuple[Any, Any, float | None]:
        pause = kill_after = None
        if self.rng.random() < kill:
            how = self.rng.random()
            if how < 0.35 and kind in NAMED_STEPS:
                pause = self.rng.choice(NAMED_STEPS[kind])
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

    def reconcile(self, kill=0.15):
        outcome = self.run("reconcile", kill)
        if outcome is None:
            self.reconciliations["killed"] += 1
            return None
        summary = outcome[1]
        if summary["skipped_reason"]:
            self.reconciliations["skipped"] += 1
        for result in summary["marketplaces"]:
            self.reconciliations[result["state"].split(":")[0]] += 1
        return summary

    def reconcile_until_read(self, *, sync_between=False):
        """Reconcile until every marketplace has read a report asked for now (Amazon takes half a minute to
        prepare one). A report an earlier, killed run asked for is read first and shows Amazon as it was
        then; the marketplaces need not be read in the same run: a marketplace that has just read asks for
        a new report in its next run, so two marketplaces whose reports were asked for at different times
        take turns. ``sync_between``: exports and acknowledgments run between two reconciliations, as the
        schedules run them: else the repair queued by the marketplace that read first would still be
        pending when the other reads, and the other would leave the product alone as in flight."""
        self.clear_faults()
        earlier_reports = set(self.stack.amazon.reports.reports)
        fresh: set[str] = set()
        marketplaces = {m.marketplace_id for m in self.stack.runtime.config.marketplaces}
        for _ in range(8):
            summary = self.reconcile(kill=0)
            if summary and not summary["skipped_reason"]:
                fresh |= {r["marketplace_id"] for r in summary["marketplaces"]
                          if r["state"] == "read" and r["report_id"] not in earlier_reports}
                if fresh == marketplaces:
                    return summary
            if sync_between:
                self.run_until_quiet()
            self.pass_time(70)  # the report is ready, a killed run's lease has expired
        raise AssertionError(f"Amazon's listings could not be read for {sorted(marketplaces - fresh)}")

    def behind_our_back(self):
        """Seller Central or a repricer changes a listing of the shop: price, or (merchant-fulfilled only)
        quantity. Quantity only for SKUs the French shop has: one it no longer has must stay at 0."""
        amazon = self.stack.amazon
        french = set(self.stack.expected(MARKETPLACE_FR))
        candidates = sorted(sku for sku in french | set(self.stack.expected(MARKETPLACE_DE))
                            if sku in amazon.listings)
        if not candidates:
            return
        contested = self.side.contested
        sku = contested if contested in candidates and self.rng.random() < 0.5 else self.rng.choice(candidates)
        listing = amazon.listings[sku]
        marketplaces = [m for m in (MARKETPLACE_FR, MARKETPLACE_DE) if listing.present_in(m)]
        change: dict[str, Any] = {}
        if sku in french and self.rng.random() < 0.6:
            change["quantity"] = self.rng.randint(0, 30)
        if not change or self.rng.random() < 0.6:
            change["price"] = round(self.rng.uniform(5, 300), 2)
        self.stack.change_behind_our_back(sku, self.rng.choice(marketplaces), **change)
        self.changed_behind_our_back[sku] += 1

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
                                "getFeed", "getFeeds", "partial", "patch429", "patch5xx", "reports429"])
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
        elif kind == "reports429":  # a reconciliation fails for the marketplace; the next one asks again
            operation = self.rng.choice(["createReport", "getReport", "getReportDocument"])
            faults.throttle[operation] = self.rng.randint(3, 6)
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
                                  args=(settings, self.seed, self.sim_now, stop, sender, self.side.amazon_only),
                                  daemon=True)
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
        action = self.rng.choices(["export", "time", "ack", "deliver", "fault", "concurrent", "reconcile",
                                   "behind_our_back"], [4, 3, 3, 2, 1, 1, 2, 2])[0]
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
        elif action == "reconcile":
            self.reconcile()
        elif action == "behind_our_back":
            self.behind_our_back()
        else:
            self.concurrently()

    def clear_faults(self):
        faults = self.stack.amazon.faults
        faults.throttle.clear()
        faults.create_feed_statuses.clear()
        faults.patch_statuses.clear()
        faults.feed_outcomes.clear()
        faults.partial_processing = None

    def run_until_quiet(self, rounds=40):
        self.clear_faults()
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


def default_availability_sent(amazon, skus: set[str]) -> list[str]:
    """Every feed message and patchListingsItem submission Amazon received that gave one of ``skus`` a
    DEFAULT (merchant-fulfilled) availability, applied or not."""
    def merchant(patches: list[Any]) -> bool:
        return any(str(patch.get("path", "")).endswith("/fulfillment_availability")
                   and any(entry.get("fulfillment_channel_code") == "DEFAULT" for entry in patch.get("value") or [])
                   for patch in patches if isinstance(patch, dict))

    found = []
    for feed in amazon.feeds.values():
        document = json.loads(amazon.documents[feed.input_document_id].data or b"{}")
        found.extend(f"{message['sku']} in feed {feed.feed_id}" for message in document.get("messages", [])
                     if message.get("sku") in skus and merchant(message.get("patches", [])))
    found.extend(f"{submission['sku']} by patchListingsItem ({submission['status']})"
                 for submission in amazon.listing_submissions
                 if submission["sku"] in skus and merchant(submission["patches"]))
    return found


def what_amazon_received(amazon, sku: str) -> str:
    """For a failure message: the SKU's feed messages and submissions, and its listing's history."""
    lines = []
    for feed in amazon.feeds.values():
        document = json.loads(amazon.documents[feed.input_document_id].data or b"{}")
        for message in document.get("messages", []):
            if message.get("sku") == sku:
                lines.append(f"  feed {feed.feed_id} {feed.marketplace_ids[0]} created {feed.created:.1f} "
                             f"ended {feed.ended} {feed.status} ({feed.outcome}): {message['patches']}")
    lines.extend(f"  patch at {s['at']:.1f} {s['marketplace_id']} {s['status']}: {s['patches']}"
                 for s in amazon.listing_submissions if s["sku"] == sku)
    listing = amazon.listings.get(sku)
    lines.extend(f"  history {entry}" for entry in (listing.history if listing else []))
    return "\n".join(lines)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sale_window_problems(stack, marketplace_id: str, skus: set[str], at: datetime) -> list[str]:
    """Sales Amazon shows whose window is not PrestaShop's (whether a sale shows, and at which price, is
    ``Stack.mismatches``'s check). A window without a start starts when it was sent: only its end is known."""
    marketplace = stack.runtime.config.marketplace(marketplace_id)
    reader = OfferReader(stack.db.conn, stack.db.tables)
    ctx = reader.shop_context(marketplace.shop_id, marketplace.country, marketplace.currency,
                              marketplace.shop_timezone, marketplace.conversion_rate,
                              marketplace.allow_orders_when_out_of_stock)
    problems = []
    for chunk in reader.all_offer_keys(ctx):
        for offer in reader.read(ctx, chunk, at):
            listing = stack.amazon.listings.get(offer.sku)
            shown = listing.sale(marketplace_id) if listing is not None and offer.sku in skus else None
            if shown is None or offer.sale is None:
                continue
            end = _iso(offer.sale.end or OPEN_ENDED_SALE_END)
            start = _iso(offer.sale.start) if offer.sale.start else shown.get("start_at")
            if (shown.get("start_at"), shown.get("end_at")) != (start, end):
                problems.append(f"{offer.sku}: Amazon's sale runs {shown.get('start_at')} to {shown.get('end_at')}, "
                                f"PrestaShop's {start} to {end}")
    return problems


@pytest.mark.parametrize("seed", range(SEEDS))
def test_no_update_is_ever_lost(shop_db, simulator, monkeypatch, tmp_path, moto_server, amazon_models, seed):
    # French marketplace: SKUs renamed during the run are new to Amazon, and the merchant lets the sync create
    # their listings. German marketplace (the second shop): prices only, and no listing is ever created.
    fr = {**base_config()["marketplaces"][0], "send_to_skus_not_on_amazon": True}
    de = {**fr, "marketplace_id": MARKETPLACE_DE, "country": "DE", "shop_id": 2, "send_quantity": False,
          "send_to_skus_not_on_amazon": False}
    config = base_config(marketplaces=[fr, de], max_attempts=6, reconcile=RECONCILE,
                         # both lanes in every run that has more than three offers' worth of changes
                         express_lane=True, express_threshold=6)
    stack = build_stack(shop_db, simulator, monkeypatch, tmp_path,
                        CatalogueSpec(products=12, seed=100 + seed, combination_share=0.4, specific_price_share=0.3,
                                      unicode_skus=False), config)
    audit = DeletionAudit(stack)
    side = set_up_amazon(stack, random.Random(1000 + seed))
    driver = Driver(stack, random.Random(seed), seed, side)
    phases = {"start": time.monotonic()}
    driver.reconcile_until_read()  # what a merchant runs after set-up: the full sync needs Amazon's listings
    driver.export(kill=0, mode="full")
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
    driver.reconcile_until_read(sync_between=True)  # repairs what changed behind our back
    driver.run_until_quiet()
    audit.check()
    phases["until quiet"] = time.monotonic()

    amazon = stack.amazon
    at = datetime.fromtimestamp(driver.last_export_at, UTC)  # the sale windows in force at the last export
    failed_products = {int(r[0]) for r in stack.db.sql(
        "SELECT DISTINCT id_product FROM ps_amazon_sync_log WHERE state = %s", (FAILED,))}
    assert stack.db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state <> %s", (FAILED,)) == 0

    def of_failed_product(sku: str) -> bool:
        product = stack.db.scalar("SELECT id_product FROM ps_amazon_sync_offer_state WHERE sku = %s LIMIT 1", (sku,))
        return product is not None and int(product) in failed_products

    # a SKU another tool changed after each repair is reported as fought over, not repaired: it must have been
    # changed behind our back after every one of its repairs
    store = AmazonListings(stack.db.conn, stack.db.tables)
    findings = {f.sku: f for f in store.findings(kind="drift") if f.fought_over}
    fought = set(findings)
    unexplained = [f"{f.marketplace_id} {sku}: {f.detail}\n{what_amazon_received(amazon, sku)}"
                   for sku, f in findings.items() if driver.changed_behind_our_back[sku] <= RECONCILE["max_repairs"]]
    assert not unexplained, "\n".join(unexplained)

    fr_skus = {sku for sku in stack.expected(MARKETPLACE_FR, at) if not of_failed_product(sku)} - fought
    assert stack.mismatches(MARKETPLACE_FR, fr_skus - side.afn, at) == []
    assert stack.mismatches(MARKETPLACE_FR, fr_skus & side.afn, at, quantity_too=False) == []  # Amazon's count
    # the German marketplace carries prices only (Amazon keeps one quantity per seller and SKU), and only to
    # the listings Amazon has there
    de_skus = {sku for sku in stack.expected(MARKETPLACE_DE, at) if not of_failed_product(sku)
               and sku in amazon.listings and amazon.listings[sku].present_in(MARKETPLACE_DE)} - fought
    assert stack.mismatches(MARKETPLACE_DE, de_skus, at, quantity_too=False) == []
    assert sale_window_problems(stack, MARKETPLACE_FR, fr_skus, at) == []
    assert sale_window_problems(stack, MARKETPLACE_DE, de_skus, at) == []
    # FBA listings untouched: never sent a merchant availability, never showing one, no quantity of ours
    assert default_availability_sent(amazon, side.afn) == []
    assert {sku: amazon.listings[sku].fulfillment() for sku in side.afn} == dict.fromkeys(side.afn, "AFN")
    assert [(sku, entry) for sku in side.afn for entry in amazon.listings[sku].history
            if entry["quantity"] is not None] == []
    # no listing created where the configuration does not allow it
    assert sorted(sku for sku, listing in amazon.listings.items() if MARKETPLACE_DE in listing.incomplete) == []
    # every SKU the French shop had and no longer has (deleted, renamed, left the shop) shows no stock
    in_shop = current_skus(stack, MARKETPLACE_FR)
    ours = side.initial_shop_skus | {str(r[0]) for r in stack.db.sql(
        "SELECT sku FROM ps_amazon_sync_offer_state WHERE marketplace_id = %s", (MARKETPLACE_FR,))}
    gone = {sku: listing.quantity() for sku, listing in amazon.listings.items()
            if sku in ours and sku not in in_shop and not of_failed_product(sku)}
    assert {sku: q for sku, q in gone.items() if q not in (0, None)} == {}
    assert audit.violations == []
    assert audit.deleted > 0
    # and a last reconciliation finds nothing left to repair
    driver.reconcile_until_read()
    assert [f"{f.marketplace_id} {f.sku}: {f.detail}" for f in store.findings(kind="drift")
            if not f.fought_over and not of_failed_product(f.sku)] == []
    print(f"seed {seed}: {STEPS} steps, {driver.invocations} handler processes, kills {driver.kills}, "
          f"shop changes {changes}, reconciliations {dict(driver.reconciliations)}, changed behind our back "
          f"{sum(driver.changed_behind_our_back.values())} time(s), fought over {sorted(fought)}, {len(gone)} SKUs "
          f"gone from the shop, {len(failed_products)} failed products, "
          f"seconds in handlers {({k: round(v, 1) for k, v in driver.seconds.items()})}, phases "
          f"{({name: round(at - phases['start'], 1) for name, at in phases.items() if name != 'start'})}")
    check_documents_against_schema(stack, amazon_models)
