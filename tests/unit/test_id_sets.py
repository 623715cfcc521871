"""Sets of ids named to the server by ranges of consecutive ids, or in a list past MAX_RANGES runs."""

import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.adapters.mysql.connection import MAX_RANGES, consecutive_runs, id_set_condition

ID_SETS = st.sets(st.integers(min_value=0, max_value=5_000), max_size=400)


def ids_named_by(condition: str, args: list[int]) -> set[int]:
    """What the condition selects, read back from its text and parameters."""
    if condition == "FALSE":
        return set()
    if " IN (" in condition:
        return set(args)
    assert re.fullmatch(r"col BETWEEN %s AND %s( OR col BETWEEN %s AND %s)*", condition)
    return {number for first, last in zip(args[::2], args[1::2], strict=True) for number in range(first, last + 1)}


@given(ID_SETS)
def test_runs_are_the_maximal_stretches_of_consecutive_ids(ids):
    runs = consecutive_runs(sorted(ids))
    assert {number for first, last in runs for number in range(first, last + 1)} == ids
    assert all(first <= last for first, last in runs)
    # maximal: two runs never touch, and they come in order
    assert all(previous[1] + 1 < following[0] for previous, following in itertools.pairwise(runs))


@given(ID_SETS)
def test_the_condition_names_exactly_the_ids_and_is_a_list_past_the_limit(ids):
    runs = consecutive_runs(sorted(ids))
    condition, args = id_set_condition("col", runs)
    assert ids_named_by(condition, args) == ids
    assert (" IN (" in condition) == (len(runs) > MAX_RANGES)
