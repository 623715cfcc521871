"""The simulator behaves as Amazon does where Amazon surprises developers (docs/amazon-behaviours.md).

Each test names the row of docs/amazon-behaviours.md it covers. Feeds go through the real
python-amazon-sp-api client; the listing store is read through the control API.
"""

from __future__ import annotations

import httpx
import pytest

from amazon_sync.adapters.spapi import SpApiEndpoints
from tests.conftest import MARKETPLACE_FR
from tests.integration.test_simulator import SELLER, control, feed_document, price_message, report_of, run_feed

MARKETPLACE_DE = "A1PA6795UKMFR9"
MARKETPLACE_JP = "A1VC38T7YXB528"


def patch_message(message_id, sku, *patches):
    return {"messageId": message_id, "sku": sku, "operationType": "PATCH", "productType": "PRODUCT",
            "patches": list(patches)}


def replace(name, *values):
    return {"op": "replace", "path": f"/attributes/{name}", "value": list(values)}


def offer(price, marketplace=MARKETPLACE_FR, currency="EUR", audience="ALL", **extra):
    value = {"marketplace_id": marketplace, "currency": currency,
             "our_price": [{"schedule": [{"value_with_tax": price}]}], **extra}
    if audience is not None:
        value["audience"] = audience
    return value


def sale(price, start="2026-11-01T00:00:00Z", end="2026-12-01T00:00:00Z"):
    return [{"schedule": [{"value_with_tax": price, "start_at": start, "end_at": end}]}]


def availability(quantity=None, channel="DEFAULT", **extra):
    value = {"fulfillment_channel_code": channel, **extra}
    if quantity is not None:
        value["quantity"] = quantity
    return value


def listing(simulator, sku):
    return httpx.get(f"{simulator.url}/_simulator/listings/{sku}").json()


def issues_by_message(report):
    found: dict[int, list[dict[str, str]]] = {}
    for issue in report["issues"]:
        found.setdefault(issue["messageId"], []).append(issue)
    return found


def one_feed(simulator, feeds_api, *messages):
    feed = run_feed(simulator, feeds_api, feed_document(*messages))
    assert feed.processingStatus == "DONE"
    return report_of(feeds_api, feed)


# -- row 1: unknown SKUs ---------------------------------------------------------------------------

def test_unknown_sku_patch_is_accepted_and_creates_an_incomplete_listing(simulator, feeds_api, sp_credentials):
    from sp_api.api.listings_items.listings_items_2021_08_01 import ListingsItemsV20210801

    from amazon_sync.adapters.spapi import sp_api_client

    control(simulator, "listings/KNOWN", {}, method="PUT")
    report = one_feed(simulator, feeds_api, patch_message(1, "NEVER-LISTED", replace("purchasable_offer", offer(9.5))),
                      patch_message(2, "KNOWN", replace("purchasable_offer", offer(9.5))))
    assert report["issues"] == []
    assert report["summary"]["messagesAccepted"] == 2 and report["summary"]["messagesInvalid"] == 0
    stub = listing(simulator, "NEVER-LISTED")
    assert stub["complete"] is False and stub["incomplete"] == [MARKETPLACE_FR]
    assert listing(simulator, "KNOWN")["complete"] is True

    client = sp_api_client(ListingsItemsV20210801, sp_credentials, MARKETPLACE_FR,
                           SpApiEndpoints(api_url=simulator.url, token_url=f"{simulator.url}/auth/o2/token"))
    item = client.get_listings_item(SELLER, "NEVER-LISTED", marketplaceIds=[MARKETPLACE_FR]).payload
    assert item["summaries"] == [] and list(item["attributes"]) == ["purchasable_offer"]
    known = client.get_listings_item(SELLER, "KNOWN", marketplaceIds=[MARKETPLACE_FR]).payload
    assert known["summaries"][0]["status"] == ["BUYABLE", "DISCOVERABLE"]
    # patchListingsItem, through the same apply code, behaves the same
    answer = client.patch_listings_item(SELLER, "ALSO-NEW", marketplaceIds=[MARKETPLACE_FR], body={
        "productType": "PRODUCT", "patches": [replace("fulfillment_availability", availability(3))]}).payload
    assert answer["status"] == "ACCEPTED" and answer["issues"] == []
    simulator.amazon.clock.advance(5)  # an accepted submission shows a little later
    simulator.amazon.advance()
    assert listing(simulator, "ALSO-NEW")["complete"] is False


