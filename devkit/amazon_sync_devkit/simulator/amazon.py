"""The simulated Amazon: state and behaviour, independent of HTTP.

Every public method returns a ``Reply`` (status, JSON body or bytes, headers) shaped like Amazon's.
"""

from __future__ import annotations

import base64
import copy
import gzip
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field

from amazon_sync_devkit.simulator.clock import Clock, SlidingWindow, TokenBucket

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
}
JSON_FEED_WINDOW = (5, 300.0)  # JSON_LISTINGS_FEED: 5 submissions per 5 minutes

# Issue codes the simulator reports; Amazon's own codes for the same situations are numeric too.
CODE_UNKNOWN_SKU = "8541"
CODE_BAD_VALUE = "99022"
CODE_MARKETPLACE = "90244"
CODE_UNSUPPORTED = "4000001"
CODE_FATAL = "90000"


class SimulatorConfig(BaseModel):
    client_id: str = "amzn1.application-oa2-client.local"
    client_secret: str = "local-secret"  # noqa: S105 (a simulator's fixed credential, not a secret)
    refresh_tokens: list[str] = Field(default_factory=lambda: ["Atzr|local-refresh-token"])
    seller_id: str = "A1LOCALSELLER"
    application_id: str = "amzn1.sp.solution.local"
    accept_any_sku: bool = True
    rate_limits: bool = True
    queue_seconds: float = 1.0
    processing_seconds: float = 2.0
    token_ttl: int = 3600
    url_ttl: int = 300
    base_url: str = "http://127.0.0.1:0"
    notification_queue_url: str | None = None
    # Validating every message of a 25,000-message feed with jsonschema takes Amazon-like minutes;
    # benchmarks, which measure our side, may validate the header and a sample of messages only.
    validate_messages: int | None = None


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
class Listing:
    sku: str
    product_type: str = "PRODUCT"
    attributes: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def quantity(self) -> int | None:
        for entry in self.attributes.get("fulfillment_availability", []):
            if entry.get("fulfillment_channel_code") == "DEFAULT":
                quantity = entry.get("quantity")
                return quantity if isinstance(quantity, int) else None
        return None

    def offer(self, marketplace_id: str) -> dict[str, Any] | None:
        for entry in self.attributes.get("purchasable_offer", []):
            if entry.get("marketplace_id") == marketplace_id:
                return dict(entry)
        return None

    def price(self, marketplace_id: str) -> float | None:
        offer = self.offer(marketplace_id)
        try:
            return float(offer["our_price"][0]["schedule"][0]["value_with_tax"]) if offer else None
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def snapshot(self) -> dict[str, Any]:
        return {"sku": self.sku, "productType": self.product_type, "attributes": copy.deepcopy(self.attributes),
                "quantity": self.quantity(), "history": list(self.history)}


