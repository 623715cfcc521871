"""Bulk writes to the log tables reach the server as one multi-row statement per chunk, not one per row.

pymysql's executemany batches an INSERT only when its VALUES hold placeholders alone; a NOW(6) or a
literal there silently turns a thousand rows into a thousand round trips (the acknowledgment spent most
of its time so: `make bench-ack`, phase remember_accepted). Counted by the server, not by a clock.
"""

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from amazon_sync.adapters.mysql import eventlog
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import CLAIMED, FAILED, PENDING
from amazon_sync.domain.feeds import FeedMessageRef
from amazon_sync.domain.model import LogKey


def inserts_sent(db) -> int:
    """INSERT statements the session sent, INSERT ... SELECT included."""
    return sum(int(value) for _, value in db.sql("SHOW SESSION STATUS WHERE Variable_name IN "
                                                  "('Com_insert', 'Com_insert_select')"))


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


def test_noting_submitted_skus_is_one_statement_per_chunk_and_keeps_every_sku_exact(shop_db):
    """The chunk goes as one JSON parameter that JSON_TABLE turns back into rows: any character a SKU may
    hold arrives as it was, a SKU already noted moves to its new offer and keeps what Amazon accepted."""
    log = EventLog(shop_db.conn, shop_db.tables, chunk=1000)
    t = shop_db.tables.offer_state
    odd = ['Q"\\/é', "TAB\tSKU", "😀-40", "", "x" * 40]
    skus = odd + [f"SKU-{n}" for n in range(len(odd), 2500)]
    messages = [FeedMessageRef(n, sku, n + 1, n % 3, None, None, False, "") for n, sku in enumerate(skus)]
    log.remember_accepted("A13V1IB3VIYZZH", [messages[0]._replace(quantity=4, price="9.99", fingerprint="f" * 16)],
                          at=time.time())
    before = inserts_sent(shop_db)
    log.note_submitted("A13V1IB3VIYZZH", [*messages[:2], messages[0]._replace(id_product=77), *messages[2:]])
    assert inserts_sent(shop_db) - before == 3
    stored = {row[0]: row[1:] for row in shop_db.sql(f"SELECT sku, id_product, id_product_attribute, quantity, "
                                                     f"price, fingerprint FROM {t}")}
    assert set(stored) == set(skus)
    assert stored[odd[0]] == (77, 0, 4, Decimal("9.99"), "f" * 16)  # the later message of the chunk wins
    assert stored["SKU-2000"] == (2001, 2000 % 3, None, None, None)


def test_calendar_rows_are_one_statement(shop_db):
    log = EventLog(shop_db.conn, shop_db.tables)
    keys = [LogKey(n, 0, 1) for n in range(1, 501)]
    before = inserts_sent(shop_db)
    assert log.enqueue_calendar("sales", keys, datetime(2026, 11, 29, tzinfo=UTC)) == 500
    assert inserts_sent(shop_db) - before == 2  # the rows, then the calendar's position
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {shop_db.tables.log} WHERE change_kind = 'calendar'") == 500


def _log_ids(db, where: str = "") -> list[int]:
    return [int(row[0]) for row in db.sql(f"SELECT id_amazon_sync_log FROM {db.tables.log} {where} "
                                          "ORDER BY id_amazon_sync_log")]


def test_a_claim_passes_over_a_row_prestashop_has_not_committed_without_waiting(shop_db):
    """A shop transaction still open holds its new log row: the claim takes the committed rows around it
    at once, and the late rows stay pending for the next claim. The marking names ranges of ids, and
    neither the row between them nor the one just past the last is waited for."""
    log = EventLog(shop_db.conn, shop_db.tables)
    insert = (f"INSERT INTO {shop_db.tables.log} (id_product, id_product_attribute, id_shop, change_kind) "
              "VALUES (%s, 0, 1, 'stock')")
    shop_db.sql(insert, (1,))
    shops = [shop_db.new_connection(), shop_db.new_connection()]
    shops[0].begin()
    with shops[0].cursor() as cur:
        cur.execute(insert, (2,))
    shop_db.sql(insert, (3,))
    shops[1].begin()
    with shops[1].cursor() as cur:
        cur.execute(insert, (4,))
    shop_db.sql("SET SESSION innodb_lock_wait_timeout = 1")  # a wait would fail the claim, not hang the test
    try:
        started = time.perf_counter()
        chunk = log.claim(batch_id=1, limit=10)
        waited = time.perf_counter() - started
        assert [claimed.key.id_product for claimed in sorted(log.claimed_keys(1))] == [1, 3]
    finally:
        for shop in shops:
            shop.commit()
            shop.close()
    assert waited < 0.9 and chunk[:2] == (2, _log_ids(shop_db)[-2])
    assert log.claim(batch_id=2, limit=10).rows == 2
    assert sorted(claimed.key.id_product for claimed in log.claimed_keys(2)) == [2, 4]


