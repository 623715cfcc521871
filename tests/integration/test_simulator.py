"""The SP-API simulator, driven through the real python-amazon-sp-api client where Amazon's paths are used."""

import gzip
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from amazon_sync.adapters.spapi import AmazonThrottled, AmazonUnavailable, SpApiCredentials, SpApiEndpoints, SpApiFeeds
from amazon_sync.errors import AmazonError
from tests.conftest import MARKETPLACE_FR

SELLER = "A1LOCALSELLER"


def feed_document(*messages, seller=SELLER):
    return json.dumps({"header": {"sellerId": seller, "version": "2.0", "issueLocale": "fr_FR"},
                       "messages": list(messages)}, ensure_ascii=False).encode()


def quantity_message(message_id, sku, quantity, lead_time=2):
    return {"messageId": message_id, "sku": sku, "operationType": "PATCH", "productType": "PRODUCT",
            "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
                         "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity,
                                    "lead_time_to_ship_max_days": lead_time}]}]}


def price_message(message_id, sku, price, marketplace=MARKETPLACE_FR, currency="EUR"):
    return {"messageId": message_id, "sku": sku, "operationType": "PATCH", "productType": "PRODUCT",
            "patches": [{"op": "replace", "path": "/attributes/purchasable_offer",
                         "value": [{"marketplace_id": marketplace, "currency": currency, "audience": "ALL",
                                    "our_price": [{"schedule": [{"value_with_tax": price}]}]}]}]}


def run_feed(simulator, api, document):
    document_id = api.submit_document(document)
    feed_id = api.create_feed(document_id, MARKETPLACE_FR)
    simulator.amazon.clock.advance(10)
    return api.get_feed(feed_id)


def report_of(api, feed):
    return json.loads(api.download_report(feed.resultFeedDocumentId))


def control(simulator, path, body=None, method="POST"):
    return httpx.request(method, f"{simulator.url}/_simulator/{path}", json=body).json()


def test_full_feed_cycle_through_the_real_client(simulator, feeds_api):
    sku = "CAFÉ-Ünïcode-1"
    document_id = feeds_api.submit_document(feed_document(quantity_message(1, sku, 7),
                                                          price_message(2, sku, 12.5)))
    feed_id = feeds_api.create_feed(document_id, MARKETPLACE_FR)
    assert feeds_api.get_feed(feed_id).processingStatus == "IN_QUEUE"
    simulator.amazon.clock.advance(1.5)
    assert feeds_api.get_feed(feed_id).processingStatus == "IN_PROGRESS"
    simulator.amazon.clock.advance(5)
    feed = feeds_api.get_feed(feed_id)
    assert feed.processingStatus == "DONE" and feed.processingEndTime is not None
    raw = simulator.amazon.documents[feed.resultFeedDocumentId].data
    assert raw[:2] == b"\x1f\x8b"  # stored GZIP-compressed
    report = report_of(feeds_api, feed)
    assert report["summary"]["messagesAccepted"] == 2 and report["issues"] == []
    listing = control(simulator, f"listings/{sku}", method="GET")
    assert listing["quantity"] == 7
    assert listing["attributes"]["purchasable_offer"][0]["our_price"][0]["schedule"][0]["value_with_tax"] == 12.5
    assert simulator.amazon.documents[document_id].data.decode("utf-8").count(sku) == 2


def test_get_feed_document_says_gzip(simulator, feeds_api, sp_credentials):
    feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "A", 1)))
    token = httpx.post(f"{simulator.url}/auth/o2/token", data={
        "grant_type": "refresh_token", "client_id": sp_credentials.lwa_app_id,
        "client_secret": "local-secret", "refresh_token": "Atzr|local-refresh-token"}).json()["access_token"]
    answer = httpx.get(f"{simulator.url}/feeds/2021-06-30/documents/{feed.resultFeedDocumentId}",
                       headers={"x-amz-access-token": token})
    assert answer.json()["compressionAlgorithm"] == "GZIP"
    assert answer.headers["x-amzn-RateLimit-Limit"] == "0.0222" and answer.headers["x-amzn-RequestId"]
    report = json.loads(gzip.decompress(httpx.get(answer.json()["url"]).content))
    assert report["header"]["feedId"] == feed.feedId


