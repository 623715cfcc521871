"""Settling a batch's log rows: the verdicts on its messages gathered from S3 and DynamoDB, the
decision per row (``domain.settlement``) applied to the event log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from amazon_sync.adapters.dynamodb import BatchRecord, FeedRecord, StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog, SettleCounts
from amazon_sync.adapters.s3 import DocumentMissing, DocumentStore, get_json_gz
from amazon_sync.collector import collector_paused
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import LogKey, RowIds
from amazon_sync.domain.settlement import BatchPicture, MessageVerdict, RowDecision, SentMessage


def feed_verdicts(feed: FeedRecord, store: DocumentStore) -> dict[int, MessageVerdict] | MessageVerdict:
    """Per message id for a finished feed, or one verdict for all of its messages."""
    if feed.status in ("SUBMITTING", "IN_FLIGHT", "ATTENTION"):
        return "pending"
    if feed.status in ("ABANDONED", "RELEASED"):
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
                  shops: dict[str, int], offers_by_manifest: Mapping[str, set[tuple[int, int]]] | None = None,
                  ) -> BatchPicture:
    """Documents that are gone (expired, deleted) make the picture coarser, never stop it: rows whose
    fate cannot be told go round again, or wait while a feed that may cover them has no verdict.
    ``offers_by_manifest``: the offers of feeds the caller has just written, so that a feed whose messages
    share one verdict is not read back from S3."""
    with collector_paused():  # a picture of 400,000 messages is plain data (amazon_sync/collector.py)
        return _batch_picture(batch, feeds, store, shops, offers_by_manifest)


def _batch_picture(batch: BatchRecord, feeds: list[FeedRecord], store: DocumentStore, shops: dict[str, int],
                   offers_by_manifest: Mapping[str, set[tuple[int, int]]] | None) -> BatchPicture:
    try:
        manifest = get_json_gz(store, batch.manifest_key) if batch.manifest_key else {}
    except DocumentMissing:
        manifest = {"every_product_unsent": True}
    picture = BatchPicture(batch.interrupted or not batch.manifest_key,
                           set(manifest.get("unsent_products", [])), bool(manifest.get("every_product_unsent")))
    for feed in feeds:
        verdicts: dict[int, MessageVerdict] | MessageVerdict
        try:
            verdicts = feed_verdicts(feed, store)
        except DocumentMissing:
            verdicts = "requeue"
        shop = shops.get(feed.marketplace_id, 0)
        known = offers_by_manifest.get(feed.manifest_key) if offers_by_manifest else None
        offers: Iterable[tuple[int, int]]
        if isinstance(verdicts, str) and known is not None:
            offers = known
        else:
            try:
                rows = get_json_gz(store, feed.manifest_key)
            except DocumentMissing:
                if verdicts == "pending":
                    picture.hold_every_row = True
                else:
                    picture.every_product_unsent = True
                continue
            if not isinstance(verdicts, str):
                for row in rows:
                    ref = FeedMessageRef.from_row(row)
                    picture.add(SentMessage(shop, ref.id_product, ref.id_product_attribute,
                                            verdicts.get(ref.message_id, "accepted")))
                continue
            offers = map(FeedMessageRef.offer_of_row, rows)
        # one verdict for every message of the feed: only its offers are needed
        picture.add_offers(shop, offers, verdicts)
    return picture


def settle_rows(log: EventLog, batch_id: int, picture: BatchPicture, *, max_attempts: int,
                backoff_seconds: float, rows_by_key: dict[LogKey, RowIds] | None = None) -> SettleCounts:
    """Apply the picture to the batch's rows: read from the log grouped per key, or ``rows_by_key`` when
    the caller (the export that just claimed them) already holds their ids."""
    counts = SettleCounts()
    if rows_by_key is None:
        rows_by_key = {claimed.key: claimed.rows for claimed in log.claimed_keys(batch_id)}
    decided: dict[RowDecision, list[RowIds]] = defaultdict(list)
    for key, rows in rows_by_key.items():
        decision = picture.decide(key)
        if decision == "keep":  # kept rows are only counted: an export's million rows are all kept
            counts.kept += rows.size
        else:
            decided[decision].append(rows)

    def rows_to(decision: RowDecision) -> list[int]:
        return sorted(RowIds.joined(decided[decision]))  # sorted: each statement touches neighbouring rows

    counts.deleted = log.delete(rows_to("delete"), batch_id)
    counts.released += log.release(rows_to("requeue"), batch_id=batch_id)[0]
    released, failed = log.release(rows_to("retry"), batch_id=batch_id, count_attempt=True,
                                   backoff_seconds=backoff_seconds, max_attempts=max_attempts,
                                   error="feed failed on Amazon's side")
    counts.released += released
    counts.failed = failed
    return counts
