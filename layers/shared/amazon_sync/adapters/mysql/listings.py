"""What Amazon shows, per marketplace and SKU (from the listings report), and what reconciliation found.

Two tables beside the event log, so the export can join them with PrestaShop's offers:
``amazon_sync_listing`` (one row per SKU Amazon has: channel, FBA flag, quantity, price, status, when
read) and ``amazon_sync_drift`` (drift, SKUs not on Amazon, listing problems; per marketplace and SKU).
When Amazon was last read is a row of the meta table per marketplace.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Any, Literal

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.connection import transaction
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.domain.listings_report import AmazonListing
from amazon_sync.domain.model import MAX_SKU_LENGTH

CENT = Decimal("0.01")
FindingKind = Literal["drift", "not_on_amazon", "listing_problem"]


def _in(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _timestamp(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC).replace(tzinfo=None)


def digest(listing: AmazonListing) -> str:
    """The listing as ``AmazonListings.stored`` gives a stored row back (prices to the cent as the
    DECIMAL column rounds them, short fields cut): equal digests, nothing to write."""
    price = "" if listing.price is None else str(listing.price.quantize(CENT, rounding=ROUND_HALF_UP))
    return "\t".join(("" if listing.quantity is None else str(listing.quantity), price,
                      listing.fulfillment_channel[:20], listing.status[:20], (listing.asin or "")[:10]))


@dataclass(frozen=True)
class ListingsRead:
    """The last reading of Amazon's listings for a marketplace."""

    marketplace_id: str
    at: float
    report_id: str
    listings: int


@dataclass(frozen=True)
class Finding:
    marketplace_id: str
    kind: FindingKind
    sku: str
    id_product: int = 0
    id_product_attribute: int = 0
    detail: str = ""
    repairs: int = 0
    fought_over: bool = False
    first_seen: float = 0.0
    last_seen: float = 0.0