def test_login_with_amazon_rejects_bad_credentials(simulator):
    bad_client = httpx.post(f"{simulator.url}/auth/o2/token", data={
        "grant_type": "refresh_token", "client_id": "x", "client_secret": "y", "refresh_token": "z"})
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    bad_grant = httpx.post(f"{simulator.url}/auth/o2/token", data={
        "grant_type": "refresh_token", "client_id": "amzn1.application-oa2-client.local",
        "client_secret": "local-secret", "refresh_token": "Atzr|stolen"})
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"


def test_wrong_refresh_token_is_a_clear_error_through_the_client(simulator):
    api = SpApiFeeds(SpApiCredentials(lwa_app_id="amzn1.application-oa2-client.local",
                                      lwa_client_secret="local-secret", refresh_token="Atzr|revoked"),
                     MARKETPLACE_FR, SpApiEndpoints(api_url=simulator.url,
                                                    token_url=f"{simulator.url}/auth/o2/token"))
    with pytest.raises(AmazonError, match="Login with Amazon refused"):
        api.get_feed("1")


def test_calls_without_a_valid_token_get_403(simulator):
    answer = httpx.get(f"{simulator.url}/feeds/2021-06-30/feeds/1", headers={"x-amz-access-token": "Atza|forged"})
    assert answer.status_code == 403 and answer.json()["errors"][0]["code"] == "Unauthorized"
    assert httpx.get(f"{simulator.url}/feeds/2021-06-30/feeds/1").status_code == 403


def test_unknown_feed_is_404_in_amazons_error_shape(simulator, feeds_api):
    with pytest.raises(AmazonError, match="NotFound"):
        feeds_api.get_feed("999999")


def authorised(simulator):
    token = simulator.amazon.token({"grant_type": "refresh_token", "client_id": simulator.config.client_id,
                                    "client_secret": simulator.config.client_secret,
                                    "refresh_token": simulator.config.refresh_tokens[0]}).body["access_token"]
    return {"x-amz-access-token": token}


def test_malformed_json_body_is_400(simulator):
    answer = httpx.post(f"{simulator.url}/feeds/2021-06-30/feeds", content=b"{not json",
                        headers=authorised(simulator))
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidInput"


def test_create_feed_needs_an_uploaded_document(simulator):
    headers = authorised(simulator)
    document = httpx.post(f"{simulator.url}/feeds/2021-06-30/documents", headers=headers,
                          json={"contentType": "application/json; charset=UTF-8"}).json()
    answer = httpx.post(f"{simulator.url}/feeds/2021-06-30/feeds", headers=headers, json={
        "feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [MARKETPLACE_FR],
        "inputFeedDocumentId": document["feedDocumentId"]})
    assert answer.status_code == 400 and "uploaded" in answer.json()["errors"][0]["message"]


def test_upload_with_another_content_type_is_refused(simulator):
    headers = authorised(simulator)
    document = httpx.post(f"{simulator.url}/feeds/2021-06-30/documents", headers=headers,
                          json={"contentType": "application/json; charset=UTF-8"}).json()
    wrong = httpx.put(document["url"], content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 403 and wrong.json()["errors"][0]["code"] == "SignatureDoesNotMatch"
    right = httpx.put(document["url"], content=b"{}", headers={"Content-Type": "application/json; charset=UTF-8"})
    assert right.status_code == 200


def test_upload_url_expires(simulator):
    headers = authorised(simulator)
    document = httpx.post(f"{simulator.url}/feeds/2021-06-30/documents", headers=headers,
                          json={"contentType": "application/json"}).json()
    simulator.amazon.clock.advance(301)
    late = httpx.put(document["url"], content=b"{}", headers={"Content-Type": "application/json"})
    assert late.status_code == 403 and "expired" in late.json()["errors"][0]["message"]


def test_burst_past_the_bucket_is_throttled_and_waiting_refills_it(simulator, feeds_api):
    feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "A", 1)))
    for _ in range(14):  # getFeed: burst 15, and run_feed used one
        feeds_api.get_feed(feed.feedId)
    with pytest.raises(AmazonThrottled):
        feeds_api.get_feed(feed.feedId)
    assert simulator.amazon.throttled["getFeed"] == 1
    simulator.amazon.clock.advance(1)  # 2 per second
    assert feeds_api.get_feed(feed.feedId).feedId == feed.feedId


