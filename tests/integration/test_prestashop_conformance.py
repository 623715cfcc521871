"""Our SQL against PrestaShop's real installer schema (../shared/prestashop/db_structure.sql)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import REQUIRED_PRESTASHOP_TABLES, Tables, install, install_triggers
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.domain.model import LogKey
from amazon_sync_devkit.prestashop import prestashop_tables_sql, split_sql
from tests.conftest import shared


def load_real_schema(mariadb, name):
    with mariadb.root_connection() as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    text = ((shared("prestashop") / "db_structure.sql").read_text().replace("PREFIX_", "ps_")
            .replace("ENGINE_TYPE", "InnoDB").replace("COLLATION", "COLLATE=utf8mb4_general_ci"))
    conn = connect(DatabaseSettings(port=mariadb.port, database=name))
    with conn.cursor() as cur:
        for statement in split_sql(text):
            cur.execute(statement)
        # shop and shop_group come from Doctrine entities, not from the installer file
        for statement in prestashop_tables_sql(Tables("ps_")):
            if "`ps_shop" in statement.split("(")[0] or statement.startswith("SET"):
                cur.execute(statement)
    return conn


def columns(conn, table):
    with conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (table,))
        return cur.fetchall()


@pytest.fixture(scope="module")
def real_shop(mariadb):
    conn = load_real_schema(mariadb, "real_prestashop")
    yield conn
    conn.close()


def test_real_schema_loads_all_tables(real_shop):
    with real_shop.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        assert cur.fetchone()[0] == 212  # 210 from the installer + shop and shop_group


def test_our_test_schema_matches_the_real_tables_column_for_column(real_shop, shop_db):
    for name in REQUIRED_PRESTASHOP_TABLES:
        if name in ("shop", "shop_group"):
            continue
        assert columns(shop_db.conn, f"ps_{name}") == columns(real_shop, f"ps_{name}"), name


def test_log_triggers_and_offers_on_the_real_schema(real_shop):
    t = Tables("ps_")
    install(real_shop, t)
    install_triggers(real_shop, t)
    with real_shop.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("INSERT INTO ps_shop_group (id_shop_group, name, share_stock) VALUES (1, 'Default', 0)")
        cur.execute("INSERT INTO ps_shop (id_shop, id_shop_group, name) VALUES (1, 1, 'Main')")
        cur.execute("INSERT INTO ps_country (id_country, id_zone, iso_code, active, display_tax_label) "
                    "VALUES (8, 1, 'FR', 1, 1)")
        cur.execute("INSERT INTO ps_currency (id_currency, name, iso_code, conversion_rate) "
                    "VALUES (1, 'EUR', 'EUR', 1)")
        cur.execute("INSERT INTO ps_tax (id_tax, rate) VALUES (1, 20)")
        cur.execute("INSERT INTO ps_tax_rules_group (id_tax_rules_group, name, active, deleted, date_add, date_upd) "
                    "VALUES (1, 'FR 20', 1, 0, NOW(), NOW())")
        cur.execute("INSERT INTO ps_tax_rule (id_tax_rules_group, id_country, id_state, zipcode_from, zipcode_to, "
                    "id_tax, behavior, description) VALUES (1, 8, 0, '0', '0', 1, 0, '')")
        cur.execute("INSERT INTO ps_product (id_product, id_tax_rules_group, reference, price, active, date_add, "
                    "date_upd, date_novelty) VALUES (1, 1, 'MUG-1', 10, 1, NOW(), NOW(), NOW()), "
                    "(2, 1, 'SHIRT', 20, 1, NOW(), NOW(), NOW())")
        cur.execute("INSERT INTO ps_product_shop (id_product, id_shop, id_tax_rules_group, price, active, "
                    "date_add, date_upd, date_novelty) VALUES (1, 1, 1, 10, 1, NOW(), NOW(), NOW()), "
                    "(2, 1, 1, 20, 1, NOW(), NOW(), NOW())")
        cur.execute("INSERT INTO ps_product_attribute (id_product_attribute, id_product, reference, default_on) "
                    "VALUES (10, 2, 'SHIRT-M', 1)")
        cur.execute("INSERT INTO ps_product_attribute_shop (id_product, id_product_attribute, id_shop, price, "
                    "default_on) VALUES (2, 10, 1, 1.5, 1)")
        cur.execute("INSERT INTO ps_stock_available (id_product, id_product_attribute, id_shop, id_shop_group, "
                    "quantity) VALUES (1, 0, 1, 0, 5), (2, 10, 1, 0, 2)")
        cur.execute("UPDATE ps_stock_available SET quantity = 8 WHERE id_product = 1")
        cur.execute("UPDATE ps_stock_available SET quantity = 8 WHERE id_product = 1")
        cur.execute("UPDATE ps_product_shop SET price = 12 WHERE id_product = 1")
        cur.execute("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, "
                    "id_shop_group, id_currency, id_country, id_group, id_customer, id_product_attribute, price, "
                    "from_quantity, reduction, reduction_tax, reduction_type, `from`, `to`) VALUES "
                    "(0, 0, 2, 0, 0, 0, 0, 0, 0, 0, -1, 1, 0.1, 1, 'percentage', '0000-00-00 00:00:00', "
                    "'0000-00-00 00:00:00')")
        cur.execute("SELECT id_product, id_product_attribute, id_shop, change_kind FROM ps_amazon_sync_log "
                    "ORDER BY id_amazon_sync_log")
        log = cur.fetchall()
    assert log == ((1, 0, 1, "product"), (2, 0, 1, "product"), (2, 10, 1, "product"), (1, 0, 1, "stock"),
                   (2, 10, 1, "stock"), (1, 0, 1, "stock"), (1, 0, 1, "price"), (2, 0, 0, "price"))
    reader = OfferReader(real_shop, t)
    ctx = reader.shop_context(1, "FR", "EUR")
    keys, _ = reader.expand(ctx, [(LogKey(*row[:3]), row[3] == "stock") for row in log])
    assert keys == {(1, 0), (2, 10)}
    offers = {o.sku: o for o in reader.read(ctx, sorted(keys), datetime.now(UTC))}
    assert offers["MUG-1"].quantity == 8 and offers["MUG-1"].price == Decimal("14.40")
    shirt = offers["SHIRT-M"]
    assert shirt.quantity == 2 and shirt.price == Decimal("25.80") and shirt.sale.price == Decimal("23.22")
