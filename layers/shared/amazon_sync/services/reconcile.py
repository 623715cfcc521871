"""Reconciliation: read what Amazon really shows, compare it with what PrestaShop wants, repair drift.

"Accepted" in a processing report is not "applied", and other tools change offers behind our back. Per
marketplace, one run requests Amazon's merchant listings report, streams it into the listings store
(the SKUs Amazon has, with their fulfillment channel: the export sends nothing to the others and no
quantity to FBA SKUs) and compares every SKU PrestaShop has with it:

- in sync: nothing to do;
- different, with a change of ours pending or in flight, or accepted too recently for the (cached)
  report to show it: not judged now;
- different otherwise: drift. The SKU's offer is queued again through the log (a ``drift`` row, so it
  goes through the normal export and acknowledgment) unless it drifted right after each of the last
  ``max_repairs`` repairs: then another tool is changing it, and it is reported as fought over instead
  of being repaired in a loop;
- in PrestaShop but not on Amazon: listed as not on Amazon (the export does not create listings);
- suppressed or incomplete on Amazon: listed for the operator.

The report is read a block at a time and PrestaShop's side is held as one small record per offer,
so a million-listing report fits in the function's memory. The run's cost is set by the rows that
changed, not by the report's size: every offer is read set-based (``OfferReader.read_shop``), the
stored listings are read once and compared by digest so that only changed rows are written, and the
acceptance history is looked up only for the SKUs that differ.
"""

from __future__ import annotations

import gzip
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from amazon_sync.adapters.dynamodb import StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.listings import AmazonListings, Finding, ListingsRead, digest
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.reports import ReportsGateway, ReportStatus
from amazon_sync.config import MarketplaceConfig, SyncConfig
from amazon_sync.domain.feeds import offer_values
from amazon_sync.domain.listings_report import (
    BLOCK,
    SKU,
    AmazonListing,
    ReportReading,
    charset_of,
    listing_from,
    plain_merchant_row,
    read_rows,
)
from amazon_sync.domain.model import LogKey
from amazon_sync.errors import AmazonError, SyncError

CHUNK = 2000
WRITE_BATCH = 20_000  # changed listings written per transaction
POLL_DELAYS = (5.0, 10.0, 20.0, 30.0, 60.0)  # then every 60 s: reports take minutes, sometimes hours
EXAMPLES = 20
# How many cancelled listings reports in a row, over how long, before Amazon is believed that a marketplace
# whose last report had listings has none (see Reconciler._check_cancelled): three daily runs, the third
# 48 h after the first, less an hour for how long each waited for its report
CANCELLED_TRUSTED_AFTER_REPORTS = 3
CANCELLED_TRUSTED_AFTER_SECONDS = 47 * 3600

logger = Logger(child=True)


class ReconcileRequest(BaseModel):
    """The manual invoke (and the schedule's input): validated, anything else is refused."""

    model_config = ConfigDict(extra="forbid")
    marketplaces: list[str] | None = Field(default=None, min_length=1)
    dryRun: bool = False
    scheduledTime: str | None = None  # EventBridge Scheduler's <aws.scheduler.scheduled-time>


@dataclass(slots=True)
class Wanted:
    """What PrestaShop wants Amazon to show for one SKU, after the configuration's rules."""

    id_product: int
    id_product_attribute: int
    quantity: int | None
    price: Decimal | None


@dataclass
class MarketplaceResult:
    marketplace_id: str
    state: str = "not started"
    report_id: str | None = None
    listings_read: int = 0
    unreadable_rows: int = 0
    fba_listings: int = 0
    amazon_only: int = 0
    compared: int = 0
    in_sync: int = 0
    drift: int = 0
    fought_over: int = 0
    not_on_amazon: int = 0
    listing_problems: int = 0
    skipped_in_flight: int = 0
    skipped_recent: int = 0
    rows_queued: int = 0
    drift_examples: list[str] = field(default_factory=list)


