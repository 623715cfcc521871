"""`make bench-claim-floor`: what claiming 1,000,000 log rows costs, against what a claim could cost at best.

Three passes over the same log (the project's own schema), each on a fresh copy of the rows, in one run:
- ``claim``: `EventLog.claim` as the export runs it (``CLAIM_CHUNK`` rows per transaction);
- ``locking_reads_only``: the same transactions without the `UPDATE` that marks the rows: the floor of
  any claim that must skip rows PrestaShop has not committed (a claim recorded as id ranges, say);
- ``plain_select``: one streamed SELECT of the ids, no locks.
The difference between the first two is what marking rows costs (docs/operations.md, "Export cost").
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import time

import pymysql.cursors

from amazon_sync.adapters.mysql.connection import connect, transaction
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import NO_BATCH, PENDING
from amazon_sync.services.export import CLAIM_CHUNK
from amazon_sync_devkit.catalogue import CatalogueSpec, seed_log_rows
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from bench.common import TABLES, print_result, shop_database
from bench.stack import OFFERS, ROWS, settle_redo_log

CHUNK = CLAIM_CHUNK


def _fresh_log(conn: pymysql.connections.Connection[pymysql.cursors.Cursor], offers: list[tuple[int, int]]) -> None:
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE TABLE {TABLES.log}")
    seed_log_rows(conn, TABLES, offers, ROWS)


def _claim(log: EventLog) -> tuple[float, int]:
    started = time.perf_counter()
    after = claimed = 0
    full = False
    while True:
        chunk = log.claim(batch_id=1, limit=CHUNK, after_id=after, after_full_chunk=full)
        if not chunk.rows:
            return time.perf_counter() - started, claimed
        claimed += chunk.rows
        after, full = chunk.last_id, chunk.filled(CHUNK)


def _locking_reads_only(conn: pymysql.connections.Connection[pymysql.cursors.Cursor]) -> tuple[float, int]:
    started = time.perf_counter()
    after = read = 0
    while True:
        with transaction(conn) as cur:
            cur.execute(
                "SELECT COUNT(*), MAX(id_amazon_sync_log) FROM ("
                f"SELECT id_amazon_sync_log FROM {TABLES.log} FORCE INDEX (PRIMARY) "
                "WHERE id_amazon_sync_log > %s AND state = %s AND batch_id = %s "
                "AND (not_before IS NULL OR not_before <= NOW(6)) "
                "ORDER BY id_amazon_sync_log LIMIT %s FOR UPDATE SKIP LOCKED) AS locked",
                (after, PENDING, NO_BATCH, CHUNK))
            count, last = cur.fetchone() or (0, None)
        if not count:
            return time.perf_counter() - started, read
        read += int(count)
        after = int(last)


def _plain_select(conn: pymysql.connections.Connection[pymysql.cursors.Cursor]) -> tuple[float, int]:
    started = time.perf_counter()
    read = 0
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(f"SELECT id_amazon_sync_log FROM {TABLES.log} ORDER BY id_amazon_sync_log")
        for _ in cur:
            read += 1
    return time.perf_counter() - started, read


def main() -> None:
    with ThrowawayMariaDB(buffer_pool="1G") as server:
        settings, catalogue = shop_database(server, "claimfloor", CatalogueSpec(
            products=OFFERS, combination_share=0, shops=1, specific_price_share=0, seed=1))
        conn = connect(settings)
        seconds_of: dict[str, float] = {}
        passes = {"claim": lambda: _claim(EventLog(conn, TABLES)),
                  "locking_reads_only": lambda: _locking_reads_only(conn),
                  "plain_select": lambda: _plain_select(conn)}
        for name, measure in passes.items():
            _fresh_log(conn, catalogue.offers)
            settle_redo_log(server)
            seconds, rows = measure()
            if rows != ROWS:
                raise SystemExit(f"{name} went over {rows} rows, not the {ROWS} seeded")
            seconds_of[name] = seconds
            print(f"# {name}: {seconds:.2f} s", flush=True)
        conn.close()
        claim, floor = seconds_of["claim"], seconds_of["locking_reads_only"]
        print_result({"rows": ROWS, "chunk": CHUNK, **{f"{name}_seconds": round(seconds, 2)
                                                      for name, seconds in seconds_of.items()},
                      "marking_seconds": round(claim - floor, 2),
                      "claim_vs_locking_reads_only": round(claim / floor, 2)})


if __name__ == "__main__":
    main()
