"""Reading Amazon's merchant listings report (GET_MERCHANT_LISTINGS_ALL_DATA), streaming: pure, no I/O.

The document is tab-separated text with one header line. Columns are found by their header names,
never by position (Amazon adds columns: 2025 EU files end with "Minimum order quantity" and "Sell
remainder"); unknown columns are ignored. The charset is the one in the download's Content-Type
(Cp1252 in the EU and NA). For FBA rows the quantity is empty: Amazon counts that stock, not the seller.
A million-line report is read a block at a time, so memory does not grow with its size, and only the rows
the reconciliation uses are converted to numbers.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import NamedTuple

from amazon_sync.errors import AmazonError

REPORT_TYPE = "GET_MERCHANT_LISTINGS_ALL_DATA"
MERCHANT_CHANNEL = "DEFAULT"
MAX_PRICE = Decimal(10) ** 12  # what the listings table holds (DECIMAL(20, 2)) with room to spare
REQUIRED_COLUMNS = ("seller-sku", "price", "quantity", "fulfillment-channel", "status")
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)", re.IGNORECASE)
_ALIASES = {"cp1252": "cp1252", "windows-1252": "cp1252", "windows-31j": "cp932", "x-sjis": "cp932"}


class ReportFormatError(AmazonError):
    """The document is not a merchant listings report we can read (its header lacks a needed column)."""


class AmazonListing(NamedTuple):
    """One row of the report: what Amazon shows for a SKU in one marketplace (a tuple: a million of
    them are made per report)."""

    sku: str
    quantity: int | None  # None for FBA rows and when Amazon left it empty
    price: Decimal | None
    fulfillment_channel: str
    status: str
    asin: str | None = None

    @property
    def fba(self) -> bool:
        """Fulfilled by Amazon: any channel other than DEFAULT (AMAZON_EU, AMAZON_NA...)."""
        return self.fulfillment_channel != MERCHANT_CHANNEL

    @property
    def problem(self) -> str | None:
        """Why the listing is not simply buyable or out of stock, for the operator; None when it is fine."""
        if self.status == "Active":
            return None
        if self.status == "Inactive":
            # out of stock is normal; inactive with stock means Amazon suppressed the listing
            return "inactive although it has stock (suppressed?)" if (self.quantity or 0) > 0 else None
        return f"status {self.status}"


@dataclass
class ReportReading:
    """What the reader met besides listings: counted, and a few examples kept for the operator."""

    rows: int = 0
    unreadable: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.unreadable += 1
        if len(self.examples) < 10:
            self.examples.append(problem)


def charset_of(content_type: str | None) -> str:
    """The Python codec for a download's Content-Type; Amazon's Cp1252 when none is named."""
    found = _CHARSET.search(content_type or "")
    name = found.group(1).lower() if found else "cp1252"
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ReportFormatError(f"the report's charset {name!r} is not one Python can decode") from None


def parse_price(text: str) -> Decimal | None:
    """'12.99', '1,299.00', '12,99' (a decimal comma) or '1.299,00'; None when empty or unreadable."""
    value = text.strip()
    if not value:
        return None
    if "," in value and "." in value:
        value = value.replace(".", "").replace(",", ".") if value.rfind(",") > value.rfind(".") \
            else value.replace(",", "")
    elif "," in value:
        whole, _, decimals = value.rpartition(",")
        value = f"{whole.replace(',', '')}.{decimals}" if len(decimals) != 3 else value.replace(",", "")
    try:
        price = Decimal(value)
    except InvalidOperation:
        return None
    return price if price.is_finite() and 0 <= price < MAX_PRICE else None


# One row's cells as the report has them, before any conversion: seller-sku, price, quantity,
# fulfillment-channel, status, asin1 ("" when the report has no asin1 column). A plain tuple: a million
# are made per report, and most are only looked at.
RawRow = tuple[str, str, str, str, str, str]
SKU, PRICE, QUANTITY, CHANNEL, STATUS, ASIN = range(6)
BLOCK = 1 << 20  # bytes decoded at a time: one decode and one split per block, not per line


def _text_lines(chunks: Iterable[bytes], charset: str) -> Iterator[list[str]]:
    """The document's lines, a block of them at a time, whatever the size of the byte chunks; an
    incremental decoder, so a character split across two chunks (Shift-JIS, UTF-8) is decoded whole."""
    decoder = codecs.getincrementaldecoder(charset)(errors="replace")
    rest = ""
    for chunk in chunks:
        # "\r\n" ends Amazon's lines; a "\r" at the end of one chunk meets its "\n" here, with the rest
        lines = (rest + decoder.decode(chunk)).replace("\r\n", "\n").split("\n")
        rest = lines.pop()
        yield lines
    last = (rest + decoder.decode(b"", final=True)).rstrip("\r")
    if last:
        yield [last]


def read_rows(chunks: Iterable[bytes], charset: str = "cp1252", reading: ReportReading | None = None,
              ) -> Iterator[list[RawRow]]:
    """The rows of the report as text, a block of them at a time (the chunks: any slicing of the
    decompressed document, lines or blocks). Rows without a seller-sku are noted and left out."""
    reading = reading if reading is not None else ReportReading()
    blocks = _text_lines(chunks, charset)
    header: list[str] | None = None
    pending: list[str] = []
    for block in blocks:
        if block:
            header, pending = block[0].lstrip("\ufeff").split("\t"), block[1:]
            break
    if header is None:
        return
    index = {name.strip().lower(): position for position, name in enumerate(header)}
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing:
        raise ReportFormatError(
            f"the listings report has no column(s) {', '.join(missing)} (header: {' | '.join(header[:8])}...): "
            "were the headers localised? The sync asks for en_US headers")
    asin_at = index.get("asin1")
    # the fields by position, in one C call per row; an absent asin1 reads the status column and is dropped
    fields = itemgetter(index["seller-sku"], index["price"], index["quantity"], index["fulfillment-channel"],
                        index["status"], asin_at if asin_at is not None else index["status"])
    width = max(index.values()) + 1
    padding = [""] * width
    for block in itertools.chain([pending], blocks):
        rows: list[RawRow] = []
        for line in block:
            cells = line.split("\t")
            if len(cells) < width:
                if len(cells) == 1 and not cells[0]:
                    continue  # an empty line
                cells.extend(padding[len(cells):])
            reading.rows += 1
            row: RawRow = fields(cells)
            if not row[SKU]:
                reading.note(f"line {reading.rows + 1}: no seller-sku")
            elif asin_at is not None:
                rows.append(row)
            else:
                rows.append((row[SKU], row[PRICE], row[QUANTITY], row[CHANNEL], row[STATUS], ""))
        if rows:
            yield rows


def plain_merchant_row(row: RawRow) -> bool:
    """An active listing the merchant fulfils: it has no problem to report and is not FBA, so a SKU
    the sync has nothing to do with needs no more reading than this."""
    return row[STATUS] == "Active" and row[CHANNEL] in (MERCHANT_CHANNEL, "")


def listing_from(row: RawRow, reading: ReportReading) -> AmazonListing:
    """The row's values; a quantity or price that cannot be read is noted and left empty."""
    sku, price_text, quantity_text, channel, status, asin = row
    quantity: int | None = None
    if quantity_text:
        try:
            quantity = int(quantity_text)
        except ValueError:
            reading.note(f"{sku}: quantity {quantity_text!r} is not a whole number")
    price: Decimal | None = None
    if price_text:
        try:  # the common case, "12.99", without the slower locale handling
            price = Decimal(price_text)
            if not price.is_finite() or price < 0 or price >= MAX_PRICE:
                raise InvalidOperation(price_text)
        except InvalidOperation:
            price = parse_price(price_text)
            if price is None:
                reading.note(f"{sku}: price {price_text!r} is not an amount")
    return AmazonListing(sku, quantity, price, channel or MERCHANT_CHANNEL, status or "Unknown", asin or None)


def parse_listings(chunks: Iterable[bytes], charset: str = "cp1252",
                   reading: ReportReading | None = None) -> Iterator[AmazonListing]:
    """Every listing of the report, converted (``read_rows`` and ``listing_from``)."""
    reading = reading if reading is not None else ReportReading()
    for rows in read_rows(chunks, charset, reading):
        for row in rows:
            yield listing_from(row, reading)