def test_json_listings_feed_limit_is_five_per_five_minutes(simulator, feeds_api):
    for index in range(5):
        feeds_api.create_feed(feeds_api.submit_document(feed_document(quantity_message(1, f"S{index}", 1))),
                              MARKETPLACE_FR)
    document_id = feeds_api.submit_document(feed_document(quantity_message(1, "S5", 1)))
    with pytest.raises(AmazonThrottled, match="createFeed"):
        feeds_api.create_feed(document_id, MARKETPLACE_FR)
    simulator.amazon.clock.advance(301)
    assert feeds_api.create_feed(document_id, MARKETPLACE_FR)


def test_throttle_body_is_amazons_error_shape(simulator):
    control(simulator, "faults", {"throttle": {"getFeed": 1}})
    answer = httpx.get(f"{simulator.url}/feeds/2021-06-30/feeds/1", headers=authorised(simulator))
    assert answer.status_code == 429 and answer.json()["errors"][0]["code"] == "QuotaExceeded"
    assert answer.headers["x-amzn-RateLimit-Limit"] == "2.0"


def test_injected_5xx_on_create_feed_then_success(simulator, feeds_api):
    control(simulator, "faults", {"create_feed_statuses": [503, 500]})
    document_id = feeds_api.submit_document(feed_document(quantity_message(1, "A", 1)))
    with pytest.raises(AmazonUnavailable, match="ServiceUnavailable"):
        feeds_api.create_feed(document_id, MARKETPLACE_FR)
    with pytest.raises(AmazonUnavailable, match="InternalFailure"):
        feeds_api.create_feed(document_id, MARKETPLACE_FR)
    assert feeds_api.create_feed(document_id, MARKETPLACE_FR)


def test_retries_ride_out_throttling_and_5xx(simulator, sp_credentials):
    from amazon_sync.adapters.spapi import RetryPolicy

    slept: list[float] = []
    api = SpApiFeeds(sp_credentials, MARKETPLACE_FR,
                     SpApiEndpoints(api_url=simulator.url, token_url=f"{simulator.url}/auth/o2/token"),
                     retry=RetryPolicy(attempts=4, base_delay=0.01), sleep=slept.append)
    control(simulator, "faults", {"create_feed_statuses": [503], "throttle": {"createFeed": 1}})
    assert api.create_feed(api.submit_document(feed_document(quantity_message(1, "A", 1))), MARKETPLACE_FR)
    assert len(slept) == 2


def test_a_refused_upload_is_retried_with_a_new_document_and_named_when_it_keeps_failing(simulator, sp_credentials):
    """S3 answers a failed PUT with an XML page: the document is created again and uploaded again;
    past the attempts, the error names the status and S3's code."""
    from amazon_sync.adapters.spapi import RetryPolicy

    api = SpApiFeeds(sp_credentials, MARKETPLACE_FR,
                     SpApiEndpoints(api_url=simulator.url, token_url=f"{simulator.url}/auth/o2/token"),
                     retry=RetryPolicy(attempts=3, base_delay=0.01), sleep=lambda seconds: None)
    before = simulator.amazon.calls.get("createFeedDocument", 0)
    control(simulator, "faults", {"upload_statuses": [503, 403]})
    document_id = api.submit_document(feed_document(quantity_message(1, "A", 1)))
    assert simulator.amazon.calls["createFeedDocument"] - before == 3
    assert simulator.amazon.documents[document_id].data is not None
    assert [d for d in simulator.amazon.documents.values() if d.data is None and d.document_id != document_id]
    control(simulator, "faults", {"upload_statuses": [500, 500, 503]})
    with pytest.raises(AmazonUnavailable, match=r"upload answered HTTP 503 \(SlowDown\)"):
        api.submit_document(feed_document(quantity_message(1, "A", 1)))


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_injected_feed_outcomes(simulator, feeds_api, outcome):
    control(simulator, "faults", {"feed_outcomes": [outcome]})
    feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "A", 3)))
    assert feed.processingStatus == outcome
    assert "A" not in simulator.amazon.listings
    if outcome == "FATAL":
        assert report_of(feeds_api, feed)["issues"][0]["severity"] == "ERROR"
    else:
        assert feed.resultFeedDocumentId is None


