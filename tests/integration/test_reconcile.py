"""Reconciliation through the real parts: the simulator's Reports API read by python-amazon-sp-api,
MariaDB with triggers, moto. Amazon's side is changed "behind our back" through the simulator's
control API, as Seller Central or a repricer would change it."""

from decimal import Decimal

from amazon_sync.adapters.mysql.listings import AmazonListings
from amazon_sync_devkit.catalogue import CatalogueSpec
from tests.conftest import MARKETPLACE_FR
from tests.stack import MARKETPLACE_DE, base_config

QUICK = {"reconcile": {"settle_seconds": 0}}


def listings_store(stack):
    return AmazonListings(stack.db.conn, stack.db.tables)


def synced_stack(make_stack, products=30, fba=(), **config):
    """A shop whose offers are all listed on Amazon, read once and synced."""
    stack = make_stack(CatalogueSpec(products=products, seed=9), **{**QUICK, **config})
    stack.list_on_amazon(fba=fba)
    first = stack.reconcile()
    assert first.failures == [] and first.marketplaces[0].state == "read"
    stack.export(mode="full")
    stack.advance()
    stack.ack()
    settled = stack.reconcile().marketplaces[0]  # after the sync, Amazon shows what PrestaShop wants
    assert (settled.drift, settled.in_sync) == (0, settled.compared), settled.drift_examples
    return stack


def test_a_listing_changed_behind_our_back_is_repaired_at_the_next_reconciliation_and_export(make_stack):
    stack = synced_stack(make_stack)
    assert stack.mismatches() == []
    sku = sorted(stack.expected())[3]
    quantity, price, _ = stack.expected()[sku]
    stack.change_behind_our_back(sku, quantity=quantity + 17, price=float(price) + 5)
    assert stack.mismatches() != []

    summary = stack.reconcile()
    result = summary.marketplaces[0]
    assert (result.drift, result.rows_queued, result.in_sync) == (1, 1, result.compared - 1)
    assert summary.as_dict()["drift"] == 1 and sku in result.drift_examples[0]
    [finding] = listings_store(stack).findings(MARKETPLACE_FR, "drift")
    assert finding.sku == sku and finding.repairs == 1 and not finding.fought_over
    assert stack.db.scalar("SELECT change_kind FROM ps_amazon_sync_log") == "drift"

    export = stack.export()
    assert export.offers_exported == 1
    stack.advance()
    stack.ack()
    assert stack.mismatches() == [] and stack.log_count() == 0
    again = stack.reconcile()
    assert again.marketplaces[0].drift == 0 and listings_store(stack).findings(MARKETPLACE_FR, "drift") == []


def test_an_fba_sku_never_receives_default_quantity(make_stack):
    stack = make_stack(CatalogueSpec(products=20, seed=9), **QUICK)
    skus = sorted(stack.expected())
    fba_sku = skus[0]
    stack.list_on_amazon(fba=(fba_sku,))
    stack.reconcile()
    assert listings_store(stack).counts(MARKETPLACE_FR) == {"listings": len(skus), "fba": 1}
    summary = stack.export(mode="full")
    assert summary.fba_quantities_withheld == 1
    stack.advance()
    stack.ack()
    messages = {m["sku"]: m for d in stack.documents() for m in d["messages"]}
    paths = [p["path"] for p in messages[fba_sku]["patches"]]
    assert paths == ["/attributes/purchasable_offer"]  # the price still goes
    assert stack.amazon.listings[fba_sku].fulfillment() == "AFN"
    assert stack.amazon.listings[fba_sku].quantity() is None

    # a stock change in PrestaShop, not excluded by configuration: still no quantity for the FBA SKU
    product, attribute = next(k for k in stack.catalogue.offers if stack.expected_sku(*k) == fba_sku)
    stack.db.sql("UPDATE ps_stock_available SET quantity = quantity + 9 WHERE id_product = %s "
                 "AND id_product_attribute = %s", (product, attribute))
    stack.export()
    stack.advance()
    stack.ack()
    sent = [m for d in stack.documents() for m in d["messages"] if m["sku"] == fba_sku]
    assert all(p["path"] != "/attributes/fulfillment_availability" for m in sent for p in m["patches"])
    assert stack.amazon.listings[fba_sku].quantity() is None
    # and reconciliation does not call its (Amazon-counted) quantity drift
    assert stack.reconcile().marketplaces[0].drift == 0


