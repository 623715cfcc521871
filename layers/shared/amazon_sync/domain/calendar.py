"""The price calendar: the moments at which an offer's effective price changes by the clock alone.

A PrestaShop specific price has a ``from`` and a ``to`` in the shop's time zone. When one starts or
ends, the price the shop charges changes although no row changed, so no capture trigger fires: a
second sale window that starts when the first ends, or a product's own sale that starts while a
catalogue-wide one runs (the more specific price wins from then on). Amazon is sent one sale window
per offer, so each such moment must reach it as a change of its own.

Plain functions over plain data: the MySQL reader finds the boundaries, the export enqueues the
offers they name as log rows of kind ``calendar`` that go through the normal export and
acknowledgment like any other change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from amazon_sync.domain.model import LogKey


@dataclass(frozen=True)
class PriceBoundary:
    """A specific price starts or ends at ``at`` (UTC) for a product (0: every product), a combination
    (0: all of the product's) in a shop (0: every shop)."""

    at: datetime
    id_product: int
    id_product_attribute: int


@dataclass(frozen=True)
class CalendarWindow:
    """The stretch of time one run looks at: boundaries after ``since``, up to and including ``until``.

    A boundary at exactly ``until`` is due: the reader treats a price as started at its ``from`` and
    ended at its ``to``, so the offer read now already shows it.
    """

    since: datetime
    until: datetime

    def holds(self, moment: datetime) -> bool:
        return self.since < moment <= self.until


def shop_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A UTC moment as the naive shop-local time PrestaShop stores in ``from`` and ``to``."""
    return moment.astimezone(zone).replace(tzinfo=None)


def from_shop_local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.replace(tzinfo=zone).astimezone(UTC)


def due_offers(boundaries: Iterable[PriceBoundary], window: CalendarWindow, id_shop: int) -> list[LogKey]:
    """The log keys to enqueue for the boundaries inside the window, for the given shop.

    A catalogue-wide boundary names every product (one key on product 0: the export's full pass).
    """
    keys: set[LogKey] = set()
    for boundary in boundaries:
        if not window.holds(boundary.at):
            continue
        if boundary.id_product == 0:
            return [LogKey(0, 0, id_shop)]
        keys.add(LogKey(boundary.id_product, boundary.id_product_attribute, id_shop))
    return sorted(keys, key=lambda k: (k.id_product, k.id_product_attribute))
