"""`amazon-sync db install|uninstall`: idempotent, and one-line errors for the usual mistakes."""

import json
import re
from datetime import datetime

import pytest

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import SCHEMA_VERSION, Tables, install, installed_version, require_log
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.errors import ConfigurationError, DatabaseUnavailable, SchemaMissing
from amazon_sync_cli.main import main
from tests.conftest import make_database


@pytest.fixture
def env_for(monkeypatch):
    def apply(db, **overrides):
        values = {"DB_HOST": "127.0.0.1", "DB_PORT": str(db.server.port), "DB_USER": "root", "DB_PASSWORD": "",
                  "DB_NAME": db.settings.database, "DB_TABLE_PREFIX": db.tables.prefix}
        values.update(overrides)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
    return apply


def test_install_twice_changes_nothing(shop_db):
    assert installed_version(shop_db.conn, shop_db.tables) == SCHEMA_VERSION
    before = shop_db.sql("SHOW CREATE TABLE ps_amazon_sync_log")
    assert install(shop_db.conn, shop_db.tables) == []
    assert shop_db.sql("SHOW CREATE TABLE ps_amazon_sync_log") == before


V4 = "v4: cheaper claims: batch_id and claimed_at NOT NULL, one covering index from (batch_id, state)"
V5 = "v5: sales sent without an end, beside the offer state (they were DynamoDB items)"
V6 = "v6: cheaper claims and deletes: the log keeps no secondary index"


def _log_as_in_version_3(db):
    """The log's columns and indexes as schema version 3 made them."""
    db.sql("ALTER TABLE ps_amazon_sync_log MODIFY batch_id BIGINT UNSIGNED NULL DEFAULT NULL, "
           "MODIFY claimed_at TIMESTAMP(6) NULL DEFAULT NULL, "
           "ADD KEY state_batch (state, batch_id, id_amazon_sync_log), "
           "ADD KEY state_offer (state, id_product, id_product_attribute, id_shop)")
    db.sql("UPDATE ps_amazon_sync_log SET batch_id = NULL, claimed_at = NULL WHERE state <> 1")


def _create_log(db):
    statement = db.sql("SHOW CREATE TABLE ps_amazon_sync_log")[0][1]
    return re.sub(r" AUTO_INCREMENT=\d+", "", statement)


def test_a_version_1_log_is_upgraded_and_refused_until_then(shop_db):
    """Version 2 adds the 'calendar' change kind; a log installed by version 1 keeps its rows."""
    _log_as_in_version_3(shop_db)
    shop_db.sql("ALTER TABLE ps_amazon_sync_log MODIFY change_kind ENUM('stock', 'price', 'product') NOT NULL")
    shop_db.sql("UPDATE ps_amazon_sync_meta SET `value` = '1' WHERE `name` = 'schema_version'")
    shop_db.sql("INSERT INTO ps_amazon_sync_log (id_product, change_kind) VALUES (3, 'stock')")
    with pytest.raises(SchemaMissing, match="out of date"):
        require_log(shop_db.conn, shop_db.tables)
    assert install(shop_db.conn, shop_db.tables) == [
        "v2: log rows of kind 'calendar': offers whose price changes by the clock",
        "v3: what Amazon shows (listings report), reconciliation findings, drift rows in the log", V4, V5, V6]
    require_log(shop_db.conn, shop_db.tables)
    shop_db.sql("INSERT INTO ps_amazon_sync_log (id_product, change_kind) VALUES (4, 'calendar')")
    assert shop_db.sql("SELECT id_product, change_kind FROM ps_amazon_sync_log ORDER BY id_product") == [
        (3, "stock"), (4, "calendar")]