def test_stuck_feed_stays_in_progress_until_released(simulator, feeds_api):
    control(simulator, "faults", {"feed_outcomes": ["STUCK"]})
    feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "A", 3)))
    simulator.amazon.clock.advance(8 * 3600)
    assert feeds_api.get_feed(feed.feedId).processingStatus == "IN_PROGRESS"
    control(simulator, "faults", {"release_stuck": True})
    assert feeds_api.get_feed(feed.feedId).processingStatus == "DONE"


def test_invalid_document_ends_fatal_with_a_reason(simulator, feeds_api):
    feed = run_feed(simulator, feeds_api, b'{"header": {"sellerId": "A1LOCALSELLER", "version": "2.0"}, '
                                          b'"messages": [{"messageId": 0, "sku": "A", "operationType": "PATCH"}]}')
    assert feed.processingStatus == "FATAL"
    assert "schema" in report_of(feeds_api, feed)["issues"][0]["message"]
    not_json = run_feed(simulator, feeds_api, b"\xff\xfe not json")
    assert not_json.processingStatus == "FATAL"
    assert "UTF-8" in report_of(feeds_api, not_json)["issues"][0]["message"]


def test_per_sku_errors_warnings_and_unknown_skus(simulator, feeds_api):
    for sku in ("KNOWN-1", "KNOWN-2", "KNOWN-3"):
        control(simulator, f"listings/{sku}", {}, method="PUT")
    control(simulator, "faults", {
        "sku_errors": {"KNOWN-2": {"code": "90220", "message": "'[batteries_required]' is required",
                                   "attributeName": "batteries_required"}},
        "sku_warnings": {"KNOWN-3": {"code": "18448", "message": "relevant attributes incomplete"}}})
    feed = run_feed(simulator, feeds_api, feed_document(
        quantity_message(1, "KNOWN-1", 4), quantity_message(2, "KNOWN-2", 4), quantity_message(3, "KNOWN-3", 4),
        quantity_message(4, "GHOST", 4), price_message(5, "KNOWN-1", -1), price_message(6, "KNOWN-3", 9,
                                                                                        marketplace="A1PA6795UKMFR9")))
    report = report_of(feeds_api, feed)
    by_message: dict[int, list[dict[str, str]]] = {}
    for issue in report["issues"]:
        by_message.setdefault(issue["messageId"], []).append(issue)
    assert by_message[2][0]["code"] == "90220" and by_message[2][0]["attributeName"] == "batteries_required"
    assert by_message[3][0]["severity"] == "WARNING"
    assert 4 not in by_message  # an unknown SKU is accepted (and left incomplete, docs #3748)
    assert by_message[5][0]["attributeName"] == "purchasable_offer.our_price"
    assert any(i["attributeName"] == "purchasable_offer.marketplace_id" for i in by_message[6])
    assert report["summary"] == {"errors": 3, "warnings": 2, "messagesProcessed": 6, "messagesAccepted": 3,
                                 "messagesInvalid": 3}
    assert simulator.amazon.listings["GHOST"].complete is False
    assert simulator.amazon.listings["KNOWN-1"].quantity() == 4
    assert simulator.amazon.listings["KNOWN-2"].quantity() is None


def test_corrupt_report(simulator, feeds_api):
    control(simulator, "faults", {"corrupt_reports": 1})
    feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "A", 3)))
    text = feeds_api.download_report(feed.resultFeedDocumentId)
    with pytest.raises(ValueError):
        json.loads(text)


def test_notifications_and_duplicates(simulator, feeds_api):
    received: list[dict[str, object]] = []
    simulator.amazon.notify = received.append
    control(simulator, "faults", {"duplicate_notifications": True})
    feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "A", 3)))
    payloads = [n["payload"]["feedProcessingFinishedNotification"] for n in received]
    assert len(payloads) == 2 and payloads[0] == payloads[1]
    assert payloads[0]["feedId"] == feed.feedId and payloads[0]["processingStatus"] == "DONE"
    assert payloads[0]["resultFeedDocumentId"] == feed.resultFeedDocumentId


