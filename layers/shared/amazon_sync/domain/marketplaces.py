"""Amazon's marketplaces: each one's currency, and how many decimals a currency's amounts may have.

Source: the SP-API "Marketplace IDs" page (marketplace -> country; each country's currency), and the
Product Type Definitions schema of ``purchasable_offer``, where every ``value_with_tax`` of a JPY offer
has ``"multipleOf": 1`` (docs/amazon-behaviours.md, row 6). python-amazon-sp-api's ``Marketplaces``
gives ids, endpoints and regions but no currency.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MARKETPLACE_CURRENCIES: dict[str, str] = {
    "A2EUQ1WTGCTBG2": "CAD",  # Canada
    "ATVPDKIKX0DER": "USD",  # United States
    "A1AM78C64UM0Y8": "MXN",  # Mexico
    "A2Q3Y263D00KWC": "BRL",  # Brazil
    "A28R8C7NBKEWEA": "EUR",  # Ireland
    "A1RKKUPIHCS9HS": "EUR",  # Spain
    "A1F83G8C2ARO7P": "GBP",  # United Kingdom
    "A13V1IB3VIYZZH": "EUR",  # France
    "AMEN7PMS3EDWL": "EUR",  # Belgium
    "A1805IZSGTT6HS": "EUR",  # Netherlands
    "A1PA6795UKMFR9": "EUR",  # Germany
    "APJ6JRA9NG5V4": "EUR",  # Italy
    "A2NODRKZP88ZB9": "SEK",  # Sweden
    "AE08WJ6YKNBMC": "ZAR",  # South Africa
    "A1C3SOZRARQ6R3": "PLN",  # Poland
    "ARBP9OOSHTCHU": "EGP",  # Egypt
    "A33AVAJ2PDY3EV": "TRY",  # Turkey
    "A17E79C6D8DWNP": "SAR",  # Saudi Arabia
    "A2VIGQ35RCS4UG": "AED",  # United Arab Emirates
    "A21TJRUUN4KGV": "INR",  # India
    "A19VAU5U5O7RUS": "SGD",  # Singapore
    "A39IBJ37TRP1C6": "AUD",  # Australia
    "A1VC38T7YXB528": "JPY",  # Japan
}

# Amazon's listings schema allows cents everywhere except where it says "multipleOf": 1.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY"})


def currency_of(marketplace_id: str) -> str | None:
    return MARKETPLACE_CURRENCIES.get(marketplace_id)


_WHOLE_UNIT, _CENT = Decimal(1), Decimal("0.01")


def currency_step(currency: str) -> Decimal:
    """The smallest amount Amazon takes in this currency: 1 for JPY, 0.01 otherwise."""
    return _WHOLE_UNIT if currency in ZERO_DECIMAL_CURRENCIES else _CENT


def round_amount(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(currency_step(currency), rounding=ROUND_HALF_UP)
