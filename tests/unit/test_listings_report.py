"""The listings report reader: by header name, streaming, Amazon's charsets and number formats."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.domain.listings_report import (
    ReportFormatError,
    ReportReading,
    charset_of,
    listing_from,
    parse_listings,
    parse_price,
    plain_merchant_row,
    read_rows,
)
from amazon_sync_devkit.simulator.reports import COLUMNS


def lines(header, rows, charset="cp1252"):
    return [("\t".join(header) + "\r\n").encode(charset)] + [("\t".join(r) + "\r\n").encode(charset) for r in rows]


def row(values):
    cells = dict.fromkeys(COLUMNS, "")
    cells.update(values)
    return [cells[name] for name in COLUMNS]


def test_columns_are_found_by_name_whatever_their_order_and_extra_ones_are_ignored():
    header = ["status", "Sell remainder", "fulfillment-channel", "quantity", "price", "seller-sku", "asin1"]
    [listing] = parse_listings(lines(header, [["Active", "x", "DEFAULT", "4", "12.50", "SKU-1", "B000000001"]]))
    assert (listing.sku, listing.quantity, listing.price, listing.fba, listing.asin) == (
        "SKU-1", 4, Decimal("12.50"), False, "B000000001")


def test_an_fba_row_has_no_quantity_and_is_flagged():
    [listing] = parse_listings(lines(COLUMNS, [row({"seller-sku": "F-1", "price": "9.99",
                                                    "fulfillment-channel": "AMAZON_EU", "status": "Active"})]))
    assert listing.fba and listing.quantity is None and listing.problem is None


def test_cp1252_text_is_decoded_and_a_missing_column_is_named():
    [listing] = parse_listings(lines(COLUMNS, [row({"seller-sku": "ÉTÉ-1", "price": "1", "status": "Active",
                                                    "fulfillment-channel": "DEFAULT", "quantity": "0"})]),
                               charset_of("text/plain; charset=Cp1252"))
    assert listing.sku == "ÉTÉ-1"
    with pytest.raises(ReportFormatError, match="seller-sku"):
        list(parse_listings([b"sku\tprix\tquantit\xe9\r\n"]))


def test_unreadable_values_are_counted_not_fatal():
    reading = ReportReading()
    parsed = list(parse_listings(lines(COLUMNS, [row({"seller-sku": "A", "quantity": "many", "price": "?"}),
                                                 row({"seller-sku": ""}),
                                                 row({"seller-sku": "B", "price": "NaN"})]), reading=reading))
    assert [p.sku for p in parsed] == ["A", "B"] and parsed[0].quantity is None and parsed[1].price is None
    assert reading.unreadable == 4 and reading.rows == 3


@pytest.mark.parametrize(("text", "value"), [("12.99", "12.99"), ("1,299.00", "1299.00"), ("12,99", "12.99"),
                                             ("1.299,50", "1299.50"), ("1,299", "1299"), ("", None), ("abc", None),
                                             ("-5", None), ("NaN", None), ("Infinity", None),
                                             ("1e40", None)])
def test_prices_in_amazons_formats(text, value):
    assert parse_price(text) == (Decimal(value) if value is not None else None)


def test_incomplete_and_suppressed_listings_have_a_problem():
    parsed = list(parse_listings(lines(COLUMNS, [row({"seller-sku": "I", "status": "Incomplete"}),
                                                 row({"seller-sku": "S", "status": "Inactive", "quantity": "3"}),
                                                 row({"seller-sku": "O", "status": "Inactive", "quantity": "0"})])))
    assert [(p.sku, p.problem) for p in parsed] == [("I", "status Incomplete"),
                                                    ("S", "inactive although it has stock (suppressed?)"),
                                                    ("O", None)]


SKUS = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\t\r\n\x7f",
                                     exclude_categories=("Cc",)), min_size=1, max_size=40).map(str.strip).filter(bool)


@given(st.lists(st.tuples(SKUS, st.integers(min_value=0, max_value=10**6),
                          st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)),
                max_size=30))
def test_every_row_comes_back_as_written(rows):
    written = [row({"seller-sku": sku, "quantity": str(quantity), "price": f"{price:.2f}",
                    "fulfillment-channel": "DEFAULT", "status": "Active"}) for sku, quantity, price in rows]
    parsed = list(parse_listings(lines(COLUMNS, written)))
    assert [(p.sku, p.quantity, p.price) for p in parsed] == rows


@given(st.lists(st.tuples(SKUS, st.integers(min_value=0, max_value=999)), min_size=1, max_size=20),
       st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40),
       st.sampled_from(["cp1252", "utf-8", "cp932"]))
def test_any_slicing_of_the_document_reads_the_same_rows(rows, sizes, charset):
    """The document is read in blocks, not lines: a line, a "\r\n" or a multi-byte character cut across two
    blocks still reads whole."""
    written = [row({"seller-sku": sku + "é" if charset == "cp1252" else f"{sku.encode().hex()[:30]}日本",
                    "quantity": str(quantity),
                    "price": "1.00", "fulfillment-channel": "DEFAULT", "status": "Active"}) for sku, quantity in rows]
    document = b"".join(lines(COLUMNS, written, charset))
    slices, position = [], 0
    while position < len(document):
        size = sizes[len(slices) % len(sizes)]
        slices.append(document[position:position + size])
        position += size
    by_line = [(p.sku, p.quantity) for p in parse_listings(lines(COLUMNS, written, charset), charset)]
    by_slice = [(p.sku, p.quantity) for p in parse_listings(slices, charset)]
    assert by_slice == by_line == [(r[3], int(r[5])) for r in written]


def test_a_last_line_without_its_line_break_and_lf_only_lines_are_read():
    document = ("\t".join(COLUMNS) + "\n" + "\t".join(row({"seller-sku": "A", "quantity": "1"})) + "\n"
                + "\t".join(row({"seller-sku": "B", "quantity": "2"}))).encode()
    assert [(p.sku, p.quantity) for p in parse_listings([document])] == [("A", 1), ("B", 2)]


def test_rows_are_converted_only_when_asked():
    reading = ReportReading()
    blocks = list(read_rows(lines(COLUMNS, [row({"seller-sku": "A", "quantity": "many", "status": "Active",
                                                  "fulfillment-channel": "DEFAULT"})]), "cp1252", reading))
    [[raw]] = blocks
    assert plain_merchant_row(raw) and reading.unreadable == 0  # a row only looked at is never parsed
    assert listing_from(raw, reading).quantity is None and reading.unreadable == 1