def test_a_listing_in_one_marketplace_is_incomplete_in_another(simulator, feeds_api):
    control(simulator, "listings/FR-ONLY", {"marketplaceIds": [MARKETPLACE_FR]}, method="PUT")
    feeds_api_de = feeds_api  # the feed's marketplace is what counts
    document_id = feeds_api_de.submit_document(feed_document(
        patch_message(1, "FR-ONLY", replace("purchasable_offer", offer(9.5, MARKETPLACE_DE)))))
    feed_id = feeds_api_de.create_feed(document_id, MARKETPLACE_DE)
    simulator.amazon.clock.advance(10)
    assert feeds_api_de.get_feed(feed_id).processingStatus == "DONE"
    state = listing(simulator, "FR-ONLY")
    assert state["incomplete"] == [MARKETPLACE_DE] and state["marketplaces"] == [MARKETPLACE_FR]


# -- row 2: per-instance replace ------------------------------------------------------------------

def test_replace_is_per_instance_by_selectors(simulator, feeds_api):
    control(simulator, "listings/SEL", {"attributes": {"purchasable_offer": [
        offer(20.0, discounted_price=sale(15.0),
              minimum_seller_allowed_price=[{"schedule": [{"value_with_tax": 12.0}]}]),
        offer(30.0, audience="B2B"),
        offer(25.0, MARKETPLACE_DE)]}}, method="PUT")
    one_feed(simulator, feeds_api, patch_message(1, "SEL", replace("purchasable_offer", offer(21.0))))
    offers = listing(simulator, "SEL")["attributes"]["purchasable_offer"]
    assert len(offers) == 3
    fr_all = next(o for o in offers if o["marketplace_id"] == MARKETPLACE_FR and o["audience"] == "ALL")
    # the matched instance is replaced whole: the sale and the minimum price are gone
    assert fr_all == offer(21.0)
    assert any(o.get("audience") == "B2B" and o["our_price"][0]["schedule"][0]["value_with_tax"] == 30.0
               for o in offers)
    assert any(o["marketplace_id"] == MARKETPLACE_DE for o in offers)


def test_replace_without_audience_still_matches_the_all_instance(simulator, feeds_api):
    control(simulator, "listings/AUD",
            {"attributes": {"purchasable_offer": [offer(20.0, discounted_price=sale(15.0))]}}, method="PUT")
    one_feed(simulator, feeds_api, patch_message(1, "AUD", replace("purchasable_offer", offer(19.0, audience=None))))
    offers = listing(simulator, "AUD")["attributes"]["purchasable_offer"]
    assert len(offers) == 1 and "discounted_price" not in offers[0]


def test_empty_discounted_price_leaves_the_sale_live(simulator, feeds_api):
    control(simulator, "listings/SALE",
            {"attributes": {"purchasable_offer": [offer(20.0, discounted_price=sale(15.0))]}}, method="PUT")
    report = one_feed(simulator, feeds_api,
                      patch_message(1, "SALE", replace("purchasable_offer", offer(20.0, discounted_price=[]))),
                      patch_message(2, "SALE", replace("purchasable_offer", offer(20.0, discounted_price=None))),
                      patch_message(3, "SALE", replace("purchasable_offer", offer(20.0, discounted_price=[{}]))))
    by_message = issues_by_message(report)
    assert 1 not in by_message and 2 not in by_message  # accepted ...
    stored = listing(simulator, "SALE")["attributes"]["purchasable_offer"][0]
    assert stored["discounted_price"] == sale(15.0)  # ... and changed nothing
    assert by_message[3][0]["code"] == "99022" and "minimum is '1'" in by_message[3][0]["message"]


def test_delete_semantics(simulator, feeds_api):
    control(simulator, "listings/DEL", {"attributes": {"purchasable_offer": [
        offer(20.0, discounted_price=sale(15.0)), offer(25.0, MARKETPLACE_DE)]}}, method="PUT")
    report = one_feed(
        simulator, feeds_api,
        patch_message(1, "DEL", {"op": "delete", "path": "/attributes/purchasable_offer"}),
        patch_message(2, "DEL", {"op": "delete", "path": "/attributes/purchasable_offer", "value": [
            {"marketplace_id": MARKETPLACE_FR, "currency": "EUR", "audience": "ALL", "discounted_price": sale(15.0)}]}))
    by_message = issues_by_message(report)
    assert by_message[1][0]["message"] == "Invalid path provided in patch at index of 0."
    assert by_message[2][0]["code"] == "4000000"
    assert len(listing(simulator, "DEL")["attributes"]["purchasable_offer"]) == 2  # neither applied
    one_feed(simulator, feeds_api, patch_message(1, "DEL", {"op": "delete", "path": "/attributes/purchasable_offer",
                                                            "value": [{"marketplace_id": MARKETPLACE_DE,
                                                                       "currency": "EUR", "audience": "ALL"}]}))
    offers = listing(simulator, "DEL")["attributes"]["purchasable_offer"]
    assert [o["marketplace_id"] for o in offers] == [MARKETPLACE_FR]