def test_a_first_full_sync_creates_no_listing(make_stack):
    stack = make_stack(CatalogueSpec(products=40, seed=9), **QUICK)
    listed = stack.list_on_amazon(sorted(stack.expected())[:10])
    refused = stack.export(mode="full")
    assert refused.refused_marketplaces == [MARKETPLACE_FR] and refused.messages == 0
    assert set(stack.amazon.listings) == set(listed)

    stack.reconcile()
    summary = stack.export(mode="full")
    stack.advance()
    stack.ack()
    assert summary.refused_marketplaces == [] and summary.offers_exported == 10
    assert summary.not_on_amazon == len(stack.expected()) - 10
    assert set(stack.amazon.listings) == set(listed)  # no incomplete listing created
    assert all(listing.complete and not listing.incomplete for listing in stack.amazon.listings.values())
    store = listings_store(stack)
    assert store.finding_counts(MARKETPLACE_FR)["not_on_amazon"] == len(stack.expected()) - 10


def test_the_configuration_may_opt_in_to_offers_for_skus_amazon_lacks(make_stack):
    stack = make_stack(CatalogueSpec(products=10, seed=9),
                       marketplaces=[{"marketplace_id": MARKETPLACE_FR, "seller_id": "A1LOCALSELLER", "country": "FR",
                                      "currency": "EUR", "send_to_skus_not_on_amazon": True}], **QUICK)
    summary = stack.export(mode="full")
    assert summary.refused_marketplaces == [] and summary.offers_exported == len(stack.expected())


def test_a_sku_another_tool_changes_after_each_repair_is_fought_over_not_repaired_forever(make_stack):
    stack = synced_stack(make_stack, products=10, reconcile={"settle_seconds": 0, "max_repairs": 2})
    sku = sorted(stack.expected())[0]
    repairs = 0
    for round_ in range(5):
        stack.change_behind_our_back(sku, price=1.11 + round_)  # the repricer wins again
        summary = stack.reconcile()
        result = summary.marketplaces[0]
        repairs += result.rows_queued
        stack.export()
        stack.advance()
        stack.ack()
    assert repairs == 2
    assert result.fought_over == 1 and result.drift == 0
    [finding] = listings_store(stack).findings(MARKETPLACE_FR, "drift")
    assert finding.fought_over and finding.repairs == 2
    sources = [entry["source"] for entry in stack.amazon.listings[sku].history]
    assert sources.count("seller-central") == 5

    # the operator turned the other tool off: clearing the finding lets the next run repair it again
    assert listings_store(stack).clear_fought_over(MARKETPLACE_FR, sku) == 1
    assert stack.reconcile().marketplaces[0].rows_queued == 1


def test_a_listing_that_differed_before_our_first_sync_does_not_count_as_a_fight(make_stack):
    """Drift on a SKU no value of ours was ever accepted for is not another tool undoing our work: after the
    first sync, one change behind our back is repaired, not reported as fought over (max_repairs 1).
    Found by the randomized test (seed 0): no reconciliation read the SKU in sync between the two."""
    stack = make_stack(CatalogueSpec(products=10, seed=9), reconcile={"settle_seconds": 0, "max_repairs": 1})
    stack.list_on_amazon()
    sku = sorted(stack.expected())[0]
    stack.change_behind_our_back(sku, price=1.11)  # Amazon's listing differs before we ever sent it
    first = stack.reconcile().marketplaces[0]
    assert first.state == "read" and sku in " ".join(first.drift_examples)
    stack.export(mode="full")
    stack.advance()
    stack.ack()
    stack.change_behind_our_back(sku, price=2.22)  # the first change of a value of ours
    result = stack.reconcile().marketplaces[0]
    assert (result.fought_over, result.drift, result.rows_queued) == (0, 1, 1), result.drift_examples
    [finding] = listings_store(stack).findings(MARKETPLACE_FR, "drift")
    assert finding.repairs == 1 and not finding.fought_over
    stack.export()
    stack.advance()
    stack.ack()
    assert stack.mismatches() == []