def test_claimed_rows_come_back_grouped_per_key_with_every_id(shop_db, monkeypatch):
    """A key is a stock change only when every row of it is one; a key whose id list is longer than one
    grouped string may hold is read on its own, whole."""
    log = EventLog(shop_db.conn, shop_db.tables)
    rows = [(10, 5, "stock"), (11, 6, "price"), (65535, 5, "stock"), (65536, 5, "stock"), (65537, 6, "stock"),
            (200000, 5, "stock"), (200001, 7, "price")]
    shop_db.sql(f"INSERT INTO {shop_db.tables.log} (id_amazon_sync_log, id_product, id_product_attribute, id_shop, "
                "change_kind) VALUES " + ", ".join(["(%s, %s, 0, 1, %s)"] * len(rows)),
                [value for row in rows for value in row])
    assert log.claim(batch_id=4, limit=5)[:2] == (5, 65537)
    assert log.claim(batch_id=4, limit=5, after_id=65537)[:2] == (2, 200001)
    assert log.claim(batch_id=4, limit=5, after_id=200001).rows == 0
    expected = {5: (True, [10, 65535, 65536, 200000]), 6: (False, [11, 65537]), 7: (False, [200001])}
    claimed = log.claimed_keys(4)
    grouped = {c.key.id_product: (c.only_stock, sorted(c.rows.ids())) for c in claimed}
    assert grouped == expected
    # counted and bounded by the server, in step with the ids themselves
    assert {c.key.id_product: c.rows[:3] for c in claimed} == {
        product: (len(ids), min(ids), max(ids)) for product, (_, ids) in expected.items()}
    # a session limit lowered under us cuts the string short of our own limit: the whole length tells
    shop_db.conn.cursor().execute("SET SESSION group_concat_max_len = 16")
    grouped = {c.key.id_product: (c.only_stock, sorted(c.rows.ids())) for c in log.claimed_keys(4)}
    assert grouped == expected
    monkeypatch.setattr(eventlog, "GROUP_CONCAT_LIMIT", 16)  # "10,65535,65536,200000" is 21 bytes: cut
    cut_short = EventLog(shop_db.conn, shop_db.tables)  # a new one sets the session's limit again
    grouped = {claimed.key.id_product: (claimed.only_stock, sorted(claimed.rows.ids()))
               for claimed in cut_short.claimed_keys(4)}
    assert grouped == expected


def test_a_claim_whose_id_list_comes_back_cut_claims_nothing_and_says_why(shop_db):
    """A claim with gaps between its ids reads them as one grouped string; if the session's limit on such
    strings were lowered under it (MySQL's default is 1,024 bytes), it must not mark a partial list as if
    it were all."""
    log = EventLog(shop_db.conn, shop_db.tables)
    shop_db.sql(f"INSERT INTO {shop_db.tables.log} (id_amazon_sync_log, id_product, id_product_attribute, id_shop, "
                "change_kind) VALUES (100001, 1, 0, 1, 'stock'), (100002, 2, 0, 1, 'stock'), "
                "(100004, 3, 0, 1, 'stock')")
    assert log.claim(batch_id=1, limit=1).rows == 1
    # the smallest the server allows: "100002,100004" comes back as "1000", an id that was never claimed
    shop_db.sql("SET SESSION group_concat_max_len = 4")
    with pytest.raises(RuntimeError, match="claim read 1 of the 2 ids it locked, the last 1000 for 100004"):
        log.claim(batch_id=1, limit=2)
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {shop_db.tables.log} WHERE batch_id = 1") == 1
    # "100002,1000": both ids' worth of commas, the last one cut inside
    shop_db.sql("SET SESSION group_concat_max_len = 11")
    with pytest.raises(RuntimeError, match="claim read 2 of the 2 ids it locked, the last 1000 for 100004"):
        log.claim(batch_id=1, limit=2)
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {shop_db.tables.log} WHERE batch_id = 1") == 1
    shop_db.sql("SET SESSION group_concat_max_len = 1024")
    assert log.claim(batch_id=1, limit=2).rows == 2


