"""Shared fixtures: one throwaway MariaDB per test session, a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from amazon_sync.db.connection import connect
from amazon_sync.db.prestashop import create_prestashop_tables
from amazon_sync.db.schema import Tables, install, install_triggers
from amazon_sync.db.settings import DatabaseSettings
from amazon_sync.mariadb_server import ThrowawayMariaDB

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
_counter = itertools.count()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[ThrowawayMariaDB]:
    with ThrowawayMariaDB() as server:
        yield server


@dataclass
class ShopDatabase:
    server: ThrowawayMariaDB
    settings: DatabaseSettings
    tables: Tables
    conn: pymysql.connections.Connection[pymysql.cursors.Cursor]

    def sql(self, statement: str, args: object = None) -> list[tuple[object, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def scalar(self, statement: str, args: object = None) -> object:
        rows = self.sql(statement, args)
        return rows[0][0] if rows else None

    def new_connection(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return connect(self.settings)


def make_database(server: ThrowawayMariaDB, prefix: str = "ps_", triggers: bool = True) -> ShopDatabase:
    name = f"shop_{next(_counter)}"
    with server.root_connection() as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    settings = DatabaseSettings(host="127.0.0.1", port=server.port, user="root", database=name,
                                table_prefix=prefix)
    tables = Tables(prefix)
    conn = connect(settings)
    create_prestashop_tables(conn, tables)
    install(conn, tables)
    if triggers:
        install_triggers(conn, tables)
    return ShopDatabase(server, settings, tables, conn)


@pytest.fixture
def shop_db(mariadb: ThrowawayMariaDB) -> Iterator[ShopDatabase]:
    db = make_database(mariadb)
    yield db
    db.conn.close()
    with mariadb.root_connection() as root, root.cursor() as cur:
        cur.execute(f"DROP DATABASE `{db.settings.database}`")
