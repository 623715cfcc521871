"""Reading what Amazon must be told about an offer, from PrestaShop's own tables, in batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.connection import consecutive_runs, id_set_condition, json_rows, placeholders
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.domain.calendar import CalendarWindow, PriceBoundary, from_shop_local, shop_local
from amazon_sync.domain.model import (
    LogKey,
    Offer,
    OfferProblem,
    SalePrice,
    ShopContext,
    SkuField,
    sku_problem,
)
from amazon_sync.errors import ConfigurationError

CENT = Decimal("0.01")
# built once: a Decimal made from a number at each of 200,000 offers is a measurable part of reading them
_ZERO, _ONE = Decimal(0), Decimal(1)
_CHUNK = 1000


def _zero_date(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.startswith("0000"))


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class _SpecificPrice:
    id_specific_price: int
    id_product: int
    id_product_attribute: int
    id_shop: int
    id_currency: int
    id_country: int
    price: Decimal
    reduction: Decimal
    reduction_tax: int
    reduction_type: str
    start: datetime | None
    end: datetime | None

    def specificity(self, id_product_attribute: int) -> tuple[int, ...]:
        return (
            int(self.id_product_attribute == id_product_attribute and id_product_attribute != 0),
            int(self.id_product != 0), int(self.id_shop != 0), int(self.id_currency != 0),
            int(self.id_country != 0), self.id_specific_price,
        )


class OfferReader:
    """Batched reads of offers for one shop: a handful of queries per thousand offers."""

    def __init__(self, conn: Connection[pymysql.cursors.Cursor], tables: Tables,
                 sku_field: SkuField = "reference") -> None:
        if sku_field not in ("reference", "ean13", "supplier_reference"):
            raise ConfigurationError(f"sku_field {sku_field!r} must be reference, ean13 or supplier_reference")
        self.conn = conn
        self.t = tables
        self.sku_field = sku_field
        self._tax_cache: dict[int, dict[int, Decimal]] = {}

    # -- context --------------------------------------------------------------------------------

    def shop_context(self, id_shop: int, country_iso: str, currency_iso: str, timezone: str = "UTC",
                     conversion_rate: Decimal | None = None,
                     allow_orders_when_out_of_stock: bool = False) -> ShopContext:
        t = self.t
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT s.id_shop_group, g.share_stock FROM {t.table('shop')} s "
                        f"JOIN {t.table('shop_group')} g ON g.id_shop_group = s.id_shop_group "
                        "WHERE s.id_shop = %s", (id_shop,))
            shop = cur.fetchone()
            if not shop:
                raise ConfigurationError(f"PrestaShop shop {id_shop} does not exist ({t.raw('shop')})")
            cur.execute(f"SELECT id_country FROM {t.table('country')} WHERE iso_code = %s", (country_iso,))
            country = cur.fetchone()
            if not country:
                raise ConfigurationError(f"country {country_iso!r} is not in {t.raw('country')}")
            cur.execute(f"SELECT c.id_currency, cs.conversion_rate FROM {t.table('currency')} c "
                        f"LEFT JOIN {t.table('currency_shop')} cs ON cs.id_currency = c.id_currency "
                        "AND cs.id_shop = %s WHERE c.iso_code = %s AND c.deleted = 0", (id_shop, currency_iso))
            currency = cur.fetchone()
            if not currency:
                raise ConfigurationError(f"currency {currency_iso!r} is not in {t.raw('currency')}")
        rate = conversion_rate if conversion_rate is not None else Decimal(currency[1] or 1)
        try:
            zone = ZoneInfo(timezone)
        except Exception as exc:
            raise ConfigurationError(f"unknown time zone {timezone!r}") from exc
        return ShopContext(int(id_shop), int(shop[0]), bool(shop[1]), int(country[0]), int(currency[0]),
                           rate, zone, allow_orders_when_out_of_stock)

    def tax_rates(self, ctx: ShopContext) -> dict[int, Decimal]:
        """Tax rate (percent) per tax rules group for the marketplace's country."""
        if ctx.id_country in self._tax_cache:
            return self._tax_cache[ctx.id_country]
        t = self.t
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT tr.id_tax_rules_group, tx.rate, tr.behavior FROM {t.table('tax_rule')} tr "
                f"JOIN {t.table('tax')} tx ON tx.id_tax = tr.id_tax AND tx.active = 1 AND tx.deleted = 0 "
                f"JOIN {t.table('tax_rules_group')} g ON g.id_tax_rules_group = tr.id_tax_rules_group "
                "AND g.active = 1 AND g.deleted = 0 "
                "WHERE tr.id_country = %s AND tr.id_state = 0 AND tr.zipcode_from IN ('', '0') "
                "ORDER BY tr.id_tax_rules_group, tr.id_tax_rule", (ctx.id_country,))
            rules: dict[int, list[tuple[Decimal, int]]] = defaultdict(list)
            for group, rate, behavior in cur.fetchall():
                rules[int(group)].append((Decimal(rate), int(behavior)))
        rates: dict[int, Decimal] = {}
        for group, group_rules in rules.items():
            if group_rules[0][1] == 0:  # "this tax only"
                rates[group] = group_rules[0][0]
                continue
            factor = Decimal(1)
            combined = Decimal(0)
            for rate, behavior in group_rules:
                if behavior == 2:  # one after another
                    factor *= 1 + rate / 100
                else:
                    combined += rate
            rates[group] = (factor * (1 + combined / 100) - 1) * 100
        self._tax_cache[ctx.id_country] = rates
        return rates

    # -- which offers a set of log keys names ----------------------------------------------------

    def expand(self, ctx: ShopContext, keys: Iterable[tuple[LogKey, bool]]) -> tuple[set[tuple[int, int]], bool]:
        """Offer keys (product, combination) in this shop named by log keys.

        Each key comes with ``stock_only``: a stock change on a product's own row (combination 0)
        names no offer when the product has combinations, since PrestaShop keeps their sum there.
        Returns (offer keys, every_product): a key on product 0 asks for the whole shop.
        """
        offers: set[tuple[int, int]] = set()
        whole_products: dict[int, bool] = {}
        for key, stock_only in keys:
            if key.id_shop not in (0, ctx.id_shop):
                continue
            if key.id_product == 0:
                return set(), True
            if key.id_product_attribute:
                offers.add((key.id_product, key.id_product_attribute))
            else:
                whole_products[key.id_product] = whole_products.get(key.id_product, True) and stock_only
        products = list(whole_products)
        for start in range(0, len(products), _CHUNK):
            chunk = products[start:start + _CHUNK]
            combos: dict[int, list[int]] = defaultdict(list)
            with self.conn.cursor() as cur:
                cur.execute(
                    f"SELECT id_product, id_product_attribute FROM {self.t.table('product_attribute_shop')} "
                    f"WHERE id_shop = %s AND id_product IN ({placeholders(chunk)})", (ctx.id_shop, *chunk))
                for product, attribute in cur.fetchall():
                    combos[int(product)].append(int(attribute))
            for product in chunk:
                if product not in combos:
                    offers.add((product, 0))
                elif not whole_products[product]:
                    offers.update((product, attribute) for attribute in combos[product])
        return offers, False

    def all_offer_keys(self, ctx: ShopContext, chunk_size: int = 5000) -> Iterator[list[tuple[int, int]]]:
        """Every offer of the shop, in chunks, for a full reconciliation."""
        t = self.t
        last = (-1, -1)
        while True:
            with self.conn.cursor() as cur:
                cur.execute(
                    f"SELECT ps.id_product, COALESCE(pas.id_product_attribute, 0) AS attr "
                    f"FROM {t.table('product_shop')} ps LEFT JOIN {t.table('product_attribute_shop')} pas "
                    "ON pas.id_product = ps.id_product AND pas.id_shop = ps.id_shop "
                    "WHERE ps.id_shop = %s AND (ps.id_product > %s OR (ps.id_product = %s AND "
                    "COALESCE(pas.id_product_attribute, 0) > %s)) "
                    "ORDER BY ps.id_product, attr LIMIT %s",
                    (ctx.id_shop, last[0], last[0], last[1], chunk_size))
                rows = [(int(a), int(b)) for a, b in cur.fetchall()]
            if not rows:
                return
            yield rows
            last = rows[-1]

    # -- reading offers ---------------------------------------------------------------------------

    def read(self, ctx: ShopContext, offer_keys: Sequence[tuple[int, int]],
             now: datetime | None = None, duplicates: set[str] | None = None) -> list[Offer]:
        """``duplicates``: the catalogue's duplicate SKUs read once for many chunks (else each chunk asks
        about its own SKUs)."""
        now = now or datetime.now(UTC)
        result: list[Offer] = []
        for start in range(0, len(offer_keys), _CHUNK):
            result.extend(self._read_chunk(ctx, offer_keys[start:start + _CHUNK], now, duplicates))
        return result

    def read_shop(self, ctx: ShopContext, now: datetime | None = None, page: int = 5000) -> Iterator[list[Offer]]:
        """Every offer of the shop, as ``read`` gives them for ``all_offer_keys``, a page of products at a
        time, read set-based: per page two range queries (simple products, combinations) and one for
        their specific prices, and the duplicate SKUs of the whole catalogue once, instead of a few
        queries with long IN lists per thousand offers. Memory holds one page."""
        now = now or datetime.now(UTC)
        t = self.t
        sa_shop, sa_group = ctx.stock_shop_and_group
        taxes = self.tax_rates(ctx)
        duplicates = self.duplicate_skus_of_catalogue()
        globals_ = self._specific_price_rows(ctx, "id_product = 0", ()).get(0, [])
        after = -1
        while True:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT MAX(id_product) FROM (SELECT id_product FROM {t.table('product_shop')} "
                            "WHERE id_shop = %s AND id_product > %s ORDER BY id_product LIMIT %s) AS page",
                            (ctx.id_shop, after, page))
                found = cur.fetchone()
                if found is None or found[0] is None:
                    return
                first, last = after + 1, int(found[0])
                cur.execute(
                    f"SELECT p.id_product, 0, {self._columns('0', 'p')} FROM {t.table('product_shop')} ps "
                    f"JOIN {t.table('product')} p ON p.id_product = ps.id_product "
                    + self._stock_join("0")
                    + "WHERE ps.id_shop = %s AND ps.id_product BETWEEN %s AND %s AND NOT EXISTS (SELECT 1 FROM "
                    f"{t.table('product_attribute_shop')} x WHERE x.id_product = ps.id_product AND x.id_shop = %s)",
                    (sa_shop, sa_group, ctx.id_shop, first, last, ctx.id_shop))
                rows = list(cur.fetchall())
                cur.execute(
                    f"SELECT pa.id_product, pa.id_product_attribute, {self._columns('pas.price', 'pa')} "
                    f"FROM {t.table('product_shop')} ps "
                    f"JOIN {t.table('product_attribute_shop')} pas ON pas.id_product = ps.id_product "
                    "AND pas.id_shop = ps.id_shop "
                    f"JOIN {t.table('product_attribute')} pa ON pa.id_product_attribute = pas.id_product_attribute "
                    "AND pa.id_product = ps.id_product "
                    f"JOIN {t.table('product')} p ON p.id_product = ps.id_product "
                    + self._stock_join("pa.id_product_attribute")
                    + "WHERE ps.id_shop = %s AND ps.id_product BETWEEN %s AND %s",
                    (sa_shop, sa_group, ctx.id_shop, first, last))
                rows.extend(cur.fetchall())
            specific = self._specific_price_rows(ctx, "id_product BETWEEN %s AND %s", (first, last))
            offers = []
            for row in rows:
                candidates = specific.get(int(row[0]), [])
                offers.append(self._offer_from_row(ctx, row, taxes, candidates + globals_ if globals_ else candidates,
                                                   duplicates, now))
            yield offers
            after = last

    def _stock_join(self, attribute: str) -> str:
        """Joins the offer's stock row; its parameters are ``ctx.stock_shop_and_group``."""
        return (f"LEFT JOIN {self.t.table('stock_available')} sa ON sa.id_product = p.id_product "
                f"AND sa.id_product_attribute = {attribute} AND sa.id_shop = %s AND sa.id_shop_group = %s ")

    def _columns(self, impact: str, sku_table: str) -> str:
        """What ``_offer_from_row`` reads after (id_product, id_product_attribute)."""
        return (f"ps.price, {impact}, ps.active, ps.available_for_order, ps.id_tax_rules_group, "
                f"p.state, sa.quantity, sa.out_of_stock, {sku_table}.{self.sku_field}")

    def _read_chunk(self, ctx: ShopContext, keys: Sequence[tuple[int, int]], now: datetime,
                    duplicates: set[str] | None) -> list[Offer]:
        t = self.t
        sa_shop, sa_group = ctx.stock_shop_and_group
        simple = [p for p, a in keys if a == 0]
        combos = [a for _, a in keys if a != 0]
        rows: dict[tuple[int, int], Sequence[Any]] = {}
        with self.conn.cursor() as cur:
            # Each set of ids as ranges of consecutive ids, and the rows as one JSON array (connection.py):
            # 200,000 simple offers read in 1,000-offer chunks took 6.2-6.5 s as rows named in lists,
            # 4.1-4.3 s as JSON and 3.3 s as JSON named by ranges (one machine, two runs each).
            if simple:
                where, args = id_set_condition("p.id_product", consecutive_runs(sorted(set(simple))))
                for row in json_rows(
                        cur, f"p.id_product, 0, {self._columns('0', 'p')}",
                        f"FROM {t.table('product')} p "
                        f"JOIN {t.table('product_shop')} ps ON ps.id_product = p.id_product AND ps.id_shop = %s "
                        + self._stock_join("0") + f"WHERE {where}",
                        (ctx.id_shop, sa_shop, sa_group, *args)):
                    rows[(row[0], 0)] = row
            if combos:
                where, args = id_set_condition("pa.id_product_attribute", consecutive_runs(sorted(set(combos))))
                for row in json_rows(
                        cur, f"pa.id_product, pa.id_product_attribute, {self._columns('pas.price', 'pa')}",
                        f"FROM {t.table('product_attribute')} pa "
                        f"JOIN {t.table('product')} p ON p.id_product = pa.id_product "
                        f"JOIN {t.table('product_attribute_shop')} pas ON pas.id_product_attribute = "
                        "pa.id_product_attribute AND pas.id_shop = %s "
                        f"JOIN {t.table('product_shop')} ps ON ps.id_product = pa.id_product AND ps.id_shop = %s "
                        + self._stock_join("pa.id_product_attribute") + f"WHERE {where}",
                        (ctx.id_shop, ctx.id_shop, sa_shop, sa_group, *args)):
                    rows[(row[0], row[1])] = row
        products = sorted({p for p, _ in keys})
        specific = self._specific_prices(ctx, products)
        if duplicates is None:
            duplicates = self._duplicate_skus(sorted({str(r[10]) for r in rows.values() if r[10]}))
        taxes = self.tax_rates(ctx)
        offers = []
        for key in keys:
            found = rows.get(key)
            if found is None:
                offers.append(Offer(key[0], key[1], None, 0, None, exists=False))
                continue
            offers.append(self._offer_from_row(ctx, found, taxes, specific.get(key[0], []), duplicates, now))
        return offers

    def _offer_from_row(self, ctx: ShopContext, row: Sequence[Any], taxes: dict[int, Decimal],
                        specific: list[_SpecificPrice], duplicates: set[str], now: datetime) -> Offer:
        (product, attribute, base_price, impact, active, available, tax_group, state, stock,
         out_of_stock, sku_value) = row
        sku = None if sku_value is None else str(sku_value)
        problems: list[OfferProblem] = []
        problem = sku_problem(sku)
        if problem:
            problems.append(problem)
        elif sku in duplicates:
            problems.append(OfferProblem("SKU_DUPLICATE", f"SKU {sku!r} is used by more than one product or "
                                         "combination: neither is sent until it is unique"))
        quantity = 0
        if stock is None:
            problems.append(OfferProblem("NO_STOCK_ROW", "no stock_available row for this shop: sent as 0",
                                         blocking=False))
        elif int(stock) < 0:
            problems.append(OfferProblem("NEGATIVE_STOCK", f"negative stock ({int(stock)}) in stock_available: "
                                         "sent as 0", blocking=False))
        else:
            quantity = int(stock)
        if not active or not available or int(state) != 1:
            quantity = 0
        backorders = (int(out_of_stock) == 1 or (int(out_of_stock) == 2 and ctx.allow_orders_when_out_of_stock)
                      ) if out_of_stock is not None else False
        rate = taxes.get(int(tax_group), _ZERO)
        price: Decimal | None = None
        sale: SalePrice | None = None
        if base_price is None:
            problems.append(OfferProblem("NO_PRICE", "no price in product_shop for this shop"))
        else:
            regular = self._price(Decimal(base_price), Decimal(impact), rate, ctx, None, int(attribute))
            if regular <= 0:
                problems.append(OfferProblem("BAD_PRICE", f"price {regular} is not positive"))
            else:
                price = regular
                chosen = self._choose_specific_price(specific, int(attribute), now, ctx) if specific else None
                if chosen is not None:
                    value = self._price(Decimal(base_price), Decimal(impact), rate, ctx, chosen, int(attribute))
                    if _ZERO < value < regular:
                        sale = SalePrice(value, chosen.start, chosen.end)
        return Offer(int(product), int(attribute), sku, quantity, price, sale, backorders, True, problems)

    @staticmethod
    def _price(base: Decimal, impact: Decimal, rate: Decimal, ctx: ShopContext,
               sp: _SpecificPrice | None, attribute: int) -> Decimal:
        """PrestaShop's price rule: a specific price may replace the base price; the combination impact
        is added unless the specific price is the combination's own fixed price; reductions apply with tax."""
        conversion = ctx.conversion_rate
        sp_conversion = conversion if sp is None or sp.id_currency == 0 else _ONE
        price = base * conversion
        if sp is not None and sp.price >= 0:
            price = sp.price * sp_conversion
        if sp is None or sp.id_product_attribute == 0 or sp.price < 0:
            price += impact * conversion
        tax_factor = 1 + rate / 100
        price *= tax_factor
        if sp is not None and sp.reduction > 0:
            if sp.reduction_type == "percentage":
                price -= price * sp.reduction
            elif sp.reduction_tax:
                price -= sp.reduction * sp_conversion
            else:
                price -= sp.reduction * sp_conversion * tax_factor
        return _money(price if price > _ZERO else _ZERO)

    @staticmethod
    def _choose_specific_price(candidates: list[_SpecificPrice], attribute: int, now: datetime,
                               ctx: ShopContext) -> _SpecificPrice | None:
        usable = [sp for sp in candidates if sp.id_product_attribute in (0, attribute)
                  and (sp.end is None or sp.end > now)]
        if not usable:
            return None
        current = [sp for sp in usable if sp.start is None or sp.start <= now]
        if current:
            return max(current, key=lambda sp: sp.specificity(attribute))
        return min(usable, key=lambda sp: (sp.start or now, [-x for x in sp.specificity(attribute)]))

    def _specific_prices(self, ctx: ShopContext, products: list[int]) -> dict[int, list[_SpecificPrice]]:
        if not products:
            return {}
        where, args = id_set_condition("id_product", consecutive_runs(products))
        found = self._specific_price_rows(ctx, f"({where} OR id_product = 0)", args)
        globals_ = found.pop(0, [])
        if globals_:
            for product in products:
                found[product].extend(globals_)
        return found

    def _specific_price_rows(self, ctx: ShopContext, products_where: str, args: Sequence[object],
                             ) -> defaultdict[int, list[_SpecificPrice]]:
        """The specific prices that may apply in this shop, currency and country, per product (0: every
        product), for the products ``products_where`` names."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT id_specific_price, id_product, id_product_attribute, id_shop, id_currency, id_country, "
                "price, reduction, reduction_tax, reduction_type, CAST(`from` AS CHAR), CAST(`to` AS CHAR) "
                f"FROM {self.t.table('specific_price')} WHERE {products_where} "
                "AND id_cart = 0 AND id_customer = 0 AND id_group = 0 AND from_quantity <= 1 "
                "AND id_shop IN (0, %s) AND id_shop_group IN (0, %s) AND id_currency IN (0, %s) "
                "AND id_country IN (0, %s)",
                (*args, ctx.id_shop, ctx.id_shop_group, ctx.id_currency, ctx.id_country))
            found: defaultdict[int, list[_SpecificPrice]] = defaultdict(list)
            for row in cur.fetchall():
                sp = _SpecificPrice(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]),
                                    Decimal(row[6]), Decimal(row[7]), int(row[8]), str(row[9]),
                                    self._shop_time(row[10], ctx), self._shop_time(row[11], ctx))
                found[sp.id_product].append(sp)
        return found

    @staticmethod
    def _shop_time(value: Any, ctx: ShopContext) -> datetime | None:
        if _zero_date(value):
            return None
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return parsed.replace(tzinfo=ctx.timezone).astimezone(UTC)

    # -- the price calendar -----------------------------------------------------------------------
    # The specific prices the offer reader considers (no cart, customer or group; from quantity 1) in
    # this shop or every shop; currency and country are not filtered: a boundary too many only sends
    # an unchanged offer, which the export skips.
    _CALENDAR_FILTER = ("id_cart = 0 AND id_customer = 0 AND id_group = 0 AND from_quantity <= 1 "
                        "AND id_shop IN (0, %s)")

    def price_boundaries(self, id_shop: int, zone: ZoneInfo, window: CalendarWindow) -> list[PriceBoundary]:
        """Specific prices of the shop that start or end inside the window."""
        since, until = shop_local(window.since, zone), shop_local(window.until, zone)
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT id_product, id_product_attribute, CAST(`from` AS CHAR), CAST(`to` AS CHAR) "
                f"FROM {self.t.table('specific_price')} WHERE {self._CALENDAR_FILTER} "
                "AND ((`from` > %s AND `from` <= %s) OR (`to` > %s AND `to` <= %s))",
                (id_shop, since, until, since, until))
            rows = cur.fetchall()
        found = []
        for product, attribute, start, end in rows:
            for value in (start, end):
                if not _zero_date(value):
                    moment = from_shop_local(datetime.fromisoformat(str(value)), zone)
                    found.append(PriceBoundary(moment, int(product), int(attribute)))
        return found

    def next_price_boundary(self, id_shop: int, zone: ZoneInfo, after: datetime) -> datetime | None:
        """The next moment after ``after`` at which a specific price of the shop starts or ends."""
        local = shop_local(after, zone)
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT CAST(LEAST(COALESCE(MIN(IF(`from` > %s, `from`, NULL)), '9999-12-31 23:59:59'), "
                "COALESCE(MIN(IF(`to` > %s, `to`, NULL)), '9999-12-31 23:59:59')) AS CHAR) "
                f"FROM {self.t.table('specific_price')} WHERE {self._CALENDAR_FILTER} AND (`from` > %s OR `to` > %s)",
                (local, local, id_shop, local, local))
            row = cur.fetchone()
        if not row or row[0] is None or str(row[0]).startswith("9999"):
            return None
        return from_shop_local(datetime.fromisoformat(str(row[0])), zone)

    def skus_in_use(self, ctx: ShopContext, skus: Sequence[str]) -> set[str]:
        """Which of these SKUs an offer of the shop uses now (a simple product, or a combination)."""
        t, field_, shop = self.t, self.sku_field, ctx.id_shop
        found: set[str] = set()
        for start in range(0, len(skus), _CHUNK):
            part = list(skus[start:start + _CHUNK])
            with self.conn.cursor() as cur:
                cur.execute(
                    f"SELECT pa.{field_} FROM {t.table('product_attribute')} pa "
                    f"JOIN {t.table('product_attribute_shop')} pas ON pas.id_product_attribute = "
                    "pa.id_product_attribute AND pas.id_shop = %s "
                    f"JOIN {t.table('product_shop')} ps ON ps.id_product = pa.id_product AND ps.id_shop = %s "
                    f"WHERE pa.{field_} IN ({placeholders(part)}) "
                    f"UNION SELECT p.{field_} FROM {t.table('product')} p "
                    f"JOIN {t.table('product_shop')} ps ON ps.id_product = p.id_product AND ps.id_shop = %s "
                    f"WHERE p.{field_} IN ({placeholders(part)}) AND NOT EXISTS (SELECT 1 FROM "
                    f"{t.table('product_attribute_shop')} x WHERE x.id_product = p.id_product AND x.id_shop = %s)",
                    (shop, shop, *part, shop, *part, shop))
                found.update(str(row[0]) for row in cur.fetchall())
        return found

    def _duplicate_skus(self, skus: list[str]) -> set[str]:
        """SKUs used more than once among simple products and combinations (a product with
        combinations is not itself an offer, so its own reference does not count)."""
        if not skus:
            return set()
        t = self.t
        field_ = self.sku_field
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT sku FROM (SELECT pa.{field_} AS sku FROM {t.table('product_attribute')} pa "
                f"WHERE pa.{field_} IN ({placeholders(skus)}) "
                f"UNION ALL SELECT p.{field_} FROM {t.table('product')} p WHERE p.{field_} IN ({placeholders(skus)}) "
                f"AND NOT EXISTS (SELECT 1 FROM {t.table('product_attribute')} x WHERE x.id_product = p.id_product)"
                ") AS candidates GROUP BY sku HAVING COUNT(*) > 1", (*skus, *skus))
            return {str(row[0]) for row in cur.fetchall()}

    def duplicate_skus_of_catalogue(self) -> set[str]:
        """``_duplicate_skus`` of every SKU at once. Grouping the union of both tables needs a temporary
        table on disk (11 s for 200,000 offers on the benchmark's machine); each table grouped alone,
        and the SKUs both use, are three queries along PrestaShop's indexes on the SKU columns (0.3 s)."""
        t = self.t
        field_ = self.sku_field
        without_combinations = (f"p.{field_} <> '' AND NOT EXISTS (SELECT 1 FROM {t.table('product_attribute')} x "
                                "WHERE x.id_product = p.id_product)")
        found: set[str] = set()
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT pa.{field_} FROM {t.table('product_attribute')} pa WHERE pa.{field_} <> '' "
                        f"GROUP BY pa.{field_} HAVING COUNT(*) > 1")
            found.update(str(row[0]) for row in cur.fetchall())
            cur.execute(f"SELECT p.{field_} FROM {t.table('product')} p WHERE {without_combinations} "
                        f"GROUP BY p.{field_} HAVING COUNT(*) > 1")
            found.update(str(row[0]) for row in cur.fetchall())
            cur.execute(f"SELECT p.{field_}, pa.{field_} FROM {t.table('product')} p "
                        f"JOIN {t.table('product_attribute')} pa ON pa.{field_} = p.{field_} "
                        f"WHERE {without_combinations}")
            found.update(str(value) for row in cur.fetchall() for value in row)
        return found
