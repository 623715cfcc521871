"""Validating the marketplace configuration document (config.parse_config)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amazon_sync.config import parse_config
from amazon_sync.errors import ConfigurationError

FR = {"marketplace_id": "A13V1IB3VIYZZH", "seller_id": "A1LOCALSELLER", "shop_id": 1, "country": "FR",
      "currency": "EUR"}
DE = {**FR, "marketplace_id": "A1PA6795UKMFR9", "country": "DE"}
US = {**FR, "marketplace_id": "ATVPDKIKX0DER", "country": "US", "currency": "USD"}


def document(*marketplaces: dict[str, Any], **settings: Any) -> str:
    return json.dumps({"marketplaces": list(marketplaces), **settings})


@pytest.mark.parametrize(("text", "problem"), [
    (document({**FR, "currency": "euro"}), r"marketplaces\.0\.currency"),
    (document(FR, FR), "configured twice"),
    (document({**FR, "marketplace_id": "AAAAAAAAAAAAA"}), "not an Amazon marketplace id"),
    (document({**FR, "price": {"minimum": 10, "maximum": 5}}), "above maximum"),
    (document({**FR, "colour": "red"}), r"marketplaces\.0\.colour: Extra inputs are not permitted"),
    (document(FR, max_messages_per_feed=30000), "max_messages_per_feed"),
    (document(FR, unknown_field=1), "unknown_field: Extra inputs are not permitted"),
    (json.dumps({"marketplaces": []}), "marketplaces"),
    ("[1, 2]", "must be a JSON/YAML object"),
    ("marketplaces: [", "not valid JSON or YAML"),
])
def test_a_bad_document_is_refused_naming_the_field(text, problem):
    with pytest.raises(ConfigurationError, match=problem):
        parse_config(text, "marketplaces.json")


def test_yaml_and_json_give_the_same_configuration():
    yaml_text = ("marketplaces:\n  - marketplace_id: A13V1IB3VIYZZH\n    seller_id: A1LOCALSELLER\n"
                 "    country: FR\n    currency: EUR\n")
    assert parse_config(yaml_text) == parse_config(document({k: v for k, v in FR.items() if k != "shop_id"}))


def test_quantity_goes_to_every_marketplace_unless_chosen():
    # one merchant quantity per seller and SKU (docs/amazon-behaviours.md, row 7): each sends the same
    assert parse_config(document(FR, DE, US)).quantity_marketplaces() == {
        FR["marketplace_id"], DE["marketplace_id"], US["marketplace_id"]}
    chosen = parse_config(document({**FR, "send_quantity": False}, DE))
    assert chosen.quantity_marketplaces() == {DE["marketplace_id"]}


def test_excluded_skus_and_prefixes():
    config = parse_config(document({**FR, "exclude_skus": ["A"], "exclude_sku_prefixes": ["FBA-"]}))
    marketplace = config.marketplaces[0]
    assert marketplace.excluded("A") and marketplace.excluded("FBA-1") and not marketplace.excluded("B")
