"""Deciding what happens to a batch's log rows from the verdicts on the messages built from them.

A row is deleted only when every message built from it has Amazon's final word (accepted, or
rejected for a reason a retry cannot fix). Messages of feeds that failed send their rows back with
an attempt counted; messages that never reached Amazon send them back without one. Pure: the
verdicts are gathered and the decisions applied by ``services.settle``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from amazon_sync.domain.model import LogKey

MessageVerdict = Literal["accepted", "rejected", "retry", "requeue", "pending"]
RowDecision = Literal["delete", "retry", "requeue", "keep"]


class SentMessage(NamedTuple):
    """A named tuple: a million-row batch's picture holds 400,000 of them."""

    shop: int
    id_product: int
    id_product_attribute: int
    verdict: MessageVerdict


@dataclass
class BatchPicture:
    """Everything known about a batch's messages, indexed for covering look-ups."""

    interrupted: bool
    unsent_products: set[int]
    every_product_unsent: bool = False
    # a feed still waiting for its verdict whose manifest is gone: which rows it covers is unknown
    hold_every_row: bool = False
    by_offer: dict[tuple[int, int], list[SentMessage]] = field(default_factory=lambda: defaultdict(list))
    by_product: dict[int, list[SentMessage]] = field(default_factory=lambda: defaultdict(list))
    every: list[SentMessage] = field(default_factory=list)
    # Feeds whose messages share one verdict (every feed of the export that has just submitted them is
    # pending): their offers per (verdict, shop), and the products among them, as sets. A million-row
    # export's 200,000 offers took 0.4 s as one message each; the sets are filled in C.
    shared: dict[tuple[MessageVerdict, int], set[tuple[int, int]]] = field(default_factory=dict)
    shared_products: dict[tuple[MessageVerdict, int], set[int]] = field(default_factory=dict)

    def add(self, message: SentMessage) -> None:
        self.by_offer[(message.id_product, message.id_product_attribute)].append(message)
        self.by_product[message.id_product].append(message)
        self.every.append(message)

    def add_offers(self, shop: int, offers: Iterable[tuple[int, int]], verdict: MessageVerdict) -> None:
        """The messages of a feed that all share ``verdict``: only their offers count."""
        offers = set(offers)
        self.shared.setdefault((verdict, shop), set()).update(offers)
        self.shared_products.setdefault((verdict, shop), set()).update(product for product, _ in offers)

    def covering(self, key: LogKey) -> Iterable[SentMessage]:
        if key.id_product == 0:
            candidates: Iterable[SentMessage] = self.every
        elif key.id_product_attribute == 0:
            candidates = self.by_product.get(key.id_product, [])
        else:
            candidates = self.by_offer.get((key.id_product, key.id_product_attribute), [])
        return [m for m in candidates if key.id_shop in (0, m.shop)]

    def verdicts(self, key: LogKey) -> set[MessageVerdict]:
        """The verdicts on the messages built from a row of ``key``."""
        found = {m.verdict for m in self.covering(key)} if self.every else set()
        product, attribute, shop = key
        for (verdict, of_shop), offers in self.shared.items():
            if verdict in found or shop not in (0, of_shop):
                continue
            if product == 0:
                reached = bool(offers)
            elif attribute == 0:
                reached = product in self.shared_products[(verdict, of_shop)]
            else:
                reached = (product, attribute) in offers
            if reached:
                found.add(verdict)
        return found

    def decide(self, key: LogKey) -> RowDecision:
        verdicts = self.verdicts(key)
        if "pending" in verdicts or self.hold_every_row:
            return "keep"
        if "retry" in verdicts:
            return "retry"
        unsent = self.every_product_unsent or key.id_product in self.unsent_products or (
            key.id_product == 0 and bool(self.unsent_products))
        # A run that died may not have reached every marketplace: a message accepted on one of them
        # says nothing about the others, so its rows go round once more instead of being deleted.
        if "requeue" in verdicts or unsent or self.interrupted:
            return "requeue"
        return "delete"