def test_a_change_of_ours_in_flight_is_not_judged(make_stack):
    stack = synced_stack(make_stack, products=10)
    sku = sorted(stack.expected())[1]
    product, attribute = next(k for k in stack.catalogue.offers if stack.expected_sku(*k) == sku)
    stack.db.sql("UPDATE ps_stock_available SET quantity = quantity + 4 WHERE id_product = %s "
                 "AND id_product_attribute = %s", (product, attribute))
    result = stack.reconcile().marketplaces[0]
    assert result.skipped_in_flight == 1 and result.drift == 0


def test_recent_acceptances_are_not_judged_against_a_cached_report(make_stack):
    stack = synced_stack(make_stack, products=10, reconcile={"settle_seconds": 3600})
    sku = sorted(stack.expected())[1]
    stack.change_behind_our_back(sku, quantity=999)
    result = stack.reconcile().marketplaces[0]
    assert result.skipped_recent == 1 and result.drift == 0


def test_suppressed_and_incomplete_listings_are_listed(make_stack):
    stack = synced_stack(make_stack, products=10)
    stack.amazon.add_listing("SOMEONE-ELSES-SKU")  # no price: Seller Central calls it incomplete
    result = stack.reconcile().marketplaces[0]
    problems = listings_store(stack).findings(MARKETPLACE_FR, "listing_problem")
    assert [(p.sku, p.detail) for p in problems] == [("SOMEONE-ELSES-SKU", "status Incomplete")]
    assert result.amazon_only == 1 and result.listing_problems == 1


def test_a_sku_amazon_deleted_leaves_the_store(make_stack):
    stack = synced_stack(make_stack, products=10)
    sku = sorted(stack.expected())[2]
    del stack.amazon.listings[sku]
    stack.reconcile()
    store = listings_store(stack)
    assert sku not in store.lookup(MARKETPLACE_FR, [sku])
    assert [f.sku for f in store.findings(MARKETPLACE_FR, "not_on_amazon")] == [sku]


def test_a_daily_reading_writes_only_the_listings_that_changed(make_stack):
    """The store is compared with the report by digest: a row Amazon shows as before (FBA without a
    quantity, unicode SKUs, ASINs) is not written again, so a daily run costs what changed."""
    stack = make_stack(CatalogueSpec(products=12, seed=9), **QUICK)
    skus = sorted(stack.expected())
    stack.list_on_amazon(fba=(skus[0],))
    stack.reconcile()
    stored = "SELECT sku, read_at FROM ps_amazon_sync_listing"
    before = dict(stack.db.sql(stored))
    assert len(before) == len(skus) and any(not sku.isascii() for sku in before)
    stack.change_behind_our_back(skus[5], price=12.5)
    stack.change_behind_our_back(skus[6], quantity=77)
    stack.reconcile()
    after = dict(stack.db.sql(stored))
    assert {sku for sku in after if after[sku] != before[sku]} == {skus[5], skus[6]}
    stack.reconcile()
    assert dict(stack.db.sql(stored)) == after


def test_a_report_amazon_is_still_preparing_is_picked_up_by_the_next_run(make_stack):
    stack = make_stack(CatalogueSpec(products=10, seed=9), reconcile={"settle_seconds": 0, "report_wait_seconds": 0})
    stack.list_on_amazon()
    first = stack.reconcile()
    assert first.marketplaces[0].state == "waiting for Amazon's report"
    assert listings_store(stack).last_read(MARKETPLACE_FR) is None
    stack.advance(60)
    second = stack.reconcile()
    assert second.marketplaces[0].state == "read"
    assert second.marketplaces[0].report_id == first.marketplaces[0].report_id
    assert stack.amazon.calls["createReport"] == 1


def test_dry_run_changes_nothing(make_stack):
    stack = synced_stack(make_stack, products=10)
    sku = sorted(stack.expected())[0]
    stack.change_behind_our_back(sku, quantity=0, price=Decimal("3.00").__float__())
    summary = stack.reconcile(dryRun=True)
    assert summary.marketplaces[0].drift == 1 and summary.marketplaces[0].rows_queued == 0
    assert stack.log_count() == 0 and listings_store(stack).findings(MARKETPLACE_FR) == []


