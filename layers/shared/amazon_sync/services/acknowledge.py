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
from amazon_sync.adapters.s3 import DocumentStore, get_json_gz, put_json_gz
from amazon_sync.adapters.spapi import AmazonThrottled, FeedsGateway, FeedStatus
from amazon_sync.config import DEFAULT_TEMPORARY_ISSUE_CODES, SyncConfig
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import LogKey
from amazon_sync.errors import AmazonError
from amazon_sync.services.recovery import recover_orphan_intents, recover_stale_batches
from amazon_sync.services.settle import batch_feeds, batch_picture, settle_rows
from amazon_sync.services.steps import StepObserver, ignore_step

logger = Logger(child=True)

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
    feedId: str
    feedType: str
    processingStatus: Literal["CANCELLED", "DONE", "FATAL"]
    resultFeedDocumentId: str | None = None


class FeedNotification(BaseModel):
    """FEED_PROCESSING_FINISHED, as delivered to SQS."""

    model_config = ConfigDict(extra="allow")
    notificationType: Literal["FEED_PROCESSING_FINISHED"]
    payload: dict[str, FeedProcessingFinished]

    @property
    def feed(self) -> FeedProcessingFinished:
        return self.payload["feedProcessingFinishedNotification"]


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feedIds: list[str] | None = None


class AckSettings(BaseModel):
    overdue_after_seconds: float = 8 * 3600
    backoff_seconds: float = 60.0
    lease_seconds: float = 900.0
    temporary_codes: tuple[str, ...] = DEFAULT_TEMPORARY_ISSUE_CODES
    max_get_feed_calls: int = 60


