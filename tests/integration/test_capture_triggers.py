"""The capture triggers write one log row per real change, through plain SQL, and none for no-ops."""

import pytest

from amazon_sync.adapters.mysql.schema import installed_triggers, uninstall_triggers
from amazon_sync_devkit.catalogue import CatalogueSpec, create_catalogue


@pytest.fixture
def catalogue_db(shop_db):
    create_catalogue(shop_db.conn, shop_db.tables, CatalogueSpec(products=20, seed=3))
    shop_db.sql("DELETE FROM ps_amazon_sync_log")
    return shop_db


def log_rows(db):
    return db.sql("SELECT id_product, id_product_attribute, id_shop, change_kind FROM ps_amazon_sync_log "
                  "ORDER BY id_amazon_sync_log")


def test_stock_update_logs_once_and_noop_update_logs_nothing(catalogue_db):
    db = catalogue_db
    db.sql("UPDATE ps_stock_available SET quantity = quantity + 5 WHERE id_product = 1 AND id_shop = 1")
    assert log_rows(db) == [(1, 0, 1, "stock")]
    db.sql("UPDATE ps_stock_available SET quantity = quantity WHERE id_product = 1")
    db.sql("UPDATE ps_stock_available SET location = 'A1' WHERE id_product = 1")
    assert len(log_rows(db)) == 1


def test_stock_insert_delete_and_out_of_stock_flag_are_captured(catalogue_db):
    db = catalogue_db
    db.sql("INSERT INTO ps_stock_available (id_product, id_product_attribute, id_shop, id_shop_group, quantity) "
           "VALUES (999, 0, 2, 0, 4)")
    db.sql("UPDATE ps_stock_available SET out_of_stock = 1 WHERE id_product = 999")
    db.sql("DELETE FROM ps_stock_available WHERE id_product = 999")
    assert log_rows(db) == [(999, 0, 2, "stock")] * 3


def test_product_shop_price_and_flags(catalogue_db):
    db = catalogue_db
    db.sql("UPDATE ps_product_shop SET price = price + 1 WHERE id_product = 2 AND id_shop = 1")
    db.sql("UPDATE ps_product_shop SET active = 0 WHERE id_product = 2 AND id_shop = 1")
    db.sql("UPDATE ps_product_shop SET available_for_order = 0 WHERE id_product = 2 AND id_shop = 1")
    db.sql("UPDATE ps_product_shop SET id_tax_rules_group = 2 WHERE id_product = 2 AND id_shop = 1")
    db.sql("UPDATE ps_product_shop SET date_upd = NOW(), indexed = 1 WHERE id_product = 2")  # irrelevant
    assert log_rows(db) == [(2, 0, 1, "price")] * 4


def test_combination_price_add_delete_and_reference(catalogue_db):
    db = catalogue_db
    product, attribute = db.sql("SELECT id_product, id_product_attribute FROM ps_product_attribute LIMIT 1")[0]
    db.sql("UPDATE ps_product_attribute_shop SET price = price + 2 WHERE id_product_attribute = %s AND id_shop = 1",
           (attribute,))
    db.sql("UPDATE ps_product_attribute SET reference = 'NEW-REF' WHERE id_product_attribute = %s", (attribute,))
    db.sql("UPDATE ps_product_attribute SET weight = 3 WHERE id_product_attribute = %s", (attribute,))
    db.sql("INSERT INTO ps_product_attribute_shop (id_product, id_product_attribute, id_shop, price) "
           "VALUES (%s, 5000, 1, 0)", (product,))
    db.sql("DELETE FROM ps_product_attribute_shop WHERE id_product_attribute = 5000")
    assert log_rows(db) == [(product, attribute, 1, "price"), (product, attribute, 0, "product"),
                            (product, 5000, 1, "product"), (product, 5000, 1, "product")]


def test_product_reference_change_means_sku_changed(catalogue_db):
    db = catalogue_db
    db.sql("UPDATE ps_product SET reference = 'X-1' WHERE id_product = 3")
    db.sql("UPDATE ps_product SET reference = 'X-1' WHERE id_product = 3")
    db.sql("UPDATE ps_product SET ean13 = NULL WHERE id_product = 3")
    db.sql("UPDATE ps_product SET ean13 = NULL WHERE id_product = 3")
    db.sql("UPDATE ps_product SET quantity = 12 WHERE id_product = 3")
    assert log_rows(db) == [(3, 0, 0, "product"), (3, 0, 0, "product")]


def test_specific_price_insert_update_delete(catalogue_db):
    db = catalogue_db
    db.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, id_shop_group, "
           "id_currency, id_country, id_group, id_customer, id_product_attribute, price, from_quantity, reduction, "
           "reduction_type, `from`, `to`) VALUES (0, 0, 900, 0, 0, 0, 0, 0, 0, 0, -1, 1, 0.2, 'percentage', "
           "'0000-00-00 00:00:00', '0000-00-00 00:00:00')")
    db.sql("UPDATE ps_specific_price SET reduction = 0.3 WHERE id_product = 900")
    db.sql("UPDATE ps_specific_price SET reduction = 0.3 WHERE id_product = 900")
    db.sql("UPDATE ps_specific_price SET id_product = 901 WHERE id_product = 900")
    db.sql("DELETE FROM ps_specific_price WHERE id_product = 901")
    assert log_rows(db) == [(900, 0, 0, "price"), (900, 0, 0, "price"), (901, 0, 0, "price"),
                            (900, 0, 0, "price"), (901, 0, 0, "price")]


def test_a_failed_shop_transaction_leaves_no_log_row(catalogue_db):
    db = catalogue_db
    conn = db.new_connection()
    conn.begin()
    with conn.cursor() as cur:
        cur.execute("UPDATE ps_stock_available SET quantity = 77 WHERE id_product = 6")
    conn.rollback()
    assert log_rows(db) == []


def test_uninstall_removes_every_trigger_and_capture_stops(catalogue_db):
    db = catalogue_db
    assert len(installed_triggers(db.conn, db.tables)) == 14
    assert len(uninstall_triggers(db.conn, db.tables)) == 14
    assert installed_triggers(db.conn, db.tables) == []
    assert uninstall_triggers(db.conn, db.tables) == []
    db.sql("UPDATE ps_stock_available SET quantity = quantity + 1")
    assert log_rows(db) == []
