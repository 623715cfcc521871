"""Deciding what happens to a batch's log rows from the verdicts on the messages built from them.

A row is deleted only when every message built from it has Amazon's final word (accepted, or
rejected for a reason a retry cannot fix). Messages of feeds that failed send their rows back with
an attempt counted; messages that never reached Amazon send them back without one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from amazon_sync.adapters.dynamodb import BatchRecord, FeedRecord, StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog, SettleCounts
from amazon_sync.adapters.s3 import DocumentStore, get_json_gz
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import LogKey

MessageVerdict = Literal["accepted", "rejected", "retry", "requeue", "pending"]


@dataclass(frozen=True)
class SentMessage:
    shop: int
    id_product: int
    id_product_attribute: int
    verdict: MessageVerdict


@dataclass
class BatchPicture:
    """Everything known about a batch's messages, indexed for covering look-ups."""

    interrupted: bool
    unsent_products: set[int]
    every_product_unsent: bool = False
    by_offer: dict[tuple[int, int], list[SentMessage]] = field(default_factory=lambda: defaultdict(list))
    by_product: dict[int, list[SentMessage]] = field(default_factory=lambda: defaultdict(list))
    every: list[SentMessage] = field(default_factory=list)

    def add(self, message: SentMessage) -> None:
        self.by_offer[(message.id_product, message.id_product_attribute)].append(message)
        self.by_product[message.id_product].append(message)
        self.every.append(message)

    def covering(self, key: LogKey) -> Iterable[SentMessage]:
        if key.id_product == 0:
            candidates: Iterable[SentMessage] = self.every
        elif key.id_product_attribute == 0:
            candidates = self.by_product.get(key.id_product, [])
        else:
            candidates = self.by_offer.get((key.id_product, key.id_product_attribute), [])
        return [m for m in candidates if key.id_shop in (0, m.shop)]

    def decide(self, key: LogKey) -> str:
        verdicts = {m.verdict for m in self.covering(key)}
        if "pending" in verdicts:
            return "keep"
        if "retry" in verdicts:
            return "retry"
        unsent = self.every_product_unsent or key.id_product in self.unsent_products or (
            key.id_product == 0 and bool(self.unsent_products))
        # A run that died may not have reached every marketplace: a message accepted on one of them
        # says nothing about the others, so its rows go round once more instead of being deleted.
        if "requeue" in verdicts or unsent or self.interrupted:
            return "requeue"
        return "delete"


def feed_verdicts(feed: FeedRecord, store: DocumentStore) -> dict[int, MessageVerdict] | MessageVerdict:
    """Per message id for a finished feed, or one verdict for all of its messages."""
    if feed.status in ("SUBMITTING", "IN_FLIGHT", "ATTENTION"):
        return "pending"
    if feed.status == "ABANDONED":
        return "requeue"
    if feed.status in ("FATAL", "CANCELLED"):
        return "retry"
    results = get_json_gz(store, feed.results_key) if feed.results_key else {}
    verdicts: dict[int, MessageVerdict] = {int(m): "rejected" for m in results.get("rejected", [])}
    verdicts.update({int(m): "retry" for m in results.get("retry", [])})
    return verdicts


def batch_feeds(batch: BatchRecord, state: StateStore) -> list[FeedRecord]:
    """The batch's feed records that exist (an intent may have been named before its record was written)."""
    return [feed for feed in (state.get_feed(intent_id) for intent_id in batch.feed_intents) if feed is not None]


def batch_picture(batch: BatchRecord, feeds: list[FeedRecord], store: DocumentStore,
                  shops: dict[str, int]) -> BatchPicture:
    manifest = get_json_gz(store, batch.manifest_key) if batch.manifest_key else {}
    picture = BatchPicture(batch.interrupted or not batch.manifest_key,
                           set(manifest.get("unsent_products", [])), bool(manifest.get("every_product_unsent")))
    for feed in feeds:
        verdicts = feed_verdicts(feed, store)
        shop = shops.get(feed.marketplace_id, 0)
        for row in get_json_gz(store, feed.manifest_key):
            ref = FeedMessageRef.from_row(row)
            verdict = verdicts if isinstance(verdicts, str) else verdicts.get(ref.message_id, "accepted")
            picture.add(SentMessage(shop, ref.id_product, ref.id_product_attribute, verdict))
    return picture


def settle_rows(log: EventLog, batch_id: int, picture: BatchPicture, *, max_attempts: int,
                backoff_seconds: float, rows_by_key: dict[LogKey, list[int]] | None = None) -> SettleCounts:
    """Apply the picture to the batch's rows: streamed from the log, or ``rows_by_key`` when the
    caller (the export that just claimed them) already holds their ids."""
    ids: dict[str, list[int]] = defaultdict(list)
    counts = SettleCounts()
    if rows_by_key is not None:
        for key, row_ids in rows_by_key.items():
            counts.ids_seen += len(row_ids)
            ids[picture.decide(key)].extend(row_ids)
    else:
        decisions: dict[LogKey, str] = {}
        for row in log.batch_rows(batch_id):
            counts.ids_seen += 1
            decision = decisions.get(row.key)
            if decision is None:
                decision = decisions[row.key] = picture.decide(row.key)
            ids[decision].append(row.id)
    counts.deleted = log.delete(ids["delete"])
    counts.released += log.release(ids["requeue"])[0]
    released, failed = log.release(ids["retry"], count_attempt=True, backoff_seconds=backoff_seconds,
                                   max_attempts=max_attempts, error="feed failed on Amazon's side")
    counts.released += released
    counts.failed = failed
    counts.kept = len(ids["keep"])
    counts.details = {name: len(values) for name, values in ids.items()}
    return counts
