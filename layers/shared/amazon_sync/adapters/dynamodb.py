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

FeedState = Literal["SUBMITTING", "IN_FLIGHT", "DONE", "FATAL", "CANCELLED", "ABANDONED", "ATTENTION"]
BatchState = Literal["BUILDING", "SUBMITTED", "SETTLED", "ABANDONED"]
INFLIGHT = "INFLIGHT"
ERRORS = "ERRORS"
OPEN_SALES = "OPEN_SALES"
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
        self.table: Any = (resource or boto3.resource("dynamodb")).Table(table_name)

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
        records: list[FeedRecord] = []
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": Key("gsi1pk").eq(INFLIGHT)}
        while len(records) < limit:
            page = self.table.query(**kwargs)
            for item in page["Items"]:
                feed = FeedRecord.model_validate(_from_item(item))
                if feed.in_flight:
                    records.append(feed)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records[:limit]

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
        key = {"pk": f"ERROR#{error.marketplace_id}#{error.sku}", "sk": "ERROR"}
        existing = self.table.get_item(Key=key).get("Item")
        if existing:
            error = error.model_copy(update={"first_seen": float(existing["first_seen"]),
                                             "occurrences": int(existing.get("occurrences", 1)) + 1})
        self.table.put_item(Item=_to_item({**key, **error.model_dump(), "gsi1pk": ERRORS,
                                           "gsi1sk": f"{error.last_seen:017.6f}#{error.marketplace_id}#{error.sku}"}))

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

    # -- sales sent without an end -----------------------------------------------------------------

    def note_open_ended_sale(self, marketplace_id: str, sku: str, open_ended: bool, now: float) -> None:
        """A sale sent to Amazon with PrestaShop's window open at the end (or no longer so)."""
        key = {"pk": f"OPENSALE#{marketplace_id}#{sku}", "sk": "OPENSALE"}
        if open_ended:
            self.table.put_item(Item=_to_item({**key, "marketplace_id": marketplace_id, "sku": sku, "since": now,
                                               "gsi1pk": OPEN_SALES, "gsi1sk": f"{marketplace_id}#{sku}"}))
        else:
            self.table.delete_item(Key=key)

    def open_ended_sales(self, marketplace_id: str | None = None, limit: int = 10000) -> list[tuple[str, str]]:
        """(marketplace, SKU) of the sales on Amazon that end only when PrestaShop's does."""
        condition: Any = Key("gsi1pk").eq(OPEN_SALES)
        if marketplace_id:
            condition = condition & Key("gsi1sk").begins_with(f"{marketplace_id}#")
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": condition}
        found: list[tuple[str, str]] = []
        while len(found) < limit:
            page = self.table.query(**kwargs)
            found.extend((str(item["marketplace_id"]), str(item["sku"])) for item in page["Items"])
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
