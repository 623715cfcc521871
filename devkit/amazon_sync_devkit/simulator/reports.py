"""The simulated Reports API 2021-06-30: the merchant listings report, built from the listings store.

createReport / getReport / getReportDocument as in Amazon's model (rate limits from its usage plans;
``getReport`` and ``getReportDocument`` answer at the top level, without a ``payload`` wrapper). A report
waits ``queue_seconds`` IN_QUEUE and ``report_seconds`` IN_PROGRESS on the simulated clock; the data
are taken when processing ends, as Amazon takes a snapshot. The document is a GZIP-compressed,
tab-separated GET_MERCHANT_LISTINGS_ALL_DATA file in Windows-1252 (Amazon's charset for this report in
the EU and NA: characters outside it become ``?``), with the 29 real column headers plus the two
trailing columns seen in 2025 EU files, so a reader must go by header names.

``report_cache_seconds``: Amazon caches this report for 1 to 6 hours; a request within that time gets
the earlier snapshot again, however much the listings changed since.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amazon_sync_devkit.simulator.amazon import Document, Reply, error
from amazon_sync_devkit.simulator.listings import Listing

if TYPE_CHECKING:
    from amazon_sync_devkit.simulator.amazon import SimulatedAmazon

MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"
SUPPORTED_REPORT_TYPES = {MERCHANT_LISTINGS}
# GET_MERCHANT_LISTINGS_ALL_DATA, in Amazon's order (research notes 1.2), then two columns EU files gained in 2025.
COLUMNS = [
    "item-name", "item-description", "listing-id", "seller-sku", "price", "quantity", "open-date", "image-url",
    "item-is-marketplace", "product-id-type", "zshop-shipping-fee", "item-note", "item-condition",
    "zshop-category1", "zshop-browse-path", "zshop-storefront-feature", "asin1", "asin2", "asin3",
    "will-ship-internationally", "expedited-shipping", "zshop-boldface", "product-id",
    "bid-for-featured-placement", "add-delete", "pending-quantity", "fulfillment-channel",
    "merchant-shipping-group", "status", "Minimum order quantity", "Sell remainder",
]
CHARSET = "Cp1252"


@dataclass
class Report:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    created: float
    status: str = "IN_QUEUE"
    started: float | None = None
    ended: float | None = None
    document_id: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def as_model(self, clock: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"reportId": self.report_id, "reportType": self.report_type,
                                "marketplaceIds": self.marketplace_ids, "createdTime": clock.iso(self.created),
                                "processingStatus": self.status}
        if self.started is not None:
            body["processingStartTime"] = clock.iso(self.started)
        if self.ended is not None:
            body["processingEndTime"] = clock.iso(self.ended)
        if self.document_id:
            body["reportDocumentId"] = self.document_id
        return body


def fulfillment_channel(listing: Listing) -> str:
    """DEFAULT (merchant-fulfilled) or the Amazon channel (AMAZON_EU, AMAZON_NA...) of an FBA listing,
    also when a merchant quantity was (wrongly) added beside it."""
    for entry in listing.attributes.get("fulfillment_availability", []):
        code = entry.get("fulfillment_channel_code")
        if isinstance(code, str) and code != "DEFAULT":
            return code
    return "DEFAULT"


def asin_of(listing: Listing, marketplace_id: str) -> str | None:
    """The catalogue item's ASIN; none for an offer sent for a SKU without one (incomplete)."""
    summaries = listing.summaries(marketplace_id, "", "")
    return str(summaries[0]["asin"]) if summaries else None


def listing_status(listing: Listing, marketplace_id: str) -> str:
    """Seller Central's status: Incomplete without a catalogue item (an offer sent for an unknown SKU)
    or without a price; Active when buyable; else Inactive (out of stock, for instance)."""
    if not listing.complete_in(marketplace_id) or listing.price(marketplace_id) is None:
        return "Incomplete"
    if fulfillment_channel(listing) != "DEFAULT":
        return "Active"
    return "Active" if (listing.quantity() or 0) > 0 else "Inactive"


def report_row(listing: Listing, marketplace_id: str, opened: str) -> list[str]:
    price = listing.price(marketplace_id)
    channel = fulfillment_channel(listing)
    quantity = listing.quantity()
    asin = asin_of(listing, marketplace_id)
    values = dict.fromkeys(COLUMNS, "")
    values.update({
        "item-name": listing.sku, "listing-id": hashlib.sha1(listing.sku.encode()).hexdigest()[:10].upper(),  # noqa: S324
        "seller-sku": listing.sku, "price": "" if price is None else f"{price:.2f}",
        # Amazon leaves quantity empty for FBA rows: Amazon counts that stock, not the seller
        "quantity": "" if channel != "DEFAULT" or quantity is None else str(quantity),
        "open-date": opened, "item-is-marketplace": "y", "product-id-type": "1" if asin else "",
        "item-condition": "11", "asin1": asin or "", "product-id": asin or "",
        "will-ship-internationally": "1", "pending-quantity": "0", "fulfillment-channel": channel,
        "merchant-shipping-group": "Migrated Template", "status": listing_status(listing, marketplace_id),
    })
    return [values[name] for name in COLUMNS]


