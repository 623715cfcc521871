"""The price calendar's pure part (domain.calendar): which offers a passing moment names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from amazon_sync.config import MarketplaceConfig
from amazon_sync.domain.calendar import CalendarWindow, PriceBoundary, due_offers, from_shop_local, shop_local
from amazon_sync.domain.model import LogKey

NOON = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
WINDOW = CalendarWindow(NOON - timedelta(minutes=5), NOON)


def test_only_boundaries_inside_the_window_are_due_and_each_offer_once():
    boundaries = [PriceBoundary(NOON, 7, 0), PriceBoundary(NOON - timedelta(minutes=1), 7, 0),
                  PriceBoundary(NOON - timedelta(minutes=2), 8, 31),
                  PriceBoundary(NOON - timedelta(minutes=5), 9, 0),  # the window's start was seen last run
                  PriceBoundary(NOON + timedelta(seconds=1), 10, 0)]  # not yet
    assert due_offers(boundaries, WINDOW, 2) == [LogKey(7, 0, 2), LogKey(8, 31, 2)]


def test_a_catalogue_wide_boundary_names_every_offer_of_the_shop():
    boundaries = [PriceBoundary(NOON, 7, 0), PriceBoundary(NOON - timedelta(minutes=1), 0, 0)]
    assert due_offers(boundaries, WINDOW, 1) == [LogKey(0, 0, 1)]
    assert due_offers([PriceBoundary(NOON - timedelta(hours=1), 0, 0)], WINDOW, 1) == []


def test_shop_time_round_trip_across_the_summer_time_change():
    paris = ZoneInfo("Europe/Paris")
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 in Paris, just after clocks went forward
    assert shop_local(moment, paris) == datetime(2026, 3, 29, 3, 30)
    assert from_shop_local(shop_local(moment, paris), paris) == moment


def test_an_unknown_shop_time_zone_is_refused_when_the_configuration_is_read():
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Pariss'"):
        MarketplaceConfig(marketplace_id="A13V1IB3VIYZZH", seller_id="S", shop_id=1, country="FR", currency="EUR",
                          shop_timezone="Europe/Pariss")