@dataclass
class ReconcileSummary:
    skipped_reason: str | None = None
    dry_run: bool = False
    marketplaces: list[MarketplaceResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(int(getattr(result, name)) for result in self.marketplaces)

    @property
    def skus_per_second(self) -> float:
        return round(self.total("compared") / self.duration_seconds, 1) if self.duration_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("listings_read", "compared", "drift", "fought_over", "not_on_amazon", "listing_problems",
                     "rows_queued", "skipped_in_flight", "skipped_recent", "fba_listings"):
            values[name] = self.total(name)
        values["skus_per_second"] = self.skus_per_second
        values["waiting_for_amazon"] = sum(r.state == "waiting for Amazon's report" for r in self.marketplaces)
        values["failed"] = len(self.failures)
        return values


class Reconciler:
    def __init__(self, *, log: EventLog, reader: OfferReader, listings: AmazonListings, config: SyncConfig,
                 state: StateStore, reports_for: Callable[[str], ReportsGateway],
                 remaining_seconds: Callable[[], float] = lambda: 900.0, lease_seconds: float = 900.0,
                 now: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 temp_dir: str | None = None) -> None:
        self.log = log
        self.reader = reader
        self.listings = listings
        self.config = config
        self.state = state
        self.reports_for = reports_for
        self.remaining_seconds = remaining_seconds
        self.lease_seconds = lease_seconds
        self.now = now
        self.sleep = sleep
        self.temp_dir = temp_dir
        self._busy: set[int] | None = None

    def run(self, request: ReconcileRequest) -> ReconcileSummary:
        started = time.perf_counter()
        summary = ReconcileSummary(dry_run=request.dryRun)
        marketplaces = ([self.config.marketplace(m) for m in request.marketplaces] if request.marketplaces
                        else list(self.config.marketplaces))
        owner = str(uuid.uuid4())
        if not self.state.acquire_lease("reconcile", owner, self.lease_seconds, self.now()):
            summary.skipped_reason = "another reconciliation holds the lease"
            return summary
        self._busy = None
        try:
            for marketplace in marketplaces:
                result = MarketplaceResult(marketplace.marketplace_id)
                summary.marketplaces.append(result)
                try:
                    self._reconcile(marketplace, result, dry_run=request.dryRun)
                except SyncError as exc:
                    result.state = f"failed: {exc}"
                    summary.failures.append(f"{marketplace.marketplace_id}: {exc}")
        finally:
            self.state.release_lease("reconcile", owner)
            summary.duration_seconds = round(time.perf_counter() - started, 3)
        if not request.dryRun:
            self.state.record_run("reconcile", {
                "drift": summary.total("drift"), "fought_over": summary.total("fought_over"),
                "not_on_amazon": summary.total("not_on_amazon"), "failures": len(summary.failures)})
        return summary

    def busy_before_repairs(self) -> set[int]:
        """Products with a change of ours pending or in flight, read once per run, before any marketplace
        queues its repairs: a repair row the first marketplace queued is not a change in flight for the
        next, whose listing it does not touch (read per marketplace, a SKU that drifted in both was
        repaired in one only; found by the randomized test)."""
        if self._busy is None:
            self._busy = self.log.products_with_rows()
        return self._busy

    # -- one marketplace --------------------------------------------------------------------------

    def _reconcile(self, marketplace: MarketplaceConfig, result: MarketplaceResult, *, dry_run: bool) -> None:
        marketplace_id = marketplace.marketplace_id
        gateway = self.reports_for(marketplace_id)
        status = self._finished_report(marketplace_id, gateway, result, dry_run=dry_run)
        if status is None:
            result.state = "waiting for Amazon's report"
            return
        if status.processingStatus == "FATAL":
            if not dry_run:
                self.listings.set_pending_report(marketplace_id, None)
            raise AmazonError(f"Amazon could not prepare listings report {status.reportId} (FATAL); "
                              "the next run asks for a new one")
        if status.processingStatus == "CANCELLED":
            self._check_cancelled(marketplace_id, status.reportId, dry_run=dry_run)
        wanted = self._wanted(marketplace)
        with tempfile.TemporaryFile(dir=self.temp_dir) as spool:
            chunks: Iterator[bytes] = iter(())
            charset = "cp1252"
            if status.processingStatus == "DONE" and status.reportDocumentId:
                downloaded = gateway.download(status.reportDocumentId, spool)
                charset = charset_of(downloaded.content_type)
                spool.seek(0)
                document = gzip.GzipFile(fileobj=spool) if downloaded.compressed else spool
                chunks = iter(lambda: document.read(BLOCK), b"")
            # CANCELLED: Amazon had no data to return, i.e. no listings at all
            self._compare(marketplace, status, chunks, charset, wanted, result, dry_run=dry_run)
        if not dry_run:
            self.listings.set_pending_report(marketplace_id, None)
            if status.processingStatus == "DONE":
                self.listings.set_cancelled_reports(marketplace_id, None)
        result.state = "read"

    def _check_cancelled(self, marketplace_id: str, report_id: str, *, dry_run: bool) -> None:
        """A CANCELLED report is "no listings" only when that is believable.

        Amazon cancels a report that has no data, but also one asked for too often (selling-partner-api-docs
        #1329, #1123). Read as "no listings", it would make the store forget every FBA SKU, and the export
        would then send merchant stock to them. So while the last report had listings, a cancelled one is a
        failed reading (the store stays as it was, ReconcileFailures counts it and the next run asks again),
        until Amazon has cancelled CANCELLED_TRUSTED_AFTER_REPORTS reports in a row over two days: then the
        seller has really closed every listing, and it is read as such (no operator needed to get out)."""
        last = self.listings.last_read(marketplace_id)
        if last is None or last.listings == 0:
            return
        now = self.now()
        cancelled = self.listings.cancelled_reports(marketplace_id)
        if cancelled is not None and cancelled[0] < last.at:
            cancelled = None  # a reading with listings came since: a run stopped before it cleared the count
        since, count = cancelled if cancelled is not None else (now, 0)
        count += 1
        if count >= CANCELLED_TRUSTED_AFTER_REPORTS and now - since >= CANCELLED_TRUSTED_AFTER_SECONDS:
            logger.warning("Amazon has cancelled every listings report for two days: reading it as 'no listings'",
                           extra={"marketplace_id": marketplace_id, "report_id": report_id, "cancelled": count})
            return
        if not dry_run:
            self.listings.set_pending_report(marketplace_id, None)
            self.listings.set_cancelled_reports(marketplace_id, (since, count))
        first = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise AmazonError(
            f"Amazon cancelled listings report {report_id} (no data, or asked for too often) although report "
            f"{last.report_id} showed {last.listings} listings: not read as 'no listings' (cancelled {count} in "
            f"a row since {first}); the store keeps what it knows, so FBA SKUs get no merchant stock; the next "
            f"run asks again, and {CANCELLED_TRUSTED_AFTER_REPORTS} reports cancelled over "
            f"{CANCELLED_TRUSTED_AFTER_SECONDS // 3600 + 1} h are read as 'no listings'")

    def _finished_report(self, marketplace_id: str, gateway: ReportsGateway, result: MarketplaceResult, *,
                         dry_run: bool) -> ReportStatus | None:
        """The report of this run (or of an earlier run that ended before Amazon finished it), once
        Amazon is done with it; None when it is still being prepared when this run must stop waiting."""
        pending = self.listings.pending_report(marketplace_id)
        if pending is not None and self.now() - pending[1] < 24 * 3600:
            report_id = pending[0]
        else:
            report_id = gateway.request_listings_report(marketplace_id)
            if not dry_run:
                self.listings.set_pending_report(marketplace_id, (report_id, self.now()))
        result.report_id = report_id
        waited = 0.0
        for attempt in range(10_000):
            status = gateway.get_report(report_id)
            if status.processingStatus in ("DONE", "CANCELLED", "FATAL"):
                return status
            delay = POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]
            if waited + delay > self.config.reconcile.report_wait_seconds or self.remaining_seconds() < delay + 120:
                return None
            self.sleep(delay)
            waited += delay
        return None

    def _wanted(self, marketplace: MarketplaceConfig) -> dict[str, Wanted]:
        reader = self.reader
        context = reader.shop_context(marketplace.shop_id, marketplace.country, marketplace.currency,
                                      marketplace.shop_timezone, marketplace.conversion_rate,
                                      marketplace.allow_orders_when_out_of_stock)
        send_quantity = marketplace.marketplace_id in self.config.quantity_marketplaces()
        moment = datetime.fromtimestamp(self.now(), UTC)
        wanted: dict[str, Wanted] = {}
        for offers in reader.read_shop(context, moment):
            for offer in offers:
                if not offer.exists or not offer.sendable or offer.sku is None or marketplace.excluded(offer.sku):
                    continue
                quantity, price = offer_values(offer, marketplace, send_quantity=send_quantity)
                if quantity is not None or price is not None:
                    wanted[offer.sku] = Wanted(offer.id_product, offer.id_product_attribute, quantity, price)
        return wanted

    def _compare(self, marketplace: MarketplaceConfig, status: ReportStatus, chunks: Iterator[bytes], charset: str,
                 wanted: dict[str, Wanted], result: MarketplaceResult, *, dry_run: bool) -> None:
        marketplace_id = marketplace.marketplace_id
        read_at = self.now()
        judge = _Judge(self, marketplace, status.createdTime.timestamp(), result, dry_run=dry_run)
        reading = ReportReading()
        # Stored: every SKU the export may ask about. PrestaShop's SKUs; the SKUs we ever sent to (a renamed
        # or deleted offer's old SKU must still be zeroed, which the export does only for SKUs Amazon has);
        # and every FBA SKU, so no DEFAULT quantity reaches one whether or not PrestaShop has it today (an
        # old SKU, or a SKU PrestaShop takes before the next reading). Other SKUs only Amazon has are not
        # stored: a SKU added to PrestaShop later counts as not on Amazon until the next reconciliation
        # (docs/operations.md, 4a).
        sent = self.log.skus_sent(marketplace_id)
        # What is stored already, by digest: a daily report mostly repeats the day before, and only rows
        # that changed are written; the SKUs left in it at the end are those the report no longer keeps.
        stored = self.listings.stored(marketplace_id) if not dry_run else {}
        changed: list[AmazonListing] = []
        differing: list[tuple[AmazonListing, Wanted, list[str]]] = []
        for rows in read_rows(chunks, charset, reading):
            result.listings_read += len(rows)
            for row in rows:
                target = wanted.pop(row[SKU], None)
                if target is None and plain_merchant_row(row) and row[SKU] not in sent:
                    # a SKU only Amazon has, active and fulfilled by the merchant, never ours: nothing to
                    # store or report
                    result.amazon_only += 1
                    continue
                listing = listing_from(row, reading)
                result.fba_listings += listing.fba
                problem = listing.problem
                if problem is not None:
                    result.listing_problems += 1
                    judge.findings.append(Finding(marketplace_id, "listing_problem", listing.sku, detail=problem))
                if target is None:
                    result.amazon_only += 1
                    if not listing.fba and listing.sku not in sent:
                        continue
                if not dry_run and stored.pop(listing.sku, None) != digest(listing):
                    changed.append(listing)
                    if len(changed) >= WRITE_BATCH:
                        self.listings.write(marketplace_id, changed, read_at)
                        changed = []
                if target is None:
                    continue
                result.compared += 1
                differences = _differences(listing, target)
                if not differences:
                    result.in_sync += 1
                    continue
                differing.append((listing, target, differences))
                if len(differing) >= CHUNK:  # everything differs before a first sync: memory stays bounded
                    judge.judge(differing)
                    differing = []
        result.unreadable_rows = reading.unreadable
        if differing:
            judge.judge(differing)
        # what PrestaShop has and Amazon does not: never created by the export, listed here
        for sku, target in wanted.items():
            result.not_on_amazon += 1
            judge.findings.append(Finding(marketplace_id, "not_on_amazon", sku, target.id_product,
                                          target.id_product_attribute, "in PrestaShop, not in Amazon's listings"))
        if dry_run:
            return
        self.listings.write(marketplace_id, changed, read_at)
        self.listings.forget(marketplace_id, stored.keys())
        self.listings.mark_read(ListingsRead(marketplace_id, read_at, status.reportId, result.listings_read))
        self.listings.record(judge.findings, read_at)
        self.listings.forget_findings_before(marketplace_id, read_at)


