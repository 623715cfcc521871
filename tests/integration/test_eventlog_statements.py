"""Bulk writes to the log tables reach the server as one multi-row statement per chunk, not one per row.

pymysql's executemany batches an INSERT only when its VALUES hold placeholders alone; a NOW(6) or a
literal there silently turns a thousand rows into a thousand round trips (the acknowledgment spent most
of its time so: `make bench-ack`, phase remember_accepted). Counted by the server, not by a clock.
"""

import time
from datetime import UTC, datetime

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import LogKey


def inserts_sent(db) -> int:
    return int(db.sql("SHOW SESSION STATUS LIKE 'Com_insert'")[0][1])


def test_remembering_accepted_offers_is_one_statement_per_chunk(shop_db):
    log = EventLog(shop_db.conn, shop_db.tables, chunk=1000)
    messages = [FeedMessageRef(n, f"SKU-{n}", n, 0, n % 7, None, False, f"{n:016x}") for n in range(1, 2501)]
    before = inserts_sent(shop_db)
    log.remember_accepted("A13V1IB3VIYZZH", messages, at=time.time())
    assert inserts_sent(shop_db) - before == 3
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {shop_db.tables.offer_state} WHERE accepted_at IS NOT NULL") == 2500
    before_update = shop_db.scalar(f"SELECT MAX(accepted_at) FROM {shop_db.tables.offer_state}")
    log.remember_accepted("A13V1IB3VIYZZH", [FeedMessageRef(1, "SKU-1", 1, 0, None, "9.99", False, "f" * 16)],
                          at=time.time() + 1)
    row = shop_db.sql(f"SELECT quantity, price, fingerprint, accepted_at >= %s FROM {shop_db.tables.offer_state} "
                      "WHERE sku = 'SKU-1'", (before_update,))[0]
    assert row[0] == 1 and str(row[1]) == "9.99" and row[2] == "f" * 16 and row[3] == 1  # quantity kept


def test_calendar_rows_are_one_statement(shop_db):
    log = EventLog(shop_db.conn, shop_db.tables)
    keys = [LogKey(n, 0, 1) for n in range(1, 501)]
    before = inserts_sent(shop_db)
    assert log.enqueue_calendar("sales", keys, datetime(2026, 11, 29, tzinfo=UTC)) == 500
    assert inserts_sent(shop_db) - before == 2  # the rows, then the calendar's position
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {shop_db.tables.log} WHERE change_kind = 'calendar'") == 500
