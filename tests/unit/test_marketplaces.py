"""Marketplace configuration against Amazon's rules: currency per marketplace, yen in whole units,
one merchant quantity per seller and SKU (docs/amazon-behaviours.md, rows 6 and 7)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from amazon_sync.config import parse_config
from amazon_sync.domain.marketplaces import MARKETPLACE_CURRENCIES, round_amount
from amazon_sync.errors import ConfigurationError

FR, DE, JP = "A13V1IB3VIYZZH", "A1PA6795UKMFR9", "A1VC38T7YXB528"


def marketplace(marketplace_id=FR, country="FR", currency="EUR", **extra):
    return {"marketplace_id": marketplace_id, "seller_id": "S1", "country": country, "currency": currency, **extra}


def config(*marketplaces):
    import json

    return parse_config(json.dumps({"marketplaces": list(marketplaces)}))


def test_a_currency_that_is_not_the_marketplaces_is_refused():
    with pytest.raises(ConfigurationError, match="EUR is not the currency of marketplace A1VC38T7YXB528"):
        config(marketplace(JP, "JP", "EUR"))
    assert config(marketplace(JP, "JP", "JPY")).marketplaces[0].currency == "JPY"


def test_yen_prices_are_whole_units():
    jp = config(marketplace(JP, "JP", "JPY", price={"markup_percent": "7"})).marketplaces[0]
    assert jp.offer_price(Decimal("1234.56")) == Decimal("1321")
    fr = config(marketplace(price={"markup_percent": "7"})).marketplaces[0]
    assert fr.offer_price(Decimal("1234.56")) == Decimal("1320.98")
    with pytest.raises(ConfigurationError, match="whole units"):
        config(marketplace(JP, "JP", "JPY", price={"ending": "0.99"}))
    assert round_amount(Decimal("10.5"), "JPY") == Decimal("11")


def test_every_marketplace_id_has_one_currency():
    from sp_api.base import Marketplaces

    known = {m.marketplace_id for m in Marketplaces}
    assert set(MARKETPLACE_CURRENCIES) <= known
    assert all(len(currency) == 3 and currency.isupper() for currency in MARKETPLACE_CURRENCIES.values())


def test_every_marketplace_of_a_seller_sends_quantity():
    both = config(marketplace(), marketplace(DE, "DE"))
    assert both.quantity_marketplaces() == {FR, DE}
    assert config(marketplace(), marketplace(DE, "DE", send_quantity=False)).quantity_marketplaces() == {FR}


def test_quantity_sources_of_one_seller_must_agree():
    with pytest.raises(ConfigurationError, match="one quantity per seller and SKU"):
        config(marketplace(), marketplace(DE, "DE", shop_id=2))
    with pytest.raises(ConfigurationError, match="one quantity per seller and SKU"):
        config(marketplace(), marketplace(DE, "DE", quantity={"reserve": 2}))
    assert config(marketplace(), marketplace(DE, "DE", shop_id=2, send_quantity=False))
    assert config(marketplace(), {**marketplace(DE, "DE", shop_id=2), "seller_id": "S2"})
