"""Amazon's listing store and how a PATCH changes it, as Amazon does it (docs/amazon-behaviours.md).

One function, ``apply_patches``, serves feed messages and ``patchListingsItem`` alike. It works on a
copy of the listing; the caller stores the copy only when no patch was refused, because an INVALID
message applies none of its patches (processing report schema v2).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from amazon_sync.domain.marketplaces import ZERO_DECIMAL_CURRENCIES, currency_of

CODE_INTERNAL = "4000000"  # "An internal error has occurred": also Amazon's answer to malformed input
CODE_BAD_VALUE = "99022"
CODE_MARKETPLACE = "90244"
INTERNAL_ERROR = "An internal error has occurred. Please try again."

# The Product Type Definitions schema's "selectors": what identifies one instance of an attribute.
SELECTORS: dict[str, tuple[str, ...]] = {
    "purchasable_offer": ("marketplace_id", "currency", "audience"),
    "fulfillment_availability": ("fulfillment_channel_code",),
}
OTHER_SELECTORS = ("marketplace_id", "language_tag")
SELECTOR_DEFAULTS = {"audience": "ALL"}  # "Manage purchasable offer": audience "default: ALL (selector)"
MERGEABLE = frozenset({"fulfillment_availability", "quantity_discount_plan"})
INVENTORY_FIELDS = ("quantity", "lead_time_to_ship_max_days", "restock_date")  # DEFAULT channel only
SCHEDULE_FIELDS = frozenset({"value_with_tax", "start_at", "end_at"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    attribute: str | None = None


@dataclass
class Listing:
    """One SKU of the seller. Merchant quantity lives in ``fulfillment_availability`` once per seller
    and SKU, whatever the marketplace (docs #3167); offers are per marketplace inside
    ``purchasable_offer``."""

    sku: str
    product_type: str = "PRODUCT"
    attributes: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    # Marketplaces where the seller created the listing with its product data; None: every one.
    marketplaces: set[str] | None = None
    # Marketplaces where only an offer-only PATCH created it: accepted, never buyable (docs #3748).
    incomplete: set[str] = field(default_factory=set)
    created: float = 0.0

    @property
    def complete(self) -> bool:
        return self.marketplaces is None or bool(self.marketplaces)

    def complete_in(self, marketplace_id: str) -> bool:
        return self.marketplaces is None or marketplace_id in self.marketplaces

    def present_in(self, marketplace_id: str) -> bool:
        return self.complete_in(marketplace_id) or marketplace_id in self.incomplete

    def fulfillment(self) -> str:
        """MFN, AFN (only Amazon channels) or DUAL (both), from the availability entries."""
        channels = {e.get("fulfillment_channel_code") for e in self.attributes.get("fulfillment_availability", [])}
        amazon = any(c != "DEFAULT" for c in channels)
        if amazon:
            return "DUAL" if "DEFAULT" in channels else "AFN"
        return "MFN"

    def quantity(self) -> int | None:
        for entry in self.attributes.get("fulfillment_availability", []):
            if entry.get("fulfillment_channel_code") == "DEFAULT":
                quantity = entry.get("quantity")
                return quantity if isinstance(quantity, int) else None
        return None

    def offer(self, marketplace_id: str, audience: str = "ALL") -> dict[str, Any] | None:
        for entry in self.attributes.get("purchasable_offer", []):
            if entry.get("marketplace_id") == marketplace_id and entry.get("audience", "ALL") == audience:
                return dict(entry)
        return None

    def price(self, marketplace_id: str) -> float | None:
        offer = self.offer(marketplace_id)
        try:
            return float(offer["our_price"][0]["schedule"][0]["value_with_tax"]) if offer else None
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def sale(self, marketplace_id: str) -> dict[str, Any] | None:
        """The ``discounted_price`` schedule entry of the marketplace's ALL offer, if any."""
        offer = self.offer(marketplace_id) or {}
        try:
            schedule: dict[str, Any] = offer["discounted_price"][0]["schedule"][0]
            return dict(schedule)
        except (KeyError, IndexError, TypeError):
            return None

    def summaries(self, marketplace_id: str, created: str, updated: str) -> list[dict[str, Any]]:
        if not self.complete_in(marketplace_id):
            return []  # "If the summary view is not populated it is because the submission failed" (FAQ)
        return [{"marketplaceId": marketplace_id, "asin": f"B0SIM{abs(hash(self.sku)) % 100000:05d}",
                 "productType": self.product_type, "conditionType": "new_new",
                 "status": ["BUYABLE", "DISCOVERABLE"], "itemName": self.sku,
                 "createdDate": created, "lastUpdatedDate": updated}]

    def snapshot(self) -> dict[str, Any]:
        return {"sku": self.sku, "productType": self.product_type, "attributes": copy.deepcopy(self.attributes),
                "quantity": self.quantity(), "complete": self.complete,
                "marketplaces": None if self.marketplaces is None else sorted(self.marketplaces),
                "incomplete": sorted(self.incomplete), "fulfillment": self.fulfillment(),
                "history": list(self.history)}


def instance_key(name: str, entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry.get(s, SELECTOR_DEFAULTS.get(s)) for s in SELECTORS.get(name, OTHER_SELECTORS))


def apply_patches(listing: Listing, patches: list[Any], marketplace_id: str) -> list[Problem]:
    """Apply every patch to ``listing`` in place; the problems found (any means: store nothing)."""
    problems: list[Problem] = []
    for index, patch in enumerate(patches):
        problems.extend(_apply_patch(listing, index, patch, marketplace_id))
    return problems


def _apply_patch(listing: Listing, index: int, patch: Any, marketplace_id: str) -> list[Problem]:
    if not isinstance(patch, dict):
        return [Problem(CODE_INTERNAL, f"Invalid path provided in patch at index of {index}.")]
    parts = str(patch.get("path", "")).split("/")
    op = patch.get("op")
    value = patch.get("value")
    # Only top-level attributes can be patched (patchListingsItem model); a delete needs its value.
    if len(parts) != 3 or parts[:2] != ["", "attributes"] or not parts[2] or (op == "delete" and value is None):
        return [Problem(CODE_INTERNAL, f"Invalid path provided in patch at index of {index}.")]
    name = parts[2]
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return [Problem(CODE_BAD_VALUE, f"The field '{name}' does not have enough values. The required minimum "
                        "is '1'.", name)]
    current: list[dict[str, Any]] = listing.attributes.get(name, [])
    if op == "delete":
        selectors = SELECTORS.get(name, OTHER_SELECTORS)
        if any(set(entry) - set(selectors) for entry in value):
            # deleting a sub-attribute (discounted_price, minimum_seller_allowed_price) answered 4000000
            return [Problem(CODE_INTERNAL, INTERNAL_ERROR, name)]
        gone = {instance_key(name, entry) for entry in value}
        kept = [entry for entry in current if instance_key(name, entry) not in gone]
        if kept:
            listing.attributes[name] = kept
        else:
            listing.attributes.pop(name, None)
        return []
    checker = _CHECKERS.get(name)
    problems = checker(value, marketplace_id) if checker else []
    if problems:
        return problems
    if op == "merge":
        if name not in MERGEABLE:
            return [Problem(CODE_BAD_VALUE, f"The operation 'merge' is not supported for the attribute '{name}'.",
                            name)]
        merged = [dict(entry) for entry in current]
        for entry in value:
            match = next((m for m in merged if instance_key(name, m) == instance_key(name, entry)), None)
            if match is None:
                merged.append(copy.deepcopy(entry))
            else:
                match.update(copy.deepcopy(entry))
        listing.attributes[name] = merged
        return []
    if op != "replace":
        return [Problem(CODE_INTERNAL, f"Invalid operation provided in patch at index of {index}.")]
    # replace, per instance: the instance with the same selector values is replaced whole; a value
    # whose selectors match nothing is added beside the others (models #2061, #2633, #4134).
    replaced = [dict(entry) for entry in current]
    for entry in value:
        key = instance_key(name, entry)
        position = next((i for i, m in enumerate(replaced) if instance_key(name, m) == key), None)
        fresh = {k: copy.deepcopy(v) for k, v in entry.items() if v is not None and v != []}
        if position is None:
            replaced.append(fresh)
            continue
        old = replaced[position]
        for sub, sent in entry.items():
            if (sent is None or sent == []) and sub in old:
                fresh[sub] = old[sub]  # an empty array or null is accepted and changes nothing (models #4134)
        replaced[position] = fresh
    listing.attributes[name] = replaced
    return []


def _check_availability(entries: list[dict[str, Any]], marketplace_id: str) -> list[Problem]:
    problems = []
    for entry in entries:
        channel = entry.get("fulfillment_channel_code")
        if not isinstance(channel, str):
            problems.append(Problem(CODE_BAD_VALUE, "'fulfillment_channel_code' is required but not supplied.",
                                    "fulfillment_availability.fulfillment_channel_code"))
            continue
        if channel != "DEFAULT":
            # PTD: when fulfillment_channel_code is not DEFAULT, quantity, lead time and restock date are not allowed
            problems.extend(Problem(CODE_BAD_VALUE, f"'{name}' is not allowed when 'fulfillment_channel_code' is "
                                    f"'{channel}'.", f"fulfillment_availability.{name}")
                            for name in INVENTORY_FIELDS if name in entry)
            continue
        quantity = entry.get("quantity")
        if quantity is None and entry.get("is_inventory_available") is None:
            problems.append(Problem(CODE_BAD_VALUE, "'quantity' is required but not supplied.",
                                    "fulfillment_availability.quantity"))
        elif quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0):
            problems.append(Problem(CODE_BAD_VALUE, f"The value '{quantity}' for 'quantity' is not a whole number of "
                                    "0 or more.", "fulfillment_availability.quantity"))
        lead = entry.get("lead_time_to_ship_max_days")
        if lead is not None and (not isinstance(lead, int) or isinstance(lead, bool) or not 0 <= lead <= 30):
            problems.append(Problem(CODE_BAD_VALUE, f"The value '{lead}' for 'lead_time_to_ship_max_days' must be "
                                    "0 to 30.", "fulfillment_availability.lead_time_to_ship_max_days"))
    return problems


