"""The acknowledgment: follow feeds to Amazon's verdict, then delete only what Amazon accepted.

Polling and FEED_PROCESSING_FINISHED notifications run the same code; every step is idempotent, so
both may handle the same feed, at the same time or twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from amazon_sync.adapters.dynamodb import FeedRecord, SkuError, StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.s3 import DocumentMissing, DocumentStore, get_json_gz, put_json_gz
from amazon_sync.adapters.spapi import AmazonThrottled, FeedsGateway, FeedStatus, ReportUnreadable
from amazon_sync.collector import collector_paused
from amazon_sync.config import DEFAULT_TEMPORARY_ISSUE_CODES, SyncConfig
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import LogKey
from amazon_sync.errors import AmazonError
from amazon_sync.services.recovery import recover_orphan_intents, recover_stale_batches
from amazon_sync.services.settle import batch_feeds, batch_picture, settle_rows
from amazon_sync.services.steps import StepObserver, ignore_step

logger = Logger(child=True)

# A deferred settlement starts only with this much of the invocation left: settling reads the batch's
# rows (about 1 s per 100,000 here) and deletes in short transactions, each committed on its own.
SETTLE_RESERVE_SECONDS = 10.0


class ReportIssue(BaseModel):
    model_config = ConfigDict(extra="allow")
    messageId: int | None = None
    sku: str | None = None
    code: str | None = None
    severity: Literal["ERROR", "WARNING", "INFO"]
    message: str
    attributeName: str | None = None


class ReportSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    errors: int
    warnings: int
    messagesProcessed: int
    messagesAccepted: int
    messagesInvalid: int


class ProcessingReport(BaseModel):
    """JSON_LISTINGS_FEED processing report v2; fields Amazon adds later are kept, not refused."""

    model_config = ConfigDict(extra="allow")
    header: dict[str, Any]
    issues: list[ReportIssue] = Field(default_factory=list)
    summary: ReportSummary


class FeedProcessingFinished(BaseModel):
    model_config = ConfigDict(extra="allow")
    sellerId: str | None = None  # optional in Amazon's schema (null for vendor groups)
    feedId: str = Field(min_length=1)
    feedType: str
    processingStatus: Literal["CANCELLED", "DONE", "FATAL"]
    resultFeedDocumentId: str | None = None


class _NotificationPayload(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedProcessingFinishedNotification: FeedProcessingFinished


class FeedNotification(BaseModel):
    """FEED_PROCESSING_FINISHED, as delivered to SQS. Only a hint: Amazon's getFeed has the last word."""

    model_config = ConfigDict(extra="allow")
    notificationType: Literal["FEED_PROCESSING_FINISHED"]
    payload: _NotificationPayload

    @property
    def feed(self) -> FeedProcessingFinished:
        return self.payload.feedProcessingFinishedNotification


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feedIds: list[str] | None = None


class AckSettings(BaseModel):
    overdue_after_seconds: float = 8 * 3600
    backoff_seconds: float = 60.0
    lease_seconds: float = 900.0
    temporary_codes: tuple[str, ...] = DEFAULT_TEMPORARY_ISSUE_CODES
    max_get_feed_calls: int = 60
    # Report downloads: a failure (5xx, network, an HTTP error page) is retried by later runs, after
    # 60 s, 120 s, 240 s, then every 300 s (one export interval); after this many the feed needs attention.
    max_download_attempts: int = 10
    download_backoff_seconds: float = 60.0
    download_backoff_max_seconds: float = 300.0
    download_lease_seconds: float = 120.0
    # getFeedDocument's usage plan (Feeds API 2021-06-30 model): 0.0222 requests/s, burst 10, per account
    report_rate_per_second: float = 0.0222
    report_burst: int = 10
    release_attention_after_seconds: float | None = None
    issue_chunk: int = 2000


