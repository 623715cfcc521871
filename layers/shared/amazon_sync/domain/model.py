"""The sync's vocabulary: what a log row names, what an offer is, and the problems an offer can have.

Plain data with no I/O, shared by the MySQL reader that fills it and the message planner that reads it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

SkuField = Literal["reference", "ean13", "supplier_reference"]
MAX_SKU_LENGTH = 40


class LogKey(NamedTuple):
    """What one log row names: a product (0 = every product), a combination (0 = the product or
    all its combinations) and a shop (0 = every shop).

    A named tuple, not a frozen dataclass: a run hashes one per log row (a million in a backlog), and a
    tuple hashes and compares in C (coalescing 200,000 rows took 0.69 s with the dataclass)."""

    id_product: int
    id_product_attribute: int
    id_shop: int


class RowIds(NamedTuple):
    """The ids of a batch's log rows of one key, as the server listed them: counted and bounded, and
    parsed only when some of them are handed back or deleted. An export keeps nearly all it claims until
    Amazon answers, so a million ids parsed into integer lists bought nothing but 45-50 MB of peak memory
    (bench-export) for the cyclic collector to scan; the text is one untracked object per key."""

    size: int
    oldest: int  # the smallest and largest id: ids grow with time
    newest: int
    listed: str | bytes  # the ids joined by commas (pymysql gives a GROUP_CONCAT as either)

    @classmethod
    def of(cls, ids: list[int]) -> RowIds:
        return cls(len(ids), min(ids, default=0), max(ids, default=0), ",".join(map(str, ids)))

    def ids(self) -> list[int]:
        return RowIds.joined([self])

    @staticmethod
    def joined(many: Iterable[RowIds]) -> list[int]:
        """The ids of many keys at once: one join, one split and one map, in C, instead of one each per key
        (an acknowledgment deletes the rows of 200,000 keys)."""
        texts = [rows.listed if isinstance(rows.listed, str) else rows.listed.decode() for rows in many if rows.size]
        return list(map(int, ",".join(texts).split(","))) if texts else []


@dataclass(frozen=True)
class ShopContext:
    id_shop: int
    id_shop_group: int
    share_stock: bool
    id_country: int
    id_currency: int
    conversion_rate: Decimal
    timezone: ZoneInfo
    allow_orders_when_out_of_stock: bool = False

    @property
    def stock_shop_and_group(self) -> tuple[int, int]:
        # PrestaShop keeps shared stock on (id_shop 0, the group) and per-shop stock on (shop, group 0).
        return (0, self.id_shop_group) if self.share_stock else (self.id_shop, 0)


@dataclass(frozen=True)
class SalePrice:
    price: Decimal
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class AcceptedOffer:
    """What Amazon last accepted for a SKU on a marketplace; a None fingerprint means "never skip the
    next change as unchanged" (a feed that may have been applied in part)."""

    quantity: int | None
    price: Decimal | None
    fingerprint: str | None


@dataclass(frozen=True)
class OfferProblem:
    code: str
    message: str
    blocking: bool = True


@dataclass
class Offer:
    id_product: int
    id_product_attribute: int
    sku: str | None
    quantity: int
    price: Decimal | None
    sale: SalePrice | None = None
    backorders_allowed: bool = False
    exists: bool = True
    problems: list[OfferProblem] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int]:
        return (self.id_product, self.id_product_attribute)

    @property
    def sendable(self) -> bool:
        return not any(problem.blocking for problem in self.problems)

    def describe_problems(self) -> str:
        return "; ".join(problem.message for problem in self.problems)


def sku_problem(sku: str | None) -> OfferProblem | None:
    if sku is None or sku == "":
        return OfferProblem("NO_SKU", "no SKU: the reference field is empty")
    if len(sku) > MAX_SKU_LENGTH:
        return OfferProblem("SKU_TOO_LONG", f"SKU {sku!r} is {len(sku)} characters, Amazon allows {MAX_SKU_LENGTH}")
    if sku != sku.strip():
        return OfferProblem("SKU_ILLEGAL", f"SKU {sku!r} has leading or trailing white space")
    if sku.isprintable():  # no character of Unicode's Other or Separator categories but the space
        return None
    bad = [ch for ch in sku if unicodedata.category(ch)[0] in ("C", "Z") and ch != " "]
    if bad:
        return OfferProblem("SKU_ILLEGAL", f"SKU {sku!r} contains illegal character(s) {''.join(bad)!r}")
    return None
