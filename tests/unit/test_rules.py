"""The marketplace's quantity and price rules (config.QuantityRules, config.PriceRules)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from amazon_sync.config import PriceRules, QuantityRules

CENT = Decimal("0.01")
prices = st.decimals(min_value=0, max_value=100000, places=2)
endings = st.none() | st.decimals(min_value=0, max_value=Decimal("0.99"), places=2)
bounds = st.none() | st.decimals(min_value=0, max_value=100000, places=4)


@st.composite
def price_rules(draw: st.DrawFn, with_ending: bool = False) -> PriceRules:
    """Any valid rules; ``with_ending``: always an ending and a markup that keeps prices positive."""
    minimum, maximum = draw(bounds), draw(bounds)
    if minimum is not None and maximum is not None and minimum > maximum:
        minimum, maximum = maximum, minimum
    try:
        return PriceRules(markup_percent=draw(st.decimals(min_value=-90, max_value=1000, places=2)),
                          markup_fixed=draw(st.decimals(min_value=0 if with_ending else -1000, max_value=1000,
                                                        places=2)),
                          ending=draw(endings.filter(lambda e: e is not None) if with_ending else endings),
                          minimum=minimum, maximum=maximum)
    except ValidationError:
        assume(False)  # bounds with no whole-cent price between them are refused (tested below)
        raise


def cents(value: Decimal | None, rounding: str) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=rounding)


@given(price_rules(), prices, prices)
def test_price_rules_are_monotonic(rules, first, second):
    low, high = sorted((first, second))
    assert rules.apply(low) <= rules.apply(high)


@given(price_rules(), prices)
def test_prices_respect_minimum_and_maximum_and_are_whole_cents(rules, price):
    result = rules.apply(price)
    assert result == result.quantize(CENT)
    if rules.minimum is not None:
        assert result >= rules.minimum
    if rules.maximum is not None:
        assert result <= rules.maximum


@given(price_rules(with_ending=True), prices)
def test_an_unclamped_price_has_the_ending_and_is_never_rounded_down(rules, price):
    raw = price * (1 + rules.markup_percent / 100) + rules.markup_fixed
    result = rules.apply(price)
    lowest, highest = cents(rules.minimum, ROUND_CEILING), cents(rules.maximum, ROUND_FLOOR)
    assume((lowest is None or result > lowest) and (highest is None or result < highest))
    assert result % 1 == rules.ending
    assert raw <= result < raw + 1


def test_price_rule_examples():
    assert PriceRules(ending=Decimal("0.99")).apply(Decimal("12.31")) == Decimal("12.99")
    assert PriceRules(ending=Decimal("0.99")).apply(Decimal("12.99")) == Decimal("12.99")
    assert PriceRules(ending=Decimal("0.99")).apply(Decimal("13.00")) == Decimal("13.99")
    assert PriceRules(markup_percent=Decimal(10), markup_fixed=Decimal("0.5")).apply(Decimal(10)) == Decimal("11.50")
    assert PriceRules(minimum=Decimal(5)).apply(Decimal(1)) == Decimal("5.00")
    assert PriceRules(maximum=Decimal(5)).apply(Decimal(9)) == Decimal("5.00")


def test_a_minimum_above_the_maximum_is_refused():
    with pytest.raises(ValidationError, match="above maximum"):
        PriceRules(minimum=Decimal(10), maximum=Decimal(5))
    with pytest.raises(ValidationError, match="no whole-cent price"):
        PriceRules(minimum=Decimal("1.001"), maximum=Decimal("1.009"))


def test_bounds_finer_than_a_cent_are_never_crossed_by_rounding():
    assert PriceRules(minimum=Decimal("0.0050")).apply(Decimal(0)) == Decimal("0.01")
    assert PriceRules(minimum=Decimal("1.0049")).apply(Decimal(0)) == Decimal("1.01")
    assert PriceRules(maximum=Decimal("9.9951")).apply(Decimal(20)) == Decimal("9.99")


quantity_rules = st.builds(QuantityRules, reserve=st.integers(0, 50), maximum=st.none() | st.integers(0, 500),
                           backorder_quantity=st.none() | st.integers(0, 100))


@given(quantity_rules, st.integers(-1000, 100000), st.booleans())
def test_quantities_are_never_negative_nor_above_the_maximum(rules, stock, backorders):
    result = rules.apply(stock, backorders)
    assert result >= 0
    if rules.maximum is not None:
        assert result <= rules.maximum
    if result > 0 and not (backorders and rules.backorder_quantity):
        assert result <= stock - rules.reserve  # the reserve is always kept back


@given(quantity_rules, st.integers(-1000, 100000), st.integers(-1000, 100000), st.booleans())
def test_more_stock_never_announces_less(rules, first, second, backorders):
    low, high = sorted((first, second))
    assume(not (backorders and rules.backorder_quantity))  # the backorder quantity stands in for "none"
    assert rules.apply(low, backorders) <= rules.apply(high, backorders)


def test_backorders_announce_the_backorder_quantity_only_when_out_of_stock():
    rules = QuantityRules(reserve=2, backorder_quantity=5)
    assert rules.apply(1, True) == 5 and rules.apply(1, False) == 0 and rules.apply(10, True) == 8
    assert QuantityRules().apply(0, True) == 0  # null announces 0
