"""Finding 2 (and 11) of issue 16: the whole pipeline as database users holding exactly the grants that
`amazon-sync db grants` prints, over verified TLS, in the guide's order of steps:
create the users, installer grants, `db install --triggers` as the installer, runtime grants, run."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pymysql
import pytest

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.bootstrap import Runtime
from amazon_sync.errors import DatabaseUnavailable
from amazon_sync_cli.main import main
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.prestashop import create_prestashop_tables
from tests.conftest import ShopDatabase
from tests.integration.test_export import change_stock
from tests.stack import base_config, build_stack

_counter = itertools.count()
RUNTIME_PASSWORD, INSTALLER_PASSWORD = "run-Time-5ecret", "inst-Aller-5ecret"


@pytest.fixture(scope="module")
def tls_server():
    with ThrowawayMariaDB(tls=True, buffer_pool="64M") as server:
        yield server


def printed_grants(capsys, database: str) -> tuple[list[str], list[str]]:
    assert main(["db", "grants", "--user", "amazon_sync", "--installer", "amazon_sync_installer",
                 "--database", database]) == 0
    lines = capsys.readouterr().out.splitlines()
    second = next(i for i, line in enumerate(lines) if line.startswith("-- 2."))

    def statements(part: list[str]) -> list[str]:
        return [line for line in part if line and not line.startswith("--")]

    return statements(lines[:second]), statements(lines[second:])


def as_root(server: ThrowawayMariaDB, *statements: str) -> None:
    with server.root_connection() as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


@pytest.fixture
def least_privilege(tls_server, capsys, monkeypatch):
    database = f"shop_lp_{next(_counter)}"
    as_root(tls_server, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4",
            "DROP USER IF EXISTS 'amazon_sync'@'%'", "DROP USER IF EXISTS 'amazon_sync_installer'@'%'",
            f"CREATE USER 'amazon_sync'@'%' IDENTIFIED BY '{RUNTIME_PASSWORD}'",
            f"CREATE USER 'amazon_sync_installer'@'%' IDENTIFIED BY '{INSTALLER_PASSWORD}'")
    root = DatabaseSettings(host="127.0.0.1", port=tls_server.port, user="root", database=database,
                            tls_ca_file=tls_server.ca_file)
    shop = connect(root)
    tables = Tables("ps_")
    create_prestashop_tables(shop, tables)
    # a table the sync must never read: customers' password hashes
    with shop.cursor() as cur:
        cur.execute("CREATE TABLE ps_customer (id_customer INT PRIMARY KEY, email VARCHAR(255), passwd VARCHAR(255))")
        cur.execute("INSERT INTO ps_customer VALUES (1, 'a@example.com', '$2y$10$hash')")
    installer_grants, runtime_grants = printed_grants(capsys, database)
    as_root(tls_server, *installer_grants)
    for name, value in {"DB_HOST": "127.0.0.1", "DB_PORT": str(tls_server.port), "DB_NAME": database,
                        "DB_USER": "amazon_sync_installer", "DB_PASSWORD": INSTALLER_PASSWORD,
                        "DB_TLS_CA_FILE": tls_server.ca_file, "DB_TABLE_PREFIX": "ps_"}.items():
        monkeypatch.setenv(name, value)
    assert main(["db", "install", "--triggers"]) == 0, capsys.readouterr()
    assert "14 triggers installed" in capsys.readouterr().out
    as_root(tls_server, *runtime_grants)
    yield ShopDatabase(tls_server, root, tables, shop), runtime_grants
    shop.close()
    as_root(tls_server, f"DROP DATABASE `{database}`")


def test_printed_grants_are_table_level_and_require_tls(capsys):
    installer, runtime = printed_grants(capsys, "prestashop")
    assert all(re.match(r"^(GRANT [A-Z, ]+ ON `prestashop`\.`ps_[a-z_]+` TO |ALTER USER )", s) for s in
               installer + runtime)
    assert not [s for s in installer + runtime if ".*" in s or "ALL" in s]
    assert runtime[-1] == "ALTER USER 'amazon_sync'@'%' REQUIRE SSL;"
    writes = [s for s in runtime if re.search(r"INSERT|UPDATE|DELETE", s)]
    assert writes and all("amazon_sync_" in s for s in writes)  # writes only on the sync's own tables
    assert [s for s in installer if "TRIGGER" in s] and installer[-1].endswith("REQUIRE SSL;")


def test_the_whole_pipeline_runs_with_only_the_printed_grants(least_privilege, simulator, monkeypatch,
                                                               tmp_path, aws):
    shop, _ = least_privilege
    stack = build_stack(shop, simulator, monkeypatch, tmp_path, CatalogueSpec(products=15, seed=3), base_config())
    for name, value in {"DB_USER": "amazon_sync", "DB_PASSWORD": RUNTIME_PASSWORD,
                        "DB_TLS_CA_FILE": shop.server.ca_file}.items():
        monkeypatch.setenv(name, value)
    stack = dataclasses.replace(stack, runtime=Runtime.from_env())
    assert stack.runtime.database.user == "amazon_sync"
    # the reconciliation a merchant runs before the full sync: as the runtime user, it writes the listings
    # and the findings tables and the pending report in the meta table
    stack.listed_and_read()
    stack.export(mode="full")
    stack.advance()
    stack.ack()
    for product, attribute in stack.catalogue.offers[:3]:
        change_stock(stack, product, attribute, 7)  # the shop (root) writes; the installer's triggers log it
    assert stack.log_count(0) >= 3
    stack.sync_until_quiet()
    assert stack.log_count() == 0 and stack.mismatches() == []
    with stack.runtime.connection().cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1], "the runtime user's session is not encrypted"
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cur.execute("SELECT passwd FROM ps_customer")
        assert denied.value.args[0] == 1142  # SELECT command denied


def test_runtime_user_is_refused_without_tls(least_privilege):
    shop, _ = least_privilege
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host="127.0.0.1", port=shop.server.port, user="amazon_sync", password=RUNTIME_PASSWORD,
                        database=shop.settings.database, ssl_disabled=True)
    assert refused.value.args[0] == 1045  # REQUIRE SSL


def test_tls_is_verified(tls_server, mariadb, tmp_path):
    """Finding 11: the certificate is checked, and a server that offers no TLS is refused (no downgrade)."""
    from amazon_sync_devkit.tls import make_server_certificates

    other_ca = make_server_certificates(tmp_path, "someone else's CA").ca_file
    with pytest.raises(DatabaseUnavailable, match="TLS"):
        connect(DatabaseSettings(host="127.0.0.1", port=tls_server.port, user="root", tls_ca_file=other_ca,
                                 database="mysql"))
    with pytest.raises(DatabaseUnavailable, match="TLS"):  # the plain test server offers no TLS at all
        connect(DatabaseSettings(host="127.0.0.1", port=mariadb.port, user="root", tls_ca_file=tls_server.ca_file,
                                 database="mysql"))
    with pytest.raises(DatabaseUnavailable, match="DB_TLS_CA_FILE"):  # refused before any packet is sent
        connect(DatabaseSettings(host="db.shop.example", user="admin", database="prestashop"))
