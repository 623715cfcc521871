"""The express lane: small changes through the Listings Items API instead of a feed.

A feed takes minutes to hours to process and JSON_LISTINGS_FEED allows 5 submissions per 5 minutes;
``patchListingsItem`` answers each SKU synchronously (5 requests/s, burst 5, per seller account) and is
what Amazon recommends for small, time-sensitive updates. The export plans every message exactly as
for a feed (same offer filtering, FBA and unknown-SKU rules, restock guard); this module decides which
of them take the express lane and sends them.

The rule (docs/operations.md, "Two lanes"):

- A run's express budget is ``express_threshold`` PATCH calls, shared by its marketplaces (Amazon's
  rate limit is per seller account). By default it is what the rate allows in ``express_seconds``:
  5 requests/s x 20 s = 100, which keeps a run well inside a one-minute schedule.
- When a marketplace's messages fit in what is left of the budget, they all go express; otherwise
  the express lane takes the offers changed most recently (newest log row first), and feeds carry the
  rest, oldest change first, so a change that misses the lane waits only for older ones. The freshest
  first: a fresh change is what the lane is for, and a backlog behind it is the feeds' work; an offer
  of a backlog that changes again is fresh and goes express with its current value. What the budget's
  calls cannot hold of the offers the lane chose heads the run's feed.
- A product with a message at Amazon that Amazon has not finished with waits, whichever lane: a feed
  in flight, or its rows' batch not yet settled. With the lane on, each marketplace keeps one feed at
  Amazon at a time (``max_feeds_in_flight``): Amazon processes a seller's feeds one after the other,
  so a second feed would only wait in its queue, and its products with it; left pending instead, they
  stay free for the express lane. A run whose marketplaces all have their feed at Amazon claims only
  the newest rows, all the lane can use. A run that submits a feed does so before the lane's calls.
- Full synchronisations and catalogue-wide changes always go by feed, and so does a price sent ahead
  of a held quantity (the restock-at-old-price guard): ACCEPTED means queued, not applied, and only a
  feed's DONE report says the price is in before the quantity follows.

The synchronous answer is the acknowledgment. ACCEPTED: the offer's state is remembered as for an
accepted feed message and its rows are deleted by the run's settlement; INVALID: the SKU's issues are
recorded as for a feed rejection and its rows are settled the same way; 429 or 5xx: the lane stops for
this run and what it did not send stays pending.

Crash safety: before the first call the SKUs about to be sent lose their "last accepted" fingerprint,
so a run that dies after Amazon answered but before the bookkeeping can never later skip a change as
unchanged; its rows stay claimed, go back to the queue with the interrupted batch and are sent again.
Sending again is safe: every patch is a ``replace`` of whole attributes, so applying it twice gives
the same listing as applying it once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from amazon_sync.adapters.dynamodb import FeedRecord, SkuError, StateStore
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.s3 import DocumentStore, put_json_gz
from amazon_sync.adapters.spapi import (
    AmazonThrottled,
    AmazonUnavailable,
    ListingIssue,
    ListingsGateway,
    ListingSubmission,
)
from amazon_sync.config import MarketplaceConfig, SyncConfig
from amazon_sync.domain.feeds import FeedMessageRef, PlannedMessage, message_bodies
from amazon_sync.domain.model import LogKey, RowIds
from amazon_sync.errors import AmazonError
from amazon_sync.services.steps import StepObserver

logger = Logger(child=True)

PATCH_RATE_PER_SECOND = 5.0  # patchListingsItem usage plan (listingsItems_2021-08-01): 5 requests/s
PATCH_BURST = 5


def express_budget(config: SyncConfig) -> int:
    """PATCH calls one run may make: the configured threshold, or what the rate allows in the lane's time."""
    if not config.express_lane:
        return 0
    if config.express_threshold is not None:
        return config.express_threshold
    return math.floor(PATCH_RATE_PER_SECOND * config.express_seconds)


