"""The simulated Amazon: state and behaviour, independent of HTTP.

Every public method returns a ``Reply`` (status, JSON body or bytes, headers) shaped like Amazon's.
"""

from __future__ import annotations

import base64
import copy
import gzip
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, Field

from amazon_sync_devkit.simulator.clock import Clock, SlidingWindow, TokenBucket
from amazon_sync_devkit.simulator.listings import CODE_BAD_VALUE, Listing, apply_patches

# Usage plans from the Feeds 2021-06-30 and Listings Items 2021-08-01 models: (rate per second, burst).
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "getFeeds": (0.0222, 10),
    "createFeed": (0.0083, 15),
    "cancelFeed": (2.0, 15),
    "getFeed": (2.0, 15),
    "createFeedDocument": (0.5, 15),
    "getFeedDocument": (0.0222, 10),
    "patchListingsItem": (5.0, 5),
    "getListingsItem": (5.0, 10),
    # Notifications API v1: every operation 1 request per second, burst 5
    **{op: (1.0, 5) for op in ("getSubscription", "createSubscription", "getSubscriptionById",
                               "deleteSubscriptionById", "getDestinations", "createDestination",
                               "getDestination", "deleteDestination")},
    # Reports 2021-06-30
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReportDocument": (0.0167, 15),
}
JSON_FEED_WINDOW = (5, 300.0)  # JSON_LISTINGS_FEED: 5 submissions per 5 minutes

CODE_FATAL = "90000"
# The realistic profile's processing time per feed (docs/amazon-behaviours.md, row 8): a fixed part
# drawn from U(30 s, 5 min) ("< 5 min" normally, docs #3161) plus 5 ms per message.
REALISTIC_OVERHEAD_SECONDS = (30.0, 300.0)
REALISTIC_SECONDS_PER_MESSAGE = 0.005


class SimulatorConfig(BaseModel):
    client_id: str = "amzn1.application-oa2-client.local"
    client_secret: str = "local-secret"  # noqa: S105 (a simulator's fixed credential, not a secret)
    refresh_tokens: list[str] = Field(default_factory=lambda: ["Atzr|local-refresh-token"])
    seller_id: str = "A1LOCALSELLER"
    application_id: str = "amzn1.sp.solution.local"
    rate_limits: bool = True
    # fast: every feed waits queue_seconds then takes processing_seconds, side by side (unit-speed
    # tests). realistic: one FIFO queue per seller, as Amazon processes product-data feeds
    # sequentially, each taking a seeded U(30 s, 5 min) plus 5 ms per message, times time_scale.
    processing_profile: Literal["fast", "realistic"] = "fast"
    time_scale: float = Field(default=1.0, gt=0)
    seed: int = 0
    queue_seconds: float = 1.0
    processing_seconds: float = 2.0
    report_seconds: float = 30.0  # a listings report IN_PROGRESS (after queue_seconds IN_QUEUE)
    report_cache_seconds: float = 0.0  # Amazon: 1 to 6 hours, during which a new request gets the old snapshot
    token_ttl: int = 3600
    url_ttl: int = 300
    base_url: str = "http://127.0.0.1:0"
    notification_queue_url: str | None = None
    # Validating every message of a 25,000-message feed with jsonschema takes Amazon-like minutes;
    # benchmarks, which measure our side, may validate the header and a sample of messages only.
    validate_messages: int | None = None
    # patchListingsItem: the synchronous answer takes patch_latency_seconds; an ACCEPTED submission is
    # queued, not applied ("Accepted doesn't mean DONE", Amazon staff, models#4764), and shows after
    # U(listing_apply_seconds), in submission order per SKU. No figure is documented: see
    # docs/amazon-behaviours.md (row 15.2) for the values the benchmark uses and why.
    patch_latency_seconds: float = 0.25
    # createFeedDocument, the document upload and createFeed each take this long before answering: Amazon
    # and S3 a network away, for benchmarks of what the export overlaps (0: answered at once)
    feed_call_latency_seconds: float = 0.0
    listing_apply_seconds: tuple[float, float] = (1.0, 1.0)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"


def error(status: int, code: str, message: str, details: str = "") -> Reply:
    return Reply(status, {"errors": [{"code": code, "message": message, "details": details}]})


@dataclass
class Document:
    document_id: str
    content_type: str
    created: float
    data: bytes | None = None
    compressed: bool = False


