"""The order offers go in (services.express): oldest change first for feeds, newest first for the lane.

Checked against the definition on arbitrary log rows: an offer's changes are the rows naming it (its own
key, or its product's with combination 0) in its shop or in every shop (shop 0)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.domain.model import LogKey
from amazon_sync.services.express import newest_first, oldest_first

keys = st.builds(LogKey, st.integers(1, 4), st.integers(0, 3), st.integers(0, 2))
logs = st.dictionaries(keys, st.lists(st.integers(1, 10**6), max_size=4, unique=True), max_size=30)
offer_lists = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), unique=True, max_size=12)


def naming(offer: tuple[int, int], rows_by_key: dict[LogKey, list[int]], shop: int) -> list[int]:
    return [row for key, ids in rows_by_key.items() for row in ids
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
