"""`make demo`: the whole system on this machine, as it runs in AWS, in under a minute.

A throwaway MariaDB with PrestaShop's tables, the log and the triggers; moto_server for S3, DynamoDB,
SQS and Secrets Manager; the SP-API simulator sending FEED_PROCESSING_FINISHED to SQS. The real
Lambda handlers are invoked as Lambda would. Artefacts are left in .demo/; every process started here
is stopped at the end, on Ctrl-C and on error. Exit status 0 only if Amazon ends equal to PrestaShop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import httpx

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.config import SyncConfig
from amazon_sync_devkit.catalogue import CatalogueSpec, create_catalogue
from amazon_sync_devkit.expected import expected_listings
from amazon_sync_devkit.local_processes import LocalProcesses
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.simulator.amazon import SimulatorConfig
from amazon_sync_devkit.stack import create_shop_database, provision

ROOT = Path(__file__).resolve().parents[1]
MARKETPLACE = "A13V1IB3VIYZZH"
TABLES = Tables("ps_")


class LambdaContext:
    """What the handlers read from Lambda's context object."""

    function_name = "local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:local"
    aws_request_id = "local-request"

    def __init__(self, seconds: float = 300) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def amazon_matches_prestashop(db: DatabaseSettings, config: SyncConfig, sim_url: str, rejected: set[str],
                              fba: set[str], unlisted: set[str]) -> tuple[int, list[str]]:
    """Every sendable offer's quantity and price on the simulated Amazon against PrestaShop's: an FBA SKU's
    price only (its quantity is Amazon's count, with no DEFAULT entry ever); a SKU Amazon had no listing for
    must still have none."""
    listings = httpx.get(f"{sim_url}/_simulator/listings").json()["listings"]
    conn = connect(db)
    expected = expected_listings(conn, TABLES, config, MARKETPLACE)
    conn.close()
    checked, problems = 0, []
    for sku, wanted in expected.items():
        if sku in rejected:
            continue
        checked += 1
        listing = listings.get(sku)
        if sku in unlisted:
            if listing is not None:
                problems.append(f"{sku}: created on Amazon although it had no listing there")
            continue
        if sku in fba and (listing is None or listing["fulfillment"] != "AFN"
                           or any(h["quantity"] is not None for h in listing["history"])):
            problems.append(f"{sku}: an FBA listing was given a quantity of ours")
            continue
        amazon_price = None
        if listing:
            for entry in listing["attributes"].get("purchasable_offer", []):
                if entry["marketplace_id"] == MARKETPLACE:
                    amazon_price = Decimal(str(entry["our_price"][0]["schedule"][0]["value_with_tax"]))
        quantity = None if sku in fba else wanted.quantity
        if listing is None or listing["quantity"] != quantity or amazon_price != wanted.price:
            problems.append(f"{sku}: Amazon {listing and listing['quantity']} @ {amazon_price}, "
                            f"PrestaShop {quantity} @ {wanted.price}")
    return checked, problems


