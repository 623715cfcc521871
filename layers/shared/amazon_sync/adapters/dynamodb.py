"""Sync state in one DynamoDB table: the exporter's lease, batches, feeds in flight, SKU errors, runs.

Items are keyed by ``pk``/``sk``. A sparse index (``gsi1pk``/``gsi1sk``) lists the feeds in flight
and the SKU errors without a scan: an item is in it only while it has those attributes.

boto3 is imported by the StateStore that needs it, not with the records: a module that only reads
or builds a record (the handlers' event models, the CLI's help) does not pay for the AWS SDK.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from boto3.dynamodb.conditions import Attr, Key
    from botocore.exceptions import ClientError

# RELEASED: an ATTENTION feed whose rows an operator (or the automatic release) sent back to the queue.
FeedState = Literal["SUBMITTING", "IN_FLIGHT", "DONE", "FATAL", "CANCELLED", "ABANDONED", "ATTENTION", "RELEASED"]
BatchState = Literal["BUILDING", "SUBMITTED", "SETTLED", "ABANDONED"]
INFLIGHT = "INFLIGHT"
ATTENTION = "ATTENTION"
ERRORS = "ERRORS"
FEED_RECORD_DAYS = 30


class FeedRecord(BaseModel):
    intent_id: str
    batch_id: int
    marketplace_id: str
    status: FeedState = "SUBMITTING"
    lane: Literal["feed", "listings"] = "feed"  # listings: the express lane's patchListingsItem calls
    feed_id: str | None = None
    document_key: str
    manifest_key: str
    message_count: int
    # What identifies this document, written down before createFeed: its SHA-256 when the intent is
    # recorded, Amazon's feedDocumentId once the upload succeeded. An intent with a hash and no
    # document id never reached createFeed (see services/recovery.py).
    content_sha256: str | None = None
    feed_document_id: str | None = None
    created_at: float
    submitted_at: float | None = None
    finished_at: float | None = None
    processing_status: str | None = None
    report_key: str | None = None
    results_key: str | None = None
    accepted: int = 0
    rejected: int = 0
    warnings: int = 0
    attention: str | None = None
    attention_at: float | None = None
    # the processing report's download: failures so far, when the next try is due, the last reason
    download_attempts: int = 0
    next_download_at: float | None = None
    download_error: str | None = None
    download_lease_until: float | None = None  # one run downloads at a time (a poll and a notification race)
    issues_recorded: int = 0  # messages whose report issues are recorded: a run cut short continues there

    @property
    def in_flight(self) -> bool:
        return self.status in ("SUBMITTING", "IN_FLIGHT")


class BatchRecord(BaseModel):
    batch_id: int
    status: BatchState = "BUILDING"
    created_at: float
    claim_expires_at: float
    mode: str = "incremental"
    feed_intents: list[str] = Field(default_factory=list)
    manifest_key: str | None = None
    settled_at: float | None = None
    interrupted: bool = False  # the run died before it wrote down what it did not send


class SkuError(BaseModel):
    marketplace_id: str
    sku: str
    code: str
    message: str
    severity: str = "ERROR"
    attribute: str | None = None
    feed_id: str | None = None
    first_seen: float
    last_seen: float
    occurrences: int = 1


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {k: v for k, v in values.items() if v is not None}
    item: dict[str, Any] = json.loads(json.dumps(cleaned), parse_float=Decimal)
    return item


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in item.items()}


def _load_sdk() -> Any:
    """boto3, with the names the store's methods use (Attr, Key, ClientError) bound in this module:
    a StateStore is built before any of its methods runs."""
    import boto3
    from boto3.dynamodb.conditions import Attr, Key
    from botocore.exceptions import ClientError

    globals().update(Attr=Attr, Key=Key, ClientError=ClientError)
    return boto3


class StateStore:
    def __init__(self, table_name: str, resource: Any = None) -> None:
        self.table_name = table_name
        boto3 = _load_sdk()
        self.resource: Any = resource or boto3.resource("dynamodb")
        self.table: Any = self.resource.Table(table_name)

    # -- the exporter's lease ---------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        try:
            self.table.put_item(
                Item=_to_item({"pk": f"LEASE#{name}", "sk": "LEASE", "owner": owner, "expires_at": now + ttl_seconds,
                               "acquired_at": now}),
                ConditionExpression=Attr("pk").not_exists() | Attr("expires_at").lt(Decimal(str(now))))
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def renew_lease(self, name: str, owner: str, ttl_seconds: float, now: float | None = None) -> bool:
        """Extend the lease, only if ``owner`` still holds it (and it has not expired): False otherwise."""
        now = time.time() if now is None else now
        try:
            self.table.update_item(
                Key={"pk": f"LEASE#{name}", "sk": "LEASE"}, UpdateExpression="SET expires_at = :expires",
                ConditionExpression=Attr("owner").eq(owner) & Attr("expires_at").gte(Decimal(str(now))),
                ExpressionAttributeValues={":expires": Decimal(str(now + ttl_seconds))})
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def lease_holder(self, name: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"LEASE#{name}", "sk": "LEASE"}).get("Item")
        return _from_item(item) if item else None

    def release_lease(self, name: str, owner: str) -> None:
        try:
            self.table.delete_item(Key={"pk": f"LEASE#{name}", "sk": "LEASE"},
                                   ConditionExpression=Attr("owner").eq(owner))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- batches ----------------------------------------------------------------------------------

    def next_batch_id(self) -> int:
        """A never-reused batch number (an atomic counter): two runs can never share a batch."""
        result = self.table.update_item(Key={"pk": "SEQUENCE#batch", "sk": "SEQUENCE"},
                                        UpdateExpression="ADD next_value :one",
                                        ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")
        return int(result["Attributes"]["next_value"])

    def create_batch(self, batch: BatchRecord) -> None:
        self.table.put_item(Item=_to_item({"pk": f"BATCH#{batch.batch_id}", "sk": "BATCH", **batch.model_dump()}),
                            ConditionExpression=Attr("pk").not_exists())

    def put_batch(self, batch: BatchRecord) -> None:
        self.table.put_item(Item=_to_item({"pk": f"BATCH#{batch.batch_id}", "sk": "BATCH", **batch.model_dump()}))

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        item = self.table.get_item(Key={"pk": f"BATCH#{batch_id}", "sk": "BATCH"}).get("Item")
        return BatchRecord.model_validate(_from_item(item)) if item else None

    # -- feeds ------------------------------------------------------------------------------------

    def save_feed(self, feed: FeedRecord, expected_status: FeedState | None = None) -> bool:
        """Write the whole record; with ``expected_status``, only if nobody moved it on meanwhile."""
        try:
            if expected_status is None:
                self.table.put_item(Item=self._feed_item(feed))
            else:
                self.table.put_item(Item=self._feed_item(feed), ConditionExpression=Attr("status").eq(expected_status))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        if feed.feed_id:
            self.table.put_item(Item={"pk": f"FEEDID#{feed.feed_id}", "sk": "FEEDID", "intent_id": feed.intent_id})
        return True

    def _feed_item(self, feed: FeedRecord) -> dict[str, Any]:
        values: dict[str, Any] = {"pk": f"FEED#{feed.intent_id}", "sk": "FEED", **feed.model_dump()}
        if feed.in_flight:
            values["gsi1pk"] = INFLIGHT
            values["gsi1sk"] = f"{feed.created_at:017.6f}#{feed.intent_id}"
        elif feed.status == "ATTENTION":
            # kept (no expiry) and listed until someone releases it
            values["gsi1pk"] = ATTENTION
            values["gsi1sk"] = f"{feed.created_at:017.6f}#{feed.intent_id}"
        elif feed.finished_at:
            values["expires_at_ttl"] = int(feed.finished_at + FEED_RECORD_DAYS * 86400)
        return _to_item(values)

    def get_feed(self, intent_id: str) -> FeedRecord | None:
        item = self.table.get_item(Key={"pk": f"FEED#{intent_id}", "sk": "FEED"}).get("Item")
        return FeedRecord.model_validate(_from_item(item)) if item else None

    def intent_for_feed_id(self, feed_id: str) -> str | None:
        item = self.table.get_item(Key={"pk": f"FEEDID#{feed_id}", "sk": "FEEDID"}).get("Item")
        return str(item["intent_id"]) if item else None

    def feeds_in_flight(self, limit: int = 1000) -> list[FeedRecord]:
        """Oldest first, through the sparse index: never a table scan."""
        return [f for f in self._indexed_feeds(INFLIGHT, limit) if f.in_flight]

    def feeds_needing_attention(self, limit: int = 1000) -> list[FeedRecord]:
        return [f for f in self._indexed_feeds(ATTENTION, limit) if f.status == "ATTENTION"]

    def _indexed_feeds(self, partition: str, limit: int) -> list[FeedRecord]:
        records: list[FeedRecord] = []
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": Key("gsi1pk").eq(partition)}
        while len(records) < limit:
            page = self.table.query(**kwargs)
            records.extend(FeedRecord.model_validate(_from_item(item)) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records[:limit]

    def claim_download(self, feed: FeedRecord, now: float, seconds: float) -> bool:
        """Take the right to download a feed's report; False while another run holds it."""
        try:
            self.table.update_item(
                Key={"pk": f"FEED#{feed.intent_id}", "sk": "FEED"},
                UpdateExpression="SET download_lease_until = :until",
                ConditionExpression=Attr("status").eq("IN_FLIGHT") & (
                    Attr("download_lease_until").not_exists() | Attr("download_lease_until").lt(Decimal(str(now)))),
                ExpressionAttributeValues={":until": Decimal(str(now + seconds))})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        feed.download_lease_until = now + seconds
        return True

    # -- pacing Amazon's per-account rate limits across runs --------------------------------------

    def take_token(self, name: str, rate: float, burst: int, now: float) -> bool:
        """A token bucket kept in the table, shared by every run: False when the rate is used up."""
        key = {"pk": f"BUCKET#{name}", "sk": "BUCKET"}
        for _ in range(5):
            item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
            tokens = float(burst) if item is None else min(
                float(burst), float(item["tokens"]) + max(0.0, now - float(item["at"])) * rate)  # clocks differ
            if tokens < 1:
                return False
            condition = Attr("pk").not_exists() if item is None else Attr("at").eq(item["at"])
            try:
                self.table.put_item(Item=_to_item({**key, "tokens": tokens - 1, "at": now}),
                                    ConditionExpression=condition)
                return True
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return False

    # -- submissions budget (JSON_LISTINGS_FEED: 5 per 5 minutes) ---------------------------------

    def recent_submissions(self, window: float, now: float | None = None) -> list[float]:
        now = time.time() if now is None else now
        item = self.table.get_item(Key={"pk": "SUBMISSIONS", "sk": "SUBMISSIONS"}).get("Item")
        stamps = [float(s) for s in (item or {}).get("stamps", [])]
        return [s for s in stamps if s > now - window]

    def note_submission(self, window: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        stamps = [*self.recent_submissions(window, now), now]
        self.table.put_item(Item=_to_item({"pk": "SUBMISSIONS", "sk": "SUBMISSIONS", "stamps": stamps}))

    # -- SKU errors -------------------------------------------------------------------------------

    def record_sku_error(self, error: SkuError) -> None:
        self.record_sku_errors([error])

    def record_sku_errors(self, errors: list[SkuError]) -> None:
        """Record issues in bulk: existing entries read 100 at a time, written 25 at a time."""
        latest: dict[tuple[str, str], SkuError] = {}
        repeats: dict[tuple[str, str], int] = {}
        for error in errors:  # one entry per SKU, as the table keeps; the last issue wins
            identity = (error.marketplace_id, error.sku)
            repeats[identity] = repeats.get(identity, 0) + 1
            latest[identity] = error
        keys = {identity: {"pk": f"ERROR#{identity[0]}#{identity[1]}", "sk": "ERROR"} for identity in latest}
        existing: dict[str, dict[str, Any]] = {}
        pending = list(keys.values())
        while pending:
            part, pending = pending[:100], pending[100:]
            request: dict[str, Any] = {self.table_name: {"Keys": part}}
            while request:
                answer = self.resource.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.table_name, []):
                    existing[str(item["pk"])] = item
                request = answer.get("UnprocessedKeys") or {}
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
            for identity, newest in latest.items():
                key = keys[identity]
                found = existing.get(key["pk"])
                update: dict[str, Any] = {"occurrences": repeats[identity]}
                if found:
                    update = {"first_seen": float(found["first_seen"]),
                              "occurrences": int(found.get("occurrences", 1)) + repeats[identity]}
                entry = newest.model_copy(update=update)
                writer.put_item(Item=_to_item({**key, **entry.model_dump(), "gsi1pk": ERRORS,
                                               "gsi1sk": f"{entry.last_seen:017.6f}#{entry.marketplace_id}#"
                                                         f"{entry.sku}"}))

    def skus_with_errors(self, marketplace_id: str, skus: list[str]) -> list[str]:
        """Which of these SKUs have an error recorded: keys read 100 at a time, never the whole index."""
        found: list[str] = []
        for start in range(0, len(skus), 100):
            keys = [{"pk": f"ERROR#{marketplace_id}#{sku}", "sk": "ERROR"} for sku in dict.fromkeys(
                skus[start:start + 100])]
            request: dict[str, Any] = {self.table_name: {"Keys": keys, "ProjectionExpression": "sku"}}
            while request:
                answer = self.resource.batch_get_item(RequestItems=request)
                found.extend(str(item["sku"]) for item in answer["Responses"].get(self.table_name, []))
                request = answer.get("UnprocessedKeys") or {}
        return found

    def clear_sku_error(self, marketplace_id: str, sku: str) -> None:
        self.table.delete_item(Key={"pk": f"ERROR#{marketplace_id}#{sku}", "sk": "ERROR"})

    def sku_errors(self, sku: str | None = None, limit: int = 200) -> list[SkuError]:
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": Key("gsi1pk").eq(ERRORS),
                                  "ScanIndexForward": False}
        found: list[SkuError] = []
        while len(found) < limit:
            page = self.table.query(**kwargs)
            for item in page["Items"]:
                if sku is None or item["sku"] == sku:
                    found.append(SkuError.model_validate(_from_item(item)))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    # -- runs -------------------------------------------------------------------------------------

    def record_run(self, kind: str, summary: dict[str, Any]) -> None:
        self.table.put_item(Item=_to_item({"pk": f"RUN#{kind}", "sk": "LAST", "at": time.time(), **summary}))

    def last_run(self, kind: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"RUN#{kind}", "sk": "LAST"}).get("Item")
        return _from_item(item) if item else None

    def record_failure(self, kind: str, reason: str, at: float | None = None) -> None:
        """The last run of ``kind`` that could not do its work, and why (shown by `amazon-sync status`)."""
        self.table.put_item(Item=_to_item({"pk": f"RUN#{kind}", "sk": "FAILURE",
                                           "at": time.time() if at is None else at, "reason": reason[:1000]}))

    def last_failure(self, kind: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"RUN#{kind}", "sk": "FAILURE"}).get("Item")
        return _from_item(item) if item else None
