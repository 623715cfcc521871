"""Finding 5 of issue 16: a run longer than its lease renews it (only while it owns it) before each
submission, stops when another run has taken over, and every delete or release names the batch that
holds the rows."""

from __future__ import annotations

import time

import pytest

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import CLAIMED
from amazon_sync.errors import LeaseLost
from amazon_sync.services.acknowledge import Acknowledger
from amazon_sync.services.export import ExportRequest
from tests.integration.test_export import change_stock


class Clock:
    def __init__(self) -> None:
        self.value = time.time()

    def __call__(self) -> float:
        return self.value


def change_many(stack, count):
    for product, attribute in stack.catalogue.offers[:count]:
        change_stock(stack, product, attribute, 7)


def test_a_long_run_keeps_its_lease_and_its_claims(make_stack):
    """Each feed takes longer than the whole lease (60 s here): without renewal a scheduled run would take
    the lease, and the acknowledgment's recovery would declare the batch dead, while it still submits."""
    stack = make_stack(max_messages_per_feed=5, max_feeds_per_run=3, feeds_per_window=3)
    change_many(stack, 15)
    clock = Clock()
    lease = stack.runtime.settings.lease_seconds
    seen = []

    def slow_amazon(point):
        if point == "after_create_feed":
            clock.value += lease - 1  # this feed took almost a whole lease
            # meanwhile: the schedule's next run, and the acknowledgment's recovery
            stack.db.sql("UPDATE ps_amazon_sync_log SET claimed_at = claimed_at - INTERVAL %s SECOND "
                         "WHERE state = 1", (lease,))  # the database's clock moved on too
            other = stack.runtime.exporter(now=clock).run(ExportRequest())
            seen.append(other.skipped_reason)
            stack.runtime.acknowledger(now=clock).run()

    summary = stack.export(_exporter={"on_step": slow_amazon, "now": clock})
    assert summary.feeds_submitted == 3 and seen == ["another export run holds the lease"] * 3
    assert len(stack.amazon.feeds) == 3  # no second run sent the same SKUs
    batch = stack.runtime.state.get_batch(summary.batch_id)
    assert not batch.interrupted


def test_a_run_that_lost_its_lease_submits_nothing_more(make_stack):
    stack = make_stack(max_messages_per_feed=5, max_feeds_per_run=3, feeds_per_window=3)
    change_many(stack, 15)
    clock = Clock()

    def taken_over(point):
        if point == "after_create_feed":
            clock.value += stack.runtime.settings.lease_seconds + 1  # the lease ran out (a stalled run)
            assert stack.runtime.state.acquire_lease("export", "someone-else", 900, clock.value)

    with pytest.raises(LeaseLost):
        stack.export(_exporter={"on_step": taken_over, "now": clock})
    assert len(stack.amazon.feeds) == 1
    assert stack.runtime.state.lease_holder("export")["owner"] == "someone-else"


def test_renewal_is_conditional_on_the_owner(make_stack):
    state = make_stack().runtime.state
    now = time.time()
    assert state.acquire_lease("export", "a", 60, now)
    assert state.renew_lease("export", "a", 60, now + 30)
    assert state.lease_holder("export")["expires_at"] == pytest.approx(now + 90)
    assert not state.renew_lease("export", "b", 60, now + 40)
    assert not state.renew_lease("export", "a", 60, now + 200)  # expired: it may already be someone else's


def test_deletes_and_releases_name_the_batch(shop_db):
    log = EventLog(shop_db.conn, shop_db.tables)
    shop_db.sql("INSERT INTO ps_amazon_sync_log (id_product, id_product_attribute, id_shop, change_kind) "
                "VALUES (1, 0, 1, 'stock'), (2, 0, 1, 'stock')")
    assert log.claim(batch_id=1, limit=10).rows == 2
    ids = sorted(i for claimed in log.claimed_keys(1) for i in claimed.rows.ids())
    assert log.release(ids, batch_id=1) == (2, 0)  # batch 1 hands them back...
    assert log.claim(batch_id=2, limit=10) == (2, ids[-1], ids[0], ids[-1])  # ...and batch 2 claims them
    assert sorted(i for claimed in log.claimed_keys(2) for i in claimed.rows.ids()) == ids
    # a late settle of batch 1 (Amazon accepted its feed) must not touch batch 2's rows
    assert log.delete(ids, batch_id=1) == 0
    assert log.release(ids, batch_id=1, count_attempt=True, max_attempts=1) == (0, 0)
    assert shop_db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE state = %s AND batch_id = 2",
                          (CLAIMED,)) == 2
    assert log.delete(ids, batch_id=2) == 2


def test_cli_runs_have_a_deadline(make_stack):
    stack = make_stack()
    exporter = stack.runtime.exporter()
    acknowledger: Acknowledger = stack.runtime.acknowledger()
    first = exporter.remaining_seconds()
    assert 0 < first <= 900
    time.sleep(0.01)
    assert exporter.remaining_seconds() < first  # a clock, not a constant
    assert 0 < acknowledger.remaining_seconds() <= 300
