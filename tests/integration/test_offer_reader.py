"""The offer reader on PrestaShop's real tables: combinations, shared stock, taxes, sale windows, bad data."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from amazon_sync.adapters.mysql.connection import MAX_RANGES, consecutive_runs
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.domain.model import LogKey
from amazon_sync.errors import ConfigurationError
from amazon_sync_devkit.catalogue import CatalogueSpec, create_catalogue

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(shop_db):
    catalogue = create_catalogue(shop_db.conn, shop_db.tables,
                                 CatalogueSpec(products=30, seed=11, specific_price_share=0, unicode_skus=False))
    shop_db.catalogue = catalogue
    return shop_db


def simple_product(db):
    return next(p for p, a in db.catalogue.offers if a == 0)


def combination(db):
    return next((p, a) for p, a in db.catalogue.offers if a != 0)


def reader_and_context(db, shop=1, country="FR", currency="EUR", **kw):
    reader = OfferReader(db.conn, db.tables)
    return reader, reader.shop_context(shop, country, currency, **kw)


def test_simple_product_price_with_tax_and_quantity(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_product_shop SET price = 10, id_tax_rules_group = 1 WHERE id_product = %s", (product,))
    shop.sql("UPDATE ps_stock_available SET quantity = 7 WHERE id_product = %s AND id_shop = 1", (product,))
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert offer.sku == f"PS-{product:07d}"
    assert offer.quantity == 7
    assert offer.price == Decimal("12.00")  # 20 % French VAT
    assert offer.sendable and offer.sale is None


def test_tax_follows_the_marketplace_country_and_currency_conversion(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_product_shop SET price = 10, id_tax_rules_group = 2 WHERE id_product = %s", (product,))
    reader, ctx = reader_and_context(shop, country="DE")
    assert reader.read(ctx, [(product, 0)], NOW)[0].price == Decimal("10.70")  # 7 % reduced German rate
    reader, ctx = reader_and_context(shop, country="GB", currency="GBP")
    # group 2 has no British rule: no tax; 10 EUR * 0.85
    assert reader.read(ctx, [(product, 0)], NOW)[0].price == Decimal("8.50")


def test_combination_price_impact_and_its_own_reference(shop):
    product, attribute = combination(shop)
    shop.sql("UPDATE ps_product_shop SET price = 20, id_tax_rules_group = 1 WHERE id_product = %s", (product,))
    shop.sql("UPDATE ps_product_attribute_shop SET price = 2.5 WHERE id_product_attribute = %s", (attribute,))
    shop.sql("UPDATE ps_stock_available SET quantity = 3 WHERE id_product_attribute = %s AND id_shop = 1",
             (attribute,))
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, attribute)], NOW)
    assert offer.price == Decimal("27.00")
    assert offer.quantity == 3
    assert offer.sku.startswith(f"PS-{product:07d}-")


def test_log_keys_expand_to_combinations_and_shops(shop):
    product, _ = combination(shop)
    simple = simple_product(shop)
    reader, ctx = reader_and_context(shop)
    combos = {k for k in shop.catalogue.offers if k[0] == product}
    offers, everything = reader.expand(ctx, [(LogKey(product, 0, 1), False), (LogKey(simple, 0, 0), True),
                                             (LogKey(999, 3, 2), False)])
    assert not everything
    assert offers == combos | {(simple, 0)}
    # a stock change on the sum row of a product with combinations names no offer
    offers, _ = reader.expand(ctx, [(LogKey(product, 0, 1), True)])
    assert offers == set()
    assert reader.expand(ctx, [(LogKey(0, 0, 0), False)]) == (set(), True)


def test_shared_stock_between_shops_of_a_group(shop_db):
    catalogue = create_catalogue(shop_db.conn, shop_db.tables, CatalogueSpec(products=5, share_stock=True, seed=2))
    product = next(p for p, a in catalogue.offers if a == 0)
    shop_db.sql("UPDATE ps_stock_available SET quantity = 9 WHERE id_product = %s AND id_shop = 0 "
                "AND id_shop_group = 1", (product,))
    reader = OfferReader(shop_db.conn, shop_db.tables)
    for shop_id in (1, 2):
        ctx = reader.shop_context(shop_id, "FR", "EUR")
        assert ctx.share_stock
        assert reader.read(ctx, [(product, 0)], NOW)[0].quantity == 9


def test_per_shop_stock_when_not_shared(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_stock_available SET quantity = 4 WHERE id_product = %s AND id_shop = 1", (product,))
    shop.sql("UPDATE ps_stock_available SET quantity = 11 WHERE id_product = %s AND id_shop = 2", (product,))
    reader = OfferReader(shop.conn, shop.tables)
    assert reader.read(reader.shop_context(1, "FR", "EUR"), [(product, 0)], NOW)[0].quantity == 4
    assert reader.read(reader.shop_context(2, "FR", "EUR"), [(product, 0)], NOW)[0].quantity == 11


@pytest.mark.parametrize("change", [
    "UPDATE ps_product_shop SET active = 0 WHERE id_product = %s",
    "UPDATE ps_product_shop SET available_for_order = 0 WHERE id_product = %s",
    "UPDATE ps_product SET state = 0 WHERE id_product = %s",
])
def test_inactive_or_unorderable_products_have_no_stock(shop, change):
    product = simple_product(shop)
    shop.sql("UPDATE ps_stock_available SET quantity = 5 WHERE id_product = %s", (product,))
    shop.sql(change, (product,))
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert offer.quantity == 0 and offer.sendable


def test_deleted_product_is_reported_as_gone(shop):
    product = simple_product(shop)
    shop.sql("DELETE FROM ps_product_shop WHERE id_product = %s", (product,))
    shop.sql("DELETE FROM ps_product WHERE id_product = %s", (product,))
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert not offer.exists and offer.quantity == 0 and offer.sku is None


def insert_specific_price(db, product, reduction, start, end, *, price=-1, rtype="percentage", attribute=0,
                          currency=0, country=0, shop=0, customer=0):
    db.sql("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, id_shop_group, "
           "id_currency, id_country, id_group, id_customer, id_product_attribute, price, from_quantity, reduction, "
           "reduction_tax, reduction_type, `from`, `to`) VALUES (0, 0, %s, %s, 0, %s, %s, 0, %s, %s, %s, 1, %s, 1, %s, "
           "%s, %s)", (product, shop, currency, country, customer, attribute, price, reduction, rtype, start, end))


def test_current_sale_price_with_its_window(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_product_shop SET price = 100, id_tax_rules_group = 1 WHERE id_product = %s", (product,))
    insert_specific_price(shop, product, "0.25", "2026-05-01 00:00:00", "2026-07-01 00:00:00")
    reader, ctx = reader_and_context(shop, timezone="Europe/Paris")
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert offer.price == Decimal("120.00")
    assert offer.sale is not None and offer.sale.price == Decimal("90.00")
    assert offer.sale.start == datetime(2026, 4, 30, 22, 0, tzinfo=UTC)  # Paris summer time
    assert offer.sale.end == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)


def test_future_sale_is_scheduled_and_ended_sale_is_ignored(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_product_shop SET price = 50, id_tax_rules_group = 1 WHERE id_product = %s", (product,))
    insert_specific_price(shop, product, "0.5", "2026-01-01 00:00:00", "2026-02-01 00:00:00")  # ended
    insert_specific_price(shop, product, "5", "2026-12-01 00:00:00", "0000-00-00 00:00:00", rtype="amount")
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert offer.sale.price == Decimal("55.00")  # 60 incl. tax minus 5 incl. tax
    assert offer.sale.start == datetime(2026, 12, 1, tzinfo=UTC) and offer.sale.end is None


def test_customer_specific_or_other_country_prices_do_not_apply(shop):
    product = simple_product(shop)
    insert_specific_price(shop, product, "0.5", "0000-00-00 00:00:00", "0000-00-00 00:00:00", customer=5)
    insert_specific_price(shop, product, "0.5", "0000-00-00 00:00:00", "0000-00-00 00:00:00", country=1)
    reader, ctx = reader_and_context(shop, country="FR")
    assert reader.read(ctx, [(product, 0)], NOW)[0].sale is None


def test_fixed_specific_price_for_a_combination_replaces_price_and_impact(shop):
    product, attribute = combination(shop)
    shop.sql("UPDATE ps_product_shop SET price = 20, id_tax_rules_group = 1 WHERE id_product = %s", (product,))
    shop.sql("UPDATE ps_product_attribute_shop SET price = 5 WHERE id_product_attribute = %s", (attribute,))
    insert_specific_price(shop, product, "0", "0000-00-00 00:00:00", "0000-00-00 00:00:00", price=15,
                          attribute=attribute)
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, attribute)], NOW)
    assert offer.price == Decimal("30.00") and offer.sale.price == Decimal("18.00")


@pytest.mark.parametrize(("reference", "code"), [
    (None, "NO_SKU"), ("", "NO_SKU"), ("A" * 41, "SKU_TOO_LONG"), ("BAD\tSKU", "SKU_ILLEGAL"), (" PAD", "SKU_ILLEGAL"),
])
def test_bad_skus_are_per_offer_errors(shop, reference, code):
    product = simple_product(shop)
    other = [p for p, a in shop.catalogue.offers if a == 0][1]
    shop.sql("UPDATE ps_product SET reference = %s WHERE id_product = %s", (reference, product))
    reader, ctx = reader_and_context(shop)
    bad, good = reader.read(ctx, [(product, 0), (other, 0)], NOW)
    assert not bad.sendable and bad.problems[0].code == code
    if reference:
        assert repr(reference) in bad.describe_problems()
    assert good.sendable


def test_duplicate_sku_blocks_both_offers(shop):
    first, second = [p for p, a in shop.catalogue.offers if a == 0][:2]
    shop.sql("UPDATE ps_product SET reference = 'TWIN' WHERE id_product IN (%s, %s)", (first, second))
    reader, ctx = reader_and_context(shop)
    offers = reader.read(ctx, [(first, 0)], NOW)
    assert offers[0].problems[0].code == "SKU_DUPLICATE"


def test_negative_stock_is_reported_and_sent_as_zero(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_stock_available SET quantity = -3 WHERE id_product = %s AND id_shop = 1", (product,))
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert offer.quantity == 0 and offer.sendable
    assert offer.problems[0].code == "NEGATIVE_STOCK" and "-3" in offer.problems[0].message


def test_zero_price_is_an_error(shop):
    product = simple_product(shop)
    shop.sql("UPDATE ps_product_shop SET price = 0 WHERE id_product = %s", (product,))
    reader, ctx = reader_and_context(shop)
    [offer] = reader.read(ctx, [(product, 0)], NOW)
    assert not offer.sendable and offer.problems[0].code == "BAD_PRICE"


def test_sku_field_is_configurable(shop):
    product = simple_product(shop)
    reader = OfferReader(shop.conn, shop.tables, sku_field="supplier_reference")
    ctx = reader.shop_context(1, "FR", "EUR")
    assert reader.read(ctx, [(product, 0)], NOW)[0].sku == f"SUP-{product}"
    with pytest.raises(ConfigurationError, match="sku_field"):
        OfferReader(shop.conn, shop.tables, sku_field="name")


def test_unknown_shop_country_currency_are_named(shop):
    reader = OfferReader(shop.conn, shop.tables)
    with pytest.raises(ConfigurationError, match="shop 9"):
        reader.shop_context(9, "FR", "EUR")
    with pytest.raises(ConfigurationError, match="'XX'"):
        reader.shop_context(1, "XX", "EUR")
    with pytest.raises(ConfigurationError, match="'JPY'"):
        reader.shop_context(1, "FR", "JPY")


def test_full_listing_streams_every_offer_in_chunks(shop):
    reader, ctx = reader_and_context(shop)
    chunks = list(reader.all_offer_keys(ctx, chunk_size=7))
    assert all(len(c) <= 7 for c in chunks)
    assert sorted(k for c in chunks for k in c) == sorted(shop.catalogue.offers)


@pytest.mark.parametrize("sku_field", ["reference", "ean13"])
def test_reading_the_whole_shop_set_based_gives_what_reading_every_offer_gives(shop_db, sku_field):
    db = shop_db
    db.catalogue = create_catalogue(db.conn, db.tables, CatalogueSpec(products=60, seed=5, specific_price_share=0.3))
    simple = [p for p, a in db.catalogue.offers if a == 0]
    combos = [(p, a) for p, a in db.catalogue.offers if a != 0]
    db.sql(f"UPDATE ps_product SET {sku_field} = 'TWIN-P' WHERE id_product IN (%s, %s)", (simple[0], simple[1]))
    db.sql(f"UPDATE ps_product_attribute SET {sku_field} = 'TWIN-A' WHERE id_product_attribute IN (%s, %s)",
           (combos[0][1], combos[1][1]))
    db.sql(f"UPDATE ps_product SET {sku_field} = 'TWIN-X' WHERE id_product = %s", (simple[2],))
    db.sql(f"UPDATE ps_product_attribute SET {sku_field} = 'TWIN-X' WHERE id_product_attribute = %s", (combos[2][1],))
    db.sql(f"UPDATE ps_product SET {sku_field} = '' WHERE id_product = %s", (simple[3],))
    db.sql("DELETE FROM ps_product WHERE id_product = %s", (simple[4],))  # its product_shop row stays
    db.sql("UPDATE ps_stock_available SET quantity = -2 WHERE id_product = %s", (simple[5],))
    insert_specific_price(db, 0, "0.1", "0000-00-00 00:00:00", "0000-00-00 00:00:00")  # every product
    insert_specific_price(db, combos[3][0], "0", "2026-05-01 00:00:00", "2026-07-01 00:00:00", price=3,
                          attribute=combos[3][1])
    for shop_id in (1, 2):
        reader = OfferReader(db.conn, db.tables, sku_field)
        ctx = reader.shop_context(shop_id, "FR", "EUR", timezone="Europe/Paris")
        one_by_one = [o for chunk in reader.all_offer_keys(ctx, 13) for o in reader.read(ctx, chunk, NOW) if o.exists]
        set_based = [offer for page in reader.read_shop(ctx, NOW, page=7) for offer in page]
        assert sorted(set_based, key=lambda o: o.key) == sorted(one_by_one, key=lambda o: o.key)
        # a large incremental run reads the catalogue's duplicate SKUs once instead of per chunk
        duplicates = reader.duplicate_skus_of_catalogue()
        assert [o for chunk in reader.all_offer_keys(ctx, 13)
                for o in reader.read(ctx, chunk, NOW, duplicates) if o.exists] == one_by_one
        codes = {o.sku: [p.code for p in o.problems] for o in set_based}
        assert codes["TWIN-P"] == codes["TWIN-A"] == codes["TWIN-X"] == ["SKU_DUPLICATE"]
        assert len(set_based) > 50 and any(o.sale is not None for o in set_based)


def test_a_sku_with_characters_json_escapes_is_read_exactly(shop):
    """The rows come back as one JSON array (connection.json_rows): quotes, backslashes, control
    characters and characters outside the BMP survive the server's encoding and json's decoding."""
    first, second = [p for p, a in shop.catalogue.offers if a == 0][:2]
    odd = 'Q"\\/é😀'
    shop.sql("UPDATE ps_product SET reference = %s WHERE id_product = %s", (odd, first))
    shop.sql("UPDATE ps_product SET reference = %s WHERE id_product = %s", ("BAD\nLINE", second))
    reader, ctx = reader_and_context(shop)
    good, bad = reader.read(ctx, [(first, 0), (second, 0)], NOW)
    assert good.sku == odd and good.sendable
    assert bad.sku == "BAD\nLINE" and bad.problems[0].code == "SKU_ILLEGAL"


@pytest.mark.parametrize(("step", "named_by"), [(1, "ranges"), (3, "ranges"), (2, "a list")])
def test_reading_offers_named_by_ranges_or_a_list_gives_what_reading_each_gives(shop_db, step, named_by):
    """A chunk's products and combinations are named by ranges of consecutive ids while there are few,
    else in a list: either way exactly the offers asked for, each as read on its own."""
    db = shop_db
    db.catalogue = create_catalogue(db.conn, db.tables, CatalogueSpec(products=300, seed=3, specific_price_share=0.3))
    reader, ctx = reader_and_context(db)
    simple = sorted(k for k in db.catalogue.offers if k[1] == 0)
    combos = sorted((k for k in db.catalogue.offers if k[1] != 0), key=lambda k: k[1])
    wanted = simple[::step] + combos[::step] + combos[1:2]  # unordered, as a chunk may be
    runs = consecutive_runs(sorted({a for _, a in wanted if a}))
    assert (len(runs) > MAX_RANGES) == (named_by == "a list")
    together = reader.read(ctx, wanted, NOW)
    assert [o.key for o in together] == wanted and all(o.exists for o in together)
    assert together == [offer for key in wanted for offer in reader.read(ctx, [key], NOW)]


def test_rows_cut_by_the_session_limit_raise_instead_of_reading_some(shop):
    reader, ctx = reader_and_context(shop)
    products = [(p, a) for p, a in shop.catalogue.offers if a == 0][:5]
    shop.sql("SET SESSION group_concat_max_len = 200")
    with pytest.raises(RuntimeError, match="group_concat_max_len is too small"):
        reader.read(ctx, products, NOW)
    shop.sql("SET SESSION group_concat_max_len = 1048576")
    assert len(reader.read(ctx, products, NOW)) == 5