class AmazonListings:
    def __init__(self, conn: Connection[pymysql.cursors.Cursor], tables: Tables, *, chunk: int = 2000,
                 write_chunk: int = 5000) -> None:
        self.conn = conn
        self.t = tables
        self.chunk = chunk
        self.write_chunk = write_chunk  # rows per multi-row INSERT (about 0.5 MB of SQL)

    # -- the listings Amazon has ------------------------------------------------------------------

    def stored(self, marketplace_id: str) -> dict[str, str]:
        """Every stored SKU of the marketplace with the ``digest`` of its row, in one streamed read: what
        a new report is compared with, so that only changed rows are written and the SKUs it no longer
        shows are found without a query per SKU."""
        found: dict[str, str] = {}
        with self.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(f"SELECT sku, CONCAT_WS('\t', IFNULL(quantity, ''), IFNULL(price, ''), fulfillment_channel, "
                        f"status, IFNULL(asin, '')) FROM {self.t.listing} WHERE marketplace_id = %s",
                        (marketplace_id,))
            for sku, digest in cur:
                found[sku] = digest
        return found

    def write(self, marketplace_id: str, listings: Sequence[AmazonListing], read_at: float) -> int:
        """Insert or replace these listings (``read_at`` on the rows written: when the report last showed
        a change); SKUs longer than Amazon allows are skipped."""
        stamp = _timestamp(read_at)
        rows = [(marketplace_id, listing.sku, listing.fulfillment_channel[:20], int(listing.fba), listing.quantity,
                 listing.price, listing.status[:20], (listing.asin or "")[:10] or None, stamp)
                for listing in listings if len(listing.sku) <= MAX_SKU_LENGTH]
        if not rows:
            return 0
        rows.sort(key=itemgetter(1))  # in primary-key order: InnoDB fills its pages one after the other
        # one commit per call, not per statement: only reconciliation writes this table, and the export's
        # plain reads do not wait for its locks
        with transaction(self.conn) as cur:
            for start in range(0, len(rows), self.write_chunk):
                # placeholders only: pymysql sends one multi-row INSERT per chunk
                cur.executemany(
                    f"INSERT INTO {self.t.listing} (marketplace_id, sku, fulfillment_channel, fba, quantity, "
                    "price, status, asin, read_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON DUPLICATE KEY UPDATE fulfillment_channel = VALUES(fulfillment_channel), fba = VALUES(fba), "
                    "quantity = VALUES(quantity), price = VALUES(price), status = VALUES(status), "
                    "asin = VALUES(asin), read_at = VALUES(read_at)", rows[start:start + self.write_chunk])
        return len(rows)

    def forget(self, marketplace_id: str, skus: Collection[str]) -> int:
        """Remove these stored SKUs (the newest report did not keep them: see ``Reconciler._compare``)."""
        gone = sorted(skus)
        removed = 0
        for start in range(0, len(gone), self.chunk):
            part = gone[start:start + self.chunk]
            with self.conn.cursor() as cur:
                removed += cur.execute(f"DELETE FROM {self.t.listing} WHERE marketplace_id = %s "
                                       f"AND sku IN ({_in(part)})", (marketplace_id, *part))
        return removed

    def lookup(self, marketplace_id: str, skus: Sequence[str]) -> dict[str, AmazonListing]:
        found: dict[str, AmazonListing] = {}
        unique = sorted(set(skus))
        for start in range(0, len(unique), self.chunk):
            part = unique[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT sku, quantity, price, fulfillment_channel, status, asin FROM {self.t.listing} "
                            f"WHERE marketplace_id = %s AND sku IN ({_in(part)})", (marketplace_id, *part))
                for sku, quantity, price, channel, status, asin in cur.fetchall():
                    found[str(sku)] = AmazonListing(str(sku), quantity, Decimal(price) if price is not None else None,
                                                    str(channel), str(status), asin or None)
        return found

    def fba_skus(self, marketplace_ids: Sequence[str], skus: Sequence[str]) -> set[str]:
        """Those of ``skus`` Amazon's newest report of any of these marketplaces showed as FBA."""
        found: set[str] = set()
        unique = sorted(set(skus))
        if not marketplace_ids:
            return found
        for start in range(0, len(unique), self.chunk):
            part = unique[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT DISTINCT sku FROM {self.t.listing} WHERE fba = 1 "
                            f"AND marketplace_id IN ({_in(marketplace_ids)}) AND sku IN ({_in(part)})",
                            (*marketplace_ids, *part))
                found.update(str(row[0]) for row in cur.fetchall())
        return found

    def accepted_since(self, marketplace_id: str, skus: Sequence[str], since: float) -> set[str]:
        """SKUs Amazon accepted a change for at or after ``since``."""
        found: set[str] = set()
        for start in range(0, len(skus), self.chunk):
            part = skus[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT sku FROM {self.t.offer_state} WHERE marketplace_id = %s AND accepted_at >= %s "
                            f"AND sku IN ({_in(part)})", (marketplace_id, _timestamp(since), *part))
                found.update(str(row[0]) for row in cur.fetchall())
        return found

    def counts(self, marketplace_id: str) -> dict[str, int]:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*), COALESCE(SUM(fba), 0) FROM {self.t.listing} WHERE marketplace_id = %s",
                        (marketplace_id,))
            row = cur.fetchone()
        return {"listings": int(row[0]) if row else 0, "fba": int(row[1]) if row else 0}

    # -- when Amazon was read ---------------------------------------------------------------------

    def mark_read(self, read: ListingsRead) -> None:
        self._write_meta("listings_read", read.marketplace_id,
                         {"at": read.at, "report_id": read.report_id, "listings": read.listings})

    def last_read(self, marketplace_id: str) -> ListingsRead | None:
        data = self._read_meta("listings_read", marketplace_id)
        if data is None:
            return None
        return ListingsRead(marketplace_id, float(data["at"]), str(data["report_id"]), int(data["listings"]))

    def pending_report(self, marketplace_id: str) -> tuple[str, float] | None:
        """A report requested by an earlier run that ended before Amazon finished it: (id, requested at)."""
        data = self._read_meta("listings_report", marketplace_id)
        return None if data is None else (str(data["report_id"]), float(data["at"]))

    def set_pending_report(self, marketplace_id: str, report: tuple[str, float] | None) -> None:
        self._write_meta("listings_report", marketplace_id,
                         None if report is None else {"report_id": report[0], "at": report[1]})

    def cancelled_reports(self, marketplace_id: str) -> tuple[float, int] | None:
        """Amazon's cancelled listings reports of a marketplace whose last report had listings: (when the
        first of them came, how many in a row)."""
        data = self._read_meta("listings_cancelled", marketplace_id)
        return None if data is None else (float(data["since"]), int(data["count"]))

    def set_cancelled_reports(self, marketplace_id: str, cancelled: tuple[float, int] | None) -> None:
        self._write_meta("listings_cancelled", marketplace_id,
                         None if cancelled is None else {"since": cancelled[0], "count": cancelled[1]})

    def _read_meta(self, what: str, marketplace_id: str) -> dict[str, Any] | None:
        """The JSON object stored for ``what`` of a marketplace, or None."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT `value` FROM {self.t.meta} WHERE `name` = %s", (f"{what}:{marketplace_id}",))
            row = cur.fetchone()
        return json.loads(str(row[0])) if row else None

    def _write_meta(self, what: str, marketplace_id: str, value: dict[str, Any] | None) -> None:
        """Store ``value`` for ``what`` of a marketplace as JSON; None removes it."""
        name = f"{what}:{marketplace_id}"
        with self.conn.cursor() as cur:
            if value is None:
                cur.execute(f"DELETE FROM {self.t.meta} WHERE `name` = %s", (name,))
            else:
                cur.execute(f"INSERT INTO {self.t.meta} (`name`, `value`) VALUES (%s, %s) "
                            "ON DUPLICATE KEY UPDATE `value` = VALUES(`value`)", (name, json.dumps(value)))

    # -- what reconciliation found ----------------------------------------------------------------

    def findings(self, marketplace_id: str | None = None, kind: FindingKind | None = None,
                 limit: int | None = None) -> list[Finding]:
        clauses, args = [], []
        if marketplace_id is not None:
            clauses.append("marketplace_id = %s")
            args.append(marketplace_id)
        if kind is not None:
            clauses.append("kind = %s")
            args.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        bound = f" LIMIT {int(limit)}" if limit is not None else ""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT marketplace_id, kind, sku, id_product, id_product_attribute, detail, repairs, "
                        "fought_over, UNIX_TIMESTAMP(first_seen), UNIX_TIMESTAMP(last_seen) "
                        f"FROM {self.t.drift} {where} ORDER BY marketplace_id, kind, sku{bound}", args)
            return [Finding(str(r[0]), r[1], str(r[2]), int(r[3]), int(r[4]), str(r[5]), int(r[6]), bool(r[7]),
                            float(r[8]), float(r[9])) for r in cur.fetchall()]

    def finding_counts(self, marketplace_id: str | None = None) -> dict[str, int]:
        where, args = ("WHERE marketplace_id = %s", (marketplace_id,)) if marketplace_id else ("", ())
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT IF(fought_over, 'fought_over', kind), COUNT(*) FROM {self.t.drift} {where} "
                        "GROUP BY 1", args)
            found = {str(kind): int(count) for kind, count in cur.fetchall()}
        return {kind: found.get(kind, 0) for kind in ("drift", "fought_over", "not_on_amazon", "listing_problem")}

    def record(self, findings: Sequence[Finding], seen_at: float) -> None:
        stamp = _timestamp(seen_at)
        for start in range(0, len(findings), self.chunk):
            part = findings[start:start + self.chunk]
            with self.conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self.t.drift} (marketplace_id, kind, sku, id_product, id_product_attribute, "
                    "detail, repairs, fought_over, first_seen, last_seen) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
                    "id_product = VALUES(id_product), id_product_attribute = VALUES(id_product_attribute), "
                    "detail = VALUES(detail), repairs = VALUES(repairs), fought_over = VALUES(fought_over), "
                    "last_seen = VALUES(last_seen)",
                    [(f.marketplace_id, f.kind, f.sku, f.id_product, f.id_product_attribute, f.detail[:255],
                      f.repairs, int(f.fought_over), stamp, stamp) for f in part])

    def forget_findings_before(self, marketplace_id: str, seen_at: float) -> int:
        """Findings a newer reconciliation did not repeat are resolved."""
        with self.conn.cursor() as cur:
            return int(cur.execute(f"DELETE FROM {self.t.drift} WHERE marketplace_id = %s AND last_seen < %s",
                                   (marketplace_id, _timestamp(seen_at))))

    def clear_fought_over(self, marketplace_id: str | None, sku: str) -> int:
        """The operator settled the fight (e.g. turned the other tool off): repair the SKU again."""
        where, args = ("AND marketplace_id = %s", (sku, marketplace_id)) if marketplace_id else ("", (sku,))
        with self.conn.cursor() as cur:
            return int(cur.execute(f"DELETE FROM {self.t.drift} WHERE kind = 'drift' AND sku = %s {where}", args))