def test_cancel_only_while_in_queue(simulator, feeds_api):
    first = feeds_api.create_feed(feeds_api.submit_document(feed_document(quantity_message(1, "A", 1))),
                                  MARKETPLACE_FR)
    feeds_api.client.cancel_feed(first)
    assert feeds_api.get_feed(first).processingStatus == "CANCELLED"
    simulator.amazon.clock.advance(10)
    with pytest.raises(Exception, match="IN_QUEUE"):
        feeds_api.client.cancel_feed(first)


def test_get_feeds_filters_and_pages(simulator, feeds_api):
    ids = [feeds_api.create_feed(feeds_api.submit_document(feed_document(quantity_message(1, f"S{i}", 1))),
                                 MARKETPLACE_FR) for i in range(3)]
    simulator.amazon.faults.feed_outcomes = []
    since = datetime.now(UTC) - timedelta(hours=1)
    listed = feeds_api.list_feeds(MARKETPLACE_FR, since)
    assert [f.feedId for f in listed] == ids
    page = feeds_api.client.get_feeds(feedTypes=["JSON_LISTINGS_FEED"], pageSize=2)
    assert len(page.payload["feeds"]) == 2 and page.next_token
    rest = feeds_api.client.get_feeds(nextToken=page.next_token)
    assert [f["feedId"] for f in rest.payload["feeds"]] == ids[2:]
    with pytest.raises(AmazonError, match="feedTypes"):
        feeds_api._call("getFeeds", lambda: feeds_api.client.get_feeds(pageSize=2))


def listings_api(simulator, sp_credentials):
    from amazon_sync.adapters.spapi import RetryPolicy, SpApiListings

    return SpApiListings(sp_credentials, MARKETPLACE_FR,
                         SpApiEndpoints(api_url=simulator.url, token_url=f"{simulator.url}/auth/o2/token"),
                         retry=RetryPolicy(attempts=1))


def test_patch_listings_item_is_queued_then_applied_to_the_same_store(simulator, sp_credentials):
    api = listings_api(simulator, sp_credentials)
    patches = quantity_message(1, "LI-1", 5)["patches"]
    result = api.patch_listings_item(SELLER, "LI-1", MARKETPLACE_FR, "PRODUCT", patches)
    assert result.status == "ACCEPTED" and result.issues == []
    # ACCEPTED means queued for processing, not applied
    assert "LI-1" not in simulator.amazon.listings
    simulator.amazon.clock.advance(simulator.config.listing_apply_seconds[1])
    simulator.amazon.advance()
    assert simulator.amazon.listings["LI-1"].quantity() == 5
    assert simulator.amazon.listings["LI-1"].history[-1]["source"] == "patchListingsItem"