@dataclass
class AckSummary:
    feeds_checked: int = 0
    feeds_done: int = 0
    feeds_failed: int = 0
    feeds_attention: int = 0
    feeds_overdue: int = 0
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Acknowledger:
    def __init__(self, *, log: EventLog, state: StateStore, store: DocumentStore,
                 gateway_for: Callable[[str], FeedsGateway], config: SyncConfig,
                 settings: AckSettings | None = None, remaining_seconds: Callable[[], float] = lambda: 300.0,
                 now: Callable[[], float] = time.time, on_step: StepObserver = ignore_step) -> None:
        self.log = log
        self.state = state
        self.store = store
        self.gateway_for = gateway_for
        self.config = config
        self.settings = settings or AckSettings()
        self.remaining_seconds = remaining_seconds
        self.now = now
        self.on_step = on_step
        self._known_errors: set[tuple[str, str]] | None = None

    # -- polling ----------------------------------------------------------------------------------

    def run(self, request: AckRequest | None = None) -> AckSummary:
        summary = AckSummary()
        holder = self.state.lease_holder("export")
        lease_free = holder is None or float(holder.get("expires_at", 0)) < self.now()
        summary.intents_recovered = recover_orphan_intents(self.state, self.gateway_for, self.now(),
                                                           lease_free=lease_free,
                                                           lease_seconds=self.settings.lease_seconds)
        wanted = set(request.feedIds) if request and request.feedIds else None
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
                logger.warning("getFeed failed", extra=_keys(record, reason=str(exc)))
                continue
            summary.feeds_checked += 1
            self._follow(record, status.processingStatus, status.resultFeedDocumentId, status, summary)
        stale = recover_stale_batches(self.log, self.state, self.now(), lease_seconds=self.settings.lease_seconds)
        summary.stale_rows_released = stale.rows_released
        # Batches whose feeds moved on without their rows being settled (a run stopped in between).
        for batch_id in self.log.claimed_batches():
            self._settle(batch_id, summary)
        self._queue_figures(summary)
        self.state.record_run("ack", {"feeds_done": summary.feeds_done, "rows_deleted": summary.rows_deleted})
        return summary

    # -- notifications ----------------------------------------------------------------------------

    def handle_notification(self, notification: FeedNotification) -> AckSummary:
        summary = AckSummary()
        finished = notification.feed
        intent_id = self.state.intent_for_feed_id(finished.feedId)
        record = self.state.get_feed(intent_id) if intent_id else None
        if record is None:
            logger.info("notification for a feed this stack did not submit", extra={"feed_id": finished.feedId})
            return summary
        if record.status != "IN_FLIGHT":
            logger.info("feed already handled: duplicate notification", extra=_keys(record, status=record.status))
            return summary
        self._follow(record, finished.processingStatus, finished.resultFeedDocumentId, None, summary)
        return summary

    # -- one feed ---------------------------------------------------------------------------------

    def _follow(self, record: FeedRecord, processing_status: str, result_document_id: str | None,
                status: FeedStatus | None, summary: AckSummary) -> None:
        if processing_status in ("IN_QUEUE", "IN_PROGRESS"):
            if self.now() - record.created_at > self.settings.overdue_after_seconds:
                summary.feeds_overdue += 1
                logger.error("feed overdue: no verdict yet",
                             extra=_keys(record, age_seconds=round(self.now() - record.created_at)))
            return
        record.processing_status = processing_status
        record.finished_at = self.now()
        if processing_status in ("FATAL", "CANCELLED"):
            record.status = processing_status  # type: ignore[assignment]
            # FATAL means some, none or all messages may have been applied: trust no "unchanged" shortcut.
            self.log.forget_accepted(record.marketplace_id, [
                FeedMessageRef.from_row(row).sku for row in get_json_gz(self.store, record.manifest_key)])
            if processing_status == "FATAL" and result_document_id:
                self._keep_report(record, result_document_id)
            summary.feeds_failed += 1
        elif not result_document_id:
            record.status, record.attention = "ATTENTION", "DONE without a processing report"
            summary.feeds_attention += 1
        elif not self._apply_report(record, result_document_id, summary):
            summary.feeds_attention += 1
        else:
            summary.feeds_done += 1
            summary.feed_processing_seconds.append(round(record.finished_at - record.created_at, 3))
        self.on_step("after_report")
        if not self.state.save_feed(record, expected_status="IN_FLIGHT"):
            logger.info("feed handled by another run meanwhile", extra=_keys(record))
            return
        self.on_step("before_settle")
        self._settle(record.batch_id, summary)

    def _keep_report(self, record: FeedRecord, document_id: str) -> str | None:
        try:
            text = self.gateway_for(record.marketplace_id).download_report(document_id)
        except AmazonError as exc:
            logger.warning("processing report not downloaded", extra=_keys(record, reason=str(exc)))
            return None
        record.report_key = record.document_key.removesuffix(".json") + ".report.json"
        self.store.put(record.report_key, text.encode("utf-8"))
        return text

    def _apply_report(self, record: FeedRecord, document_id: str, summary: AckSummary) -> bool:
        text = self._keep_report(record, document_id)
        if text is None:
            record.status, record.attention = "ATTENTION", "the processing report could not be downloaded"
            return False
        try:
            report = ProcessingReport.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            record.status = "ATTENTION"
            record.attention = f"unreadable processing report: {str(exc).splitlines()[0][:200]}"
            logger.error("unreadable processing report: the feed's rows are kept",
                         extra=_keys(record, reason=record.attention))
            return False
        by_message: dict[int, list[ReportIssue]] = {}
        for issue in report.issues:
            if issue.messageId is None:
                logger.warning("feed-level issue in the processing report",
                               extra=_keys(record, severity=issue.severity, code=issue.code, reason=issue.message))
                continue
            by_message.setdefault(issue.messageId, []).append(issue)
        refs = [FeedMessageRef.from_row(row) for row in get_json_gz(self.store, record.manifest_key)]
        # DONE with fewer messages processed than sent: a message the report does not mention may not
        # have been applied, so it is not taken as accepted.
        incomplete = report.summary.messagesProcessed < len(refs)
        if incomplete:
            logger.warning("Amazon processed fewer messages than sent: the others are retried",
                           extra=_keys(record, processed=report.summary.messagesProcessed, sent=len(refs)))
        rejected: list[int] = []
        retry: list[int] = []
        accepted: list[FeedMessageRef] = []
        followups: list[tuple[LogKey, str]] = []
        unfinished: set[str] = set()  # SKUs with a message refused or retried
        shop = self.config.marketplace(record.marketplace_id).shop_id
        known_errors = self._error_keys()
        for ref in refs:
            issues = by_message.get(ref.message_id, [])
            errors = [i for i in issues if i.severity == "ERROR"]
            for warning in (i for i in issues if i.severity == "WARNING"):
                summary.warnings += 1
                self._record_issue(record, ref, warning)
            if (errors and all((e.code or "") in self.settings.temporary_codes for e in errors)) or (
                    incomplete and not issues):
                retry.append(ref.message_id)
                summary.messages_retried += 1
                unfinished.add(ref.sku)
                # Retried a bounded number of times (max_attempts), but shown from the first time:
                # Amazon also answers 4000000 to malformed input (docs/amazon-behaviours.md, row 9).
                for error in errors:
                    self._record_issue(record, ref, error)
            elif errors:
                unfinished.add(ref.sku)
                rejected.append(ref.message_id)
                summary.messages_rejected += 1
                for error in errors:
                    self._record_issue(record, ref, error)
            else:
                summary.messages_accepted += 1
                accepted.append(ref)
                if ref.quantity_held:
                    followups.append((LogKey(ref.id_product, ref.id_product_attribute, shop), "stock"))
        # An offer's quantity and price travel in separate messages: what Amazon now shows is "as sent"
        # (the fingerprint that lets later runs skip it) only when every message of the SKU got in.
        for sku in {ref.sku for ref in accepted} - unfinished:
            if (record.marketplace_id, sku) in known_errors:
                self.state.clear_sku_error(record.marketplace_id, sku)
        self.log.remember_accepted(record.marketplace_id, accepted, unfinished)
        # The quantity held back behind a price change goes out in the next run, now the price is in.
        self.log.add_rows(followups)
        record.results_key = record.document_key.removesuffix(".json") + ".results.json.gz"
        put_json_gz(self.store, record.results_key, {"rejected": rejected, "retry": retry})
        record.status = "DONE"
        record.accepted, record.rejected = len(accepted), len(rejected)
        record.warnings = sum(1 for i in report.issues if i.severity == "WARNING")
        return True

    def _error_keys(self) -> set[tuple[str, str]]:
        if self._known_errors is None:
            self._known_errors = {(e.marketplace_id, e.sku) for e in self.state.sku_errors(limit=10000)}
        return self._known_errors

    def _record_issue(self, record: FeedRecord, ref: FeedMessageRef, issue: ReportIssue) -> None:
        now = self.now()
        self.state.record_sku_error(SkuError(
            marketplace_id=record.marketplace_id, sku=ref.sku, code=issue.code or "?", message=issue.message,
            severity=issue.severity, attribute=issue.attributeName, feed_id=record.feed_id,
            first_seen=now, last_seen=now))

    # -- rows -------------------------------------------------------------------------------------

    def _settle(self, batch_id: int, summary: AckSummary) -> None:
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
        if counts.kept == 0 and not any(f.in_flight or f.status == "ATTENTION" for f in feeds):
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
        if in_flight:
            summary.oldest_feed_in_flight_age_seconds = round(self.now() - min(f.created_at for f in in_flight), 3)


def _keys(record: FeedRecord, **more: Any) -> dict[str, Any]:
    """The structured keys of a log line about one feed."""
    return {"batch_id": record.batch_id, "feed_id": record.feed_id, "intent_id": record.intent_id,
            "marketplace_id": record.marketplace_id, **more}