@dataclass
class AckSummary:
    feeds_checked: int = 0
    feeds_done: int = 0
    feeds_failed: int = 0
    feeds_attention: int = 0
    feeds_waiting_attention: int = 0
    feeds_released: int = 0
    feeds_overdue: int = 0
    downloads_deferred: int = 0
    download_failures: int = 0
    settle_errors: int = 0
    reports_paused: int = 0
    feeds_in_flight: int = 0
    oldest_feed_in_flight_age_seconds: float = 0.0
    messages_accepted: int = 0
    messages_rejected: int = 0
    messages_retried: int = 0
    warnings: int = 0
    feed_processing_seconds: list[float] = field(default_factory=list)
    rows_deleted: int = 0
    rows_released: int = 0
    rows_failed: int = 0
    stale_rows_released: int = 0
    intents_recovered: int = 0
    throttled: bool = False
    queue_depth: int = 0
    pending_offers: int = 0
    oldest_pending_age_seconds: float = 0.0
    failed_rows: int = 0
    longest_lock_seconds: float = 0.0
    notifications_ignored: int = 0
    failure: str | None = None  # why the run could not do its work (Amazon's or the database's reason)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReleaseSummary:
    feeds_released: int = 0
    rows_released: int = 0
    feed_ids: list[str] = field(default_factory=list)


