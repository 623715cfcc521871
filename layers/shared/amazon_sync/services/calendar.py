"""The price calendar, run at the start of every export: offers whose price changed by the clock
since the last run become log rows of kind ``calendar``, claimed by this very run.

The calendar's position (up to when it has looked) is kept per shop and time zone next to the log,
and moves in the same transaction that writes the rows: a run that dies loses neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.config import MarketplaceConfig
from amazon_sync.domain.calendar import CalendarWindow, due_offers


@dataclass
class CalendarRun:
    rows: int = 0
    next_change_at: datetime | None = None  # the next moment an offer's effective price changes


def enqueue_due_price_changes(log: EventLog, reader: OfferReader, marketplaces: Iterable[MarketplaceConfig],
                              now: datetime) -> CalendarRun:
    result = CalendarRun()
    seen: set[tuple[int, str]] = set()
    for marketplace in marketplaces:
        shop, timezone = marketplace.shop_id, marketplace.shop_timezone
        if (shop, timezone) in seen:
            continue
        seen.add((shop, timezone))
        zone = ZoneInfo(timezone)
        name = f"{shop}:{timezone}"
        since = log.calendar_checked_until(name)
        if since is None:
            log.enqueue_calendar(name, [], now)  # the first run: what holds now is the full sync's to send
        elif since < now:
            window = CalendarWindow(since, now)
            keys = due_offers(reader.price_boundaries(shop, zone, window), window, shop)
            result.rows += log.enqueue_calendar(name, keys, now)
        upcoming = reader.next_price_boundary(shop, zone, now)
        if upcoming is not None and (result.next_change_at is None or upcoming < result.next_change_at):
            result.next_change_at = upcoming
    return result