def test_the_simulated_report_is_amazons_gzip_tsv_with_afn_and_incomplete_rows(make_stack):
    import gzip

    import httpx

    from amazon_sync_devkit.simulator.reports import COLUMNS

    stack = make_stack(CatalogueSpec(products=3, seed=9))
    stack.amazon.add_listing("MFN-1")
    stack.change_behind_our_back("MFN-1", quantity=4, price=12.5)
    stack.amazon.add_listing("FBA-1", fulfillment="AMAZON_EU")
    stack.change_behind_our_back("FBA-1", price=20.0)
    stack.amazon.add_listing("BARE-1")
    reports = stack.runtime.reports_for()(MARKETPLACE_FR)
    report_id = reports.request_listings_report(MARKETPLACE_FR)
    assert reports.get_report(report_id).processingStatus == "IN_QUEUE"
    stack.advance(60)
    status = reports.get_report(report_id)
    assert status.processingStatus == "DONE" and status.reportDocumentId
    document = stack.amazon.reports.get_report_document(status.reportDocumentId).body
    assert document["compressionAlgorithm"] == "GZIP"
    response = httpx.get(document["url"])
    assert response.headers["content-type"].endswith("charset=Cp1252")
    text = gzip.decompress(response.content).decode("cp1252").splitlines()
    assert text[0].split("\t") == COLUMNS
    rows = {cells[3]: dict(zip(COLUMNS, cells, strict=True)) for cells in (line.split("\t") for line in text[1:])}
    assert (rows["MFN-1"]["quantity"], rows["MFN-1"]["price"], rows["MFN-1"]["status"]) == ("4", "12.50", "Active")
    assert (rows["FBA-1"]["quantity"], rows["FBA-1"]["fulfillment-channel"]) == ("", "AMAZON_EU")
    assert rows["BARE-1"]["status"] == "Incomplete"


def test_a_cached_report_serves_the_earlier_snapshot(make_stack):
    stack = synced_stack(make_stack, products=10)
    stack.amazon.config.report_cache_seconds = 3600
    first = stack.reconcile().marketplaces[0]
    sku = sorted(stack.expected())[0]
    stack.change_behind_our_back(sku, quantity=999)
    cached = stack.reconcile().marketplaces[0]
    assert cached.report_id != first.report_id and (cached.drift, cached.in_sync) == (0, cached.compared)
    assert stack.log_count() == 0  # Amazon served the earlier snapshot: nothing to repair yet
    stack.advance(3600)
    fresh = stack.reconcile().marketplaces[0]
    assert fresh.drift == 1


# -- what the listings store must not forget (found by the randomized run) --------------------------

OPT_IN = {**base_config()["marketplaces"][0], "send_to_skus_not_on_amazon": True}


def default_quantities_sent(stack, sku):
    """Every DEFAULT availability any feed of the run carried for ``sku``."""
    return [entry for document in stack.documents() for message in document["messages"] if message["sku"] == sku
            for patch in message["patches"] if patch["path"] == "/attributes/fulfillment_availability"
            for entry in patch["value"] if entry["fulfillment_channel_code"] == "DEFAULT"]


def simple_product(stack, index=0):
    product = [p for p, a in stack.catalogue.offers if a == 0][index]
    return product, stack.expected_sku(product, 0)