@dataclass
class Feed:
    feed_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_document_id: str
    created: float
    status: str = "IN_QUEUE"
    started: float | None = None
    ended: float | None = None
    result_document_id: str | None = None
    outcome: str | None = None  # injected: FATAL, CANCELLED or STUCK
    report: dict[str, Any] | None = None
    duration: float | None = None  # realistic profile: processing time, drawn when it starts

    def as_model(self, clock: Clock) -> dict[str, Any]:
        body: dict[str, Any] = {"feedId": self.feed_id, "feedType": self.feed_type,
                                "marketplaceIds": self.marketplace_ids, "createdTime": clock.iso(self.created),
                                "processingStatus": self.status}
        if self.started is not None:
            body["processingStartTime"] = clock.iso(self.started)
        if self.ended is not None:
            body["processingEndTime"] = clock.iso(self.ended)
        if self.result_document_id:
            body["resultFeedDocumentId"] = self.result_document_id
        return body


@dataclass
class Faults:
    create_feed_statuses: list[int] = field(default_factory=list)  # next createFeed answers, e.g. [503, 500]
    throttle: dict[str, int] = field(default_factory=dict)  # operation -> next N calls get 429
    # operation -> statuses of its next answers, e.g. {"getFeedDocument": [503, 500]}
    statuses: dict[str, list[int]] = field(default_factory=dict)
    # next document downloads answer with these statuses and S3's XML error page, e.g. [403, 500]
    download_statuses: list[int] = field(default_factory=list)
    upload_statuses: list[int] = field(default_factory=list)  # the same for the next document uploads
    # next feeds end FATAL / CANCELLED / STUCK, or FATAL_APPLIED: FATAL after applying every message,
    # as Amazon warns it may ("some, none or all may have been applied")
    feed_outcomes: list[str] = field(default_factory=list)
    sku_errors: dict[str, dict[str, str]] = field(default_factory=dict)  # sku -> issue fields
    # sku -> issue fields with "attributeName": only messages patching that attribute are refused,
    # e.g. {"SKU": {"attributeName": "purchasable_offer", "code": "8105"}} for a price Amazon rejects
    attribute_errors: dict[str, dict[str, str]] = field(default_factory=dict)
    sku_warnings: dict[str, dict[str, str]] = field(default_factory=dict)
    warn_every_message: dict[str, str] | None = None  # issue fields of a WARNING on every message (benchmarks)
    corrupt_reports: int = 0  # next N reports are unreadable
    # next N listings reports end CANCELLED though the seller has listings: Amazon cancels a report for
    # "too many requests" as well as for "no data" (selling-partner-api-docs #1329, #1123, models #1991)
    cancel_listings_reports: int = 0
    partial_processing: int | None = None  # the next DONE feed processes only its first N messages
    duplicate_notifications: bool = False
    patch_statuses: list[int] = field(default_factory=list)  # next patchListingsItem answers, e.g. [500, 503]


def _s3_error(status: int) -> Reply:
    """S3's answer to a failed GET or PUT of a document: an XML error page, not the SP-API's JSON."""
    code = {403: "AccessDenied", 404: "NoSuchKey", 503: "SlowDown"}.get(status, "InternalError")
    return Reply(status, raw=f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                 f"<Message>{code}</Message></Error>".encode(), content_type="application/xml")


