"""PriceRules.apply skips a markup of 0 instead of applying it: the price it gives must be the one the full
formula gives, representation included, for every price and rule."""

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.config import CENT, PriceRules


def full_formula(rules: PriceRules, price: Decimal, step: Decimal) -> Decimal:
    value = price * (1 + rules.markup_percent / 100) + rules.markup_fixed
    if rules.ending is not None:
        whole = value.to_integral_value(rounding=ROUND_CEILING) - 1
        value = whole + rules.ending if whole + rules.ending >= value else whole + 1 + rules.ending
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if rules.minimum is not None:
        value = max(value, rules.minimum.quantize(CENT, rounding=ROUND_CEILING))
    if rules.maximum is not None:
        value = min(value, rules.maximum.quantize(CENT, rounding=ROUND_FLOOR))
    if step != CENT:
        value = value.quantize(step, rounding=ROUND_HALF_UP)
        if rules.minimum is not None and value < rules.minimum:
            value += step
        if rules.maximum is not None and value > rules.maximum:
            value -= step
    return value


rules = st.builds(
    PriceRules,
    markup_percent=st.sampled_from([Decimal(0), Decimal("0.00")]) | st.decimals(-90, 1000, places=2),
    markup_fixed=st.sampled_from([Decimal(0), Decimal("0.000000")]) | st.decimals(-1000, 1000, places=2),
    ending=st.none() | st.decimals(0, Decimal("0.99"), places=2))


@given(rules, st.decimals(0, 100000, places=6), st.sampled_from([CENT, Decimal(1)]))
def test_a_price_is_the_full_formulas_with_or_without_markups(rules, price, step):
    assert repr(rules.apply(price, step)) == repr(full_formula(rules, price, step))