@pytest.mark.parametrize("ids", [
    pytest.param(list(range(500, 540)), id="one run"),
    pytest.param([*range(500, 520), *range(530, 545), 560, 600], id="four runs"),
    pytest.param(list(range(1000, 1600, 2)), id="more runs than ranges are worth: a list"),
])
def test_a_claim_marks_exactly_the_rows_it_locked_and_not_those_between(shop_db, ids):
    """A claim names the rows it marks by ranges of consecutive ids (or a list when they are too
    scattered): a row between two ranges, whether another batch's, already failed, still uncommitted by
    the shop or not due yet, keeps its state."""
    log = EventLog(shop_db.conn, shop_db.tables)
    t = shop_db.tables.log
    lowest, highest = ids[0], ids[-1]
    between = [number for number in range(lowest, highest) if number not in set(ids)]
    shop_db.sql(f"INSERT INTO {t} (id_amazon_sync_log, id_product, change_kind) VALUES "
                + ", ".join(["(%s, 1, 'stock')"] * len(ids + between)), [*ids, *between])
    others = between[0::3], between[1::3], between[2::3]
    if between:
        shop_db.sql(f"UPDATE {t} SET state = {CLAIMED}, batch_id = 7 WHERE id_amazon_sync_log IN "
                    f"({', '.join(map(str, others[0]))})")
    if others[1]:
        shop_db.sql(f"UPDATE {t} SET not_before = NOW(6) + INTERVAL 1 HOUR WHERE id_amazon_sync_log IN "
                    f"({', '.join(map(str, others[1]))})")
    if others[2]:
        shop_db.sql(f"UPDATE {t} SET state = {FAILED} WHERE id_amazon_sync_log IN ({', '.join(map(str, others[2]))})")
    assert log.claim(batch_id=3, limit=len(ids) + 100) == (len(ids), highest, lowest, highest)
    claimed = [row[0] for row in shop_db.sql(f"SELECT id_amazon_sync_log FROM {t} WHERE batch_id = 3 "
                                              f"AND state = {CLAIMED} ORDER BY id_amazon_sync_log")]
    assert claimed == ids
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {t} WHERE batch_id = 7") == len(others[0])
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {t} WHERE state = {PENDING} AND batch_id = 0") == len(others[1])
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {t} WHERE state = {FAILED}") == len(others[2])


