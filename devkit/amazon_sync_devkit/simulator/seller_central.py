"""Changes made "behind our back": what a seller does in Seller Central, a repricer or another integration.

They change the listing directly, without a feed or a processing report, so nothing of ours hears about
them; only reading Amazon back (the listings report) shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from amazon_sync_devkit.simulator.amazon import SimulatedAmazon
    from amazon_sync_devkit.simulator.listings import Listing

SOURCE = "seller-central"


class ListingChange(BaseModel):
    """The control API's body: any of quantity, price and fulfillment channel; the rest stays."""

    model_config = ConfigDict(extra="forbid")
    marketplaceId: str = Field(min_length=1)
    quantity: int | None = Field(default=None, ge=0)
    price: float | None = Field(default=None, gt=0)
    currency: str = "EUR"
    fulfillmentChannel: str | None = Field(default=None, description="DEFAULT, or AMAZON_EU/AMAZON_NA... for FBA")


def change_listing(amazon: SimulatedAmazon, sku: str, change: ListingChange) -> Listing | None:
    """Apply ``change`` to an existing listing as Seller Central would; None when there is no such listing."""
    with amazon.lock:
        listing = amazon.listings.get(sku)
        if listing is None:
            return None
        attributes: dict[str, Any] = listing.attributes
        if change.fulfillmentChannel is not None:
            if change.fulfillmentChannel == "DEFAULT":
                attributes["fulfillment_availability"] = [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]
            else:
                attributes["fulfillment_availability"] = [{"fulfillment_channel_code": change.fulfillmentChannel}]
        if change.quantity is not None:
            entries = [e for e in attributes.get("fulfillment_availability", [])
                       if e.get("fulfillment_channel_code") != "DEFAULT"]
            if not entries:  # an FBA listing's quantity is Amazon's count: Seller Central does not edit it
                attributes["fulfillment_availability"] = [
                    {"fulfillment_channel_code": "DEFAULT", "quantity": change.quantity}]
        if change.price is not None:
            offers = attributes.setdefault("purchasable_offer", [])
            offer = next((o for o in offers if o.get("marketplace_id") == change.marketplaceId), None)
            if offer is None:
                offer = {"marketplace_id": change.marketplaceId, "currency": change.currency, "audience": "ALL"}
                offers.append(offer)
            offer["our_price"] = [{"schedule": [{"value_with_tax": change.price}]}]
        listing.history.append({"at": amazon.clock.now(), "source": SOURCE, "quantity": listing.quantity(),
                                "price": listing.price(change.marketplaceId), "marketplaceId": change.marketplaceId})
        return listing