class Acknowledger:
    def __init__(self, *, log: EventLog, state: StateStore, store: DocumentStore,
                 gateway_for: Callable[[str], FeedsGateway], config: SyncConfig,
                 settings: AckSettings | None = None, remaining_seconds: Callable[[], float] = lambda: 300.0,
                 now: Callable[[], float] = time.time, on_step: StepObserver = ignore_step,
                 progress: Callable[[AckSummary], None] | None = None) -> None:
        self.log = log
        self.state = state
        self.store = store
        self.gateway_for = gateway_for
        self.config = config
        self.settings = settings or AckSettings()
        self.remaining_seconds = remaining_seconds
        self.now = now
        self.on_step = on_step
        self.progress = progress or (lambda summary: None)
        # Batches with a feed finished during a polling run, settled once when the polling ends: settling
        # reads every row the batch still holds, and a batch's feeds often finish together (16 feeds of
        # one 1M-row batch: 14 reads of its rows, 71 s, where one does). None: settle at once.
        self._finished_batches: set[int] | None = None

    # -- polling ----------------------------------------------------------------------------------

    def run(self, request: AckRequest | None = None) -> AckSummary:
        summary = AckSummary()
        holder = self.state.lease_holder("export")
        lease_free = holder is None or float(holder.get("expires_at", 0)) < self.now()
        summary.intents_recovered = recover_orphan_intents(self.state, self.gateway_for, self.now(),
                                                           lease_free=lease_free,
                                                           lease_seconds=self.settings.lease_seconds)
        wanted = set(request.feedIds) if request and request.feedIds else None
        self._finished_batches = set()
        try:
            self._poll(wanted, summary)
        finally:
            # also when following a feed failed unexpectedly: the feeds saved DONE before it are settled
            finished, self._finished_batches = self._finished_batches, None
            self._settle_finished(sorted(finished), summary)
        stale = recover_stale_batches(self.log, self.state, self.now(), lease_seconds=self.settings.lease_seconds)
        summary.stale_rows_released = stale.rows_released
        if self.settings.release_attention_after_seconds is not None:
            released = self.release_attention(older_than_seconds=self.settings.release_attention_after_seconds)
            summary.feeds_released += released.feeds_released
            summary.rows_released += released.rows_released
        # Batches whose feeds moved on without their rows being settled (a run stopped in between).
        for batch_id in self.log.claimed_batches():
            if batch_id not in finished:
                self._settle(batch_id, summary)
        self._queue_figures(summary)
        self.state.record_run("ack", {"feeds_done": summary.feeds_done, "rows_deleted": summary.rows_deleted})
        if summary.failure:
            self.state.record_failure("ack", summary.failure, self.now())
        return summary

    def _poll(self, wanted: set[str] | None, summary: AckSummary) -> None:
        """getFeed for the feeds at Amazon, and what follows from each answer."""
        calls = 0
        for record in self.state.feeds_in_flight():
            if record.status != "IN_FLIGHT" or record.feed_id is None:
                continue
            if wanted is not None and record.feed_id not in wanted:
                continue
            if calls >= self.settings.max_get_feed_calls or self.remaining_seconds() < 20 or summary.throttled:
                break  # the rest waits for the next run
            calls += 1
            try:
                status = self.gateway_for(record.marketplace_id).get_feed(record.feed_id)
            except AmazonThrottled:
                summary.throttled = True
                break
            except AmazonError as exc:
                logger.error("getFeed failed", extra=_keys(record, reason=str(exc)))
                summary.failure = str(exc)
                continue
            summary.feeds_checked += 1
            self._follow(record, status, summary)
            self.progress(summary)

    # -- notifications ----------------------------------------------------------------------------

    def handle_notification(self, notification: FeedNotification) -> AckSummary:
        """A notification says a feed may have finished: check it names our seller and a feed we
        submitted, then ask Amazon (getFeed) and act on its answer, never on the message's."""
        summary = AckSummary()
        finished = notification.feed
        sellers = {m.seller_id for m in self.config.marketplaces}
        if finished.sellerId is not None and finished.sellerId not in sellers:
            logger.warning("notification for a seller not configured: ignored",
                           extra={"feed_id": finished.feedId, "seller_id": finished.sellerId})
            summary.notifications_ignored += 1
            return summary
        intent_id = self.state.intent_for_feed_id(finished.feedId)
        record = self.state.get_feed(intent_id) if intent_id else None
        if record is None:
            logger.info("notification for a feed this stack did not submit", extra={"feed_id": finished.feedId})
            summary.notifications_ignored += 1
            return summary
        if record.status != "IN_FLIGHT":
            logger.info("feed already handled: duplicate notification", extra=_keys(record, status=record.status))
            return summary
        try:
            status = self.gateway_for(record.marketplace_id).get_feed(finished.feedId)
        except AmazonError as exc:
            # the next poll asks again: nothing is decided on the notification's word
            logger.warning("getFeed after a notification failed: the next poll asks again",
                           extra=_keys(record, reason=str(exc)))
            return summary
        if status.processingStatus != finished.processingStatus:
            logger.warning("the notification and Amazon disagree: Amazon's answer is followed",
                           extra=_keys(record, notified=finished.processingStatus, amazon=status.processingStatus))
        summary.feeds_checked += 1
        self._follow(record, status, summary)
        return summary

    # -- one feed ---------------------------------------------------------------------------------

    def _follow(self, record: FeedRecord, status: FeedStatus, summary: AckSummary) -> None:
        processing_status, result_document_id = status.processingStatus, status.resultFeedDocumentId
        if processing_status in ("IN_QUEUE", "IN_PROGRESS"):
            if self.now() - record.created_at > self.settings.overdue_after_seconds:
                summary.feeds_overdue += 1
                logger.error("feed overdue: no verdict yet",
                             extra=_keys(record, age_seconds=round(self.now() - record.created_at)))
            return
        record.processing_status = processing_status
        if processing_status in ("FATAL", "CANCELLED"):
            skus = self._manifest_skus(record)
            if skus is None:
                self._needs_attention(record, "the feed's message manifest is missing (expired or deleted)")
            else:
                record.status = processing_status
                # FATAL means some, none or all messages may have been applied: trust no "unchanged" shortcut.
                self.log.forget_accepted(record.marketplace_id, skus)
                if processing_status == "FATAL" and result_document_id:
                    self._keep_fatal_report(record, result_document_id)
                summary.feeds_failed += 1
        elif not result_document_id:
            self._needs_attention(record, "DONE without a processing report")
        else:
            text = self._report_text(record, result_document_id, summary)
            if text is None:
                return  # not yet: a later run downloads it (or another run is doing so now)
            outcome = self._apply_report(record, text, summary) if record.status == "IN_FLIGHT" else "attention"
            if outcome == "paused":
                return
            if outcome == "done":
                summary.feeds_done += 1
        if record.status == "ATTENTION":
            summary.feeds_attention += 1
        record.finished_at = self.now()
        if record.status == "DONE":
            summary.feed_processing_seconds.append(round(record.finished_at - record.created_at, 3))
        record.download_lease_until = None
        self.on_step("after_report")
        if not self.state.save_feed(record, expected_status="IN_FLIGHT"):
            logger.info("feed handled by another run meanwhile", extra=_keys(record))
            return
        self.on_step("before_settle")
        self._feed_finished(record.batch_id, summary)

    def _needs_attention(self, record: FeedRecord, reason: str) -> None:
        record.status, record.attention, record.attention_at = "ATTENTION", reason, self.now()
        logger.error("feed needs attention: its rows are kept until `amazon-sync release`",
                     extra=_keys(record, reason=reason))

    def _manifest_skus(self, record: FeedRecord) -> list[str] | None:
        try:
            return [FeedMessageRef.from_row(row).sku for row in get_json_gz(self.store, record.manifest_key)]
        except DocumentMissing:
            return None

    def _report_key(self, record: FeedRecord) -> str:
        return record.document_key.removesuffix(".json") + ".report.json"

    def _keep_fatal_report(self, record: FeedRecord, document_id: str) -> None:
        """A FATAL feed's report only explains the failure: one paced try, and no retry."""
        if not self.state.take_token("getFeedDocument", self.settings.report_rate_per_second,
                                     self.settings.report_burst, self.now()):
            return
        try:
            text = self.gateway_for(record.marketplace_id).download_report(document_id)
        except AmazonError as exc:
            logger.warning("processing report of a FATAL feed not downloaded", extra=_keys(record, reason=str(exc)))
            return
        record.report_key = self._report_key(record)
        self.store.put(record.report_key, text.encode("utf-8"))

    def _report_text(self, record: FeedRecord, document_id: str, summary: AckSummary) -> str | None:
        """The processing report: kept in S3 by an earlier run, or downloaded once now, paced and with
        a bounded number of attempts. None leaves the feed in flight for a later run; a report that
        arrived but cannot be read marks the record ATTENTION (and returns "")."""
        try:  # kept by an earlier run, perhaps one that stopped before it could record the feed
            text = self.store.get(self._report_key(record)).decode("utf-8")
            record.report_key = self._report_key(record)
            return text
        except DocumentMissing:
            record.report_key = None
        if record.next_download_at is not None and self.now() < record.next_download_at:
            summary.downloads_deferred += 1
            return None
        if not self.state.take_token("getFeedDocument", self.settings.report_rate_per_second,
                                     self.settings.report_burst, self.now()):
            summary.downloads_deferred += 1
            return None
        if not self.state.claim_download(record, self.now(), self.settings.download_lease_seconds):
            return None  # a notification and a poll raced: the other one downloads it
        try:
            text = self.gateway_for(record.marketplace_id).download_report(document_id)
        except ReportUnreadable as exc:
            self._needs_attention(record, f"unreadable processing report: {exc}")
            return ""
        except AmazonError as exc:
            self._download_failed(record, exc, summary)
            return None
        record.report_key = self._report_key(record)
        self.store.put(record.report_key, text.encode("utf-8"))
        return text

    def _download_failed(self, record: FeedRecord, exc: AmazonError, summary: AckSummary) -> None:
        record.download_error = str(exc)[:500]
        record.download_lease_until = None
        if isinstance(exc, AmazonThrottled):
            # Amazon's pacing, not a failure: no attempt is counted
            record.next_download_at = self.now() + self.settings.download_backoff_seconds
            summary.downloads_deferred += 1
        else:
            record.download_attempts += 1
            summary.download_failures += 1
            if record.download_attempts >= self.settings.max_download_attempts:
                self._needs_attention(record, f"the processing report could not be downloaded in "
                                              f"{record.download_attempts} attempts: {exc}")
                summary.feeds_attention += 1
                record.finished_at = self.now()
                if self.state.save_feed(record, expected_status="IN_FLIGHT"):
                    self._feed_finished(record.batch_id, summary)
                return
            record.next_download_at = self.now() + min(
                self.settings.download_backoff_max_seconds,
                self.settings.download_backoff_seconds * 2 ** (record.download_attempts - 1))
        logger.warning("processing report not downloaded: a later run tries again", extra=_keys(
            record, reason=str(exc), attempts=record.download_attempts,
            next_try_in_seconds=round((record.next_download_at or self.now()) - self.now())))
        self.state.save_feed(record, expected_status="IN_FLIGHT")

    def _apply_report(self, record: FeedRecord, text: str, summary: AckSummary) -> str:
        """"done", "attention" (unreadable, or its manifest is gone), or "paused": the time ran short
        while recording its issues; the record keeps how far it got and a later run continues."""
        try:
            with collector_paused():  # a report of 25,000 results is plain data (amazon_sync/collector.py)
                report = ProcessingReport.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            self._needs_attention(record, f"unreadable processing report: {str(exc).splitlines()[0][:200]}")
            return "attention"
        by_message: dict[int, list[ReportIssue]] = {}
        for issue in report.issues:
            if issue.messageId is None:
                logger.warning("feed-level issue in the processing report",
                               extra=_keys(record, severity=issue.severity, code=issue.code, reason=issue.message))
                continue
            by_message.setdefault(issue.messageId, []).append(issue)
        try:
            with collector_paused():
                refs = [FeedMessageRef.from_row(row) for row in get_json_gz(self.store, record.manifest_key)]
        except DocumentMissing:
            self._needs_attention(record, "the feed's message manifest is missing (expired or deleted)")
            return "attention"
        # DONE with fewer messages processed than sent: a message the report does not mention may not
        # have been applied, so it is not taken as accepted.
        incomplete = report.summary.messagesProcessed < len(refs)
        if incomplete:
            logger.warning("Amazon processed fewer messages than sent: the others are retried",
                           extra=_keys(record, processed=report.summary.messagesProcessed, sent=len(refs)))
        # Issues are recorded in chunks, each a few batched writes; progress is kept with the record.
        while record.issues_recorded < len(refs):
            if self.remaining_seconds() < 30:
                record.download_lease_until = None
                self.state.save_feed(record, expected_status="IN_FLIGHT")
                summary.reports_paused += 1
                logger.warning("time short: the next run records the rest of the report's issues",
                               extra=_keys(record, recorded=record.issues_recorded, messages=len(refs)))
                return "paused"
            chunk = refs[record.issues_recorded:record.issues_recorded + self.settings.issue_chunk]
            found: list[SkuError] = []
            for ref in chunk:
                issues = by_message.get(ref.message_id, [])
                for issue in issues:
                    if issue.severity == "WARNING":
                        summary.warnings += 1
                    if issue.severity in ("WARNING", "ERROR"):
                        found.append(self._sku_error(record, ref, issue))
            self.state.record_sku_errors(found)
            record.issues_recorded += len(chunk)
        rejected: list[int] = []
        retry: list[int] = []
        accepted: list[FeedMessageRef] = []
        followups: list[tuple[LogKey, str]] = []
        unfinished: set[str] = set()  # SKUs with a message refused or retried
        shop = self.config.marketplace(record.marketplace_id).shop_id
        clean: list[str] = []  # accepted without any issue: an error recorded earlier for them is over
        for ref in refs:
            issues = by_message.get(ref.message_id, [])
            errors = [i for i in issues if i.severity == "ERROR"]
            if (errors and all((e.code or "") in self.settings.temporary_codes for e in errors)) or (
                    incomplete and not issues):
                retry.append(ref.message_id)
                summary.messages_retried += 1
                unfinished.add(ref.sku)
                # Retried a bounded number of times (max_attempts), but shown from the first time:
                # Amazon also answers 4000000 to malformed input (docs/amazon-behaviours.md, row 9);
                # recorded with the report's other issues above.
            elif errors:
                unfinished.add(ref.sku)
                rejected.append(ref.message_id)
                summary.messages_rejected += 1
            else:
                summary.messages_accepted += 1
                accepted.append(ref)
                if ref.quantity_held:
                    followups.append((LogKey(ref.id_product, ref.id_product_attribute, shop), "stock"))
                if not issues:
                    clean.append(ref.sku)
        # An offer's quantity and price travel in separate messages: what Amazon now shows is "as sent"
        # (the fingerprint that lets later runs skip it) only when every message of the SKU got in.
        finished = {ref.sku for ref in accepted} - unfinished
        for sku in self.state.skus_with_errors(record.marketplace_id, [s for s in clean if s in finished]):
            self.state.clear_sku_error(record.marketplace_id, sku)
        with collector_paused():  # rows of plain values for the upserts (amazon_sync/collector.py)
            self.log.remember_accepted(record.marketplace_id, accepted, unfinished, at=self.now())
        # The quantity held back behind a price change goes out in the next run, now the price is in.
        self.log.add_rows(followups)
        record.results_key = record.document_key.removesuffix(".json") + ".results.json.gz"
        put_json_gz(self.store, record.results_key, {"rejected": rejected, "retry": retry})
        record.status = "DONE"
        record.accepted, record.rejected = len(accepted), len(rejected)
        record.warnings = sum(1 for i in report.issues if i.severity == "WARNING")
        return "done"


    def _sku_error(self, record: FeedRecord, ref: FeedMessageRef, issue: ReportIssue) -> SkuError:
        now = self.now()
        return SkuError(marketplace_id=record.marketplace_id, sku=ref.sku, code=issue.code or "?",
                        message=issue.message, severity=issue.severity, attribute=issue.attributeName,
                        feed_id=record.feed_id, first_seen=now, last_seen=now)

    # -- the way out of ATTENTION -----------------------------------------------------------------

    def release_attention(self, feed_ids: list[str] | None = None,
                          older_than_seconds: float | None = None) -> ReleaseSummary:
        """Send the rows of ATTENTION feeds back to the queue for another attempt. Amazon may have
        applied part of such a feed, so the accepted fingerprints of its SKUs are forgotten: the next
        export sends them whatever it last knew."""
        result = ReleaseSummary()
        wanted = set(feed_ids) if feed_ids is not None else None
        summary = AckSummary()
        for record in self.state.feeds_needing_attention():
            if wanted is not None and record.feed_id not in wanted and record.intent_id not in wanted:
                continue
            if older_than_seconds is not None and self.now() - (record.attention_at or record.created_at) \
                    < older_than_seconds:
                continue
            skus = self._manifest_skus(record)
            if skus is not None:
                self.log.forget_accepted(record.marketplace_id, skus)
            else:
                self.log.forget_accepted_products(record.marketplace_id, sorted(
                    {claimed.key.id_product for claimed in self.log.claimed_keys(record.batch_id)}))
            record.status, record.finished_at = "RELEASED", self.now()
            if not self.state.save_feed(record, expected_status="ATTENTION"):
                continue
            logger.warning("feed released from ATTENTION: its rows go back to the queue",
                           extra=_keys(record, reason=record.attention))
            result.feeds_released += 1
            result.feed_ids.append(record.feed_id or record.intent_id)
            self._settle(record.batch_id, summary)
        result.rows_released = summary.rows_released
        return result

    # -- rows -------------------------------------------------------------------------------------

    def _settle_finished(self, batch_ids: list[int], summary: AckSummary) -> None:
        """Settle the batches whose feeds finished in this run, while the run has time: a batch left
        holds its rows, and the next run's sweep settles it."""
        for number, batch_id in enumerate(batch_ids):
            if self.remaining_seconds() < SETTLE_RESERVE_SECONDS:
                logger.warning("no time left to settle batches: the next run settles them",
                               extra={"batch_ids": batch_ids[number:]})
                return
            self._settle(batch_id, summary)

    def _feed_finished(self, batch_id: int, summary: AckSummary) -> None:
        if self._finished_batches is not None:
            self._finished_batches.add(batch_id)
        else:
            self._settle(batch_id, summary)

    def _settle(self, batch_id: int, summary: AckSummary) -> None:
        """One batch's rows; whatever goes wrong with one batch is logged and counted, and the others
        (and the run's figures and record) go on."""
        try:
            self._settle_batch(batch_id, summary)
        except Exception:
            summary.settle_errors += 1
            logger.exception("settling a batch failed; the next run tries again", extra={"batch_id": batch_id})

    def _settle_batch(self, batch_id: int, summary: AckSummary) -> None:
        batch = self.state.get_batch(batch_id)
        if batch is None or batch.status != "SUBMITTED":
            return
        feeds = batch_feeds(batch, self.state)
        if (not batch.interrupted and batch.feed_intents and len(feeds) == len(batch.feed_intents)
                and all(f.in_flight for f in feeds)):
            return  # nothing to decide until one of its feeds has a verdict
        picture = batch_picture(batch, feeds, self.store,
                                {m.marketplace_id: m.shop_id for m in self.config.marketplaces})
        counts = settle_rows(self.log, batch_id, picture, max_attempts=self.config.max_attempts,
                             backoff_seconds=self.settings.backoff_seconds)
        summary.rows_deleted += counts.deleted
        summary.rows_released += counts.released
        summary.rows_failed += counts.failed
        summary.longest_lock_seconds = max(summary.longest_lock_seconds, self.log.locks.longest_seconds)
        if counts.kept == 0 and not any(f.in_flight or f.status == "ATTENTION" for f in feeds) \
                and not picture.hold_every_row:
            batch.status, batch.settled_at = "SETTLED", self.now()
            self.state.put_batch(batch)

    def _queue_figures(self, summary: AckSummary) -> None:
        stats = self.log.queue_stats()
        summary.queue_depth = stats.pending_rows
        summary.pending_offers = stats.pending_offers
        summary.oldest_pending_age_seconds = round(stats.oldest_pending_age_seconds, 3)
        summary.failed_rows = stats.failed_rows
        in_flight = [f for f in self.state.feeds_in_flight() if f.in_flight]
        summary.feeds_in_flight = len(in_flight)
        summary.feeds_waiting_attention = len(self.state.feeds_needing_attention())
        if in_flight:
            summary.oldest_feed_in_flight_age_seconds = round(self.now() - min(f.created_at for f in in_flight), 3)


def _keys(record: FeedRecord, **more: Any) -> dict[str, Any]:
    """The structured keys of a log line about one feed."""
    return {"batch_id": record.batch_id, "feed_id": record.feed_id, "intent_id": record.intent_id,
            "marketplace_id": record.marketplace_id, **more}