def test_claims_that_follow_a_full_chunk_without_looking_ahead_take_exactly_the_claimable_rows(shop_db):
    """After a chunk that filled its span, the next claim starts right after it without first looking
    for a claimable row: rows another batch holds, rows not due, failed rows and a row the shop has not
    committed, all right after full chunks, are passed over (the last without waiting) and keep their state."""
    log = EventLog(shop_db.conn, shop_db.tables)
    t = shop_db.tables.log
    shop_db.sql(f"INSERT INTO {t} (id_amazon_sync_log, id_product, change_kind) VALUES "
                + ", ".join(["(%s, 1, 'stock')"] * 40), list(range(1, 41)))
    shop_db.sql(f"UPDATE {t} SET state = {CLAIMED}, batch_id = 7 WHERE id_amazon_sync_log BETWEEN 6 AND 12")
    shop_db.sql(f"UPDATE {t} SET not_before = NOW(6) + INTERVAL 1 HOUR WHERE id_amazon_sync_log = 18")
    shop_db.sql(f"UPDATE {t} SET state = {FAILED} WHERE id_amazon_sync_log IN (23, 24)")
    shop = shop_db.new_connection()
    shop.begin()
    with shop.cursor() as cur:
        cur.execute(f"INSERT INTO {t} (id_amazon_sync_log, id_product, change_kind) VALUES (41, 2, 'stock')")
    shop_db.sql(f"INSERT INTO {t} (id_amazon_sync_log, id_product, change_kind) VALUES (42, 3, 'stock')")
    shop_db.sql("SET SESSION innodb_lock_wait_timeout = 1")  # a wait would fail the claim, not hang the test
    chunks, probed = [], []
    try:
        after, full = 0, False
        started = time.perf_counter()
        while True:
            probed.append(not full)
            chunk = log.claim(batch_id=3, limit=5, after_id=after, after_full_chunk=full)
            if not chunk.rows:
                break
            chunks.append(chunk)
            after, full = chunk.last_id, chunk.filled(5)
        waited = time.perf_counter() - started
    finally:
        shop.commit()
        shop.close()
    assert waited < 0.9
    assert False in probed  # some claims did start without looking ahead
    claimable = [n for n in range(1, 41) if not 6 <= n <= 12 and n not in (18, 23, 24)] + [42]
    assert _log_ids(shop_db, f"WHERE batch_id = 3 AND state = {CLAIMED}") == claimable
    assert sum(chunk.rows for chunk in chunks) == len(claimable)
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {t} WHERE batch_id = 7 AND state = {CLAIMED}") == 7
    assert shop_db.scalar(f"SELECT COUNT(*) FROM {t} WHERE state = {FAILED}") == 2
    assert _log_ids(shop_db, f"WHERE state = {PENDING} AND batch_id = 0") == [18, 41]


def test_the_newest_claim_marks_a_run_of_ids_from_the_top(shop_db):
    log = EventLog(shop_db.conn, shop_db.tables)
    t = shop_db.tables.log
    shop_db.sql(f"INSERT INTO {t} (id_amazon_sync_log, id_product, change_kind) VALUES "
                + ", ".join(["(%s, 1, 'stock')"] * 30), list(range(1, 31)))
    assert log.claim_newest(batch_id=2, limit=10) == (10, 21, 21, 30)
    assert [row[0] for row in shop_db.sql(f"SELECT id_amazon_sync_log FROM {t} WHERE batch_id = 2 "
                                           "ORDER BY id_amazon_sync_log")] == list(range(21, 31))


def test_a_claim_starts_past_the_rows_it_cannot_take_and_its_batch_reads_back_between_its_bounds(shop_db):
    """The log has no index by state: the first claimable row is found in id order, past a prefix of
    rows another batch holds, rows not due yet and failed rows; the batch's rows read back between the
    ids it claimed are the rows read back from the whole log."""
    log = EventLog(shop_db.conn, shop_db.tables)
    t = shop_db.tables.log
    shop_db.sql(f"INSERT INTO {t} (id_amazon_sync_log, id_product, change_kind) VALUES "
                + ", ".join(["(%s, %s, 'stock')"] * 60),
                [value for number in range(1, 61) for value in (number, number % 7)])
    shop_db.sql(f"UPDATE {t} SET state = {CLAIMED}, batch_id = 7 WHERE id_amazon_sync_log <= 20")
    shop_db.sql(f"UPDATE {t} SET not_before = NOW(6) + INTERVAL 1 HOUR WHERE id_amazon_sync_log BETWEEN 21 AND 30")
    shop_db.sql(f"UPDATE {t} SET state = {FAILED} WHERE id_amazon_sync_log BETWEEN 31 AND 35 "
                "OR id_amazon_sync_log = 50")
    chunk = log.claim(batch_id=3, limit=100)
    assert chunk == (24, 60, 36, 60)
    whole = sorted((c.key, c.only_stock, sorted(c.rows.ids())) for c in log.claimed_keys(3))
    assert sorted((c.key, c.only_stock, sorted(c.rows.ids())) for c in log.claimed_keys(3, between=(36, 60))) == whole
    assert sorted(i for _, _, ids in whole for i in ids) == [*range(36, 50), *range(51, 61)]
    assert log.claim_newest(batch_id=4, limit=10).rows == 0