def test_nested_path_and_merge_are_refused(simulator, feeds_api):
    report = one_feed(
        simulator, feeds_api,
        patch_message(1, "N", {"op": "replace", "path": "/attributes/purchasable_offer/0/discounted_price",
                               "value": sale(9.0)}),
        patch_message(2, "N", {"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(9.0)]}),
        patch_message(3, "N", {"op": "merge", "path": "/attributes/fulfillment_availability",
                               "value": [availability(4)]}))
    by_message = issues_by_message(report)
    assert by_message[1][0]["code"] == "4000000" and "Invalid path" in by_message[1][0]["message"]
    assert by_message[2][0]["severity"] == "ERROR"
    assert 3 not in by_message
    assert listing(simulator, "N")["quantity"] == 4


def test_replace_without_lead_time_drops_it_and_merge_keeps_it(simulator, feeds_api):
    one_feed(simulator, feeds_api, patch_message(1, "LT", replace("fulfillment_availability",
                                                                   availability(5, lead_time_to_ship_max_days=7))))
    merge = {"op": "merge", "path": "/attributes/fulfillment_availability", "value": [availability(4)]}
    one_feed(simulator, feeds_api, patch_message(1, "LT", merge))
    assert listing(simulator, "LT")["attributes"]["fulfillment_availability"] == [
        availability(4, lead_time_to_ship_max_days=7)]
    one_feed(simulator, feeds_api, patch_message(1, "LT", replace("fulfillment_availability", availability(3))))
    assert listing(simulator, "LT")["attributes"]["fulfillment_availability"] == [availability(3)]


# -- row 3: AFN listings -------------------------------------------------------------------------

def test_default_quantity_to_an_afn_listing_lands_beside_it(simulator, feeds_api):
    created = control(simulator, "listings/FBA-1", {"fulfillment": "AMAZON_EU"}, method="PUT")
    assert created["fulfillment"] == "AFN" and created["quantity"] is None
    report = one_feed(simulator, feeds_api, patch_message(1, "FBA-1", replace("fulfillment_availability",
                                                                               availability(1))))
    assert report["issues"] == []  # Amazon says nothing ...
    state = listing(simulator, "FBA-1")
    assert state["fulfillment"] == "DUAL"  # ... but the offer is now merchant-fulfilled as well
    assert state["attributes"]["fulfillment_availability"] == [availability(channel="AMAZON_EU"), availability(1)]


def test_quantity_only_for_the_default_channel(simulator, feeds_api):
    report = one_feed(simulator, feeds_api,
                      patch_message(1, "Q", replace("fulfillment_availability", availability(3, "AMAZON_EU"))),
                      patch_message(2, "Q", replace("fulfillment_availability",
                                                    availability(channel="AMAZON_EU", lead_time_to_ship_max_days=2))),
                      patch_message(3, "Q", replace("fulfillment_availability", availability())))
    by_message = issues_by_message(report)
    assert {1, 2, 3} <= set(by_message) and all(i["code"] == "99022" for i in report["issues"])


# -- row 4: an INVALID message applies none of its patches -----------------------------------------

def test_invalid_message_applies_none_of_its_patches(simulator, feeds_api):
    report = one_feed(simulator, feeds_api, patch_message(
        1, "ATOM", replace("fulfillment_availability", availability(0)),
        replace("purchasable_offer", offer(-1.0))))
    assert report["summary"]["messagesInvalid"] == 1
    assert "ATOM" not in simulator.amazon.listings


# -- row 5: sale windows -------------------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "code"), [
    ({"value_with_tax": 9.0, "start_at": "2026-11-01"}, "99022"),  # end_at is required
    ({"value_with_tax": 9.0, "end_at": "2026-11-01"}, "99022"),  # so is start_at
    ({"value_with_tax": 9.0, "start_at": "1 Nov 2026", "end_at": "2026-12-01"}, "99022"),
    ({"value_with_tax": 9.0, "start_date": "2026-11-01", "end_date": "2026-12-01"}, "4000000"),
])
def test_sale_window_shape(simulator, feeds_api, schedule, code):
    report = one_feed(simulator, feeds_api, patch_message(1, "W", replace(
        "purchasable_offer", offer(10.0, discounted_price=[{"schedule": [schedule]}]))))
    assert report["issues"][0]["code"] == code


