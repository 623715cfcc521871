"""The export: from pending log rows to submitted JSON_LISTINGS_FEED feeds.

One run: take the lease, recover what a crashed run left, claim rows in short transactions, coalesce
them per offer, leave offers whose earlier feed is still in flight for later, read the offers, build
and split feeds, write each to S3 and submit it, record it, then settle what needs no answer from
Amazon. Any failure leaves every row either claimed by a recorded batch or pending again.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, model_validator

from amazon_sync.adapters.dynamodb import BatchRecord, FeedRecord, SkuError, StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.listings import AmazonListings
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.s3 import DocumentMissing, DocumentStore, get_json_gz, put_json_gz
from amazon_sync.adapters.spapi import FeedsGateway
from amazon_sync.collector import fewer_collections
from amazon_sync.config import MarketplaceConfig, SyncConfig
from amazon_sync.domain.feeds import (
    FeedDocument,
    FeedMessageRef,
    FeedSplitter,
    PlannedMessage,
    PriceNotPositive,
    offer_of_ref,
    plan_message,
    sku_of_ref,
    split_all,
)
from amazon_sync.domain.model import LogKey, Offer, OfferProblem, RowIds, ShopContext
from amazon_sync.errors import AmazonError, ConfigurationError, LeaseLost, SyncError
from amazon_sync.services.calendar import enqueue_due_price_changes
from amazon_sync.services.express import (
    ExpressBooking,
    ExpressLane,
    Pacer,
    express_budget,
    newest_first,
    oldest_first,
)
from amazon_sync.services.recovery import recover_orphan_intents, unresolved_marketplaces
from amazon_sync.services.settle import batch_feeds, batch_picture, settle_rows
from amazon_sync.services.steps import Step, StepObserver, ignore_step

logger = Logger(child=True)

JSON_FEED_WINDOW_SECONDS = 300.0
OFFER_CHUNK = 1000
CLAIM_CHUNK = 1000  # rows per claim transaction: well under 100 ms, and the shop's updates beside them under 50 ms
# From this many offers in a run, the catalogue's duplicate SKUs are read once (0.3 s for 200,000 offers)
# instead of per chunk of offers (1.0 s for the same 200,000).
CATALOGUE_DUPLICATES_FROM = 20_000
VALIDATION_SAMPLE = 20  # messages per marketplace checked by `export --dry-run --validate`


class ExportRequest(BaseModel):
    """The manual invoke (and the schedule's input): validated, anything else is refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    mode: Literal["incremental", "full"] = "incremental"
    marketplaces: list[str] | None = Field(default=None, min_length=1)
    dryRun: bool = False
    validate_: bool = Field(default=False, alias="validate",
                            description="with dryRun: check a sample of messages with patchListingsItem's "
                                        "VALIDATION_PREVIEW mode (nothing is applied)")
    scheduledTime: str | None = None  # EventBridge Scheduler's <aws.scheduler.scheduled-time>

    @model_validator(mode="after")
    def _validate_only_in_dry_runs(self) -> ExportRequest:
        if self.validate_ and not self.dryRun:
            raise ValueError("validate needs dryRun: Amazon's VALIDATION_PREVIEW is never used in a real run")
        return self


@dataclass
class ExportSummary:
    batch_id: int | None = None
    skipped_reason: str | None = None
    rows_claimed: int = 0
    keys: int = 0
    offers_read: int = 0
    offers_exported: int = 0
    messages: int = 0
    feeds_submitted: int = 0
    feeds_abandoned: int = 0
    skipped_unchanged: int = 0
    skipped_in_flight_rows: int = 0
    skipped_excluded: int = 0
    skipped_budget_products: int = 0
    # left for a later run because the marketplace's previous feed is still at Amazon (express lane on)
    waiting_for_feed_products: int = 0
    offer_errors: int = 0
    quantities_held: int = 0
    open_ended_sales: int = 0  # sales sent with PrestaShop's window open at the end (see `status`)
    throttles: int = 0
    rows_deleted_without_feed: int = 0
    rows_released: int = 0
    continuation_rows: int = 0
    recovered_intents: int = 0
    marketplaces_blocked: list[str] = field(default_factory=list)  # an orphan intent there is unresolved
    calendar_rows: int = 0  # offers whose price changed by the clock since the last run
    next_price_change_at: str | None = None
    feed_messages: int = 0
    express_messages: int = 0
    express_accepted: int = 0
    express_rejected: int = 0
    express_unsent: int = 0
    express_stopped: str | None = None
    # what Amazon's listings report says (see services/reconcile.py)
    not_on_amazon: int = 0
    not_on_amazon_skus: list[str] = field(default_factory=list)
    fba_quantities_withheld: int = 0
    refused_marketplaces: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    dry_run_documents: list[str] = field(default_factory=list)
    feed_ids: list[str] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None  # why the run could not do its work (Amazon's or the database's reason)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def one_line(exc: BaseException) -> str:
    """An exception as one line for the operator: our own errors as they are, others with their type."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if isinstance(exc, SyncError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


@dataclass
class MarketplaceRun:
    config: MarketplaceConfig
    context: ShopContext
    send_quantity: bool
    splitter: FeedSplitter
    gateway: FeedsGateway | None
    budget_left: bool = True
    feeds: int = 0
    full: bool = False
    open_sales: set[str] | None = None  # SKUs known to have an open-ended sale here; None: not recorded
    open_sales_changed: dict[str, bool] = field(default_factory=dict)  # written once per document
    listings_read: bool = False  # Amazon's listings were read: only SKUs Amazon has get offers
    seller_marketplaces: list[str] = field(default_factory=list)  # this seller's, this one included
    # SKU -> the offer the offer-state table already names it for: noting it again before a submission
    # would change nothing
    noted: dict[str, tuple[int, int]] = field(default_factory=dict)
    duplicates: set[str] | None = None  # the catalogue's duplicate SKUs, when read once for the run


class SubmitSide(NamedTuple):
    """What a submission writes through when it runs in a thread of its own: a connection and a DynamoDB
    resource of its own (a pymysql connection serves one thread; boto3 resources are not thread-safe)."""

    log: EventLog
    state: StateStore


class FeedSubmissions:
    """One feed submission at a time. With a ``side``, it runs in a thread while the run packs the next
    document, so that S3, the SP-API and the database answer while the run's Python goes on; without one,
    at once. Its outcome is applied in the run's thread, by ``wait``, before anything else depends on it:
    the next dispatch, the express lane, the end of the marketplace."""

    def __init__(self, side: Callable[[], SubmitSide] | None) -> None:
        self._side_factory = side
        self._side: SubmitSide | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Future[bool], Callable[[], None]] | None = None

    def start(self, submit: Callable[[SubmitSide | None], bool], refused: Callable[[], None]) -> None:
        """Run ``submit``; ``refused`` is called (by ``wait``) when it returns False."""
        self.wait()
        if self._side_factory is None:
            if not submit(None):
                refused()
            return
        if self._pool is None:
            self._side = self._side_factory()
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="feed-submit")
        self._pending = self._pool.submit(submit, self._side), refused

    @property
    def under_way(self) -> bool:
        """A submission is still running in its thread."""
        return self._pending is not None and not self._pending[0].done()

    def wait(self) -> None:
        """The submission under way, finished and applied; its error, if any, raised here."""
        if self._pending is not None:
            future, refused = self._pending
            self._pending = None
            if not future.result():
                refused()

    def settle_after_failure(self) -> None:
        """After the run failed: let the submission under way finish, so that what it wrote is known
        before the run's claims are released; its own error, if any, is logged, not raised."""
        try:
            self.wait()
        except Exception:
            logger.exception("a feed submission under way when the run failed failed too")

    def close(self) -> None:
        self.settle_after_failure()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclass
class BatchProgress:
    batch: BatchRecord
    summary: ExportSummary
    budget: int
    # Feeds each marketplace may still add to Amazon's queue in this run; None: no limit (express lane off).
    queue_room: dict[str, int] | None = None
    unsent: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)  # of the unsent: only because a feed is still at Amazon
    every_product_unsent: bool = False
    # Offers a full run could not send (Amazon's feed budget): new log rows carry them to the next runs.
    continuation: set[LogKey] = field(default_factory=set)
    # A full run asked for (mode "full") has no log row to hand back: what it leaves needs continuation
    # rows. A run made full by a catalogue-wide row hands that row back whenever it leaves anything, and
    # the row carries the rest itself; rows per left offer on top would be added again at every run.
    full_request: bool = False

    def leave_for_later(self, run: MarketplaceRun, offers: Iterable[tuple[int, int]]) -> None:
        for product, attribute in offers:
            self.unsent.add(product)
            if run.full and self.full_request:
                self.continuation.add(LogKey(product, attribute, run.config.shop_id))

    def can_submit(self, run: MarketplaceRun) -> bool:
        return self.budget > 0 and run.budget_left and not self.queue_full(run)

    def queue_full(self, run: MarketplaceRun) -> bool:
        return self.queue_room is not None and self.queue_room.get(run.config.marketplace_id, 0) <= 0

    def took_queue_place(self, run: MarketplaceRun) -> None:
        if self.queue_room is not None:
            self.queue_room[run.config.marketplace_id] = self.queue_room.get(run.config.marketplace_id, 0) - 1

    def hold_back(self, run: MarketplaceRun, offers: Iterable[tuple[int, int]]) -> None:
        """Leave offers the run cannot submit for later; when the reason is the marketplace's feed still at
        Amazon, not a lack of budget, count them as waiting for it."""
        offers = list(offers)
        self.leave_for_later(run, offers)
        if self.queue_full(run):
            self.waiting.update(product for product, _ in offers)


