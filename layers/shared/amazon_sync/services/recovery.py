"""Putting right what a crashed export left behind.

- A feed intent recorded as SUBMITTING was cut off between "about to submit" and "submitted". The
  intent names its document before createFeed (its SHA-256, then Amazon's feedDocumentId once the
  upload succeeded). Without a feedDocumentId, createFeed was never called: the intent is abandoned
  without asking Amazon. With one, Amazon is asked which feeds it received since: Amazon's feed list
  does not say which document a feed was made from (getFeeds/getFeed return no inputFeedDocumentId),
  so the document is made unique another way: no run calls createFeed on a marketplace while an
  intent there is unresolved (the export checks this after recovery). An unknown feed created after
  the intent can then only be this document's: it is adopted (its rows are acknowledged exactly once
  and no feed goes unnoticed); if none was received, the intent is abandoned and its rows go back.
- A batch still BUILDING after its lease expired is marked interrupted: rows it never covered by a
  submitted message go back to the queue. Rows claimed by a batch nobody recorded go back too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from amazon_sync.adapters.dynamodb import FeedRecord, StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.spapi import FeedsGateway
from amazon_sync.errors import AmazonError

logger = Logger(child=True)
SEARCH_WINDOW_SECONDS = 900.0
CLOCK_SKEW_SECONDS = 5.0


def unresolved_marketplaces(state: StateStore) -> set[str]:
    """Marketplaces with an intent whose fate on Amazon is still unknown: nothing may be submitted
    there until it is resolved, or a feed of ours could not be told apart from that intent's."""
    return {f.marketplace_id for f in state.feeds_in_flight() if f.status == "SUBMITTING"}


def recover_orphan_intents(state: StateStore, gateway_for: Callable[[str], FeedsGateway], now: float, *,
                           lease_free: bool, lease_seconds: float = 900.0) -> int:
    """Resolve SUBMITTING intents no live run owns; returns how many were resolved."""
    orphans = [f for f in state.feeds_in_flight() if f.status == "SUBMITTING"
               and (lease_free or f.created_at < now - lease_seconds)]
    resolved = 0
    for intent in orphans:
        try:
            if _resolve(state, gateway_for(intent.marketplace_id), intent, now):
                resolved += 1
        except AmazonError as exc:
            logger.warning("feed intent not resolved yet", extra={
                "batch_id": intent.batch_id, "intent_id": intent.intent_id, "reason": str(exc)})
    return resolved


def _resolve(state: StateStore, gateway: FeedsGateway, intent: FeedRecord, now: float) -> bool:
    if intent.content_sha256 is not None and intent.feed_document_id is None:
        intent.status, intent.finished_at = "ABANDONED", now
        intent.attention = "the run stopped before its document was uploaded: createFeed was never called"
        logger.warning("intent %s never reached createFeed: its rows go back to the queue", intent.intent_id)
        return state.save_feed(intent, expected_status="SUBMITTING")
    batch = state.get_batch(intent.batch_id)
    later = [f.created_at for f in (state.get_feed(i) for i in (batch.feed_intents if batch else []))
             if f is not None and f.marketplace_id == intent.marketplace_id and f.created_at > intent.created_at]
    window_end = min([*later, intent.created_at + SEARCH_WINDOW_SECONDS])
    since = datetime.fromtimestamp(intent.created_at - 60, UTC)
    candidates = sorted(
        (f for f in gateway.list_feeds(intent.marketplace_id, since)
         if intent.created_at - CLOCK_SKEW_SECONDS <= f.createdTime.timestamp() < window_end
         and state.intent_for_feed_id(f.feedId) is None),
        key=lambda f: f.createdTime)
    if candidates:
        adopted = candidates[0]
        intent.status, intent.feed_id = "IN_FLIGHT", adopted.feedId
        intent.submitted_at = adopted.createdTime.timestamp()
        if len(candidates) > 1:
            intent.attention = f"{len(candidates) - 1} other unknown feed(s) in the same window: " + ", ".join(
                f.feedId for f in candidates[1:])
            logger.error("unknown feeds next to an adopted one", extra={
                "batch_id": intent.batch_id, "feed_id": adopted.feedId, "intent_id": intent.intent_id,
                "reason": intent.attention})
        logger.warning("adopted a feed left by a crashed run", extra={
            "batch_id": intent.batch_id, "feed_id": adopted.feedId, "intent_id": intent.intent_id})
    else:
        intent.status, intent.finished_at = "ABANDONED", now
        intent.attention = "the run stopped before Amazon received this feed"
        logger.warning("feed intent never reached Amazon: its rows go back to the queue", extra={
            "batch_id": intent.batch_id, "intent_id": intent.intent_id})
    return state.save_feed(intent, expected_status="SUBMITTING")


@dataclass(frozen=True)
class StaleRecovery:
    rows_released: int
    batches_interrupted: int


def recover_stale_batches(log: EventLog, state: StateStore, now: float, *, lease_seconds: float) -> StaleRecovery:
    """Claims that outlived their run: release them, or mark their batch interrupted."""
    released = interrupted = 0
    for batch_id in log.claimed_batches(claimed_before_seconds=lease_seconds):
        batch = state.get_batch(batch_id)
        if batch is None:
            released += log.release_batch(batch_id)
        elif batch.status == "BUILDING" and batch.claim_expires_at < now:
            batch.status, batch.interrupted = "SUBMITTED", True
            state.put_batch(batch)
            interrupted += 1
        elif batch.status in ("SETTLED", "ABANDONED"):
            released += log.release_batch(batch_id)
    if released or interrupted:
        logger.warning("claims outlived their run", extra={"rows_released": released,
                                                           "batches_interrupted": interrupted})
    return StaleRecovery(released, interrupted)