def _is_rfc3339(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        if _DATE.match(value):
            date.fromisoformat(value)
            return True
        if _DATE_TIME.match(value):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return True
    except ValueError:
        return False
    return False


def _amount_problem(amount: Any, currency: str | None, where: str) -> Problem | None:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        value = Decimal(-1)
    if isinstance(amount, bool) or not value.is_finite() or value <= 0:
        return Problem(CODE_BAD_VALUE, f"The field 'value_with_tax' for the attribute '{where}' is missing or not a "
                       "positive amount.", where)
    if currency in ZERO_DECIMAL_CURRENCIES and value != value.to_integral_value():
        return Problem(CODE_BAD_VALUE, f"The value '{amount}' for 'value_with_tax' of '{where}' must be a multiple "
                       f"of 1 in {currency}.", where)
    return None


def _check_offer(entries: list[dict[str, Any]], marketplace_id: str) -> list[Problem]:
    problems: list[Problem] = []
    for entry in entries:
        if entry.get("marketplace_id") != marketplace_id:
            problems.append(Problem(CODE_MARKETPLACE, f"The marketplace_id '{entry.get('marketplace_id')}' is not the "
                                    f"feed's marketplace '{marketplace_id}'.", "purchasable_offer.marketplace_id"))
        currency = entry.get("currency")
        expected = currency_of(marketplace_id)
        if not isinstance(currency, str):
            problems.append(Problem(CODE_BAD_VALUE, "'currency' is required but not supplied.",
                                    "purchasable_offer.currency"))
        elif expected is not None and currency != expected:
            problems.append(Problem(CODE_MARKETPLACE, f"The currency '{currency}' is not the currency of marketplace "
                                    f"'{marketplace_id}' ({expected}).", "purchasable_offer.currency"))
        problems.extend(_check_prices(entry, currency if isinstance(currency, str) else None))
    return problems


def _check_prices(entry: dict[str, Any], currency: str | None) -> list[Problem]:
    problems: list[Problem] = []
    try:
        our_schedule = entry["our_price"][0]["schedule"]
        if not our_schedule:
            raise KeyError("schedule")
        for item in our_schedule:
            found = _amount_problem(item.get("value_with_tax"), currency, "purchasable_offer.our_price")
            if found:
                problems.append(found)
    except (KeyError, IndexError, TypeError, AttributeError):
        problems.append(Problem(CODE_BAD_VALUE, "The field 'value_with_tax' for the attribute "
                                "'purchasable_offer.our_price' is missing or not a positive amount.",
                                "purchasable_offer.our_price"))
    discounted = entry.get("discounted_price")
    if discounted is None or discounted == []:
        return problems  # accepted, and changes nothing
    where = "purchasable_offer.discounted_price"
    if not isinstance(discounted, list):
        return [*problems, Problem(CODE_BAD_VALUE, f"The field '{where}' must be an array.", where)]
    for price in discounted:
        schedule = price.get("schedule") if isinstance(price, dict) else None
        if not isinstance(schedule, list) or not schedule:
            problems.append(Problem(CODE_BAD_VALUE, f"The field 'schedule' for the attribute '{where}' does not have "
                                    "enough values. The required minimum is '1'.", where))
            continue
        for item in schedule:
            if not isinstance(item, dict) or set(item) - SCHEDULE_FIELDS:
                problems.append(Problem(CODE_INTERNAL, INTERNAL_ERROR, where))  # wrong keys: models #2774
                continue
            for bound in ("start_at", "end_at"):
                if bound not in item:
                    problems.append(Problem(CODE_BAD_VALUE, f"'{bound}' is required but not supplied.",
                                            f"{where}.{bound}"))
                elif not _is_rfc3339(item[bound]):
                    problems.append(Problem(CODE_BAD_VALUE, f"The value '{item[bound]}' for '{bound}' is not a date "
                                            "or date-time.", f"{where}.{bound}"))
            found = _amount_problem(item.get("value_with_tax"), currency, where)
            if found:
                problems.append(found)
    return problems


_CHECKERS: dict[str, Callable[[list[dict[str, Any]], str], list[Problem]]] = {
    "fulfillment_availability": _check_availability,
    "purchasable_offer": _check_offer,
}