def _load_schema() -> dict[str, Any]:
    text = resources.files("amazon_sync_devkit").joinpath("schemas/listings-feed-schema-v2.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


class SimulatedAmazon:
    def __init__(self, config: SimulatorConfig | None = None, clock: Clock | None = None,
                 notify: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.clock = clock or Clock()
        self.notify = notify
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        self.grantless_scopes: dict[str, str] = {}  # access token -> scope, for client_credentials tokens
        self.documents: dict[str, Document] = {}
        self.feeds: dict[str, Feed] = {}
        self.listings: dict[str, Listing] = {}
        self.faults = Faults()
        self.calls: dict[str, int] = {}
        self.throttled: dict[str, int] = {}
        self.notifications: list[dict[str, Any]] = []
        self._ids = itertools.count(50001)
        self._requests = itertools.count(1)
        self._buckets = {op: TokenBucket(rate, burst, self.clock) for op, (rate, burst) in USAGE_PLANS.items()}
        self._json_window = SlidingWindow(*JSON_FEED_WINDOW, clock=self.clock)
        self._validator: Any = None
        self._random = random.Random(self.config.seed)
        # ACCEPTED patchListingsItem submissions waiting to be applied: (due, sequence, message, marketplace)
        self.pending_patches: list[tuple[float, int, dict[str, Any], str]] = []
        self._patch_due: dict[str, float] = {}
        self.listing_issues: dict[str, list[dict[str, Any]]] = {}  # issues found after acceptance
        # every patchListingsItem answer given (sku, marketplace_id, status, at, submission_id, the patches
        # received), for oracles
        self.listing_submissions: list[dict[str, Any]] = []
        from amazon_sync_devkit.simulator.reports import ReportsSimulator

        self.reports = ReportsSimulator(self)

    # -- plumbing ---------------------------------------------------------------------------------

    def request_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._requests):012d}"

    def _next_id(self) -> str:
        return str(next(self._ids))

    def admit(self, operation: str, token: str | None) -> Reply | None:
        """Authentication and throttling, in Amazon's order; None when the call may proceed."""
        self.calls[operation] = self.calls.get(operation, 0) + 1
        expires = self.tokens.get(token or "")
        if expires is None or expires < self.clock.now():
            return error(403, "Unauthorized", "Access to requested resource is denied.",
                         "The access token you provided is revoked, malformed or invalid.")
        forced = self.faults.throttle.get(operation, 0)
        if forced:
            self.faults.throttle[operation] = forced - 1
            return self._throttle(operation)
        if self.config.rate_limits and not self._buckets[operation].take():
            return self._throttle(operation)
        statuses = self.faults.statuses.get(operation)
        if statuses:
            status = statuses.pop(0)
            return error(status, "InternalFailure" if status == 500 else "ServiceUnavailable",
                         "We encountered an internal error. Please try again.")
        return None

    def _throttle(self, operation: str) -> Reply:
        self.throttled[operation] = self.throttled.get(operation, 0) + 1
        return error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")

    def rate_header(self, operation: str) -> dict[str, str]:
        rate = USAGE_PLANS.get(operation)
        return {"x-amzn-RateLimit-Limit": str(rate[0])} if rate else {}

    def url(self, kind: str, document_id: str) -> str:
        expires = int(self.clock.now() + self.config.url_ttl)
        return f"{self.config.base_url}/_documents/{kind}/{document_id}?X-Amz-Expires={expires}"

    # -- Login with Amazon ------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> Reply:
        with self.lock:
            if form.get("grant_type") not in ("refresh_token", "client_credentials"):
                return Reply(400, {"error": "unsupported_grant_type",
                                   "error_description": "The authorization grant type is not supported"})
            if form.get("client_id") != self.config.client_id or form.get("client_secret") != self.config.client_secret:
                return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
            refresh_token = form.get("refresh_token")
            if form.get("grant_type") == "refresh_token" and refresh_token not in self.config.refresh_tokens:
                return Reply(400, {"error": "invalid_grant",
                                   "error_description": "The request has an invalid grant parameter : refresh_token"})
            if form.get("grant_type") == "client_credentials" and not form.get("scope"):
                return Reply(400, {"error": "invalid_scope", "error_description": "A scope is required"})
            access = f"Atza|local-{self._next_id()}"
            self.tokens[access] = self.clock.now() + self.config.token_ttl
            if form.get("grant_type") == "client_credentials":
                self.grantless_scopes[access] = form["scope"]
            return Reply(200, {"access_token": access, "token_type": "bearer", "expires_in": self.config.token_ttl,
                               "refresh_token": form.get("refresh_token", "")})

    # -- Feeds API --------------------------------------------------------------------------------

    def create_feed_document(self, body: Any) -> Reply:
        self._pause(self.config.feed_call_latency_seconds)
        with self.lock:
            if not isinstance(body, dict) or not isinstance(body.get("contentType"), str) or not body["contentType"]:
                return error(400, "InvalidInput", "contentType is required.")
            document_id = f"amzn1.tortuga.4.na.{self._next_id()}"
            self.documents[document_id] = Document(document_id, body["contentType"], self.clock.now())
            return Reply(201, {"feedDocumentId": document_id, "url": self.url("upload", document_id)})

    def upload(self, document_id: str, expires: str | None, content_type: str | None, data: bytes) -> Reply:
        self._pause(self.config.feed_call_latency_seconds)
        with self.lock:
            if self.faults.upload_statuses:
                return _s3_error(self.faults.upload_statuses.pop(0))
            document = self.documents.get(document_id)
            if document is None:
                return error(404, "NoSuchKey", "The specified key does not exist.")
            if not expires or not expires.isdigit() or int(expires) < self.clock.now():
                return error(403, "AccessDenied", "Request has expired.")
            if (content_type or "") != document.content_type:
                return error(403, "SignatureDoesNotMatch",
                             f"Content-Type {content_type!r} differs from the {document.content_type!r} given to "
                             "createFeedDocument.")
            document.data = data
            return Reply(200, None)

    def create_feed(self, body: Any) -> Reply:
        self._pause(self.config.feed_call_latency_seconds)
        with self.lock:
            if self.faults.create_feed_statuses:
                status = self.faults.create_feed_statuses.pop(0)
                return error(status, "InternalFailure" if status == 500 else "ServiceUnavailable",
                             "We encountered an internal error. Please try again.")
            if not isinstance(body, dict):
                return error(400, "InvalidInput", "The request body is not a JSON object.")
            missing = [name for name in ("feedType", "marketplaceIds", "inputFeedDocumentId") if not body.get(name)]
            if missing:
                return error(400, "InvalidInput", f"Missing required field(s): {', '.join(missing)}.")
            marketplaces = body["marketplaceIds"]
            if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= 25:
                return error(400, "InvalidInput", "marketplaceIds must list 1 to 25 marketplace ids.")
            document = self.documents.get(body["inputFeedDocumentId"])
            if document is None or document.data is None:
                return error(400, "InvalidInput", "The inputFeedDocumentId does not name an uploaded document.")
            if body["feedType"] == "JSON_LISTINGS_FEED" and self.config.rate_limits and not self._json_window.take():
                return self._throttle("createFeed")
            feed = Feed(self._next_id(), body["feedType"], list(marketplaces), document.document_id,
                        self.clock.now())
            if self.faults.feed_outcomes:
                feed.outcome = self.faults.feed_outcomes.pop(0)
            self.feeds[feed.feed_id] = feed
            return Reply(202, {"feedId": feed.feed_id})

    def get_feed(self, feed_id: str) -> Reply:
        with self.lock:
            self.advance()
            feed = self.feeds.get(feed_id)
            if feed is None:
                return error(404, "NotFound", f"Feed {feed_id} was not found.")
            return Reply(200, feed.as_model(self.clock))

    def get_feeds(self, query: dict[str, list[str]]) -> Reply:
        with self.lock:
            self.advance()

            def values(name: str) -> list[str]:
                return [v for item in query.get(name, []) for v in item.split(",") if v]

            token = (query.get("nextToken") or [""])[0]
            offset = 0
            if token:
                try:
                    saved = json.loads(base64.urlsafe_b64decode(token.encode()))
                    query, offset = saved["query"], int(saved["offset"])
                except ValueError:
                    return error(400, "InvalidInput", "nextToken is not valid.")
            feed_types = values("feedTypes")
            if not feed_types:
                return error(400, "InvalidInput", "feedTypes is required when nextToken is not given.")
            try:
                page_size = int((query.get("pageSize") or ["10"])[0])
                since = self._parse_time((query.get("createdSince") or [""])[0], self.clock.now() - 90 * 86400)
                until = self._parse_time((query.get("createdUntil") or [""])[0], self.clock.now())
            except ValueError as exc:
                return error(400, "InvalidInput", str(exc))
            if not 1 <= page_size <= 100:
                return error(400, "InvalidInput", "pageSize must be between 1 and 100.")
            marketplaces, statuses = set(values("marketplaceIds")), set(values("processingStatuses"))
            matching = [f for f in self.feeds.values() if f.feed_type in feed_types and since <= f.created <= until
                        and (not marketplaces or marketplaces & set(f.marketplace_ids))
                        and (not statuses or f.status in statuses)]
            page = matching[offset:offset + page_size]
            body: dict[str, Any] = {"feeds": [f.as_model(self.clock) for f in page]}
            if offset + page_size < len(matching):
                body["nextToken"] = base64.urlsafe_b64encode(
                    json.dumps({"query": query, "offset": offset + page_size}).encode()).decode()
            return Reply(200, body)

    @staticmethod
    def _parse_time(value: str | None, default: float) -> float:
        if not value:
            return default
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time.") from None

    def cancel_feed(self, feed_id: str) -> Reply:
        with self.lock:
            self.advance()
            feed = self.feeds.get(feed_id)
            if feed is None:
                return error(404, "NotFound", f"Feed {feed_id} was not found.")
            if feed.status != "IN_QUEUE":
                return error(400, "InvalidInput", f"Feed {feed_id} is {feed.status}: only IN_QUEUE feeds can be "
                             "cancelled.")
            self._finish(feed, "CANCELLED")
            return Reply(200, None)

    def get_feed_document(self, document_id: str) -> Reply:
        with self.lock:
            document = self.documents.get(document_id)
            if document is None:
                return error(404, "NotFound", f"Document {document_id} was not found.")
            body: dict[str, Any] = {"feedDocumentId": document_id, "url": self.url("download", document_id)}
            if document.compressed:
                body["compressionAlgorithm"] = "GZIP"
            return Reply(200, body)

    def download(self, document_id: str, expires: str | None) -> Reply:
        with self.lock:
            document = self.documents.get(document_id)
            if self.faults.download_statuses:
                # S3 answers a failed GET with an XML error page, which a client that does not check
                # the status would take for the document
                return _s3_error(self.faults.download_statuses.pop(0))
            if document is None or document.data is None:
                return error(404, "NoSuchKey", "The specified key does not exist.")
            if not expires or not expires.isdigit() or int(expires) < self.clock.now():
                return error(403, "AccessDenied", "Request has expired.")
            return Reply(200, raw=document.data, content_type=document.content_type)

    # -- asynchronous processing ------------------------------------------------------------------

    def advance(self) -> None:
        """Move feeds along their life cycle, and apply accepted listings submissions, as far as the
        clock allows."""
        with self.lock:
            now = self.clock.now()
            self._apply_due_patches(now)
            if self.config.processing_profile == "realistic":
                self._advance_queue(now)
                return
            for feed in list(self.feeds.values()):
                if feed.status == "IN_QUEUE" and now >= feed.created + self.config.queue_seconds:
                    feed.status = "IN_PROGRESS"
                    feed.started = feed.created + self.config.queue_seconds
                if (feed.status == "IN_PROGRESS" and feed.outcome != "STUCK" and feed.started is not None
                        and now >= feed.started + self.config.processing_seconds):
                    self._process(feed)
            self.reports.advance()

    def _advance_queue(self, now: float) -> None:
        """Amazon processes a seller's product-data feeds one after the other, in order of
        submission; a stuck feed holds up every feed behind it (docs/amazon-behaviours.md, row 8)."""
        free_at = 0.0
        for feed in list(self.feeds.values()):  # in order of creation; the simulator has one seller
            if feed.status in ("DONE", "FATAL", "CANCELLED"):
                free_at = max(free_at, feed.ended or 0.0)
                continue
            if feed.status == "IN_QUEUE":
                start = max(feed.created + self.config.queue_seconds, free_at)
                if now < start:
                    return
                feed.status, feed.started = "IN_PROGRESS", start
                feed.duration = self._realistic_duration(feed)
            if feed.outcome == "STUCK" or feed.started is None or feed.duration is None:
                return
            if now < feed.started + feed.duration:
                return
            self._process(feed, at=feed.started + feed.duration)
            free_at = feed.ended or now

    def _realistic_duration(self, feed: Feed) -> float:
        data = self.documents[feed.input_document_id].data or b""
        try:
            messages = len(json.loads(data).get("messages", []))
        except (ValueError, AttributeError):
            messages = 0
        overhead = random.Random(f"{self.config.seed}-{feed.feed_id}").uniform(*REALISTIC_OVERHEAD_SECONDS)
        return (overhead + messages * REALISTIC_SECONDS_PER_MESSAGE) * self.config.time_scale

    def release_stuck(self) -> None:
        with self.lock:
            for feed in self.feeds.values():
                if feed.outcome == "STUCK":
                    feed.outcome = None

    def _finish(self, feed: Feed, status: str, report: dict[str, Any] | None = None, at: float | None = None) -> None:
        feed.status = status
        feed.ended = self.clock.now() if at is None else at
        if report is not None:
            feed.report = report
            document = Document(f"amzn1.tortuga.4.na.{self._next_id()}", "application/json", self.clock.now(),
                                compressed=True)
            raw = json.dumps(report).encode()
            if self.faults.corrupt_reports:
                self.faults.corrupt_reports -= 1
                raw = b"\x00 this is not a report"
            document.data = gzip.compress(raw, mtime=0)
            self.documents[document.document_id] = document
            feed.result_document_id = document.document_id
        self._notify(feed)

    def _notify(self, feed: Feed) -> None:
        if self.notify is None:
            return
        payload: dict[str, Any] = {"sellerId": self.config.seller_id, "accountId": self.config.seller_id,
                                   "feedId": feed.feed_id, "feedType": feed.feed_type,
                                   "processingStatus": feed.status}
        if feed.result_document_id:
            payload["resultFeedDocumentId"] = feed.result_document_id
        notification = {
            "notificationVersion": "2020-09-04", "notificationType": "FEED_PROCESSING_FINISHED",
            "payloadVersion": "2020-09-04", "eventTime": self.clock.iso(),
            "payload": {"feedProcessingFinishedNotification": payload},
            "notificationMetadata": {"applicationId": self.config.application_id,
                                     "subscriptionId": "local-subscription", "publishTime": self.clock.iso(),
                                     "notificationId": f"local-notification-{self._next_id()}"},
        }
        for _ in range(2 if self.faults.duplicate_notifications else 1):
            self.notifications.append(notification)
            self.notify(notification)

    def _process(self, feed: Feed, at: float | None = None) -> None:
        if feed.outcome == "CANCELLED":
            self._finish(feed, "CANCELLED", at=at)
            return
        header = {"sellerId": self.config.seller_id, "version": "2.0", "feedId": feed.feed_id}
        document = self.documents[feed.input_document_id]
        problem, parsed = self._parse_feed(document.data or b"")
        if feed.outcome == "FATAL" and problem is None:
            problem = "Amazon could not process this feed (injected FATAL)."
        if feed.outcome == "FATAL_APPLIED" and problem is None and parsed is not None:
            for message in parsed["messages"]:
                self._apply_message(message, feed.marketplace_ids[0], feed.feed_id)
            problem = "Amazon stopped processing this feed (injected FATAL after applying its messages)."
        if problem is not None or parsed is None:
            summary = {"errors": 1, "warnings": 0, "messagesProcessed": 0, "messagesAccepted": 0,
                       "messagesInvalid": 0}
            self._finish(feed, "FATAL", {"header": header, "issues": [
                {"code": CODE_FATAL, "severity": "ERROR", "message": problem or "FATAL"}], "summary": summary}, at)
            return
        issues: list[dict[str, Any]] = []
        accepted = invalid = 0
        marketplace = feed.marketplace_ids[0]
        messages = parsed["messages"]
        if self.faults.partial_processing is not None:
            # DONE, but only the first N messages were processed: the report's summary says so
            messages, self.faults.partial_processing = messages[:self.faults.partial_processing], None
        for message in messages:
            found = self._apply_message(message, marketplace, feed.feed_id)
            issues.extend(found)
            if any(issue["severity"] == "ERROR" for issue in found):
                invalid += 1
            else:
                accepted += 1
        summary = {"errors": sum(i["severity"] == "ERROR" for i in issues),
                   "warnings": sum(i["severity"] == "WARNING" for i in issues),
                   "messagesProcessed": len(messages), "messagesAccepted": accepted,
                   "messagesInvalid": invalid}
        self._finish(feed, "DONE", {"header": header, "issues": issues, "summary": summary}, at)

    def _parse_feed(self, data: bytes) -> tuple[str | None, dict[str, Any] | None]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"The feed document is not UTF-8: {exc}.", None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            return f"The feed document is not valid JSON: {exc}.", None
        if self._validator is None:
            import jsonschema

            self._validator = jsonschema.Draft7Validator(_load_schema())
        checked = parsed
        limit = self.config.validate_messages
        if limit is not None and isinstance(parsed, dict) and isinstance(parsed.get("messages"), list):
            checked = {**parsed, "messages": parsed["messages"][:limit]}
        errors = sorted(self._validator.iter_errors(checked), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "document"
            return f"The feed document does not match the JSON_LISTINGS_FEED schema at {where}: " \
                   f"{errors[0].message}", None
        if parsed["header"]["sellerId"] != self.config.seller_id:
            return f"sellerId {parsed['header']['sellerId']} is not the seller that submitted the feed.", None
        return None, parsed

    # -- listings ---------------------------------------------------------------------------------

    def _apply_message(self, message: dict[str, Any], marketplace: str, source: str) -> list[dict[str, Any]]:
        sku = message["sku"]

        def issue(code: str, text: str, severity: str = "ERROR", attribute: str | None = None) -> dict[str, Any]:
            found: dict[str, Any] = {"messageId": message["messageId"], "sku": sku, "code": code,
                                     "severity": severity, "message": text}
            if attribute:
                found["attributeName"] = attribute
            return found

        if sku in self.faults.sku_errors:
            injected = self.faults.sku_errors[sku]
            return [issue(injected.get("code", CODE_BAD_VALUE), injected.get("message", "Rejected (injected)."),
                          attribute=injected.get("attributeName"))]
        warnings = []
        injected_warning = self.faults.sku_warnings.get(sku, self.faults.warn_every_message)
        if injected_warning is not None:
            injected = injected_warning
            warnings.append(issue(injected.get("code", "18448"), injected.get("message", "Warning (injected)."),
                                  "WARNING", injected.get("attributeName")))
        listing = self.listings.get(sku)
        operation = message["operationType"]
        if operation == "DELETE":
            self.listings.pop(sku, None)
            return warnings
        if listing is None:
            # Amazon accepts an offer for a SKU it has no listing for, and keeps an incomplete,
            # unbuyable listing of it (docs #3748): no error, in the report or anywhere else.
            candidate = Listing(sku, message.get("productType", "PRODUCT"), marketplaces=set(),
                                created=self.clock.now())
        else:
            candidate = copy.deepcopy(listing)
        if not candidate.complete_in(marketplace):
            candidate.incomplete.add(marketplace)
        patches: list[Any]
        if operation == "PATCH":
            patches = message.get("patches", [])
        else:
            if operation == "UPDATE":
                candidate.attributes = {}
            patches = [{"op": "replace", "path": f"/attributes/{name}", "value": value}
                       for name, value in message.get("attributes", {}).items()]
        problems = [issue(p.code, p.message, attribute=p.attribute) for p in apply_patches(candidate, patches,
                                                                                           marketplace)]
        refused = self.faults.attribute_errors.get(sku)
        if refused and any(str(p.get("path", "")).endswith("/" + refused.get("attributeName", ""))
                           for p in patches if isinstance(p, dict)):
            problems.append(issue(refused.get("code", CODE_BAD_VALUE), refused.get("message", "Rejected (injected)."),
                                  attribute=refused.get("attributeName")))
        if problems:
            return problems + warnings  # an INVALID message applies none of its patches
        candidate.history.append({"at": self.clock.now(), "source": source, "quantity": candidate.quantity(),
                                  "price": candidate.price(marketplace), "marketplaceId": marketplace})
        self.listings[sku] = candidate
        return warnings

    def patch_listing(self, seller_id: str, sku: str, marketplace_ids: list[str], body: Any,
                      mode: str | None = None) -> Reply:
        """patchListingsItem: validated now by the same code that applies feed messages; ACCEPTED means
        queued (applied after ``listing_apply_seconds``), VALID only with mode=VALIDATION_PREVIEW."""
        self._pause(self.config.patch_latency_seconds)
        with self.lock:
            if self.faults.patch_statuses:
                status = self.faults.patch_statuses.pop(0)
                return error(status, "InternalFailure" if status == 500 else "ServiceUnavailable",
                             "We encountered an internal error. Please try again.")
            if seller_id != self.config.seller_id:
                return error(403, "Unauthorized", "Access to requested resource is denied.",
                             f"sellerId {seller_id} is not the authorised seller.")
            if not marketplace_ids:
                return error(400, "InvalidInput", "marketplaceIds is required.")
            if mode not in (None, "VALIDATION_PREVIEW"):
                return error(400, "InvalidInput", f"mode '{mode}' is not one of [VALIDATION_PREVIEW].")
            if (not isinstance(body, dict) or not body.get("productType") or not isinstance(body.get("patches"), list)
                    or not body["patches"]):
                return error(400, "InvalidInput", "productType and at least one patch are required.")
            message = {"messageId": 1, "sku": sku, "operationType": "PATCH", "productType": body["productType"],
                       "patches": body["patches"]}
            found = self._preview_message(message, marketplace_ids[0])
            listing_issues = [{"code": i["code"], "message": i["message"], "severity": i["severity"],
                               "categories": [], **({"attributeNames": [i["attributeName"]]}
                                                    if "attributeName" in i else {})} for i in found]
            invalid = any(i["severity"] == "ERROR" for i in found)
            if mode == "VALIDATION_PREVIEW":
                verdict = "INVALID" if invalid else "VALID"
            elif invalid:
                verdict = "INVALID"
            else:
                verdict = "ACCEPTED"
                self._queue_patch(message, marketplace_ids[0])
            submission_id = f"sub-{self._next_id()}"
            self.listing_submissions.append({"sku": sku, "marketplace_id": marketplace_ids[0], "status": verdict,
                                             "at": self.clock.now(), "submission_id": submission_id,
                                             "patches": body["patches"]})
            return Reply(200, {"sku": sku, "status": verdict, "submissionId": submission_id,
                               "issues": listing_issues})

    def _pause(self, seconds: float) -> None:
        """A call's own duration: simulated time on a manual clock, real time otherwise."""
        if seconds <= 0:
            return
        if self.clock.manual:
            self.clock.advance(seconds)
        else:
            time.sleep(seconds)

    def _preview_message(self, message: dict[str, Any], marketplace: str) -> list[dict[str, Any]]:
        """The issues applying ``message`` would raise, found by the feed path's own apply code run on a
        scratch copy of the listing: nothing is changed."""
        sku = message["sku"]
        saved = self.listings
        self.listings = {sku: copy.deepcopy(saved[sku])} if sku in saved else {}
        try:
            return self._apply_message(message, marketplace, "validation")
        finally:
            self.listings = saved

    def _queue_patch(self, message: dict[str, Any], marketplace: str) -> None:
        low, high = self.config.listing_apply_seconds
        due = max(self.clock.now() + self._random.uniform(low, high), self._patch_due.get(message["sku"], 0.0))
        self._patch_due[message["sku"]] = due  # one SKU's submissions apply in the order they were accepted
        self.pending_patches.append((due, next(self._requests), message, marketplace))
        self.pending_patches.sort(key=lambda item: (item[0], item[1]))

    def _apply_due_patches(self, now: float) -> None:
        while self.pending_patches and self.pending_patches[0][0] <= now:
            _, _, message, marketplace = self.pending_patches.pop(0)
            found = self._apply_message(message, marketplace, "patchListingsItem")
            errors = [i for i in found if i["severity"] == "ERROR"]
            if errors:  # "issues can occur during asynchronous processing after acceptance"
                self.listing_issues.setdefault(message["sku"], []).extend(errors)

    def get_listing(self, seller_id: str, sku: str, marketplace_ids: list[str]) -> Reply:
        with self.lock:
            listing = self.listings.get(sku)
            marketplace = (marketplace_ids or [""])[0]
            if seller_id != self.config.seller_id or listing is None or not listing.present_in(marketplace):
                return error(404, "NotFound", f"SKU '{sku}' was not found.")
            attributes = copy.deepcopy(listing.attributes)
            if "purchasable_offer" in attributes:  # offers are per marketplace; inventory is not
                attributes["purchasable_offer"] = [o for o in attributes["purchasable_offer"]
                                                   if o.get("marketplace_id") == marketplace]
            stamp = self.clock.iso(listing.created or None)
            body: dict[str, Any] = {"sku": sku, "summaries": listing.summaries(marketplace, stamp, self.clock.iso()),
                                    "attributes": {k: v for k, v in attributes.items() if v},
                                    "issues": [],
                                    "fulfillmentAvailability": [
                                        {"fulfillmentChannelCode": e["fulfillment_channel_code"],
                                         **({"quantity": e["quantity"]} if "quantity" in e else {})}
                                        for e in listing.attributes.get("fulfillment_availability", [])]}
            offer = listing.offer(marketplace)
            price = listing.price(marketplace)
            if offer and price is not None:
                body["offers"] = [{"marketplaceId": marketplace, "offerType": "B2C",
                                   "price": {"currencyCode": offer.get("currency", ""), "amount": str(price)}}]
            return Reply(200, body)

    # -- inspection and control (not Amazon's API) ------------------------------------------------

    def add_listing(self, sku: str, product_type: str = "PRODUCT", *, marketplace_ids: list[str] | None = None,
                    fulfillment: str | None = None, attributes: dict[str, Any] | None = None) -> Listing:
        """A listing the seller created with its product data (in every marketplace, or those named).
        ``fulfillment`` = an Amazon channel such as AMAZON_EU makes it fulfilled by Amazon (AFN);
        ``attributes`` are stored as given (e.g. a running sale). An existing listing gets the
        given attributes and keeps the rest."""
        with self.lock:
            listing = self.listings.get(sku)
            if listing is None:
                listing = self.listings[sku] = Listing(sku, product_type, created=self.clock.now())
            if marketplace_ids is not None:
                listing.marketplaces = set(marketplace_ids)
                listing.incomplete -= listing.marketplaces
            if fulfillment is not None:
                listing.attributes["fulfillment_availability"] = [{"fulfillment_channel_code": fulfillment}]
            listing.attributes.update(copy.deepcopy(attributes or {}))
            return listing

    def set_faults(self, changes: dict[str, Any]) -> Faults:
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self.faults, name, value)
            return self.faults
