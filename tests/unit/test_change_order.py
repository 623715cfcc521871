"""The order offers go in (services.express): oldest change first for feeds, newest first for the lane.

Checked against the definition on arbitrary log rows: an offer's changes are the rows naming it (its own
key, or its product's with combination 0) in its shop or in every shop (shop 0)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.domain.model import LogKey, RowIds
from amazon_sync.services.express import newest_first, oldest_first

keys = st.builds(LogKey, st.integers(1, 4), st.integers(0, 3), st.integers(0, 2))
logs = st.dictionaries(keys, st.lists(st.integers(1, 10**6), max_size=4, unique=True).map(RowIds.of), max_size=30)
offer_lists = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), unique=True, max_size=12)


def naming(offer: tuple[int, int], rows_by_key: dict[LogKey, RowIds], shop: int) -> list[int]:
    return [row for key, rows in rows_by_key.items() for row in rows.ids()
            if key.id_shop in (0, shop) and key.id_product == offer[0]
            and key.id_product_attribute in (0, offer[1])]


@given(offers=offer_lists, rows_by_key=logs, shop=st.integers(1, 2))
def test_offers_go_oldest_change_first_and_newest_change_first(offers, rows_by_key, shop):
    def oldest(offer: tuple[int, int]) -> tuple[int, tuple[int, int]]:
        return min(naming(offer, rows_by_key, shop), default=2**63), offer

    def newest(offer: tuple[int, int]) -> tuple[int, tuple[int, int]]:
        return -max(naming(offer, rows_by_key, shop), default=-1), offer

    assert oldest_first(offers, rows_by_key, shop) == sorted(offers, key=oldest)
    assert newest_first(offers, rows_by_key, shop) == sorted(offers, key=newest)


@given(ids=st.lists(st.integers(1, 2**63 - 1), max_size=20))
def test_row_ids_keep_every_id_with_their_count_and_bounds(ids):
    rows = RowIds.of(ids)
    assert rows.ids() == ids
    assert rows[:3] == (len(ids), min(ids, default=0), max(ids, default=0))
    assert RowIds(rows.size, rows.oldest, rows.newest, rows.listed.encode()).ids() == ids