def test_sale_window_dates_and_date_times_are_accepted(simulator, feeds_api):
    report = one_feed(simulator, feeds_api,
                      patch_message(1, "W1", replace("purchasable_offer", offer(10.0, discounted_price=sale(
                          9.0, "2026-11-01", "2026-12-01")))),
                      patch_message(2, "W2", replace("purchasable_offer", offer(10.0, discounted_price=sale(
                          9.0, "2026-11-01T10:30:00+01:00", "2026-12-01T00:00:00Z")))))
    assert report["issues"] == []


# -- row 6: currency and precision ---------------------------------------------------------------

def test_currency_and_precision_per_marketplace(simulator, feeds_api):
    def jp_feed(*messages):
        document_id = feeds_api.submit_document(feed_document(*messages))
        feed_id = feeds_api.create_feed(document_id, MARKETPLACE_JP)
        simulator.amazon.clock.advance(10)
        return report_of(feeds_api, feeds_api.get_feed(feed_id))

    report = jp_feed(patch_message(1, "JP", replace("purchasable_offer", offer(1200.0, MARKETPLACE_JP, "EUR"))),
                     patch_message(2, "JP", replace("purchasable_offer", offer(1200.5, MARKETPLACE_JP, "JPY"))),
                     patch_message(3, "JP", replace("purchasable_offer", offer(1200, MARKETPLACE_JP, "JPY"))))
    by_message = issues_by_message(report)
    assert by_message[1][0]["code"] == "90244"
    assert by_message[2][0]["code"] == "99022"
    assert 3 not in by_message


# -- row 7: quantity per seller and SKU ----------------------------------------------------------

def test_quantity_is_per_seller_and_sku(simulator, feeds_api, sp_credentials):
    from sp_api.api.listings_items.listings_items_2021_08_01 import ListingsItemsV20210801

    from amazon_sync.adapters.spapi import sp_api_client

    control(simulator, "listings/POOL", {}, method="PUT")
    one_feed(simulator, feeds_api, patch_message(1, "POOL", replace("fulfillment_availability", availability(6))))
    client = sp_api_client(ListingsItemsV20210801, sp_credentials, MARKETPLACE_DE,
                           SpApiEndpoints(api_url=simulator.url, token_url=f"{simulator.url}/auth/o2/token"))
    for marketplace in (MARKETPLACE_DE, MARKETPLACE_JP):
        item = client.get_listings_item(SELLER, "POOL", marketplaceIds=[marketplace]).payload
        assert item["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 6}]


# -- row 8: processing times ---------------------------------------------------------------------

def test_realistic_profile_queues_feeds_per_seller():
    from amazon_sync_devkit.simulator.amazon import SimulatedAmazon, SimulatorConfig
    from amazon_sync_devkit.simulator.clock import Clock

    amazon = SimulatedAmazon(SimulatorConfig(processing_profile="realistic", rate_limits=False),
                             clock=Clock(manual=True, start=1_800_000_000))
    feeds = []
    for number in range(3):
        document = amazon.create_feed_document({"contentType": "application/json"}).body["feedDocumentId"]
        amazon.documents[document].data = feed_document(price_message(1, f"R{number}", 10.0))
        feeds.append(amazon.create_feed({"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [MARKETPLACE_FR],
                                         "inputFeedDocumentId": document}).body["feedId"])
    amazon.clock.advance(20)
    amazon.advance()
    assert [amazon.feeds[f].status for f in feeds] == ["IN_PROGRESS", "IN_QUEUE", "IN_QUEUE"]  # one at a time
    finished: list[float | None] = []
    for _ in range(3 * 3600):
        amazon.clock.advance(1)
        amazon.advance()
        finished = [amazon.feeds[f].ended for f in feeds if amazon.feeds[f].ended is not None]
        if len(finished) == 3:
            break
    assert len(finished) == 3
    durations = [amazon.feeds[f].ended - amazon.feeds[f].started for f in feeds]
    assert all(30 <= d <= 301 for d in durations)
    starts = [amazon.feeds[f].started for f in feeds]
    assert starts[1] >= amazon.feeds[feeds[0]].ended and starts[2] >= amazon.feeds[feeds[1]].ended