class Exporter:
    def __init__(self, *, log: EventLog, reader: OfferReader, listings: AmazonListings, config: SyncConfig,
                 state: StateStore, store: DocumentStore, gateway_for: Callable[[str], FeedsGateway],
                 remaining_seconds: Callable[[], float] = lambda: 900.0, lease_seconds: float = 900.0,
                 claim_chunk: int = CLAIM_CHUNK, backoff_seconds: float = 60.0,
                 on_step: StepObserver = ignore_step, now: Callable[[], float] = time.time,
                 dry_run_store: DocumentStore | None = None,
                 progress: Callable[[ExportSummary], None] | None = None,
                 express: ExpressLane | None = None,
                 submit_side: Callable[[], SubmitSide] | None = None) -> None:
        self.log = log
        # Each document is submitted in a thread while the next is packed (bench-export: 1.3-2.5 s of 22 s
        # here; more where S3 and the SP-API are a network away). None: submissions run in the run's thread.
        self._submit_side = submit_side
        self._submissions = FeedSubmissions(None)
        self.reader = reader
        self.listings = listings
        self.config = config
        self.state = state
        self.store = store
        self.gateway_for = gateway_for
        self.remaining_seconds = remaining_seconds
        self.lease_seconds = lease_seconds
        self.claim_chunk = claim_chunk
        self.backoff_seconds = backoff_seconds
        self.on_step = self._observed(on_step)
        self._stopped_by_observer = False
        self.now = now
        self.dry_run_store = dry_run_store or store
        self.progress = progress or (lambda summary: None)
        self.listings_lane = express  # also what `export --dry-run --validate` checks messages with
        self.express = express if config.express_lane else None
        self._abandon_reason: str | None = None
        self._feed_offers: dict[str, set[tuple[int, int]]] = {}  # manifest key -> offers, of this run's feeds
        self._catalogue_duplicates: set[str] | None = None  # read at most once per run, for every marketplace

    def _observed(self, observer: StepObserver) -> StepObserver:
        """An observer that raises stops the run right there, as a kill would: nothing of ours runs after."""

        def observe(step: Step) -> None:
            try:
                observer(step)
            except BaseException:
                self._stopped_by_observer = True
                raise

        return observe

    # -- the run ----------------------------------------------------------------------------------

    def run(self, request: ExportRequest) -> ExportSummary:
        started = time.perf_counter()
        summary = ExportSummary()
        self._catalogue_duplicates = None
        marketplaces = self._chosen_marketplaces(request)
        if request.dryRun:
            self._dry_run(request, marketplaces, summary)
            summary.duration_seconds = round(time.perf_counter() - started, 3)
            return summary
        owner = self._owner = str(uuid.uuid4())
        if not self.state.acquire_lease("export", owner, self.lease_seconds, self.now()):
            summary.skipped_reason = "another export run holds the lease"
            return summary
        self._submissions = FeedSubmissions(self._submit_side)
        try:
            summary.recovered_intents = recover_orphan_intents(self.state, self.gateway_for, self.now(),
                                                               lease_free=True)
            # with the lease held, every intent still SUBMITTING is an orphan recovery could not resolve
            summary.marketplaces_blocked = sorted(unresolved_marketplaces(self.state))
            calendar = enqueue_due_price_changes(self.log, self.reader, self.config.marketplaces,
                                                 datetime.fromtimestamp(self.now(), UTC))
            summary.calendar_rows = calendar.rows
            summary.next_price_change_at = calendar.next_change_at.isoformat() if calendar.next_change_at else None
            with fewer_collections():
                self._run_batch(request, marketplaces, summary)
        except Exception as exc:
            # a submission still under way finishes first: its feed, if Amazon took it, keeps its rows
            self._submissions.settle_after_failure()
            if self._stopped_by_observer or isinstance(exc, LeaseLost):
                raise  # stopped from outside, or another run owns the lease now: its recovery takes over
            # Whatever stopped the run (configuration, database, S3), its claims go back at once
            # instead of waiting for the lease to expire.
            summary.failure = one_line(exc)
            logger.exception("export failed", extra={"reason": summary.failure})
            self._release_claims(summary)
        finally:
            self._submissions.close()
            gc.unfreeze()  # the claimed rows frozen by _claim: collected as usual again
            self.state.release_lease("export", owner)
            summary.duration_seconds = round(time.perf_counter() - started, 3)
        if summary.failure is None:
            summary.failure = self._unfinished_work(summary)
        self.state.record_run("export", {"batch_id": summary.batch_id, "feeds": summary.feeds_submitted,
                                         "messages": summary.messages, "rows_claimed": summary.rows_claimed,
                                         "failure": summary.failure})
        if summary.failure:
            logger.error("export could not do its work", extra={"reason": summary.failure})
            self.state.record_failure("export", summary.failure, self.now())
        return summary

    def _unfinished_work(self, summary: ExportSummary) -> str | None:
        """Amazon refused a submission, or nothing could be submitted: Amazon's reason, else None."""
        if summary.feeds_abandoned:
            return self._abandon_reason or "Amazon refused a feed submission"
        if summary.feeds_submitted == 0 and summary.skipped_budget_products > summary.waiting_for_feed_products:
            return (f"Amazon's JSON_LISTINGS_FEED budget ({self.config.feeds_per_window} per 5 minutes) is used up: "
                    f"{summary.skipped_budget_products} product(s) wait for the next run")
        return None

    def _release_claims(self, summary: ExportSummary) -> None:
        """After a failed run: rows no submitted feed covers go back to the queue (no attempt counted);
        rows of feeds Amazon received stay with their batch for the acknowledgment."""
        if summary.batch_id is None:
            return
        try:
            batch = self.state.get_batch(summary.batch_id)
            if batch is None:
                summary.rows_released = self.log.release_batch(summary.batch_id)
                return
            if batch.status == "BUILDING":
                batch.status, batch.interrupted = "SUBMITTED", True
                self.state.put_batch(batch)
            picture = batch_picture(batch, batch_feeds(batch, self.state), self.store, self._shops())
            counts = settle_rows(self.log, batch.batch_id, picture, max_attempts=self.config.max_attempts,
                                 backoff_seconds=self.backoff_seconds)
            summary.rows_released = counts.released
        except Exception:  # the database itself may be what failed: the lease expiry still recovers them
            logger.exception("claims of a failed batch could not be released; the lease expiry releases them",
                             extra={"batch_id": summary.batch_id})

    def _chosen_marketplaces(self, request: ExportRequest) -> list[MarketplaceConfig]:
        if request.marketplaces is None:
            return list(self.config.marketplaces)
        return [self.config.marketplace(marketplace_id) for marketplace_id in request.marketplaces]

    def _run_batch(self, request: ExportRequest, marketplaces: list[MarketplaceConfig],
                   summary: ExportSummary) -> None:
        batch = BatchRecord(batch_id=self.state.next_batch_id(), created_at=self.now(),
                            claim_expires_at=self.now() + self.lease_seconds, mode=request.mode)
        summary.batch_id = batch.batch_id
        self.state.create_batch(batch)
        self._feed_offers = {}
        progress = BatchProgress(batch, summary, budget=self._feed_budget(), queue_room=self._queue_room(),
                                 full_request=request.mode == "full")
        keys, rows_by_key = self._claim(batch.batch_id, summary,
                                        newest_only=self._only_express_sends(progress, marketplaces, request))
        self.on_step("after_claim")
        in_flight = self._products_in_flight(batch.batch_id)
        deferred = {key.id_product for key in keys if key.id_product in in_flight}
        if deferred:
            summary.skipped_in_flight_rows = self.log.release(
                sorted(RowIds.joined(rows for key, rows in rows_by_key.items() if key.id_product in deferred)),
                batch_id=batch.batch_id)[0]
            keys = {key: stock for key, stock in keys.items() if key.id_product not in deferred}
            rows_by_key = {key: rows for key, rows in rows_by_key.items() if key.id_product not in deferred}
        summary.keys = len(keys)
        express_left = express_budget(self.config) if self.express is not None else 0
        pacer = self.express.pacer() if self.express is not None else None
        for marketplace in marketplaces:
            run = self._start_marketplace(marketplace, request, keys)
            if self._refused(run, summary):
                continue
            run.open_sales = {sku for _, sku in self.log.open_ended_sales(marketplace.marketplace_id)}
            run.budget_left = marketplace.marketplace_id not in summary.marketplaces_blocked
            if run.full:
                # products whose feed is still in flight are left out of a full pass: they come back later
                progress.continuation.update(LogKey(product, 0, run.config.shop_id) for product in in_flight)
            express_offers: set[tuple[int, int]] = set()
            express: list[PlannedMessage] = []
            if pacer is not None and not run.full and express_left > 0:
                express_offers, express = self._plan_express(run, progress, keys, rows_by_key, express_left,
                                                             incremental=request.mode == "incremental")

            def out_of_budget(chunk: list[tuple[int, int]], run: MarketplaceRun = run) -> bool:
                if self.remaining_seconds() < 30:
                    progress.leave_for_later(run, chunk)
                elif progress.can_submit(run):
                    return False
                else:
                    progress.hold_back(run, chunk)
                progress.every_product_unsent |= run.full
                return True

            for document in self._documents(run, keys, in_flight, request, summary, skip=out_of_budget,
                                            taken=express_offers, rows_by_key=rows_by_key):
                self._dispatch(run, progress, document)
            self._submissions.wait()
            self._save_open_ended_sales(run)
            # The feed goes first: its submission takes a moment, the express lane's calls up to
            # express_seconds, and Amazon's queue should not stand idle meanwhile. The two carry other offers.
            if pacer is not None and express:
                express_left = self._send_express(run, progress, express, express_left, pacer)
        unsent, every_product_unsent = progress.unsent, progress.every_product_unsent
        if progress.continuation:
            summary.continuation_rows = self.log.add_rows((key, "product") for key in sorted(
                progress.continuation, key=lambda k: (k.id_product, k.id_product_attribute, k.id_shop)))
        manifest_key = f"batches/{batch.batch_id}.json.gz"
        put_json_gz(self.store, manifest_key, {"batch_id": batch.batch_id, "unsent_products": sorted(unsent),
                                               "every_product_unsent": every_product_unsent})
        batch = self.state.get_batch(batch.batch_id) or batch
        batch.status, batch.manifest_key = "SUBMITTED", manifest_key
        self.state.put_batch(batch)
        summary.skipped_budget_products = len(unsent)
        summary.waiting_for_feed_products = len(progress.waiting)
        picture = batch_picture(batch, batch_feeds(batch, self.state), self.store, self._shops(), self._feed_offers)
        self._feed_offers = {}
        counts = settle_rows(self.log, batch.batch_id, picture, max_attempts=self.config.max_attempts,
                             backoff_seconds=self.backoff_seconds, rows_by_key=rows_by_key)
        summary.rows_deleted_without_feed = counts.deleted
        summary.rows_released = counts.released

    def _plan_express(self, run: MarketplaceRun, progress: BatchProgress, keys: dict[LogKey, bool],
                      rows_by_key: dict[LogKey, RowIds], budget: int, *,
                      incremental: bool) -> tuple[set[tuple[int, int]], list[PlannedMessage]]:
        """Plan this marketplace's share of the express lane: the offers changed most recently, up to
        ``budget`` calls; what the calls cannot hold goes to the feed. Returns the offers it took over
        (the feed leaves them out) and the messages to send."""
        offers, _ = self.reader.expand(run.context, keys.items())
        chosen = newest_first(offers, rows_by_key, run.config.shop_id)[:budget]
        if not chosen:
            return set(), []
        summary = progress.summary
        rank = {offer: index for index, offer in enumerate(chosen)}
        express: list[PlannedMessage] = []
        calls = 0
        for planned in sorted(self._plan(run, sorted(chosen), incremental=incremental, summary=summary),
                              key=lambda p: rank.get((p.id_product, p.id_product_attribute), len(rank))):
            # the price ahead of a held quantity goes by feed (only a DONE report says it is applied), and so
            # does what is left once the budget's calls are spent (quantity and price are one call each)
            if planned.quantity_held or calls + planned.messages > budget:
                for finished in run.splitter.add(planned):
                    self._dispatch(run, progress, finished)
            else:
                express.append(planned)
                calls += planned.messages
        return set(chosen), express

    def _send_express(self, run: MarketplaceRun, progress: BatchProgress, express: list[PlannedMessage],
                      budget: int, pacer: Pacer) -> int:
        """Send the planned express messages and book Amazon's answers; returns the budget left."""
        assert self.express is not None
        summary = progress.summary
        if not self.state.renew_lease("export", self._owner, self.lease_seconds, self.now()):
            raise LeaseLost(f"export batch {progress.batch.batch_id} lost its lease to another run: it sends "
                            "nothing more")
        result = self.express.send(run.config, express, log=self.log, pacer=pacer,
                                   deadline=lambda: self.remaining_seconds() - 30, on_step=self.on_step,
                                   temporary_codes=self.config.temporary_issue_codes,
                                   now=datetime.fromtimestamp(self.now(), UTC))
        record = ExpressBooking(self.log, self.state, self.store).book(progress.batch.batch_id, run.config, result,
                                                                        self.now())
        if record is not None:
            progress.batch.feed_intents.append(record.intent_id)
            self.state.put_batch(progress.batch)
            self.on_step("express_booked")
        sent = record.message_count if record is not None else 0
        summary.express_messages += sent
        summary.express_accepted += len(result.accepted)
        summary.express_rejected += len(result.rejected)
        summary.express_unsent += len(result.unsent)
        summary.express_stopped = summary.express_stopped or result.stopped
        # what the lane could not send (429, 5xx, out of time) stays pending for the next run
        progress.leave_for_later(run, ((m.id_product, m.id_product_attribute) for m in result.unsent))
        # a throttled or failing lane is not tried again on another marketplace in this run
        return 0 if result.stopped else budget - sent

    def _refused(self, run: MarketplaceRun, summary: ExportSummary) -> bool:
        """A full sync before Amazon's listings were ever read would offer every PrestaShop SKU, and Amazon
        creates an incomplete listing for each SKU it lacks: refused until reconciliation has run."""
        if not run.full or run.listings_read or run.config.send_to_skus_not_on_amazon:
            return False
        summary.refused_marketplaces.append(run.config.marketplace_id)
        return True

    def _shops(self) -> dict[str, int]:
        return {m.marketplace_id: m.shop_id for m in self.config.marketplaces}

    def _feed_budget(self) -> int:
        recent = len(self.state.recent_submissions(JSON_FEED_WINDOW_SECONDS, self.now()))
        return max(0, min(self.config.max_feeds_per_run, self.config.feeds_per_window - recent))

    def _queue_room(self) -> dict[str, int] | None:
        """With the express lane on, feeds each marketplace may add to Amazon's queue now.

        Amazon processes a seller's feeds one after the other (docs/amazon-behaviours.md, row 8), and a
        product with a feed in flight waits for that feed's report before either lane sends it again. A
        backlog submitted as several feeds at once would hold its last feed's products for the whole
        queue's time; submitted one feed at a time (the next once the previous is acknowledged), each
        product waits for its own feed only, and the products not yet submitted stay free for the express
        lane, which sends them with their current value when they change again. Amazon works through the
        feeds just as fast either way, less the wait for the next run between two of them. Without the
        express lane every change goes by feed anyway, and holding feeds back would only delay them."""
        if self.express is None:
            return None
        at_amazon: dict[str, int] = {}
        for record in self.state.feeds_in_flight():
            at_amazon[record.marketplace_id] = at_amazon.get(record.marketplace_id, 0) + 1
        return {m.marketplace_id: self.config.max_feeds_in_flight - at_amazon.get(m.marketplace_id, 0)
                for m in self.config.marketplaces}

    def _products_in_flight(self, batch_id: int) -> set[int]:
        """Products a message Amazon has not finished with may still change, whichever lane would send
        them next: those with rows claimed by another batch, and those named in the manifest of a feed
        at Amazon. The rows alone do not name them all: a full sync has no row, and a catalogue-wide
        change one row for every product. A feed whose manifest is gone falls back to its batch's rows
        (the acknowledgment puts it in ATTENTION)."""
        products = self.log.claimed_products(exclude_batch=batch_id)
        for record in self.state.feeds_in_flight():
            if record.batch_id == batch_id:
                continue
            try:
                rows = get_json_gz(self.store, record.manifest_key)
            except DocumentMissing:
                logger.warning("manifest of a feed at Amazon is missing: its batch's rows hold its products",
                               extra={"batch_id": record.batch_id, "intent_id": record.intent_id})
                continue
            products.update(FeedMessageRef.from_row(row).id_product for row in rows)
        return products

    def _only_express_sends(self, progress: BatchProgress, marketplaces: list[MarketplaceConfig],
                            request: ExportRequest) -> bool:
        """Every marketplace's feed is still at Amazon: this run can only send express."""
        if progress.queue_room is None or request.mode == "full":
            return False
        return all(progress.queue_room.get(m.marketplace_id, 0) <= 0 for m in marketplaces)

    def _claim(self, batch_id: int, summary: ExportSummary, *,
               newest_only: bool = False) -> tuple[dict[LogKey, bool], dict[LogKey, RowIds]]:
        """Claim rows and coalesce them: key -> True when every change on it was a stock change,
        and key -> the ids of its rows. ``newest_only``: one chunk of the newest rows, all the express
        lane can use (it takes the freshest changes), so a backlog waiting for the feed lane stays put."""
        # the lowest and highest id claimed: the batch's rows are read back between them
        lowest, highest = 0, 0
        if newest_only:
            chunk = self.log.claim_newest(batch_id, min(self.claim_chunk, self.config.max_rows_per_run))
            summary.rows_claimed += chunk.rows
            lowest, highest = chunk.lowest, chunk.highest
        else:
            after, full = 0, False
            while summary.rows_claimed < self.config.max_rows_per_run and self.remaining_seconds() > 60:
                limit = min(self.claim_chunk, self.config.max_rows_per_run - summary.rows_claimed)
                chunk = self.log.claim(batch_id, limit, after, after_full_chunk=full)
                if not chunk.rows:
                    break
                lowest, highest = (lowest or chunk.lowest), chunk.highest
                summary.rows_claimed += chunk.rows
                after, full = chunk.last_id, chunk.filled(limit)
                self.progress(summary)
        keys: dict[LogKey, bool] = {}
        rows_by_key: dict[LogKey, RowIds] = {}
        if summary.rows_claimed:
            for claimed in self.log.claimed_keys(batch_id, between=(lowest, highest)):
                keys[claimed.key] = claimed.only_stock
                rows_by_key[claimed.key] = claimed.rows
            # The claimed ids stay alive until the run ends and hold no reference cycles: frozen, the cyclic
            # collector stops scanning them again at each collection (8.7 s of a 1M-row run's 48.9 s).
            gc.freeze()
        return keys, rows_by_key

    def _start_marketplace(self, marketplace: MarketplaceConfig, request: ExportRequest,
                           keys: dict[LogKey, bool]) -> MarketplaceRun:
        context = self.reader.shop_context(marketplace.shop_id, marketplace.country, marketplace.currency,
                                           marketplace.shop_timezone, marketplace.conversion_rate,
                                           marketplace.allow_orders_when_out_of_stock)
        splitter = FeedSplitter(marketplace, self.config.max_messages_per_feed, self.config.max_feed_bytes,
                                datetime.fromtimestamp(self.now(), UTC))
        return MarketplaceRun(marketplace, context,
                              marketplace.marketplace_id in self.config.quantity_marketplaces(), splitter, None,
                              full=request.mode == "full" or any(key.id_product == 0 for key in keys),
                              listings_read=self.listings.last_read(marketplace.marketplace_id) is not None,
                              seller_marketplaces=[m.marketplace_id for m in self.config.marketplaces
                                                   if m.seller_id == marketplace.seller_id])

    def _documents(self, run: MarketplaceRun, keys: dict[LogKey, bool], in_flight: set[int],
                   request: ExportRequest, summary: ExportSummary, *,
                   skip: Callable[[list[tuple[int, int]]], bool] = lambda chunk: False,
                   taken: set[tuple[int, int]] | None = None,
                   rows_by_key: dict[LogKey, RowIds] | None = None) -> Iterator[FeedDocument]:
        """The marketplace's feed documents, each yielded as soon as it is full; a chunk of offers for
        which ``skip`` says so is not read (it is left for a later run); offers ``taken`` by the express
        lane are left out; with ``rows_by_key``, offers go oldest change first."""
        def planned() -> Iterator[PlannedMessage]:
            for offers, vanished in self._offer_chunks(run, keys, run.full, in_flight, rows_by_key):
                chunk = [offer for offer in offers if offer not in taken] if taken else offers
                if chunk and not skip(chunk):
                    yield from self._plan(run, chunk, incremental=request.mode == "incremental", summary=summary,
                                          vanished=vanished)
                # What the run keeps as it goes (SKUs noted, the document's references) is not scanned again
                # by every full collection (amazon_sync/collector.py); frozen objects are still freed when their
                # last reference goes, and the run unfreezes what is left at its end. Garbage held in reference
                # cycles is collected first, or freezing would keep it to the end: cycles left by submitting a
                # document (S3, the upload, DynamoDB) held its 6 MB body (bench-export: up to 13 bodies, +60-100
                # MB of peak RSS, once fewer allocations made the collector run less often). Only what came
                # since the last freeze is scanned. Not while a submission runs in its thread: what it holds
                # then (cycles with the document's body among them) would stay frozen until the run ends.
                if not self._submissions.under_way:
                    gc.collect()
                    gc.freeze()

        return split_all(run.splitter, planned())

    def _offer_chunks(self, run: MarketplaceRun, keys: dict[LogKey, bool], full: bool, in_flight: set[int],
                      rows_by_key: dict[LogKey, RowIds] | None = None,
                      ) -> Iterator[tuple[list[tuple[int, int]], bool]]:
        """Chunks of offers to plan, each with True when its offers are no offers of the shop any more
        but have SKUs that may be on Amazon (deleted, left the shop, or a product that got combinations)."""
        marketplace_id, shop = run.config.marketplace_id, run.config.shop_id
        if full:
            for chunk in self.reader.all_offer_keys(run.context, OFFER_CHUNK):
                yield [key for key in chunk if key[0] not in in_flight], False
            for chunk in self.log.vanished_offers(marketplace_id, shop, chunk_size=OFFER_CHUNK):
                yield [key for key in chunk if key[0] not in in_flight], True
            return
        offers, _ = self.reader.expand(run.context, keys.items())
        # a backlog larger than the run can send goes oldest change first: a change waits only for older ones
        ordered = oldest_first(offers, rows_by_key, shop) if rows_by_key is not None else sorted(offers)
        if len(ordered) >= CATALOGUE_DUPLICATES_FROM:
            if self._catalogue_duplicates is None:  # SKUs are the catalogue's, the same for every shop
                self._catalogue_duplicates = self.reader.duplicate_skus_of_catalogue()
            run.duplicates = self._catalogue_duplicates
        for start in range(0, len(ordered), OFFER_CHUNK):
            yield ordered[start:start + OFFER_CHUNK], False
        named = [key.id_product for key in keys if key.id_product and key.id_shop in (0, shop)]
        for chunk in self.log.vanished_offers(marketplace_id, shop, products=named):
            vanished = [key for key in chunk if key not in offers]
            if vanished:
                yield vanished, True

    def _plan(self, run: MarketplaceRun, chunk: list[tuple[int, int]], *, incremental: bool,
              summary: ExportSummary, vanished: bool = False) -> Iterator[PlannedMessage]:
        marketplace = run.config
        if vanished:
            offers = [Offer(product, attribute, None, 0, None, exists=False) for product, attribute in chunk]
        else:
            offers = self.reader.read(run.context, chunk, datetime.fromtimestamp(self.now(), UTC), run.duplicates)
            summary.offers_read += len(offers)
        self.progress(summary)
        known = self.log.known_skus(marketplace.marketplace_id, chunk)
        run.noted.update((sku, offer) for offer, skus in known.items() for sku in skus)
        current_skus = [o.sku for o in offers if o.sku]
        old_skus = sorted({s for o in offers for s in known.get(o.key, []) if s != o.sku})
        # a SKU that moved to another offer of the shop is that offer's to send, not ours to zero
        moved = self.reader.skus_in_use(run.context, old_skus) if old_skus and run.send_quantity else set()
        all_skus = sorted({*current_skus, *old_skus})
        accepted = self.log.last_accepted(marketplace.marketplace_id, all_skus)
        # None: Amazon's listings were never read, so every SKU is assumed to be there
        on_amazon = self.listings.lookup(marketplace.marketplace_id, all_skus) if run.listings_read else None
        # Merchant quantity is kept per seller and SKU (docs/amazon-behaviours.md, row 7): a SKU FBA in any
        # marketplace of the seller would get a DEFAULT entry beside its AMAZON_* one from any of them.
        fba_skus = self.listings.fba_skus(run.seller_marketplaces, all_skus) if run.send_quantity else set()

        def absent(sku: str) -> bool:
            return on_amazon is not None and sku not in on_amazon and not marketplace.send_to_skus_not_on_amazon

        def fba(sku: str) -> bool:
            return sku in fba_skus

        for offer in offers:
            # An offer PrestaShop lost, or a SKU that changed: the SKUs Amazon may have for it get stock 0.
            for old_sku in known.get(offer.key, []):
                if (old_sku != offer.sku and old_sku not in moved and run.send_quantity
                        and not marketplace.excluded(old_sku) and not absent(old_sku) and not fba(old_sku)):
                    gone = Offer(offer.id_product, offer.id_product_attribute, old_sku, 0, None)
                    planned = plan_message(gone, marketplace.model_copy(update={"send_price": False}),
                                           send_quantity=True, last_accepted=None)
                    previous = accepted.get(old_sku)
                    if planned is not None and not (incremental and previous is not None
                                                    and previous.fingerprint == planned.fingerprint):
                        summary.messages += planned.messages
                        yield planned
            if not offer.exists:
                continue
            if offer.problems:
                self._record_problems(offer, marketplace)
                if not offer.sendable:
                    summary.offer_errors += 1
                    continue
            assert offer.sku is not None
            if marketplace.excluded(offer.sku):
                summary.skipped_excluded += 1
                continue
            if absent(offer.sku):
                # Amazon would accept it and create an incomplete listing: counted and listed instead
                summary.not_on_amazon += 1
                if len(summary.not_on_amazon_skus) < 100:
                    summary.not_on_amazon_skus.append(offer.sku)
                continue
            # an FBA SKU's quantity is Amazon's own count: never overwritten with the shop's stock
            send_quantity = run.send_quantity and not fba(offer.sku)
            summary.fba_quantities_withheld += int(run.send_quantity and not send_quantity)
            last = accepted.get(offer.sku)
            try:
                planned = plan_message(offer, marketplace, send_quantity=send_quantity, last_accepted=last)
            except PriceNotPositive as problem:
                self._record_problems(replace(offer, problems=[OfferProblem("PRICE_NOT_POSITIVE", str(problem))]),
                                      marketplace)
                summary.offer_errors += 1
                planned = plan_message(offer, marketplace.model_copy(update={"send_price": False}),
                                       send_quantity=send_quantity, last_accepted=last)
            if planned is None:
                continue
            if incremental and last is not None and last.fingerprint == planned.fingerprint:
                summary.skipped_unchanged += 1
                continue
            summary.quantities_held += int(planned.quantity_held)
            if planned.price is not None:
                self._note_open_ended_sale(run, planned, summary)
            summary.offers_exported += 1
            summary.messages += planned.messages
            yield planned

    def _note_open_ended_sale(self, run: MarketplaceRun, planned: PlannedMessage, summary: ExportSummary) -> None:
        """Keep the list `status` shows of sales sent without an end (PrestaShop has none for them), for a
        planned message with a price."""
        open_ended = planned.sale is not None and planned.sale.end is None
        summary.open_ended_sales += int(open_ended)
        if run.open_sales is None or open_ended == (planned.sku in run.open_sales):
            return
        run.open_sales_changed[planned.sku] = open_ended
        if open_ended:
            run.open_sales.add(planned.sku)
        else:
            run.open_sales.discard(planned.sku)

    def _save_open_ended_sales(self, run: MarketplaceRun) -> None:
        if run.open_sales_changed:
            self.log.note_open_ended_sales(run.config.marketplace_id, run.open_sales_changed, self.now())
            run.open_sales_changed = {}

    def _record_problems(self, offer: Offer, marketplace: MarketplaceConfig) -> None:
        now = self.now()
        for problem in offer.problems:
            self.state.record_sku_error(SkuError(
                marketplace_id=marketplace.marketplace_id,
                sku=offer.sku or f"product {offer.id_product}/{offer.id_product_attribute}",
                code=problem.code, message=problem.message, severity="ERROR" if problem.blocking else "WARNING",
                first_seen=now, last_seen=now))

    def _dispatch(self, run: MarketplaceRun, progress: BatchProgress, document: FeedDocument) -> None:
        # the previous submission's outcome (a refusal ends the marketplace's budget) decides this one
        self._submissions.wait()
        self._save_open_ended_sales(run)
        if not progress.can_submit(run):
            progress.hold_back(run, map(offer_of_ref, document.messages))
            return
        progress.budget -= 1
        progress.took_queue_place(run)
        # The SKUs to note as possibly on Amazon are chosen here, in the run's thread, which also notes
        # the SKUs the offer-state table already names (_plan): the two never update the map at once.
        # A SKU's messages in a document are all for one offer: the SKU is noted once.
        noted, messages = run.noted, document.messages
        fresh = [ref for sku, ref in dict(zip(map(sku_of_ref, messages), messages, strict=True)).items()
                 if noted.get(sku) != offer_of_ref(ref)]
        noted.update(zip(map(sku_of_ref, fresh), map(offer_of_ref, fresh), strict=True))
        self._submissions.start(
            lambda side: self._submit(run, progress.batch, document, progress.summary, fresh, side),
            lambda: progress.leave_for_later(run, map(offer_of_ref, document.messages)))

    def _submit(self, run: MarketplaceRun, batch: BatchRecord, document: FeedDocument, summary: ExportSummary,
                fresh: list[FeedMessageRef], side: SubmitSide | None) -> bool:
        """Write, record and submit one feed document, noting ``fresh`` SKUs as possibly on Amazon first;
        False when Amazon did not take it. It may run in a thread of its own (``side``): it then touches
        only the document, the batch, the marketplace's gateway and figures no other thread writes."""
        log, state = (side.log, side.state) if side is not None else (self.log, self.state)
        # A run may outlive one lease (a long CLI run): it extends its lease, and its batch's claim, before
        # every submission, and stops if another run has taken over (recovery then settles its rows).
        if not state.renew_lease("export", self._owner, self.lease_seconds, self.now()):
            raise LeaseLost(f"export batch {batch.batch_id} lost its lease to another run: it submits nothing more")
        batch.claim_expires_at = self.now() + self.lease_seconds
        marketplace_id = run.config.marketplace_id
        run.feeds += 1
        day = datetime.fromtimestamp(self.now(), UTC).strftime("%Y/%m/%d")
        intent_id = f"{batch.batch_id}-{marketplace_id}-{run.feeds}"
        document_key = f"feeds/{marketplace_id}/{day}/{intent_id}.json"
        manifest_key = f"feeds/{marketplace_id}/{day}/{intent_id}.messages.json.gz"
        self.store.put(document_key, document.body)
        # the references as they are: JSON arrays without a list built for each (16 manifests of 25,000:
        # 1.1-1.4 s as lists, 0.8-1.0 s as tuples, this thread's time taken from the packing's GIL)
        put_json_gz(self.store, manifest_key, document.messages)
        self._feed_offers[manifest_key] = set(map(offer_of_ref, document.messages))
        self.on_step("after_s3")
        record = FeedRecord(intent_id=intent_id, batch_id=batch.batch_id, marketplace_id=marketplace_id,
                            document_key=document_key, manifest_key=manifest_key,
                            message_count=len(document.messages), created_at=self.now(),
                            content_sha256=hashlib.sha256(document.body).hexdigest())
        state.save_feed(record)
        batch.feed_intents.append(intent_id)
        state.put_batch(batch)
        # From here on Amazon may apply these messages: their SKUs are "possibly on Amazon".
        log.note_submitted(marketplace_id, fresh)
        if run.gateway is None:
            run.gateway = self.gateway_for(marketplace_id)
        try:
            document_id = run.gateway.submit_document(document.body)
            # written down before createFeed: a crashed run's intent is matched by it, never by time alone
            record.feed_document_id = document_id
            state.save_feed(record)
            self.on_step("before_create_feed")
            feed_id = run.gateway.create_feed(document_id, marketplace_id)
        except AmazonError as exc:
            # Nothing reached Amazon (or Amazon will not take more now): the rows go back to the queue.
            record.status, record.attention, record.finished_at = "ABANDONED", str(exc), self.now()
            self._abandon_reason = self._abandon_reason or one_line(exc)
            state.save_feed(record)
            # createFeed may have reached Amazon before the error: never skip these SKUs as unchanged
            log.forget_accepted(marketplace_id, [ref.sku for ref in document.messages])
            run.budget_left = False
            summary.feeds_abandoned += 1
            logger.warning("feed not submitted: its rows go back to the queue", extra={
                "batch_id": batch.batch_id, "intent_id": intent_id, "marketplace_id": marketplace_id,
                "reason": str(exc)})
            return False
        self.on_step("after_create_feed")
        record.status, record.feed_id, record.submitted_at = "IN_FLIGHT", feed_id, self.now()
        state.save_feed(record)
        state.note_submission(JSON_FEED_WINDOW_SECONDS, self.now())
        summary.feeds_submitted += 1
        summary.feed_messages += len(document.messages)
        summary.feed_ids.append(feed_id)
        logger.info("feed submitted", extra={"batch_id": batch.batch_id, "feed_id": feed_id, "intent_id": intent_id,
                                             "marketplace_id": marketplace_id, "messages": len(document.messages)})
        return True

    # -- dry run ----------------------------------------------------------------------------------

    def _dry_run(self, request: ExportRequest, marketplaces: list[MarketplaceConfig],
                 summary: ExportSummary) -> None:
        keys: dict[LogKey, bool] = {}
        for row in self.log.pending_keys(self.config.max_rows_per_run):
            keys[row.key] = keys.get(row.key, True) and row.kind == "stock"
            summary.rows_claimed += 1
        summary.keys = len(keys)
        stamp = datetime.fromtimestamp(self.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        for marketplace in marketplaces:
            run = self._start_marketplace(marketplace, request, keys)
            if self._refused(run, summary):
                continue
            sample: list[dict[str, Any]] = []
            for number, document in enumerate(self._documents(run, keys, set(), request, summary), 1):
                if len(sample) < VALIDATION_SAMPLE:
                    sample.extend(json.loads(document.body)["messages"][:VALIDATION_SAMPLE - len(sample)])
                key = f"dry-run/{marketplace.marketplace_id}/{stamp}-{number}.json"
                self.dry_run_store.put(key, document.body)
                summary.dry_run_documents.append(key)
            if request.validate_:
                self._validate_sample(marketplace, sample, summary)

    def _validate_sample(self, marketplace: MarketplaceConfig, sample: list[dict[str, Any]],
                         summary: ExportSummary) -> None:
        """Amazon's own check of the first messages of the dry run's documents, exactly as written
        (mode=VALIDATION_PREVIEW): VALID or INVALID with issues, nothing applied. Paced like the express
        lane; a failed call ends the sample."""
        if self.listings_lane is None:
            raise ConfigurationError("no Listings Items client: validation needs the SP-API")
        gateway = self.listings_lane.listings_for(marketplace.marketplace_id)
        pacer = self.listings_lane.pacer()
        for message in sample:
            pacer.wait()
            try:
                answer = gateway.patch_listings_item(marketplace.seller_id, message["sku"],
                                                     marketplace.marketplace_id, message["productType"],
                                                     message["patches"], issue_locale=marketplace.issue_locale,
                                                     validation_preview=True)
            except AmazonError as exc:
                summary.validation.append({"marketplace_id": marketplace.marketplace_id, "sku": message["sku"],
                                           "status": "NOT_CHECKED", "issues": [str(exc)]})
                break
            summary.validation.append({"marketplace_id": marketplace.marketplace_id, "sku": message["sku"],
                                       "status": answer.status,
                                       "issues": [f"{i.severity} {i.code}: {i.message}" for i in answer.issues]})