def test_patch_listings_item_validates_like_a_feed_message(simulator, sp_credentials):
    api = listings_api(simulator, sp_credentials)
    simulator.amazon.add_listing("LI-2")
    bad = [{"op": "replace", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": -3}]}]
    result = api.patch_listings_item(SELLER, "LI-2", MARKETPLACE_FR, "PRODUCT", bad)
    assert result.status == "INVALID" and result.issues[0].severity == "ERROR"
    assert result.issues[0].attributeNames == ["fulfillment_availability.quantity"]
    simulator.amazon.faults.sku_errors["LI-2"] = {"code": "8560", "message": "injected"}
    good = quantity_message(1, "LI-2", 4)["patches"]
    assert api.patch_listings_item(SELLER, "LI-2", MARKETPLACE_FR, "PRODUCT", good).issues[0].code == "8560"
    simulator.amazon.clock.advance(60)
    simulator.amazon.advance()
    assert simulator.amazon.listings["LI-2"].quantity() is None  # nothing INVALID was applied


def test_validation_preview_checks_and_changes_nothing(simulator, sp_credentials):
    api = listings_api(simulator, sp_credentials)
    result = api.patch_listings_item(SELLER, "LI-3", MARKETPLACE_FR, "PRODUCT",
                                     quantity_message(1, "LI-3", 9)["patches"], validation_preview=True)
    assert result.status == "VALID"
    simulator.amazon.clock.advance(60)
    simulator.amazon.advance()
    assert "LI-3" not in simulator.amazon.listings and simulator.amazon.pending_patches == []
    with pytest.raises(AmazonError, match="mode"):
        api._call("patchListingsItem", lambda: api.client.patch_listings_item(
            SELLER, "LI-3", body={"productType": "PRODUCT", "patches": []}, marketplaceIds=[MARKETPLACE_FR],
            mode="APPLY_NOW"))


def test_patch_listings_item_faults_and_rate_limit(simulator, sp_credentials):
    api = listings_api(simulator, sp_credentials)
    patches = quantity_message(1, "LI-4", 1)["patches"]
    simulator.amazon.faults.patch_statuses = [503]
    with pytest.raises(AmazonUnavailable):
        api.patch_listings_item(SELLER, "LI-4", MARKETPLACE_FR, "PRODUCT", patches)
    simulator.config.patch_latency_seconds = 0  # calls within one instant: the burst of 5, then 429
    answers = []
    for _ in range(7):
        try:
            answers.append(api.patch_listings_item(SELLER, "LI-4", MARKETPLACE_FR, "PRODUCT", patches).status)
        except AmazonThrottled:
            answers.append("429")
    assert answers == ["ACCEPTED"] * 5 + ["429"] * 2


def test_one_skus_submissions_apply_in_order(simulator, sp_credentials):
    simulator.config.listing_apply_seconds = (1.0, 30.0)
    api = listings_api(simulator, sp_credentials)
    for quantity in range(1, 6):
        api.patch_listings_item(SELLER, "LI-5", MARKETPLACE_FR, "PRODUCT",
                                quantity_message(1, "LI-5", quantity)["patches"])
    simulator.amazon.clock.advance(200)
    simulator.amazon.advance()
    assert [h["quantity"] for h in simulator.amazon.listings["LI-5"].history] == [1, 2, 3, 4, 5]


def test_amazons_own_example_feed_is_accepted(simulator, feeds_api, amazon_models):
    example = amazon_models.folder / "listings-feed-schema-v2.example.json"
    document = json.loads(example.read_text())
    document["header"]["sellerId"] = SELLER
    feed = run_feed(simulator, feeds_api, json.dumps(document).encode())
    assert feed.processingStatus == "DONE"
    report = report_of(feeds_api, feed)
    # The example's UPDATE gives AMAZON_NA a quantity, which the Product Type Definitions forbid for any
    # channel but DEFAULT: the simulator follows the PTD (docs/amazon-behaviours.md, row 3a).
    assert report["summary"]["messagesProcessed"] == 5 and report["summary"]["messagesInvalid"] == 1
    assert [(i["messageId"], i["code"]) for i in report["issues"]] == [(3, "99022")]


def test_starts_fast_and_is_deterministic():
    import time

    from amazon_sync_devkit.simulator.amazon import SimulatorConfig
    from amazon_sync_devkit.simulator.clock import Clock
    from amazon_sync_devkit.simulator.http import SimulatorServer

    started = time.perf_counter()
    with SimulatorServer(SimulatorConfig(), clock=Clock(manual=True, start=1_700_000_000)) as server:
        elapsed = time.perf_counter() - started
        first = server.amazon.create_feed_document({"contentType": "application/json"}).body
    with SimulatorServer(SimulatorConfig(), clock=Clock(manual=True, start=1_700_000_000)) as server:
        second = server.amazon.create_feed_document({"contentType": "application/json"}).body
    assert elapsed < 1.0
    assert first["feedDocumentId"] == second["feedDocumentId"]


def test_feed_calls_take_the_latency_a_benchmark_asks_for():
    """`--feed-call-latency`: createFeedDocument, the upload and createFeed each take that long, as with
    Amazon and S3 a network away (a manual clock shows it exactly); 0, the default, answers at once."""
    from amazon_sync_devkit.simulator.amazon import SimulatedAmazon, SimulatorConfig
    from amazon_sync_devkit.simulator.clock import Clock

    for latency in (0.0, 0.25):
        amazon = SimulatedAmazon(SimulatorConfig(rate_limits=False, feed_call_latency_seconds=latency),
                                 clock=Clock(manual=True, start=1_800_000_000))
        started = amazon.clock.now()
        document = amazon.create_feed_document({"contentType": "application/json"}).body["feedDocumentId"]
        assert amazon.upload(document, str(int(started) + 300), "application/json",
                             feed_document(quantity_message(1, "L", 1))).status == 200
        assert amazon.create_feed({"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [MARKETPLACE_FR],
                                   "inputFeedDocumentId": document}).status == 202
        assert amazon.clock.now() - started == pytest.approx(3 * latency)
