"""The event log's life cycle: claim, release, delete, and the queue figures.

Every statement that locks log rows runs in its own short transaction (READ COMMITTED), touching at
most a few thousand rows, so PrestaShop's triggers are never kept waiting for long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.connection import consecutive_runs, id_set_condition, placeholders, transaction
from amazon_sync.adapters.mysql.schema import CLAIMED, FAILED, NO_BATCH, PENDING, Tables
from amazon_sync.collector import collector_paused
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import AcceptedOffer, LogKey, RowIds

# The longest id list one grouped row brings (bytes): some 300,000 ids of 6 digits, or 190,000 of 10;
# well under the 16 MB max_allowed_packet of a default MariaDB (RDS's MySQL has 64 MB).
GROUP_CONCAT_LIMIT = 2 * 1024 * 1024


def _id_list(concatenated: str | bytes | None) -> list[int]:
    """The numbers of a GROUP_CONCAT or CONCAT_WS (pymysql gives bytes or str by the server's idea of the
    result's type)."""
    if not concatenated:
        return []
    text = concatenated.decode() if isinstance(concatenated, bytes) else concatenated
    return list(map(int, text.split(",")))


def _locked_runs(count: int, lowest: int, highest: int, concatenated: str | bytes | None) -> list[tuple[int, int]]:
    """The ids a claim locked as runs of consecutive ids, from its count, its bounds and the sorted list.

    When the count fills the span, every id between the bounds is one of ours: the list is not even
    parsed. Otherwise a list cut short (a group_concat_max_len lowered under us) loses ids or ends inside
    one, which shows in the count or in the last id, and raises."""
    if count == highest - lowest + 1:
        return [(lowest, highest)]
    ids = _id_list(concatenated)
    if len(ids) != count or (ids and ids[-1] != highest):
        raise RuntimeError(f"claim read {len(ids)} of the {count} ids it locked, the last "
                           f"{ids[-1] if ids else None} for {highest}: group_concat_max_len is too small")
    return consecutive_runs(ids)


class LogRow(NamedTuple):
    """One pending log row, as a dry run reads the queue."""

    id: int
    key: LogKey
    kind: str


class ClaimedChunk(NamedTuple):
    rows: int
    last_id: int  # the last id claimed (0: none), where the next chunk starts
    lowest: int  # the smallest and largest ids claimed (0: none): the batch's rows lie between its chunks' bounds
    highest: int

    def filled(self, limit: int) -> bool:
        """As many rows as asked, and every id of its span: the next claim can start right after it
        (``claim``'s ``after_full_chunk``)."""
        return self.rows == limit == self.highest - self.lowest + 1


class ClaimedKey(NamedTuple):
    """A batch's rows of one log key: whether each was a stock change, and their ids."""

    key: LogKey
    only_stock: bool
    rows: RowIds


@dataclass
class LockStats:
    """The longest time any of our transactions held row locks, for the benchmarks and the logs."""

    longest_seconds: float = 0.0
    transactions: int = 0

    def note(self, seconds: float) -> None:
        self.transactions += 1
        self.longest_seconds = max(self.longest_seconds, seconds)


@dataclass(frozen=True)
class QueueStats:
    pending_rows: int
    pending_offers: int
    oldest_pending_age_seconds: float
    claimed_rows: int
    failed_rows: int


@dataclass
class SettleCounts:
    deleted: int = 0
    released: int = 0
    failed: int = 0
    kept: int = 0


class EventLog:
    def __init__(self, conn: Connection[pymysql.cursors.Cursor], tables: Tables, *, chunk: int = 1000) -> None:
        self.conn = conn
        self.t = tables
        self.chunk = chunk
        self.locks = LockStats()
        self._long_concat = False

    def _allow_long_concat(self, cur: pymysql.cursors.Cursor) -> None:
        """MySQL cuts a GROUP_CONCAT at 1,024 bytes by default (MariaDB at 1 MB): once per connection."""
        if not self._long_concat:
            cur.execute("SET SESSION group_concat_max_len = %s", (GROUP_CONCAT_LIMIT,))
            self._long_concat = True

    # -- claiming ---------------------------------------------------------------------------------

    def claim(self, batch_id: int, limit: int, after_id: int = 0, *, after_full_chunk: bool = False) -> ClaimedChunk:
        """Claim up to ``limit`` pending rows with an id above ``after_id``, oldest first.

        Rows locked by another transaction (a row PrestaShop inserted and has not committed yet) are
        skipped, not waited for; such a row, committing late with a smaller id, stays pending and is
        found by the next run, which starts from id 0 again. ``claimed_keys`` reads what the batch
        claimed. ``after_full_chunk``: ``after_id`` ends a chunk that claimed every id of its span, so
        the next rows are most likely claimable too and are not looked for first."""
        return self._claim(batch_id, limit, after_id, newest=False, probe=not after_full_chunk)

    def claim_newest(self, batch_id: int, limit: int) -> ClaimedChunk:
        """Claim up to ``limit`` pending rows, newest first: for a run in which only the express lane can
        send (it takes the freshest changes), so that a backlog waiting for the feed lane is not claimed
        and handed back every run. Older rows of the same offers stay pending; sent again later, they are
        found unchanged."""
        return self._claim(batch_id, limit, 0, newest=True, probe=True)

    def _claim(self, batch_id: int, limit: int, after_id: int, *, newest: bool, probe: bool) -> ClaimedChunk:
        # Only the ids are read here, under the locks: the rows' keys are read once for the whole batch,
        # grouped per key, by claimed_keys (1M rows: 36 s of claims became 30 s, plus 6 s for that read
        # and no Python coalescing). Marking the rows with one ranged UPDATE instead (no locking read)
        # claimed 1M rows in 19 s, but a concurrent shop update then stalled 51-97 ms (28 ms this way).
        log = self.t.log
        # The first claimable id, by a plain read in primary-key order before the transaction: it takes no
        # lock, so a prefix of rows other batches hold (a backlog in flight) is passed over outside the
        # claim's transaction. The log has no secondary index (schema version 6): marking 1M rows cost
        # 6.7-7.1 s with the (batch_id, state) index, 1.8-1.9 s without it. Right after a chunk that
        # claimed its whole span, the next row is claimable in all likelihood and the read is one round
        # trip too many (a thousand per million rows); if it is not, the locking read passes over the rows
        # before the first claimable one without keeping a lock on them (READ COMMITTED).
        start = after_id + 1
        if probe:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT id_amazon_sync_log FROM {log} FORCE INDEX (PRIMARY) WHERE "
                            "id_amazon_sync_log > %s AND state = %s AND batch_id = %s "
                            "AND (not_before IS NULL OR not_before <= NOW(6)) "
                            f"ORDER BY id_amazon_sync_log {'DESC' if newest else ''} LIMIT 1",
                            (after_id, PENDING, NO_BATCH))
                found = cur.fetchone()
            if not found:
                return ClaimedChunk(0, 0, 0, 0)
            start = found[0]
        started = time.perf_counter()
        with transaction(self.conn) as cur:
            self._allow_long_concat(cur)
            runs: list[tuple[int, int]] = []
            count = lowest = highest = 0
            # The locking read sits in a derived table and its ids come back as one string: parsing a
            # thousand one-column rows in pymysql was a tenth of the claim's time (1M rows: 10.7 s of
            # claims became 9.7 s). The derived table's rows stay locked until the commit; a row
            # another transaction holds is skipped as before (tests/integration, claim tests).
            cur.execute(
                "SELECT COUNT(*), MIN(id_amazon_sync_log), MAX(id_amazon_sync_log), "
                "GROUP_CONCAT(id_amazon_sync_log ORDER BY id_amazon_sync_log) FROM ("
                f"SELECT id_amazon_sync_log FROM {log} FORCE INDEX (PRIMARY) "
                f"WHERE id_amazon_sync_log {'<=' if newest else '>='} %s AND state = %s AND batch_id = %s "
                "AND (not_before IS NULL OR not_before <= NOW(6)) "
                f"ORDER BY id_amazon_sync_log {'DESC' if newest else ''} LIMIT %s FOR UPDATE SKIP LOCKED"
                ") AS locked", (start, PENDING, NO_BATCH, limit))
            counted, first, final, concatenated = cur.fetchone() or (0, None, None, None)
            if counted:
                count, lowest, highest = int(counted), int(first), int(final)
                runs = _locked_runs(count, lowest, highest, concatenated)
            if runs:
                # The state is checked again, though the rows are locked: a wrong id must never take a row
                # another batch holds. Ranges of the ids we hold, not a list of them: the server marks the rows
                # a quarter faster (300,000 rows in one run: 4.2-4.6 s by list, 3.0-3.2 s by range).
                ranges, values = id_set_condition("id_amazon_sync_log", runs)
                marked = cur.execute(
                    f"UPDATE {log} SET state = %s, batch_id = %s, claimed_at = NOW(6) "
                    f"WHERE ({ranges}) AND state = %s AND batch_id = %s",
                    (CLAIMED, batch_id, *values, PENDING, NO_BATCH))
                if marked != count:
                    raise RuntimeError(f"claim marked {marked} of the {count} rows it locked")
        self.locks.note(time.perf_counter() - started)
        if not runs:
            return ClaimedChunk(0, 0, 0, 0)
        return ClaimedChunk(count, lowest if newest else highest, lowest, highest)

    def claimed_keys(self, batch_id: int, between: tuple[int, int] | None = None) -> list[ClaimedKey]:
        """The batch's rows grouped per log key by the server: a fifth as many rows to bring over as the
        rows themselves in the 1M-row benchmark. ``between``: the lowest and highest id the batch claimed,
        when the caller knows them (the export that claimed it); else the whole log is read in primary-key
        order, as it has no index by batch. A key whose ids do not fit in one GROUP_CONCAT string (a product
        changed some 100,000 times in one batch) has its ids read on their own."""
        found: list[ClaimedKey] = []
        cut: list[ClaimedKey] = []
        span, span_args = ("AND id_amazon_sync_log BETWEEN %s AND %s ", between) if between else ("", ())
        # a million ids in 200,000 lists: plain data, built without the cyclic collector (amazon_sync/collector.py)
        with collector_paused(), self.conn.cursor(pymysql.cursors.SSCursor) as cur:
            self._allow_long_concat(cur)
            # The key's numbers come as one string: pymysql parses each value of each row in Python
            # (200,000 keys of a million rows: 5.7-6.1 s as six columns, 4.2-4.7 s as two; one machine).
            # The ids stay the server's text (RowIds), with the length it has when whole: a string cut at the
            # limit, or at a group_concat_max_len lowered under us (a reconnected session has the server's
            # default), may end inside an id, and such a key is read again on its own.
            cur.execute(
                "SELECT CONCAT_WS(',', id_product, id_product_attribute, id_shop, MIN(change_kind = 'stock'), "
                "COUNT(*), MIN(id_amazon_sync_log), MAX(id_amazon_sync_log), "
                "SUM(LENGTH(id_amazon_sync_log)) + COUNT(*) - 1), GROUP_CONCAT(id_amazon_sync_log) "
                f"FROM {self.t.log} WHERE batch_id = %s AND state = %s "
                f"{span}GROUP BY id_product, id_product_attribute, id_shop", (batch_id, CLAIMED, *span_args))
            for head, listed in cur:
                product, attribute, shop, only_stock, count, oldest, newest, length = _id_list(head)
                claimed = ClaimedKey(LogKey(product, attribute, shop), bool(only_stock),
                                     RowIds(count, oldest, newest, listed))
                (found if len(listed) == length else cut).append(claimed)
        for claimed in cut:
            key = claimed.key
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT id_amazon_sync_log FROM {self.t.log} WHERE batch_id = %s AND state = %s "
                            f"{span}AND id_product = %s AND id_product_attribute = %s AND id_shop = %s",
                            (batch_id, CLAIMED, *span_args, key.id_product, key.id_product_attribute, key.id_shop))
                found.append(claimed._replace(rows=RowIds.of([int(row[0]) for row in cur.fetchall()])))
        return found

    def claimed_products(self, exclude_batch: int | None = None) -> set[int]:
        """Products with rows claimed by another batch: their feed is still in flight."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT DISTINCT id_product FROM {self.t.log} WHERE state = %s AND batch_id <> %s",
                        (CLAIMED, exclude_batch or 0))
            return {int(row[0]) for row in cur.fetchall()}

    def products_with_rows(self) -> set[int]:
        """Products with a change pending or in flight (0 stands for a catalogue-wide change)."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT DISTINCT id_product FROM {self.t.log} WHERE state IN (%s, %s)", (PENDING, CLAIMED))
            return {int(row[0]) for row in cur.fetchall()}

    def pending_keys(self, limit: int) -> Iterator[LogRow]:
        """Pending rows without claiming them, for dry runs."""
        after = 0
        remaining = limit
        while remaining > 0:
            with self.conn.cursor() as cur:
                cur.execute(
                    "SELECT id_amazon_sync_log, id_product, id_product_attribute, id_shop, change_kind "
                    f"FROM {self.t.log} WHERE state = %s AND batch_id = %s AND id_amazon_sync_log > %s "
                    "ORDER BY id_amazon_sync_log LIMIT %s",
                    (PENDING, NO_BATCH, after, min(10000, remaining)))
                rows = cur.fetchall()
            if not rows:
                return
            for r in rows:
                yield LogRow(int(r[0]), LogKey(int(r[1]), int(r[2]), int(r[3])), str(r[4]))
            remaining -= len(rows)
            after = int(rows[-1][0])

    def claimed_batches(self, claimed_before_seconds: float | None = None) -> list[int]:
        with self.conn.cursor() as cur:
            if claimed_before_seconds is None:
                cur.execute(f"SELECT DISTINCT batch_id FROM {self.t.log} WHERE state = %s", (CLAIMED,))
            else:
                cur.execute(f"SELECT DISTINCT batch_id FROM {self.t.log} WHERE state = %s "
                            "AND claimed_at < NOW(6) - INTERVAL %s SECOND", (CLAIMED, claimed_before_seconds))
            return [int(row[0]) for row in cur.fetchall() if row[0] is not None]

    # -- settling ---------------------------------------------------------------------------------

    def delete(self, ids: Sequence[int], batch_id: int) -> int:
        """Delete rows Amazon accepted, only while this batch still holds them."""
        deleted = 0
        for start in range(0, len(ids), self.chunk):
            part = ids[start:start + self.chunk]
            started = time.perf_counter()
            with transaction(self.conn) as cur:
                # state and batch are re-checked: a row handed back, or claimed since by another batch, stays
                deleted += cur.execute(f"DELETE FROM {self.t.log} WHERE id_amazon_sync_log IN ({placeholders(part)}) "
                                       "AND state = %s AND batch_id = %s", (*part, CLAIMED, batch_id))
            self.locks.note(time.perf_counter() - started)
        return deleted

    def release(self, ids: Sequence[int], *, batch_id: int, count_attempt: bool = False, backoff_seconds: float = 0,
                max_attempts: int | None = None, error: str | None = None) -> tuple[int, int]:
        """Hand rows back to the queue, only while ``batch_id`` holds them; with ``count_attempt`` past
        ``max_attempts`` they become failed."""
        released = failed = 0
        log = self.t.log
        for start in range(0, len(ids), self.chunk):
            part = ids[start:start + self.chunk]
            started = time.perf_counter()
            with transaction(self.conn) as cur:
                if count_attempt and max_attempts is not None:
                    failed += cur.execute(
                        f"UPDATE {log} SET state = %s, batch_id = %s, attempts = attempts + 1, last_error = %s "
                        f"WHERE id_amazon_sync_log IN ({placeholders(part)}) AND state = %s AND batch_id = %s "
                        "AND attempts + 1 >= %s",
                        (FAILED, NO_BATCH, (error or "")[:500], *part, CLAIMED, batch_id, max_attempts))
                released += cur.execute(
                    f"UPDATE {log} SET state = %s, batch_id = %s, "
                    "attempts = attempts + %s, last_error = COALESCE(%s, last_error), "
                    # backoff doubles with each failed attempt, capped at 2^10 times the base
                    "not_before = IF(%s > 0, NOW(6) + INTERVAL (%s * POW(2, LEAST(attempts, 10))) SECOND, NULL) "
                    f"WHERE id_amazon_sync_log IN ({placeholders(part)}) AND state = %s AND batch_id = %s",
                    (PENDING, NO_BATCH, int(count_attempt), error[:500] if error else None, backoff_seconds,
                     backoff_seconds, *part, CLAIMED, batch_id))
            self.locks.note(time.perf_counter() - started)
        return released, failed

    def release_batch(self, batch_id: int) -> int:
        """Hand back every row of a batch that never reached Amazon (no attempt is counted)."""
        ids = sorted(RowIds.joined(claimed.rows for claimed in self.claimed_keys(batch_id)))
        return self.release(ids, batch_id=batch_id)[0]

    def retry_failed(self) -> int:
        with transaction(self.conn) as cur:
            return int(cur.execute(f"UPDATE {self.t.log} SET state = %s, attempts = 0, not_before = NULL "
                                   "WHERE state = %s", (PENDING, FAILED)))

    def add_rows(self, keys: Iterable[tuple[LogKey, str]]) -> int:
        rows = [(k.id_product, k.id_product_attribute, k.id_shop, kind) for k, kind in keys]
        if not rows:
            return 0
        with self.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {self.t.log} (id_product, id_product_attribute, id_shop, "
                            "change_kind) VALUES (%s, %s, %s, %s)", rows)
        return len(rows)

    # -- the price calendar's progress ------------------------------------------------------------

    def calendar_checked_until(self, name: str) -> datetime | None:
        """Up to when the price calendar named ``name`` has been looked at (None: never)."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT `value` FROM {self.t.meta} WHERE `name` = %s", (f"calendar:{name}",))
            row = cur.fetchone()
        return datetime.fromisoformat(str(row[0])) if row else None

    def enqueue_calendar(self, name: str, keys: Sequence[LogKey], until: datetime) -> int:
        """Log rows of kind ``calendar`` for offers whose price changed by the clock, and the calendar's
        new position, in one transaction: a crash either does both or neither."""
        with transaction(self.conn) as cur:
            if keys:
                cur.executemany(f"INSERT INTO {self.t.log} (id_product, id_product_attribute, id_shop, change_kind) "
                                "VALUES (%s, %s, %s, %s)",  # placeholders only: one multi-row INSERT
                                [(k.id_product, k.id_product_attribute, k.id_shop, "calendar") for k in keys])
            cur.execute(f"INSERT INTO {self.t.meta} (`name`, `value`) VALUES (%s, %s) "
                        "ON DUPLICATE KEY UPDATE `value` = VALUES(`value`)", (f"calendar:{name}", until.isoformat()))
        return len(keys)

    # -- what Amazon accepted last ----------------------------------------------------------------

    def last_accepted(self, marketplace_id: str, skus: Sequence[str]) -> dict[str, AcceptedOffer]:
        found: dict[str, AcceptedOffer] = {}
        for start in range(0, len(skus), self.chunk):
            part = skus[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT sku, quantity, price, fingerprint FROM {self.t.offer_state} "
                            f"WHERE marketplace_id = %s AND sku IN ({placeholders(part)})", (marketplace_id, *part))
                for sku, quantity, price, fingerprint in cur.fetchall():
                    found[str(sku)] = AcceptedOffer(quantity, price, fingerprint)
        return found

    def known_skus(self, marketplace_id: str, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], list[str]]:
        """SKUs that may be on Amazon for these offers: how to reach an offer PrestaShop no longer has,
        or a SKU the offer no longer uses."""
        found: dict[tuple[int, int], list[str]] = {}
        products = sorted({p for p, _ in keys})
        wanted = set(keys)
        for start in range(0, len(products), self.chunk):
            part = products[start:start + self.chunk]
            where, args = id_set_condition("id_product", consecutive_runs(part))
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT id_product, id_product_attribute, sku FROM {self.t.offer_state} "
                            f"WHERE marketplace_id = %s AND ({where})", (marketplace_id, *args))
                for product, attribute, sku in cur.fetchall():
                    if (int(product), int(attribute)) in wanted:
                        found.setdefault((int(product), int(attribute)), []).append(str(sku))
        return found

    def skus_sent(self, marketplace_id: str) -> set[str]:
        """Every SKU a message was ever submitted for in the marketplace: those that may be on Amazon
        because of us."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT sku FROM {self.t.offer_state} WHERE marketplace_id = %s", (marketplace_id,))
            return {str(row[0]) for row in cur.fetchall()}

    def remember_accepted(self, marketplace_id: str, messages: Sequence[FeedMessageRef],
                          unfinished: Collection[str] = (), *, at: float) -> None:
        """The messages Amazon accepted ``at`` (the function's clock, which reconciliation compares with
        the time Amazon's report was requested): their quantity, price and fingerprint become the last
        accepted. SKUs in ``unfinished`` had another message refused or retried: no fingerprint, so the
        next change of the offer is always sent."""
        stamp = datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
        rows = [(marketplace_id, m.sku, m.id_product, m.id_product_attribute, m.quantity, m.price,
                 None if m.sku in unfinished else m.fingerprint, stamp) for m in messages]
        for start in range(0, len(rows), self.chunk):
            with self.conn.cursor() as cur:
                cur.executemany(
                    # only placeholders in VALUES: pymysql then sends one multi-row INSERT per chunk
                    # instead of one statement per row
                    f"INSERT INTO {self.t.offer_state} (marketplace_id, sku, id_product, id_product_attribute, "
                    "quantity, price, fingerprint, accepted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON DUPLICATE KEY UPDATE id_product = VALUES(id_product), "
                    "id_product_attribute = VALUES(id_product_attribute), "
                    "quantity = COALESCE(VALUES(quantity), quantity), price = COALESCE(VALUES(price), price), "
                    "fingerprint = VALUES(fingerprint), accepted_at = VALUES(accepted_at)",
                    rows[start:start + self.chunk])

    # -- what may be on Amazon ---------------------------------------------------------------------
    # The offer-state table is the one list of SKUs Amazon may have: a SKU enters it when a message
    # carrying it is about to be submitted (Amazon may apply a feed in part, even one it calls FATAL),
    # and its row says which offer it was sent for. Every SKU in it whose offer vanished, or whose
    # offer now has another SKU, is sent quantity 0 (see the export's ``_plan``).

    def note_submitted(self, marketplace_id: str, messages: Sequence[FeedMessageRef]) -> None:
        """Messages about to reach Amazon: from now on their SKUs may exist there, for these offers.
        What was last accepted for a SKU (quantity, price, fingerprint) is kept."""
        for start in range(0, len(messages), self.chunk):
            # One JSON parameter per chunk, read back into rows by JSON_TABLE (MariaDB 10.6+, MySQL 8.0.4+):
            # pymysql escapes one string instead of four values per row. 200,000 rows: 4.6-5.3 s as a
            # multi-row INSERT, 3.5 s this way (one machine, two runs each).
            rows = json.dumps([[m.sku, m.id_product, m.id_product_attribute]
                               for m in messages[start:start + self.chunk]], ensure_ascii=False)
            with self.conn.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {self.t.offer_state} (marketplace_id, sku, id_product, id_product_attribute) "
                    "SELECT %s, j.sku, j.id_product, j.id_product_attribute FROM JSON_TABLE(%s, '$[*]' COLUMNS ("
                    "sku VARCHAR(40) PATH '$[0]', id_product INT UNSIGNED PATH '$[1]', "
                    "id_product_attribute INT UNSIGNED PATH '$[2]')) AS j "
                    "ON DUPLICATE KEY UPDATE id_product = VALUES(id_product), "
                    "id_product_attribute = VALUES(id_product_attribute)", (marketplace_id, rows))

    def vanished_offers(self, marketplace_id: str, id_shop: int, products: Sequence[int] | None = None,
                        chunk_size: int = 5000) -> Iterator[list[tuple[int, int]]]:
        """Offers (product, combination) with SKUs that may be on Amazon which are no offer of the shop
        any more: the product or combination was deleted or left the shop, or a product that had no
        combinations got some. With ``products``, only offers of those products; else all, in chunks."""
        t = self.t
        is_offer = (
            f"EXISTS (SELECT 1 FROM {t.table('product_shop')} ps WHERE ps.id_product = os.id_product "
            "AND ps.id_shop = %s AND IF(os.id_product_attribute = 0, "
            f"NOT EXISTS (SELECT 1 FROM {t.table('product_attribute_shop')} x WHERE x.id_product = os.id_product "
            "AND x.id_shop = %s), "
            f"EXISTS (SELECT 1 FROM {t.table('product_attribute_shop')} pas WHERE pas.id_product = os.id_product "
            "AND pas.id_product_attribute = os.id_product_attribute AND pas.id_shop = %s)))")
        if products is not None:
            wanted = sorted(set(products))
            for start in range(0, len(wanted), self.chunk):
                where, args = id_set_condition("id_product", consecutive_runs(wanted[start:start + self.chunk]))
                with self.conn.cursor() as cur:
                    cur.execute(f"SELECT DISTINCT id_product, id_product_attribute FROM {t.offer_state} os "
                                f"WHERE marketplace_id = %s AND ({where}) "
                                f"AND NOT {is_offer} ORDER BY id_product, id_product_attribute",
                                (marketplace_id, *args, id_shop, id_shop, id_shop))
                    found = [(int(a), int(b)) for a, b in cur.fetchall()]
                if found:
                    yield found
            return
        last = (-1, -1)
        while True:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT DISTINCT id_product, id_product_attribute FROM {t.offer_state} os "
                            "WHERE marketplace_id = %s AND (id_product > %s OR (id_product = %s AND "
                            f"id_product_attribute > %s)) AND NOT {is_offer} "
                            "ORDER BY id_product, id_product_attribute LIMIT %s",
                            (marketplace_id, last[0], last[0], last[1], id_shop, id_shop, id_shop, chunk_size))
                found = [(int(a), int(b)) for a, b in cur.fetchall()]
            if not found:
                return
            yield found
            last = found[-1]

    # -- sales sent without an end ------------------------------------------------------------------
    # PrestaShop's specific price has no end; Amazon's sale needs one: sent with a far end, listed by
    # `status`. In MySQL beside the offer state, not in DynamoDB: a first sync notes thousands at once
    # (10,000 in the 1M-row benchmark: ~5 s as DynamoDB batch writes, 0.1 s here).

    def note_open_ended_sales(self, marketplace_id: str, changes: dict[str, bool], at: float) -> None:
        """Sales sent to Amazon with PrestaShop's window open at the end (True), or no longer so (False)."""
        stamp = datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
        opened = [(marketplace_id, sku, stamp) for sku, open_ended in changes.items() if open_ended]
        closed = [sku for sku, open_ended in changes.items() if not open_ended]
        with self.conn.cursor() as cur:
            for start in range(0, len(opened), self.chunk):
                cur.executemany(f"INSERT IGNORE INTO {self.t.open_sale} (marketplace_id, sku, since) "
                                "VALUES (%s, %s, %s)", opened[start:start + self.chunk])
            for start in range(0, len(closed), self.chunk):
                part = closed[start:start + self.chunk]
                cur.execute(f"DELETE FROM {self.t.open_sale} WHERE marketplace_id = %s "
                            f"AND sku IN ({placeholders(part)})", (marketplace_id, *part))

    def open_ended_sales(self, marketplace_id: str | None = None, limit: int | None = None) -> list[tuple[str, str]]:
        """(marketplace, SKU) of the sales on Amazon that end only when PrestaShop's does."""
        where, params = ("WHERE marketplace_id = %s", [marketplace_id]) if marketplace_id else ("", [])
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT marketplace_id, sku FROM {self.t.open_sale} {where} ORDER BY marketplace_id, sku"
                        + (" LIMIT %s" if limit is not None else ""), (*params, *([] if limit is None else [limit])))
            return [(str(m), str(sku)) for m, sku in cur.fetchall()]

    def forget_accepted(self, marketplace_id: str, skus: Sequence[str]) -> None:
        """After a feed Amazon may have applied in part, the next change of these SKUs is always sent."""
        for start in range(0, len(skus), self.chunk):
            part = skus[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.execute(f"UPDATE {self.t.offer_state} SET fingerprint = NULL WHERE marketplace_id = %s "
                            f"AND sku IN ({placeholders(part)})", (marketplace_id, *part))

    def forget_accepted_products(self, marketplace_id: str, products: Sequence[int]) -> None:
        """As forget_accepted, for every SKU of these products (when the feed's SKU list is gone)."""
        chosen = sorted(set(products))
        for start in range(0, len(chosen), self.chunk):
            part = chosen[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.execute(f"UPDATE {self.t.offer_state} SET fingerprint = NULL WHERE marketplace_id = %s "
                            f"AND id_product IN ({placeholders(part)})", (marketplace_id, *part))

    # -- queue figures ----------------------------------------------------------------------------

    def queue_stats(self) -> QueueStats:
        log = self.t.log
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT state, COUNT(*) FROM {log} GROUP BY state")
            counts = {int(state): int(count) for state, count in cur.fetchall()}
            # the smallest pending id is the oldest change, found through the (state, id) index
            cur.execute(f"SELECT TIMESTAMPDIFF(MICROSECOND, changed_at, NOW(6)) / 1e6 FROM {log} "
                        "WHERE batch_id = %s AND state = %s ORDER BY id_amazon_sync_log LIMIT 1", (NO_BATCH, PENDING))
            oldest = cur.fetchone()
            cur.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT id_product, id_product_attribute, id_shop "
                        f"FROM {log} WHERE batch_id = %s AND state = %s) AS offers", (NO_BATCH, PENDING))
            offers = cur.fetchone()
        return QueueStats(counts.get(PENDING, 0), int(offers[0]) if offers else 0,
                          float(oldest[0]) if oldest and oldest[0] is not None else 0.0,
                          counts.get(CLAIMED, 0), counts.get(FAILED, 0))
