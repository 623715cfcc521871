"""The floor an export is compared with: reading each of its inputs once, with plain streamed SELECTs.

Two inputs: the log rows, and the offer data the reader needs for the offers they name (stock,
prices, specific prices, taxes). Each SELECT is streamed (SSCursor) and its rows are only iterated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pymysql.cursors

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from bench.common import TABLES


def _stream(conn: pymysql.connections.Connection[pymysql.cursors.Cursor], sql: str,
            args: Sequence[object] = ()) -> int:
    count = 0
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute(sql, args)
        for _ in cur:
            count += 1
    return count


def time_log_select(settings: DatabaseSettings) -> float:
    """Read every log row once: the columns a claim takes."""
    conn = connect(settings)
    started = time.perf_counter()
    _stream(conn, "SELECT id_amazon_sync_log, id_product, id_product_attribute, id_shop, change_kind "
                  f"FROM {TABLES.log} ORDER BY id_amazon_sync_log")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def time_offer_select(settings: DatabaseSettings, id_shop: int = 1, id_country: int | None = None) -> tuple[
        float, int]:
    """Read the offer data of every offer of the shop once (the benchmark's log names them all):
    prices and stock of simple products and of combinations, their specific prices, the tax rules.
    Returns (seconds, offers read)."""
    t = TABLES
    conn = connect(settings)
    started = time.perf_counter()
    offers = _stream(
        conn,
        "SELECT p.id_product, p.reference, p.state, ps.price, ps.active, ps.available_for_order, "
        "ps.id_tax_rules_group, sa.quantity, sa.out_of_stock "
        f"FROM {t.table('product')} p JOIN {t.table('product_shop')} ps ON ps.id_product = p.id_product "
        f"LEFT JOIN {t.table('stock_available')} sa ON sa.id_product = p.id_product "
        "AND sa.id_product_attribute = 0 AND sa.id_shop = ps.id_shop WHERE ps.id_shop = %s", (id_shop,))
    offers += _stream(
        conn,
        "SELECT pa.id_product, pa.id_product_attribute, pa.reference, pas.price, sa.quantity, sa.out_of_stock "
        f"FROM {t.table('product_attribute')} pa JOIN {t.table('product_attribute_shop')} pas "
        "ON pas.id_product_attribute = pa.id_product_attribute "
        f"LEFT JOIN {t.table('stock_available')} sa ON sa.id_product_attribute = pa.id_product_attribute "
        "AND sa.id_shop = pas.id_shop WHERE pas.id_shop = %s", (id_shop,))
    _stream(conn,
            "SELECT id_specific_price, id_product, id_product_attribute, id_shop, id_currency, id_country, price, "
            f"reduction, reduction_tax, reduction_type, `from`, `to` FROM {t.table('specific_price')} "
            "WHERE id_cart = 0 AND id_customer = 0 AND id_group = 0 AND from_quantity <= 1 AND id_shop IN (0, %s)",
            (id_shop,))
    _stream(conn,
            f"SELECT tr.id_tax_rules_group, tx.rate, tr.behavior FROM {t.table('tax_rule')} tr "
            f"JOIN {t.table('tax')} tx ON tx.id_tax = tr.id_tax"
            + (" WHERE tr.id_country = %s" if id_country else ""), (id_country,) if id_country else ())
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, offers