def _change_ids(offers: Iterable[tuple[int, int]], rows_by_key: dict[LogKey, RowIds], shop: int, *,
                newest: bool) -> dict[tuple[int, int], int]:
    """Per offer a row names, the id of the oldest (or the newest) such row (ids grow with time); a row
    on the product (combination 0) names every offer of the product. With no row on a whole product,
    offers other than ``offers`` may be named too."""
    pick = max if newest else min
    own: dict[tuple[int, int], int] = {}
    whole: dict[int, int] = {}
    for (product, attribute, key_shop), rows in rows_by_key.items():
        if not rows.size or key_shop not in (0, shop):
            continue
        row_id = rows.newest if newest else rows.oldest
        if attribute:
            known = own.get((product, attribute))
            own[(product, attribute)] = row_id if known is None else pick(known, row_id)
        else:
            known = whole.get(product)
            whole[product] = row_id if known is None else pick(known, row_id)
    if not whole:
        return own
    ids: dict[tuple[int, int], int] = {}
    for offer in offers:
        mine, products = own.get(offer), whole.get(offer[0])
        if mine is None:
            if products is not None:
                ids[offer] = products
        else:
            ids[offer] = mine if products is None else pick(mine, products)
    return ids


def oldest_first(offers: Iterable[tuple[int, int]], rows_by_key: dict[LogKey, RowIds],
                 shop: int) -> list[tuple[int, int]]:
    """Offers ordered by the oldest change naming them: the order feeds carry a backlog in, so a change
    that missed the express lane waits only for the changes made before it."""
    ordered = sorted(offers)  # the order among offers of the same change
    oldest = _change_ids(ordered, rows_by_key, shop, newest=False)
    never = 2**63
    # a stable sort by one integer: 200,000 offers sorted by (id, offer) took twice as long
    ordered.sort(key=lambda offer: oldest.get(offer, never))
    return ordered


def newest_first(offers: Iterable[tuple[int, int]], rows_by_key: dict[LogKey, RowIds],
                 shop: int) -> list[tuple[int, int]]:
    """Offers ordered by the newest change naming them, newest first: the order the express lane takes
    them in. A fresh change is what the lane is for; a backlog behind it is the feeds' work, and an offer
    of the backlog that changes again is fresh, and goes express with its current value."""
    ordered = sorted(offers)
    newest = _change_ids(ordered, rows_by_key, shop, newest=True)
    ordered.sort(key=lambda offer: -newest.get(offer, -1))
    return ordered


@dataclass
class ExpressResult:
    """What one marketplace's express sends came to."""

    accepted: list[FeedMessageRef] = field(default_factory=list)
    rejected: list[FeedMessageRef] = field(default_factory=list)
    retry: list[FeedMessageRef] = field(default_factory=list)
    unsent: list[PlannedMessage] = field(default_factory=list)
    issues: dict[str, list[ListingIssue]] = field(default_factory=dict)  # sku -> Amazon's issues
    stopped: str | None = None  # why the lane stopped early (429, 5xx, time)


class Pacer:
    """Keeps calls within Amazon's usage plan (a token bucket of ``rate``/s, ``burst``) on our side."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens = float(burst)
        self.updated = clock()

    def wait(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            self.sleep((1 - self.tokens) / self.rate)
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        self.tokens = max(0.0, self.tokens - 1)


class ExpressLane:
    """Sends planned messages with patchListingsItem and books the answers like a feed's report."""

    def __init__(self, listings_for: Callable[[str], ListingsGateway], *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rate: float = PATCH_RATE_PER_SECOND, burst: int = PATCH_BURST) -> None:
        self.listings_for = listings_for
        self.sleep = sleep
        self.clock = clock
        self.rate = rate
        self.burst = burst

    def pacer(self) -> Pacer:
        return Pacer(self.rate, self.burst, self.clock, self.sleep)

    def send(self, marketplace: MarketplaceConfig, messages: list[PlannedMessage], *, log: EventLog,
             pacer: Pacer, deadline: Callable[[], float], on_step: StepObserver,
             temporary_codes: Iterable[str], now: datetime) -> ExpressResult:
        result = ExpressResult()
        if not messages:
            return result
        gateway = self.listings_for(marketplace.marketplace_id)
        # From here on Amazon may apply these: no later change of theirs may be skipped as "unchanged"
        # until an answer is booked (a crash before the booking leaves them forgotten, never stale).
        log.forget_accepted(marketplace.marketplace_id, sorted({m.sku for m in messages}))
        # and their SKUs count as possibly on Amazon from now on, as a feed's do from its submission
        log.note_submitted(marketplace.marketplace_id, [_ref(0, m, quantity=m.quantity is not None) for m in messages])
        temporary = set(temporary_codes)
        message_id = 0
        for index, planned in enumerate(messages):
            # quantity and price are separate submissions, as they are separate feed messages: a price
            # Amazon refuses never takes the stock change down with it
            for number, body in enumerate(message_bodies(1, planned, marketplace, now)):
                if deadline() <= 0:
                    result.stopped = "out of time"
                elif result.stopped is None:
                    pacer.wait()
                    message_id += 1
                    ref = _ref(message_id, planned, quantity=number == 0 and planned.quantity is not None)
                    try:
                        answer = gateway.patch_listings_item(marketplace.seller_id, planned.sku,
                                                             marketplace.marketplace_id, marketplace.product_type,
                                                             body["patches"], issue_locale=marketplace.issue_locale)
                    except (AmazonThrottled, AmazonUnavailable) as exc:
                        # A 5xx may hide an applied patch: the fingerprint is already forgotten, so the
                        # rows simply go round again (the replace is idempotent).
                        result.stopped = str(exc)
                    except AmazonError as exc:
                        logger.error("patchListingsItem %s refused: %s", planned.sku, exc)
                        result.retry.append(ref)
                    else:
                        self._book(answer, ref, result, temporary)
                if result.stopped is not None:
                    result.unsent.extend(messages[index:])
                    break
            if result.stopped is not None:
                break
        on_step("express_answered")
        return result

    @staticmethod
    def _book(answer: ListingSubmission, ref: FeedMessageRef, result: ExpressResult, temporary: set[str]) -> None:
        if answer.issues:
            result.issues[ref.sku] = answer.issues
        errors = [i for i in answer.issues if i.severity == "ERROR"]
        if answer.status == "ACCEPTED":
            result.accepted.append(ref)
        elif errors and all(i.code in temporary for i in errors):
            result.retry.append(ref)
        else:
            result.rejected.append(ref)