def run_demo(out: Path, products: int = 300, say: Callable[[str], None] = print) -> dict[str, Any]:
    if out.exists():
        shutil.rmtree(out)
    for folder in ("feeds", "reports", "logs"):
        (out / folder).mkdir(parents=True)
    processes = LocalProcesses(out / "logs")
    server = ThrowawayMariaDB()
    started = time.monotonic()
    try:
        say("[1/6] MariaDB with PrestaShop's tables, the event log, the capture triggers and a sample catalogue")
        server.start()
        db, conn = create_shop_database(server, "prestashop")
        catalogue = create_catalogue(conn, TABLES, CatalogueSpec(products=products, shops=1, seed=2026))
        with conn.cursor() as cur:
            cur.execute("DELETE FROM ps_amazon_sync_log")
        say(f"      {products} products, {len(catalogue.offers)} offers (combinations, taxes, sale prices)")

        say("[2/6] moto_server (S3, DynamoDB, SQS, Secrets Manager) and the SP-API simulator")
        moto_url = processes.moto_server()
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="feed-notifications-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName="feed-notifications", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
        sim_url = processes.simulator("--sqs-queue-url", queue, "--sqs-endpoint-url", moto_url,
                                      "--queue-seconds", "1", "--processing", "realistic",
                                      # Amazon's processing times (one feed after the other, U(30 s, 5 min)
                                      # each) at 1/100
                                      "--time-scale", "0.01", "--report-seconds", "2")
        simulator = SimulatorConfig()
        # the demo walks through the feed path step by step; the express lane has its own tests and
        # `make bench-freshness`
        config = {"marketplaces": [{"marketplace_id": MARKETPLACE, "seller_id": simulator.seller_id,
                                    "shop_id": 1, "country": "FR", "currency": "EUR", "handling_time_days": 2}],
                  "express_lane": False}
        # the functions reach the database through an RDS-style secret, as in AWS
        provisioned = provision("demo", simulator_url=sim_url, simulator=simulator, database=db, config=config,
                                config_dir=out, database_secret=True, idempotency_table=True)
        s3 = boto3.client("s3")
        os.environ.update({**provisioned.env,
                           "POWERTOOLS_SERVICE_NAME": "prestashop-amazon-sync",
                           "POWERTOOLS_METRICS_NAMESPACE": "PrestaShopAmazonSync",
                           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
                           "POWERTOOLS_METRICS_DISABLED": "true"})
        for folder in ("functions/export", "functions/ack", "functions/reconcile"):
            sys.path.insert(0, str(ROOT / folder))
        import reconcile_handler

        import ack_handler
        import export_handler

        def export(event: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = export_handler.handler(event, LambdaContext())
            return result

        def poll() -> dict[str, Any]:
            result: dict[str, Any] = ack_handler.handler({}, LambdaContext())
            return result

        def deliver_notifications() -> int:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs", "eventSourceARN": dlq_arn.replace("-dlq", ""),
                        "awsRegion": "eu-west-1"} for m in messages.get("Messages", [])]
            if records:
                failures = ack_handler.handler({"Records": records}, LambdaContext())["batchItemFailures"]
                failed = {f["itemIdentifier"] for f in failures}
                for message in messages["Messages"]:
                    if message["MessageId"] not in failed:
                        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            return len(records)

        def until_quiet(label: str, feed_ids: list[str]) -> dict[str, int]:
            totals = {"notifications": 0, "accepted": 0, "rejected": 0}
            for _ in range(60):
                totals["notifications"] += deliver_notifications()
                summary = poll()
                if summary["feeds_in_flight"] == 0 and summary["queue_depth"] == 0:
                    # a poll may have handled a feed before its notification came: delivered all the same
                    # (the acknowledgment sees it was handled)
                    totals["notifications"] += deliver_notifications()
                    state = ack_handler.runtime().state
                    for feed_id in feed_ids:  # whichever path (notification or poll) handled the feed
                        record = state.get_feed(state.intent_for_feed_id(feed_id) or "")
                        totals["accepted"] += record.accepted if record else 0
                        totals["rejected"] += record.rejected if record else 0
                    return totals
                time.sleep(0.5)
            raise RuntimeError(f"{label}: the queue did not drain")

        # The merchant's products are listed on Amazon (created in Seller Central), except a few never
        # listed there, and one is fulfilled by Amazon (FBA); all of them change in the shop below. The
        # sync reads the listings first: a full sync before that is refused, as it would create
        # incomplete listings.
        listed = expected_listings(conn, TABLES, SyncConfig.model_validate(config), MARKETPLACE)
        unlisted = {_sku(conn, *offer) for offer in catalogue.offers[1:4]}
        fba = {_sku(conn, *catalogue.offers[4])}
        for sku in listed:
            if sku not in unlisted:
                httpx.put(f"{sim_url}/_simulator/listings/{sku}",
                          json={"fulfillment": "AMAZON_EU"} if sku in fba else {}).raise_for_status()
        read = reconcile_handler.handler({}, LambdaContext())
        say(f"      Amazon's listings read: {read['listings_read']} listings, {read['drift']} differ from PrestaShop")
        first = export({"mode": "full"})
        until_quiet("first full sync", first["feed_ids"])
        say(f"      first full sync: {first['messages']} message(s) sent in {first['feeds_submitted']} feed(s), "
            "as a merchant does after set-up")
        say(f"      {first['not_on_amazon']} SKU(s) Amazon has no listing for: nothing sent; "
            f"{first['fba_quantities_withheld']} FBA SKU(s): price only")

        say("[3/6] The shop and its POS change stock and prices with plain SQL")
        changes = 0
        ended_sku, ended_product = _a_sale_on_amazon(conn, catalogue.offers, sim_url)
        with conn.cursor() as cur:
            # the shop ends a sale Amazon shows: the offer is replaced without its discounted_price
            changes += cur.execute("DELETE FROM ps_specific_price WHERE id_product = %s", (ended_product,))
            # MySQL reports the rows a statement really changed: a sale of an item out of stock changes nothing
            for index, (product, attribute) in enumerate(catalogue.offers[:40]):
                changes += cur.execute("UPDATE ps_stock_available SET quantity = GREATEST(quantity + %s, 0) "
                                       "WHERE id_product = %s AND id_product_attribute = %s",
                                       (-3 if index % 3 else 12, product, attribute))
            for product, _ in catalogue.offers[40:55]:
                changes += cur.execute("UPDATE ps_product_shop SET price = price * 1.05 WHERE id_product = %s",
                                       (product,))
            cur.execute("INSERT INTO ps_specific_price (id_specific_price_rule, id_cart, id_product, id_shop, "
                        "id_shop_group, id_currency, id_country, id_group, id_customer, id_product_attribute, "
                        "price, from_quantity, reduction, reduction_tax, reduction_type, `from`, `to`) VALUES "
                        "(0, 0, %s, 0, 0, 0, 0, 0, 0, 0, -1, 1, 0.15, 1, 'percentage', '0000-00-00 00:00:00', "
                        "'0000-00-00 00:00:00')", (catalogue.offers[60][0],))
            changes += 1
            cur.execute("SELECT COUNT(*) FROM ps_amazon_sync_log")
            captured = int(cur.fetchone()[0])  # type: ignore[index]
        say(f"      {changes} rows changed by the shop, {captured} log rows captured by the triggers")

        say("[4/6] Export and acknowledgment, as Lambda runs them: with a throttle and a rejected SKU")
        rejected_sku = str(catalogue.offers[0][0] and _sku(conn, *catalogue.offers[0]))
        httpx.post(f"{sim_url}/_simulator/faults", json={
            "throttle": {"createFeed": 1},
            "sku_errors": {rejected_sku: {"code": "8560", "attributeName": "merchant_suggested_asin",
                                          "message": "The SKU does not match any ASIN in the Amazon catalog."}}})
        queue_before = captured
        exported = export({"mode": "incremental"})
        totals = until_quiet("incremental sync", exported["feed_ids"])
        say(f"      {exported['rows_claimed']} rows coalesced into {exported['messages']} message(s) in "
            f"{exported['feeds_submitted']} feed(s); {exported['throttles']} throttle(s) retried")
        say(f"      {totals['notifications']} notification(s) delivered; {totals['accepted']} accepted, "
            f"{totals['rejected']} rejected; log rows are deleted only after Amazon's verdict")

        say("[5/6] Report")
        errors = ack_handler.runtime().state.sku_errors()
        rejected = {e.sku for e in errors if e.severity == "ERROR"}
        checked, mismatches = amazon_matches_prestashop(db, ack_handler.runtime().config, sim_url, rejected,
                                                        fba, unlisted)
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM ps_amazon_sync_log")
            queue_after = int(cur.fetchone()[0])  # type: ignore[index]
        for error in errors:
            say(f"      rejected {error.sku}: {error.code} {error.message} ({error.attribute})")
        say(f"      queue depth {queue_before} -> {queue_after}; {checked} SKUs compared with Amazon: "
            + ("all equal to PrestaShop" if not mismatches else f"{len(mismatches)} differ"))
        for mismatch in mismatches[:10]:
            say(f"      MISMATCH {mismatch}")

        say("[6/6] Artefacts in .demo/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=provisioned.bucket, Prefix="feeds/"):
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key.split("/")[-1]
                if name.endswith(".report.json"):
                    body = s3.get_object(Bucket=provisioned.bucket, Key=key)["Body"].read()
                    (out / "reports" / name).write_bytes(body)
                elif name.endswith(".json"):
                    (out / "feeds" / name).write_bytes(s3.get_object(Bucket=provisioned.bucket, Key=key)["Body"].read())
        listings = httpx.get(f"{sim_url}/_simulator/listings").json()["listings"]
        sale_left = listings.get(ended_sku, {}).get("attributes", {}).get("purchasable_offer", [{}])[0].get(
            "discounted_price")
        say(f"      sale of {ended_sku} ended in PrestaShop: " + ("still live on Amazon" if sale_left
                                                                  else "removed on Amazon"))
        runtime = ack_handler.runtime()
        open_sales = EventLog(runtime.connection(), runtime.tables).open_ended_sales()
        say(f"      {len(open_sales)} sale(s) without an end in PrestaShop run on Amazon until it ends them "
            "(amazon-sync status lists them)")
        incomplete = sorted(sku for sku, item in listings.items() if not item["complete"])
        not_created = sorted(sku for sku in unlisted if sku not in listings)
        say(f"      {len(not_created)} of {len(unlisted)} SKU(s) Amazon had no listing for were not created "
            f"({len(incomplete)} incomplete listing(s) on Amazon)")
        left_alone = sorted(sku for sku in fba if listings[sku]["fulfillment"] == "AFN"
                            and all(h["quantity"] is None for h in listings[sku]["history"]))
        say(f"      {len(left_alone)} FBA SKU(s) left alone: price sent, quantity never (Amazon counts its stock)")
        summary = {
            "offers": len(catalogue.offers),
            "sales_ended": {"sku": ended_sku, "removed_on_amazon": not sale_left},
            "open_ended_sales": len(open_sales), "incomplete_listings_created": len(incomplete),
            "unknown_skus_not_created": len(not_created), "fba_skus_left_alone": len(left_alone),
            "changes_made": changes, "changes_captured": captured,
            "first_full_sync_messages": first["messages"], "feeds_sent": len(list((out / "feeds").glob("*.json"))),
            "incremental": {"rows_claimed": exported["rows_claimed"], "messages": exported["messages"],
                            "feeds": exported["feeds_submitted"], "throttles_retried": exported["throttles"]},
            "messages_accepted": totals["accepted"], "messages_rejected": totals["rejected"],
            "rejections": [{"sku": e.sku, "code": e.code, "message": e.message, "attribute": e.attribute}
                           for e in errors if e.severity == "ERROR"],
            "notifications_delivered": totals["notifications"],
            "queue_depth_before": queue_before, "queue_depth_after": queue_after,
            "skus_compared": checked, "mismatches": mismatches,
            "in_sync": not mismatches and queue_after == 0 and not sale_left,
            "seconds": round(time.monotonic() - started, 1),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        conn.close()
        return summary
    finally:
        processes.stop()
        server.stop()


def _a_sale_on_amazon(conn: Any, offers: list[tuple[int, int]], sim_url: str) -> tuple[str, int]:
    """A simple product whose sale Amazon shows: (SKU, id_product)."""
    listings = httpx.get(f"{sim_url}/_simulator/listings").json()["listings"]
    for product, attribute in offers:
        sku = _sku(conn, product, attribute)
        if attribute == 0 and any("discounted_price" in o for o in listings.get(sku, {}).get("attributes", {}).get(
                "purchasable_offer", [])):
            return sku, product
    raise RuntimeError("the sample catalogue has no product on sale")


def _sku(conn: Any, product: int, attribute: int) -> str:
    with conn.cursor() as cur:
        if attribute:
            cur.execute("SELECT reference FROM ps_product_attribute WHERE id_product_attribute = %s", (attribute,))
        else:
            cur.execute("SELECT reference FROM ps_product WHERE id_product = %s", (product,))
        return str(cur.fetchone()[0])


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the whole sync locally and check Amazon equals PrestaShop.")
    parser.add_argument("--out", default=str(ROOT / ".demo"), help="where the artefacts go (default .demo/)")
    parser.add_argument("--products", type=int, default=300)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        summary = run_demo(Path(args.out), args.products)
    except KeyboardInterrupt:
        print("demo interrupted: every process it started has been stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    print(f"done in {summary['seconds']} s: " + ("in sync" if summary["in_sync"] else "NOT in sync"))
    return 0 if summary["in_sync"] else 1


if __name__ == "__main__":
    sys.exit(main())
