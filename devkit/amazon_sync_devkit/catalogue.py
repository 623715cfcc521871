"""A deterministic sample PrestaShop catalogue for tests, the demo and benchmarks.

The same seed gives the same shop: products, combinations, two shops in a group that may share
stock, three currencies, taxes per country, and specific prices (some current, some scheduled).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.schema import Tables

COUNTRIES = {"DE": 1, "FR": 8, "GB": 17, "US": 21}
CURRENCIES = {"EUR": (1, "1.000000"), "GBP": (2, "0.850000"), "USD": (3, "1.080000")}
# (tax rules group, country, tax id)
TAX_RULES = [(1, "FR", 1), (1, "DE", 2), (2, "FR", 3), (2, "DE", 4), (1, "GB", 5)]
TAXES = {1: "20.000", 2: "19.000", 3: "5.500", 4: "7.000", 5: "20.000"}


@dataclass(frozen=True)
class CatalogueSpec:
    products: int = 200
    combination_share: float = 0.3
    combinations_per_product: int = 3
    shops: int = 2
    share_stock: bool = False
    specific_price_share: float = 0.1
    seed: int = 42
    unicode_skus: bool = True


@dataclass
class Catalogue:
    spec: CatalogueSpec
    offers: list[tuple[int, int]]  # (id_product, id_product_attribute) of every offer

    @property
    def products(self) -> int:
        return self.spec.products


def _chunks(rows: Sequence[tuple[object, ...]], size: int = 2000) -> Iterator[Sequence[tuple[object, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def create_catalogue(conn: Connection[pymysql.cursors.Cursor], t: Tables,
                     spec: CatalogueSpec = CatalogueSpec()) -> Catalogue:
    rng = random.Random(spec.seed)
    now = datetime(2026, 1, 1)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    offers: list[tuple[int, int]] = []
    products, product_shops, attributes, attribute_shops, stocks, specifics = [], [], [], [], [], []
    next_attribute = 1
    stock_targets = [(0, 1)] if spec.share_stock else [(shop, 0) for shop in range(1, spec.shops + 1)]
    for product in range(1, spec.products + 1):
        reference = f"PS-{product:07d}"
        if spec.unicode_skus and product % 50 == 7:
            reference = f"ÉTÉ-{product:07d}"
        price = f"{rng.randint(300, 50000) / 100:.6f}"
        tax_group = 2 if product % 10 == 0 else 1
        has_combinations = rng.random() < spec.combination_share
        products.append((product, tax_group, reference, f"SUP-{product}", f"{4000000000000 + product}",
                         price, 1, stamp, stamp, stamp, "combinations" if has_combinations else "standard"))
        for shop in range(1, spec.shops + 1):
            product_shops.append((product, shop, tax_group, price, 1, 1, stamp, stamp, stamp))
        keys = []
        if has_combinations:
            for index in range(spec.combinations_per_product):
                attribute = next_attribute
                next_attribute += 1
                impact = f"{rng.choice([0, 0, 1.5, 2, -1]):.6f}"
                attributes.append((attribute, product, f"{reference}-{index + 1}", price, 1 if index == 0 else None))
                for shop in range(1, spec.shops + 1):
                    attribute_shops.append((product, attribute, shop, impact, 1 if index == 0 else None))
                keys.append((product, attribute))
            for stock_shop, stock_group in stock_targets:
                stocks.append((product, 0, stock_shop, stock_group, 0, 0))  # PrestaShop's sum row
        else:
            keys.append((product, 0))
        for key in keys:
            for stock_shop, stock_group in stock_targets:
                stocks.append((key[0], key[1], stock_shop, stock_group, rng.randint(0, 40), 2))
        offers.extend(keys)
        if rng.random() < spec.specific_price_share:
            start = now - timedelta(days=1) if product % 2 else now + timedelta(days=10)
            specifics.append((product, 0, 0, 0, 0, 0, "-1.000000", "0.100000", "percentage",
                              start.strftime("%Y-%m-%d %H:%M:%S"), "0000-00-00 00:00:00"))
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(f"INSERT INTO {t.table('shop_group')} (id_shop_group, name, share_stock) VALUES (1, 'Default', %s)",
                    (int(spec.share_stock),))
        cur.executemany(f"INSERT INTO {t.table('shop')} (id_shop, id_shop_group, name) VALUES (%s, 1, %s)",
                        [(shop, f"Shop {shop}") for shop in range(1, spec.shops + 1)])
        cur.executemany(f"INSERT INTO {t.table('country')} (id_country, id_zone, iso_code, active, "
                        "display_tax_label) VALUES (%s, 1, %s, 1, 1)",
                        [(cid, iso) for iso, cid in COUNTRIES.items()])
        cur.executemany(f"INSERT INTO {t.table('currency')} (id_currency, name, iso_code, conversion_rate) "
                        "VALUES (%s, %s, %s, %s)", [(cid, iso, iso, rate) for iso, (cid, rate) in CURRENCIES.items()])
        cur.executemany(f"INSERT INTO {t.table('currency_shop')} (id_currency, id_shop, conversion_rate) "
                        "VALUES (%s, %s, %s)",
                        [(cid, shop, rate) for cid, rate in CURRENCIES.values() for shop in range(1, spec.shops + 1)])
        cur.executemany(f"INSERT INTO {t.table('tax')} (id_tax, rate) VALUES (%s, %s)", list(TAXES.items()))
        cur.executemany(f"INSERT INTO {t.table('tax_rules_group')} (id_tax_rules_group, name, active, deleted, "
                        "date_add, date_upd) VALUES (%s, %s, 1, 0, %s, %s)",
                        [(1, "Standard", stamp, stamp), (2, "Reduced", stamp, stamp)])
        cur.executemany(f"INSERT INTO {t.table('tax_rule')} (id_tax_rules_group, id_country, id_state, zipcode_from, "
                        "zipcode_to, id_tax, behavior, description) VALUES (%s, %s, 0, '0', '0', %s, 0, '')",
                        [(group, COUNTRIES[iso], tax) for group, iso, tax in TAX_RULES])
        for chunk in _chunks(products):
            cur.executemany(f"INSERT INTO {t.table('product')} (id_product, id_tax_rules_group, reference, "
                            "supplier_reference, ean13, price, active, date_add, date_upd, date_novelty, product_type) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", chunk)
        for chunk in _chunks(product_shops):
            cur.executemany(f"INSERT INTO {t.table('product_shop')} (id_product, id_shop, id_tax_rules_group, price, "
                            "active, available_for_order, date_add, date_upd, date_novelty) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", chunk)
        for chunk in _chunks(attributes):
            cur.executemany(f"INSERT INTO {t.table('product_attribute')} (id_product_attribute, id_product, reference, "
                            "price, default_on) VALUES (%s, %s, %s, %s, %s)", chunk)
        for chunk in _chunks(attribute_shops):
            cur.executemany(f"INSERT INTO {t.table('product_attribute_shop')} (id_product, id_product_attribute, "
                            "id_shop, price, default_on) VALUES (%s, %s, %s, %s, %s)", chunk)
        for chunk in _chunks(stocks):
            cur.executemany(f"INSERT INTO {t.table('stock_available')} (id_product, id_product_attribute, id_shop, "
                            "id_shop_group, quantity, out_of_stock) VALUES (%s, %s, %s, %s, %s, %s)", chunk)
        for chunk in _chunks(specifics):
            cur.executemany(f"INSERT INTO {t.table('specific_price')} (id_product, id_product_attribute, id_shop, "
                            "id_currency, id_country, id_group, price, reduction, reduction_type, `from`, `to`, "
                            "id_specific_price_rule, id_cart, id_shop_group, id_customer, from_quantity) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 0, 1)", chunk)
    return Catalogue(spec, offers)


def seed_log_rows(conn: Connection[pymysql.cursors.Cursor], t: Tables, offers: list[tuple[int, int]],
                  rows: int, *, id_shop: int = 1, chunk: int = 10000) -> int:
    """Insert ``rows`` log rows spread evenly over ``offers`` (every offer gets rows), directly as the
    triggers would, for benchmarks; the kind of change varies from one pass over the offers to the next."""
    kinds = ("stock", "stock", "price", "stock", "product")
    base = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    written = 0
    with conn.cursor() as cur:
        while written < rows:
            batch = []
            for index in range(min(chunk, rows - written)):
                position = written + index
                product, attribute = offers[position % len(offers)]
                stamp = (base + timedelta(microseconds=position)).strftime("%Y-%m-%d %H:%M:%S.%f")
                batch.append((product, attribute, id_shop, kinds[(position // len(offers)) % len(kinds)], stamp))
            cur.executemany(f"INSERT INTO {t.log} (id_product, id_product_attribute, id_shop, change_kind, changed_at) "
                            "VALUES (%s, %s, %s, %s, %s)", batch)
            written += len(batch)
    return written