def _ref(message_id: int, planned: PlannedMessage, *, quantity: bool) -> FeedMessageRef:
    """The reference of one submission, as the feed splitter writes it: the quantity's, or the price's."""
    return FeedMessageRef(message_id, planned.sku, planned.id_product, planned.id_product_attribute,
                          planned.quantity if quantity else None,
                          None if quantity or planned.price is None else str(planned.price),
                          planned.quantity_held and not quantity, planned.fingerprint)


@dataclass
class ExpressBooking:
    """Writes an express result down exactly as a processed feed is written down."""

    log: EventLog
    state: StateStore
    store: DocumentStore

    def book(self, batch_id: int, marketplace: MarketplaceConfig, result: ExpressResult,
             now: float) -> FeedRecord | None:
        """Remember what Amazon accepted, record its issues, and write the record the batch is settled by."""
        sent = [*result.accepted, *result.rejected, *result.retry]
        if not sent:
            return None
        marketplace_id = marketplace.marketplace_id
        # "as sent" (the fingerprint that lets later runs skip the offer) only when all its submissions got in
        unfinished = {ref.sku for ref in [*result.rejected, *result.retry]} | {m.sku for m in result.unsent}
        self.log.remember_accepted(marketplace_id, result.accepted, unfinished, at=now)
        for sku in {ref.sku for ref in result.accepted} - unfinished:
            self.state.clear_sku_error(marketplace_id, sku)
        for ref in sent:
            for issue in result.issues.get(ref.sku, []):
                if issue.severity in ("ERROR", "WARNING"):
                    self.state.record_sku_error(SkuError(
                        marketplace_id=marketplace_id, sku=ref.sku, code=issue.code, message=issue.message,
                        severity=issue.severity, attribute=",".join(issue.attributeNames) or None,
                        feed_id="patchListingsItem", first_seen=now, last_seen=now))
        day = datetime.fromtimestamp(now, UTC).strftime("%Y/%m/%d")
        intent_id = f"{batch_id}-{marketplace_id}-express"
        base = f"express/{marketplace_id}/{day}/{intent_id}"
        manifest_key, results_key = f"{base}.messages.json.gz", f"{base}.results.json.gz"
        put_json_gz(self.store, manifest_key, sent)
        put_json_gz(self.store, results_key, {"rejected": [r.message_id for r in result.rejected],
                                              "retry": [r.message_id for r in result.retry]})
        record = FeedRecord(intent_id=intent_id, batch_id=batch_id, marketplace_id=marketplace_id, status="DONE",
                            lane="listings", document_key=manifest_key, manifest_key=manifest_key,
                            results_key=results_key, message_count=len(sent), created_at=now, submitted_at=now,
                            finished_at=now, processing_status="DONE", accepted=len(result.accepted),
                            rejected=len(result.rejected))
        self.state.save_feed(record)
        return record