@dataclass
class Faults:
    create_feed_statuses: list[int] = field(default_factory=list)  # next createFeed answers, e.g. [503, 500]
    throttle: dict[str, int] = field(default_factory=dict)  # operation -> next N calls get 429
    # next feeds end FATAL / CANCELLED / STUCK, or FATAL_APPLIED: FATAL after applying every message,
    # as Amazon warns it may ("some, none or all may have been applied")
    feed_outcomes: list[str] = field(default_factory=list)
    sku_errors: dict[str, dict[str, str]] = field(default_factory=dict)  # sku -> issue fields
    sku_warnings: dict[str, dict[str, str]] = field(default_factory=dict)
    corrupt_reports: int = 0  # next N reports are unreadable
    partial_processing: int | None = None  # the next DONE feed processes only its first N messages
    duplicate_notifications: bool = False


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
        with self.lock:
            if not isinstance(body, dict) or not isinstance(body.get("contentType"), str) or not body["contentType"]:
                return error(400, "InvalidInput", "contentType is required.")
            document_id = f"amzn1.tortuga.4.na.{self._next_id()}"
            self.documents[document_id] = Document(document_id, body["contentType"], self.clock.now())
            return Reply(201, {"feedDocumentId": document_id, "url": self.url("upload", document_id)})

    def upload(self, document_id: str, expires: str | None, content_type: str | None, data: bytes) -> Reply:
        with self.lock:
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
            if document is None or document.data is None:
                return error(404, "NoSuchKey", "The specified key does not exist.")
            if not expires or not expires.isdigit() or int(expires) < self.clock.now():
                return error(403, "AccessDenied", "Request has expired.")
            return Reply(200, raw=document.data, content_type=document.content_type)

    # -- asynchronous processing ------------------------------------------------------------------

    def advance(self) -> None:
        """Move feeds along their life cycle as far as the clock allows."""
        with self.lock:
            now = self.clock.now()
            for feed in list(self.feeds.values()):
                if feed.status == "IN_QUEUE" and now >= feed.created + self.config.queue_seconds:
                    feed.status = "IN_PROGRESS"
                    feed.started = feed.created + self.config.queue_seconds
                if (feed.status == "IN_PROGRESS" and feed.outcome != "STUCK" and feed.started is not None
                        and now >= feed.started + self.config.processing_seconds):
                    self._process(feed)

    def release_stuck(self) -> None:
        with self.lock:
            for feed in self.feeds.values():
                if feed.outcome == "STUCK":
                    feed.outcome = None

    def _finish(self, feed: Feed, status: str, report: dict[str, Any] | None = None) -> None:
        feed.status = status
        feed.ended = self.clock.now()
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

    def _process(self, feed: Feed) -> None:
        if feed.outcome == "CANCELLED":
            self._finish(feed, "CANCELLED")
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
                {"code": CODE_FATAL, "severity": "ERROR", "message": problem or "FATAL"}], "summary": summary})
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
        self._finish(feed, "DONE", {"header": header, "issues": issues, "summary": summary})

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
        if sku in self.faults.sku_warnings:
            injected = self.faults.sku_warnings[sku]
            warnings.append(issue(injected.get("code", "18448"), injected.get("message", "Warning (injected)."),
                                  "WARNING", injected.get("attributeName")))
        listing = self.listings.get(sku)
        operation = message["operationType"]
        if listing is None and not self.config.accept_any_sku and operation != "UPDATE":
            return [issue(CODE_UNKNOWN_SKU, f"The SKU '{sku}' does not match any listing for this seller.")]
        if operation == "DELETE":
            self.listings.pop(sku, None)
            return warnings
        candidate = Listing(sku, message.get("productType", "PRODUCT")) if listing is None else copy.deepcopy(listing)
        patches: list[dict[str, Any]]
        if operation == "PATCH":
            patches = message.get("patches", [])
        else:
            if operation == "UPDATE":
                candidate.attributes = {}
            patches = [{"op": "replace", "path": f"/attributes/{name}", "value": value}
                       for name, value in message.get("attributes", {}).items()]
        problems: list[dict[str, Any]] = []
        for patch in patches:
            problems.extend(self._apply_patch(candidate, patch, marketplace, issue))
        if problems:
            return problems + warnings
        candidate.history.append({"at": self.clock.now(), "source": source, "quantity": candidate.quantity(),
                                  "price": candidate.price(marketplace), "marketplaceId": marketplace})
        self.listings[sku] = candidate
        return warnings

    def _apply_patch(self, listing: Listing, patch: dict[str, Any], marketplace: str,
                     issue: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
        path = patch.get("path", "")
        if not path.startswith("/attributes/") or path.count("/") != 2:
            return [issue(CODE_UNSUPPORTED, f"The patch path '{path}' is not supported.")]
        name = path.split("/")[2]
        op = patch["op"]
        if op == "delete":
            listing.attributes.pop(name, None)
            return []
        value = patch.get("value")
        if not isinstance(value, list) or not value:
            return [issue(CODE_BAD_VALUE, f"The value of '{name}' must be a non-empty array.", attribute=name)]
        checker = {"fulfillment_availability": self._check_availability,
                   "purchasable_offer": self._check_offer}.get(name)
        if checker is not None:
            problems = [issue(CODE_MARKETPLACE if "marketplace" in text else CODE_BAD_VALUE, text, attribute=attr)
                        for attr, text in checker(value, marketplace)]
            if problems:
                return problems
        current = listing.attributes.get(name, [])
        if op == "merge":
            listing.attributes[name] = self._merge_entries(current, value, name)
        else:
            # replace is scoped like Amazon's: per channel, or per marketplace/currency/audience
            replaced = {self._entry_key(entry, name) for entry in value}
            kept = [e for e in current if self._entry_key(e, name) not in replaced]
            listing.attributes[name] = kept + copy.deepcopy(value)
        return []

    @staticmethod
    def _entry_key(entry: dict[str, Any], name: str) -> Any:
        if name == "fulfillment_availability":
            return entry.get("fulfillment_channel_code")
        if name == "purchasable_offer":
            return (entry.get("marketplace_id"), entry.get("currency"), entry.get("audience", "ALL"))
        return entry.get("marketplace_id")

    def _merge_entries(self, current: list[dict[str, Any]], new: list[dict[str, Any]], name: str) -> list[Any]:
        merged = {self._entry_key(e, name): dict(e) for e in current}
        for entry in new:
            merged.setdefault(self._entry_key(entry, name), {}).update(copy.deepcopy(entry))
        return list(merged.values())

    @staticmethod
    def _check_availability(entries: list[Any], marketplace: str) -> list[tuple[str, str]]:
        problems = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("fulfillment_channel_code"), str):
                problems.append(("fulfillment_availability.fulfillment_channel_code",
                                 "'fulfillment_channel_code' is required but not supplied."))
                continue
            quantity = entry.get("quantity")
            if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0):
                problems.append(("fulfillment_availability.quantity",
                                 f"The value '{quantity}' for 'quantity' is not a whole number of 0 or more."))
            lead = entry.get("lead_time_to_ship_max_days")
            if lead is not None and (not isinstance(lead, int) or not 0 <= lead <= 30):
                problems.append(("fulfillment_availability.lead_time_to_ship_max_days",
                                 f"The value '{lead}' for 'lead_time_to_ship_max_days' must be 0 to 30."))
        return problems

    @staticmethod
    def _check_offer(entries: list[Any], marketplace: str) -> list[tuple[str, str]]:
        problems = []
        for entry in entries:
            if not isinstance(entry, dict):
                problems.append(("purchasable_offer", "Each 'purchasable_offer' value must be an object."))
                continue
            if entry.get("marketplace_id") != marketplace:
                problems.append(("purchasable_offer.marketplace_id",
                                 f"The marketplace_id '{entry.get('marketplace_id')}' is not the feed's "
                                 f"marketplace '{marketplace}'."))
            if not isinstance(entry.get("currency"), str):
                problems.append(("purchasable_offer.currency", "'currency' is required but not supplied."))
            for price_name in ("our_price", "discounted_price"):
                prices = entry.get(price_name)
                if prices is None and price_name == "discounted_price":
                    continue
                try:
                    schedule = prices[0]["schedule"]  # type: ignore[index]
                    if not schedule:
                        raise KeyError("schedule")
                    for item in schedule:
                        amount = float(item["value_with_tax"])
                        if amount <= 0:
                            raise ValueError(amount)
                except (KeyError, IndexError, TypeError, ValueError):
                    problems.append((f"purchasable_offer.{price_name}",
                                     f"The field 'value_with_tax' for the attribute 'purchasable_offer.{price_name}' "
                                     "is missing or not a positive amount."))
        return problems

    def patch_listing(self, seller_id: str, sku: str, marketplace_ids: list[str], body: Any) -> Reply:
        with self.lock:
            if seller_id != self.config.seller_id:
                return error(403, "Unauthorized", "Access to requested resource is denied.",
                             f"sellerId {seller_id} is not the authorised seller.")
            if not marketplace_ids:
                return error(400, "InvalidInput", "marketplaceIds is required.")
            if not isinstance(body, dict) or not body.get("productType") or not isinstance(body.get("patches"), list):
                return error(400, "InvalidInput", "productType and patches are required.")
            message = {"messageId": 1, "sku": sku, "operationType": "PATCH", "productType": body["productType"],
                       "patches": body["patches"]}
            found = self._apply_message(message, marketplace_ids[0], "patchListingsItem")
            listing_issues = [{"code": i["code"], "message": i["message"], "severity": i["severity"],
                               "categories": [], **({"attributeNames": [i["attributeName"]]}
                                                    if "attributeName" in i else {})} for i in found]
            status = "INVALID" if any(i["severity"] == "ERROR" for i in found) else "ACCEPTED"
            return Reply(200, {"sku": sku, "status": status, "submissionId": f"sub-{self._next_id()}",
                               "issues": listing_issues})

    def get_listing(self, seller_id: str, sku: str, marketplace_ids: list[str]) -> Reply:
        with self.lock:
            listing = self.listings.get(sku)
            if seller_id != self.config.seller_id or listing is None:
                return error(404, "NotFound", f"SKU '{sku}' was not found.")
            marketplace = (marketplace_ids or [""])[0]
            body: dict[str, Any] = {"sku": sku, "attributes": copy.deepcopy(listing.attributes),
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

    def add_listing(self, sku: str, product_type: str = "PRODUCT") -> None:
        with self.lock:
            self.listings.setdefault(sku, Listing(sku, product_type))

    def set_faults(self, changes: dict[str, Any]) -> Faults:
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self.faults, name, value)
            return self.faults
