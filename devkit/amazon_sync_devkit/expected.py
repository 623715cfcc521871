"""What Amazon should show for each SKU: PrestaShop's values with a marketplace's rules applied.

The demo and the tests compare the (simulated) Amazon with this; the export itself works per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.config import SyncConfig


@dataclass(frozen=True)
class ExpectedListing:
    quantity: int
    price: Decimal
    sale: Decimal | None


def expected_listings(conn: Connection[pymysql.cursors.Cursor], tables: Tables, config: SyncConfig,
                      marketplace_id: str, now: datetime | None = None) -> dict[str, ExpectedListing]:
    """At ``now`` (default: the present), which decides the sale windows in force."""
    marketplace = config.marketplace(marketplace_id)
    reader = OfferReader(conn, tables, config.sku_field)
    ctx = reader.shop_context(marketplace.shop_id, marketplace.country, marketplace.currency,
                              marketplace.shop_timezone, marketplace.conversion_rate,
                              marketplace.allow_orders_when_out_of_stock)
    expected: dict[str, ExpectedListing] = {}
    for chunk in reader.all_offer_keys(ctx):
        for offer in reader.read(ctx, chunk, now):
            if not offer.sendable or offer.sku is None or offer.price is None:
                continue
            price = marketplace.offer_price(offer.price)
            sale = marketplace.offer_price(offer.sale.price) if offer.sale else None
            expected[offer.sku] = ExpectedListing(
                marketplace.quantity.apply(offer.quantity, offer.backorders_allowed), price,
                sale if sale is not None and sale < price else None)
    return expected