def test_cli_install_with_triggers_then_uninstall(mariadb, env_for, capsys):
    db = make_database(mariadb, prefix="shop7_", triggers=False)
    env_for(db)
    assert main(["--json", "db", "install", "--triggers"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["migrations_applied"] == []  # make_database already installed the log
    assert len(first["triggers_installed"]) == 14
    assert main(["db", "install", "--triggers"]) == 0
    assert "14 triggers installed" in capsys.readouterr().out
    db.sql("UPDATE shop7_stock_available SET quantity = 1")  # no rows: nothing logged, but the trigger compiles
    assert main(["--json", "db", "uninstall", "--triggers", "--drop-log"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["triggers_removed"]) == 14 and result["triggers_left"] == []
    assert {"shop7_amazon_sync_listing", "shop7_amazon_sync_drift"} <= set(result["tables_dropped"])
    with pytest.raises(SchemaMissing, match="db install"):
        require_log(db.conn, db.tables)


def test_wrong_password_is_one_line(shop_db, env_for, capsys):
    env_for(shop_db, DB_USER="nobody", DB_PASSWORD="wrong")
    assert main(["db", "install"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "refused user 'nobody'" in err and "Traceback" not in err


def test_unreachable_host_is_one_line(shop_db, env_for, capsys):
    from amazon_sync_devkit.local_processes import free_port
    env_for(shop_db, DB_PORT=str(free_port()))
    assert main(["db", "install"]) == 1
    assert "cannot reach the database" in capsys.readouterr().err


def test_unknown_database_is_named(shop_db, env_for, capsys):
    env_for(shop_db, DB_NAME="no_such_shop")
    assert main(["db", "install"]) == 1
    assert "'no_such_shop' does not exist" in capsys.readouterr().err


def test_missing_prestashop_table_is_named(mariadb, env_for, capsys):
    with mariadb.root_connection() as root, root.cursor() as cur:
        cur.execute("CREATE DATABASE empty_shop")
    settings = DatabaseSettings(port=mariadb.port, database="empty_shop")
    with connect(settings) as conn, pytest.raises(SchemaMissing, match="ps_product, ps_product_shop"):
        install(conn, Tables("ps_"))


@pytest.mark.parametrize("prefix", ["ps-", "ps_`; DROP", "", "1ps_"])
def test_table_prefix_is_validated(prefix):
    with pytest.raises(ConfigurationError, match="DB_TABLE_PREFIX"):
        Tables(prefix)
    with pytest.raises(ConfigurationError, match="table prefix"):
        DatabaseSettings.from_env({"DB_TABLE_PREFIX": prefix} if prefix else {"DB_TABLE_PREFIX": " "})


def test_rds_secret_overrides_environment():
    secret = json.dumps({"host": "db.example", "port": 3307, "username": "sync", "password": "s3cret",
                         "dbname": "shop", "engine": "mysql"})
    settings = DatabaseSettings.from_env({"DB_SECRET_ARN": "arn:secret", "DB_HOST": "ignored"}, lambda arn: secret)
    assert (settings.host, settings.port, settings.user, settings.database) == ("db.example", 3307, "sync", "shop")
    assert settings.password.get_secret_value() == "s3cret" and "s3cret" not in repr(settings)
    with pytest.raises(ConfigurationError, match="RDS-style JSON"):
        DatabaseSettings.from_env({"DB_SECRET_ARN": "arn:secret"}, lambda arn: "not json")


def test_connection_errors_are_typed(mariadb):
    with pytest.raises(DatabaseUnavailable):
        connect(DatabaseSettings(port=mariadb.port, user="ghost", password="x"))


def test_version_2_is_upgraded_in_place_keeping_the_log(shop_db):
    db = shop_db
    # a shop installed before reconciliation existed: schema version 2, rows in the log
    _log_as_in_version_3(db)
    db.sql("DROP TABLE ps_amazon_sync_listing, ps_amazon_sync_drift")
    db.sql("ALTER TABLE ps_amazon_sync_log MODIFY change_kind ENUM('stock', 'price', 'product', 'calendar') NOT NULL")
    db.sql("UPDATE ps_amazon_sync_meta SET value = '2' WHERE name = 'schema_version'")
    db.sql("INSERT INTO ps_amazon_sync_log (id_product, change_kind) VALUES (7, 'stock')")
    with pytest.raises(SchemaMissing, match="out of date"):
        require_log(db.conn, db.tables)
    assert install(db.conn, db.tables) == [
        "v3: what Amazon shows (listings report), reconciliation findings, drift rows in the log", V4, V5, V6]
    require_log(db.conn, db.tables)
    db.sql("INSERT INTO ps_amazon_sync_log (id_product, change_kind) VALUES (8, 'drift')")
    assert db.sql("SELECT id_product, change_kind FROM ps_amazon_sync_log ORDER BY id_product") == [
        (7, "stock"), (8, "drift")]


def test_version_3_is_upgraded_keeping_pending_claimed_and_failed_rows(shop_db):
    """Version 4 makes batch_id and claimed_at NOT NULL and swaps the indexes: rows keep their state and
    batch, pending rows are claimable, and the table ends as a fresh install makes it."""
    db = shop_db
    fresh = _create_log(db)
    db.sql("INSERT INTO ps_amazon_sync_log (id_product, change_kind, state, batch_id, claimed_at) VALUES "
           "(1, 'stock', 0, NULL, NULL), (2, 'price', 1, 5, NOW(6)), (3, 'stock', 2, NULL, NULL)")
    _log_as_in_version_3(db)
    db.sql("UPDATE ps_amazon_sync_meta SET value = '3' WHERE name = 'schema_version'")
    assert db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log WHERE batch_id IS NULL") == 2
    with pytest.raises(SchemaMissing, match="out of date"):
        require_log(db.conn, db.tables)
    assert install(db.conn, db.tables) == [V4, V5, V6]
    require_log(db.conn, db.tables)
    assert _create_log(db) == fresh
    assert db.sql("SELECT id_product, state, batch_id FROM ps_amazon_sync_log ORDER BY id_product") == [
        (1, 0, 0), (2, 1, 5), (3, 2, 0)]
    log = EventLog(db.conn, db.tables)
    assert [claimed.key.id_product for claimed in log.claimed_keys(5)] == [2]
    assert log.claim(9, 10).rows == 1
    assert [claimed.key.id_product for claimed in log.claimed_keys(9)] == [1]
    db.sql("INSERT INTO ps_amazon_sync_log (id_product, change_kind) VALUES (4, 'stock')")
    assert db.sql("SELECT batch_id, claimed_at FROM ps_amazon_sync_log WHERE id_product = 4") == [
        (0, datetime(2000, 1, 1))]
