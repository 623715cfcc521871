"""Reading Amazon's merchant listings report (GET_MERCHANT_LISTINGS_ALL_DATA), streaming: pure, no I/O.

The document is tab-separated text with one header line. Columns are found by their header names,
never by position (Amazon adds columns: 2025 EU files end with "Minimum order quantity" and "Sell
remainder"); unknown columns are ignored. The charset is the one in the download's Content-Type
(Cp1252 in the EU and NA). For FBA rows the quantity is empty: Amazon counts that stock, not the seller.
A million-line report is read one line at a time, so memory does not grow with its size.
"""

from __future__ import annotations

import codecs
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


def parse_listings(lines: Iterable[bytes], charset: str = "cp1252",
                   reading: ReportReading | None = None) -> Iterator[AmazonListing]:
    """Listings from the report's lines (bytes, as read from the decompressed document)."""
    reading = reading if reading is not None else ReportReading()
    iterator = iter(lines)
    header_line = next(iterator, None)
    if header_line is None:
        return
    header = header_line.decode(charset, errors="replace").lstrip("\ufeff").rstrip("\r\n").split("\t")
    index = {name.strip().lower(): position for position, name in enumerate(header)}
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing:
        raise ReportFormatError(
            f"the listings report has no column(s) {', '.join(missing)} (header: {' | '.join(header[:8])}...): "
            "were the headers localised? The sync asks for en_US headers")
    asin_at = index.get("asin1")
    # the fields by position, in one C call per row; an absent asin1 reads the sku column and is dropped
    fields = itemgetter(index["seller-sku"], index["price"], index["quantity"], index["fulfillment-channel"],
                        index["status"], asin_at if asin_at is not None else index["seller-sku"])
    width = max(index.values()) + 1
    padding = [""] * width
    rows = 0
    try:
        for raw in iterator:
            cells = raw.decode(charset, errors="replace").rstrip("\r\n").split("\t")
            if len(cells) < width:
                if len(cells) == 1 and not cells[0]:
                    continue  # an empty line
                cells.extend(padding[len(cells):])
            rows += 1
            sku, price_text, quantity_text, channel, status, asin = fields(cells)
            if not sku:
                reading.note(f"line {rows + 1}: no seller-sku")
                continue
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
            yield AmazonListing(sku, quantity, price, channel or MERCHANT_CHANNEL, status or "Unknown",
                                (asin or None) if asin_at is not None else None)
    finally:
        reading.rows += rows