def test_an_fba_sku_prestashop_renamed_gets_no_default_quantity_after_a_reconciliation(make_stack):
    stack = make_stack(CatalogueSpec(products=10, seed=9, unicode_skus=False), marketplaces=[OPT_IN], **QUICK)
    product, fba_sku = simple_product(stack)
    stack.list_on_amazon(fba=(fba_sku,))
    stack.reconcile()
    stack.export(mode="full")
    stack.sync_until_quiet()
    assert stack.amazon.listings[fba_sku].fulfillment() == "AFN"

    stack.db.sql("UPDATE ps_product SET reference = 'RENAMED-FROM-FBA' WHERE id_product = %s", (product,))
    stack.reconcile()  # Amazon still shows the FBA SKU; PrestaShop no longer has it
    stack.db.sql("UPDATE ps_stock_available SET quantity = quantity + 3 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert default_quantities_sent(stack, fba_sku) == []
    assert stack.amazon.listings[fba_sku].fulfillment() == "AFN"  # not DUAL: no merchant entry beside it


def test_a_sku_prestashop_takes_from_an_fba_listing_gets_no_default_quantity(make_stack):
    stack = make_stack(CatalogueSpec(products=10, seed=9, unicode_skus=False), marketplaces=[OPT_IN], **QUICK)
    stack.list_on_amazon()
    stack.amazon.add_listing("AMAZON-ONLY-FBA", fulfillment="AMAZON_EU")  # a SKU PrestaShop does not have yet
    stack.change_behind_our_back("AMAZON-ONLY-FBA", price=30.0)
    stack.reconcile()
    stack.export(mode="full")
    stack.sync_until_quiet()

    product, _ = simple_product(stack)  # the merchant gives a shop product the FBA listing's SKU
    stack.db.sql("UPDATE ps_product SET reference = 'AMAZON-ONLY-FBA' WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert default_quantities_sent(stack, "AMAZON-ONLY-FBA") == []
    assert stack.amazon.listings["AMAZON-ONLY-FBA"].fulfillment() == "AFN"


def test_a_renamed_sku_gets_stock_zero_when_a_reconciliation_ran_before_the_export(make_stack):
    stack = synced_stack(make_stack, products=10)  # SKUs Amazon lacks are not sent to (no opt-in)
    product, old_sku = simple_product(stack)
    stack.db.sql("UPDATE ps_stock_available SET quantity = 6 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert stack.amazon.listings[old_sku].quantity() == 6

    stack.db.sql("UPDATE ps_product SET reference = 'RENAMED-MFN' WHERE id_product = %s", (product,))
    stack.reconcile()  # before the export has zeroed the old SKU
    stack.sync_until_quiet()
    assert stack.amazon.listings[old_sku].quantity() == 0
    assert "RENAMED-MFN" not in stack.amazon.listings  # not created: Amazon has no listing for it


def test_an_sku_fba_in_another_marketplace_of_the_seller_gets_no_default_quantity(make_stack):
    # the German listing is FBA; the French marketplace, which sends quantity, has no listing for the SKU and
    # may create one: merchant quantity is kept per seller and SKU, so it would land beside AMAZON_EU
    stack = make_stack(CatalogueSpec(products=10, seed=9, unicode_skus=False),
                       marketplaces=[OPT_IN, {**OPT_IN, "marketplace_id": MARKETPLACE_DE, "country": "DE",
                                              "send_quantity": False}], **QUICK)
    _, fba_sku = simple_product(stack)
    stack.list_on_amazon([sku for sku in sorted(stack.expected()) if sku != fba_sku])
    stack.amazon.add_listing(fba_sku, marketplace_ids=[MARKETPLACE_DE], fulfillment="AMAZON_EU")
    stack.reconcile()
    stack.export(mode="full")
    stack.sync_until_quiet()
    assert default_quantities_sent(stack, fba_sku) == []
    assert stack.amazon.listings[fba_sku].fulfillment() == "AFN"


def test_an_acceptance_is_judged_recent_by_the_functions_clock_not_the_databases(make_stack):
    # the randomized run's clock, Amazon's and the functions', runs ahead of the database's NOW(): an
    # acceptance written down with NOW() looked hours old, its SKU was judged against a report that could
    # not show it yet, and was "repaired" into fought over
    stack = synced_stack(make_stack, products=10, reconcile={"settle_seconds": 600})
    stack.advance(7200)

    def amazon_now():
        return stack.amazon.clock.now()

    stack.amazon.config.report_cache_seconds = 3600  # the next request gets this snapshot again
    assert stack.reconcile(_reconciler={"now": amazon_now}).marketplaces[0].drift == 0
    product, _ = simple_product(stack)
    stack.db.sql("UPDATE ps_product_shop SET price = price + 3 WHERE id_product = %s", (product,))
    stack.export(_exporter={"now": amazon_now})
    stack.advance()
    stack.ack(now=amazon_now)
    result = stack.reconcile(_reconciler={"now": amazon_now}).marketplaces[0]
    assert (result.skipped_recent, result.drift) == (1, 0), result.drift_examples


def test_a_cancelled_report_does_not_make_the_store_forget_fba_skus_until_amazon_cancels_for_two_days(make_stack):
    stack = make_stack(CatalogueSpec(products=10, seed=9, unicode_skus=False), **QUICK)
    product, fba_sku = simple_product(stack)

    def reconcile():
        return stack.reconcile(_reconciler={"now": stack.amazon.clock.now})  # days pass in the test

    stack.list_on_amazon(fba=(fba_sku,))
    assert reconcile().marketplaces[0].state == "read"
    stack.export(mode="full")
    stack.sync_until_quiet()
    store = listings_store(stack)
    known = store.counts(MARKETPLACE_FR)
    assert known["fba"] == 1

    # Amazon cancels the next reports though nothing changed (too many requests, not "no data")
    stack.amazon.faults.cancel_listings_reports = 100
    cancelled = reconcile()
    [failure] = cancelled.failures
    assert "cancelled listings report" in failure and "not read as 'no listings'" in failure, failure
    assert cancelled.marketplaces[0].state.startswith("failed")
    assert store.counts(MARKETPLACE_FR) == known  # nothing forgotten
    stack.db.sql("UPDATE ps_stock_available SET quantity = quantity + 3 WHERE id_product = %s", (product,))
    stack.sync_until_quiet()
    assert default_quantities_sent(stack, fba_sku) == []
    assert stack.amazon.listings[fba_sku].fulfillment() == "AFN"

    for hours in (12, 12, 12):  # cancelled again and again, but not yet three times over two days
        stack.advance(hours * 3600)
        assert reconcile().failures != [] and store.counts(MARKETPLACE_FR) == known
    assert store.cancelled_reports(MARKETPLACE_FR)[1] == 4
    stack.advance(12 * 3600)
    believed = reconcile()  # two days of cancelled reports: the seller has really closed every listing
    assert believed.failures == [] and believed.marketplaces[0].state == "read"
    assert store.counts(MARKETPLACE_FR) == {"listings": 0, "fba": 0}

    stack.amazon.faults.cancel_listings_reports = 0
    stack.advance(3600)
    again = reconcile()
    assert again.failures == [] and again.marketplaces[0].listings_read == known["listings"]
    assert store.cancelled_reports(MARKETPLACE_FR) is None
    # a count a run left behind (it stopped between its reading and clearing the count) is not continued
    store.set_cancelled_reports(MARKETPLACE_FR, (stack.amazon.clock.now() - 30 * 24 * 3600, 9))
    stack.amazon.faults.cancel_listings_reports = 1
    stack.advance(3600)
    assert reconcile().failures != [] and store.counts(MARKETPLACE_FR)["fba"] == 1
    assert store.cancelled_reports(MARKETPLACE_FR)[1] == 1


def test_a_sku_that_drifted_in_two_marketplaces_is_repaired_in_both_by_one_reconciliation(make_stack):
    """The repair row the first marketplace queues is not a change of ours in flight for the second: both
    are judged against the log as it was before the run. Found by the randomized test (seed 22, 200 steps):
    the German price stayed Seller Central's."""
    stack = make_stack(CatalogueSpec(products=10, seed=9, unicode_skus=False),
                       marketplaces=[OPT_IN, {**OPT_IN, "marketplace_id": MARKETPLACE_DE, "country": "DE",
                                              "send_quantity": False}], **QUICK)
    stack.list_on_amazon()
    stack.reconcile()
    stack.export(mode="full")
    stack.sync_until_quiet()
    assert stack.mismatches() == [] and stack.mismatches(MARKETPLACE_DE, quantity_too=False) == []
    sku = sorted(stack.expected())[2]
    stack.change_behind_our_back(sku, MARKETPLACE_FR, price=1.11)
    stack.change_behind_our_back(sku, MARKETPLACE_DE, price=2.22)
    summary = stack.reconcile()
    assert [(r.marketplace_id, r.drift, r.rows_queued, r.skipped_in_flight) for r in summary.marketplaces] == [
        (MARKETPLACE_FR, 1, 1, 0), (MARKETPLACE_DE, 1, 1, 0)]
    stack.sync_until_quiet()
    assert stack.mismatches() == [] and stack.mismatches(MARKETPLACE_DE, quantity_too=False) == []