def _differences(listing: AmazonListing, target: Wanted) -> list[str]:
    """What Amazon shows differently from what PrestaShop wants (never an FBA SKU's quantity: Amazon
    counts that stock)."""
    differences = []
    if target.quantity is not None and not listing.fba and listing.quantity != target.quantity:
        differences.append("quantity")
    if target.price is not None and listing.price != target.price:
        differences.append("price")
    return differences


def _show(quantity: int | None, price: Decimal | None) -> str:
    return f"{'-' if quantity is None else quantity} @ {'-' if price is None else price}"


class _Judge:
    """Decides, batch by batch, which compared SKUs drifted, and queues their repair."""

    def __init__(self, reconciler: Reconciler, marketplace: MarketplaceConfig, report_created: float,
                 result: MarketplaceResult, *, dry_run: bool) -> None:
        self.r = reconciler
        self.marketplace = marketplace
        self.result = result
        self.dry_run = dry_run
        self.settled_before = report_created - reconciler.config.reconcile.settle_seconds
        self.max_repairs = reconciler.config.reconcile.max_repairs
        self.busy = reconciler.busy_before_repairs()
        self.previous = {f.sku: f for f in reconciler.listings.findings(marketplace.marketplace_id, "drift")}
        self.findings: list[Finding] = []

    def judge(self, batch: list[tuple[AmazonListing, Wanted, list[str]]]) -> None:
        """SKUs whose listing differs from what PrestaShop wants: drift, unless our own change explains it."""
        marketplace_id = self.marketplace.marketplace_id
        result = self.result
        skus = [listing.sku for listing, _, _ in batch]
        recent = self.r.listings.accepted_since(marketplace_id, skus, self.settled_before)
        accepted = self.r.log.last_accepted(marketplace_id, skus)
        repairs: list[tuple[LogKey, str]] = []
        repaired_skus: list[str] = []
        for listing, target, differences in batch:
            previous = self.previous.get(listing.sku)
            in_flight = target.id_product in self.busy or 0 in self.busy  # 0: a catalogue-wide change
            if in_flight or listing.sku in recent:
                # our own change is on its way, or too recent for the report to show it: judge it next time
                if in_flight:
                    result.skipped_in_flight += 1
                else:
                    result.skipped_recent += 1
                if previous is not None:
                    self.findings.append(previous)
                continue
            last = accepted.get(listing.sku)
            detail = (f"{' and '.join(differences)}: Amazon shows {_show(listing.quantity, listing.price)}, "
                      f"PrestaShop wants {_show(target.quantity, target.price)}, last accepted "
                      f"{_show(last.quantity, last.price) if last else 'never'}")
            done = previous.repairs if previous is not None else 0
            fought = done >= self.max_repairs
            # A repair counts towards "fought over" only once a message of ours has reached Amazon for the
            # SKU (it is in the offer-state table, accepted or not): a listing that differed before our first
            # sync reached it (Seller Central's, a previous tool's) is not another tool undoing our work.
            # Counted, one change after the first sync made it fought over. A SKU the export never sends (an
            # offer with a blocking problem, recorded as a SKU error) is queued again at each reconciliation.
            counted = done + 1 if last is not None else done
            self.findings.append(Finding(marketplace_id, "drift", listing.sku, target.id_product,
                                         target.id_product_attribute, detail, done if fought else counted, fought))
            if len(result.drift_examples) < EXAMPLES:
                result.drift_examples.append(f"{listing.sku}{' (fought over)' if fought else ''}: {detail}")
            if fought:
                result.fought_over += 1
                continue
            result.drift += 1
            repairs.append((LogKey(target.id_product, target.id_product_attribute, self.marketplace.shop_id),
                            "drift"))
            repaired_skus.append(listing.sku)
        if repairs and not self.dry_run:
            # the export skips offers whose message equals the last accepted one: not these
            self.r.log.forget_accepted(marketplace_id, repaired_skus)
            result.rows_queued += self.r.log.add_rows(repairs)