def render(listings: list[Listing], marketplace_id: str, opened: str) -> Iterator[bytes]:
    """The document, line by line, in Windows-1252 (what it cannot hold becomes ``?``, as on Amazon)."""
    yield ("\t".join(COLUMNS) + "\r\n").encode("cp1252")
    for listing in listings:
        cells = [cell.replace("\t", " ").replace("\n", " ") for cell in report_row(listing, marketplace_id, opened)]
        yield ("\t".join(cells) + "\r\n").encode("cp1252", errors="replace")


class ReportsSimulator:
    def __init__(self, amazon: SimulatedAmazon) -> None:
        self.amazon = amazon
        self.reports: dict[str, Report] = {}
        # a prepared GZIP document served as the next reports' content (benchmarks: a million listings)
        self.prepared_document: bytes | None = None

    def create_report(self, body: Any) -> Reply:
        amazon = self.amazon
        with amazon.lock:
            if not isinstance(body, dict) or not body.get("reportType"):
                return error(400, "InvalidInput", "reportType is required.")
            marketplaces = body.get("marketplaceIds")
            if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= 25:
                return error(400, "InvalidInput", "marketplaceIds must list 1 to 25 marketplace ids.")
            if body["reportType"] not in SUPPORTED_REPORT_TYPES:
                return error(400, "InvalidInput", f"Report type {body['reportType']} is not supported.")
            options = body.get("reportOptions") or {}
            if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
                return error(400, "InvalidInput", "reportOptions values must be strings.")
            report = Report(amazon._next_id(), body["reportType"], [str(m) for m in marketplaces],
                            amazon.clock.now(), options=dict(options))
            self.reports[report.report_id] = report
            return Reply(202, {"reportId": report.report_id})

    def get_report(self, report_id: str) -> Reply:
        with self.amazon.lock:
            self.advance()
            report = self.reports.get(report_id)
            if report is None:
                return error(404, "NotFound", f"Report {report_id} was not found.")
            return Reply(200, report.as_model(self.amazon.clock))

    def get_report_document(self, document_id: str) -> Reply:
        amazon = self.amazon
        with amazon.lock:
            document = amazon.documents.get(document_id)
            if document is None or not any(r.document_id == document_id for r in self.reports.values()):
                return error(404, "NotFound", f"Report document {document_id} was not found.")
            body: dict[str, Any] = {"reportDocumentId": document_id, "url": amazon.url("download", document_id)}
            if document.compressed:
                body["compressionAlgorithm"] = "GZIP"
            return Reply(200, body)

    def advance(self) -> None:
        amazon = self.amazon
        config = amazon.config
        with amazon.lock:
            now = amazon.clock.now()
            for report in self.reports.values():
                if report.status == "IN_QUEUE" and now >= report.created + config.queue_seconds:
                    report.status, report.started = "IN_PROGRESS", report.created + config.queue_seconds
                if (report.status == "IN_PROGRESS" and report.started is not None
                        and now >= report.started + config.report_seconds):
                    self._produce(report)

    def _produce(self, report: Report) -> None:
        amazon = self.amazon
        report.ended = amazon.clock.now()
        if amazon.faults.cancel_listings_reports > 0:
            amazon.faults.cancel_listings_reports -= 1
            report.status = "CANCELLED"
            return
        cached = self._cached(report)
        if cached is not None:
            report.status, report.document_id = "DONE", cached
            return
        marketplace = report.marketplace_ids[0]  # one marketplace per report: the first one wins
        if self.prepared_document is not None:
            data = self.prepared_document
        else:
            listings = [listing for _, listing in sorted(amazon.listings.items()) if listing.present_in(marketplace)]
            if not listings:
                # Amazon cancels a report that has no data to return
                report.status = "CANCELLED"
                return
            data = gzip.compress(b"".join(render(listings, marketplace, amazon.clock.iso(report.created))),
                                 mtime=0)
        document = Document(f"amzn1.spdoc.1.4.eu.{amazon._next_id()}", f"text/plain; charset={CHARSET}",
                            amazon.clock.now(), data=data, compressed=True)
        amazon.documents[document.document_id] = document
        report.status, report.document_id = "DONE", document.document_id

    def _cached(self, report: Report) -> str | None:
        seconds = self.amazon.config.report_cache_seconds
        if seconds <= 0:
            return None
        snapshots = [earlier for earlier in self.reports.values()
                     if earlier is not report and earlier.status == "DONE" and earlier.document_id
                     and earlier.report_type == report.report_type
                     and earlier.marketplace_ids[:1] == report.marketplace_ids[:1]
                     and earlier.ended is not None and report.created - earlier.ended < seconds]
        latest = max(snapshots, key=lambda earlier: earlier.ended or 0.0, default=None)
        return latest.document_id if latest is not None else None
