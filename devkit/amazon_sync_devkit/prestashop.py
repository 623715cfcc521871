"""Creating PrestaShop's tables (the subset this package touches) in a database of our own."""

from __future__ import annotations

from importlib import resources

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.schema import Tables


def prestashop_tables_sql(t: Tables) -> list[str]:
    text = resources.files("amazon_sync_devkit").joinpath("sql/prestashop_tables.sql").read_text()
    return split_sql(text.replace("PREFIX_", t.prefix))


def split_sql(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def create_prestashop_tables(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> None:
    with conn.cursor() as cur:
        for statement in prestashop_tables_sql(t):
            cur.execute(statement)
