"""`make bench-reconcile`: a 1,000,000-listing report against 200,000 PrestaShop offers.

The simulator (its own process) serves a prepared GET_MERCHANT_LISTINGS_ALL_DATA document through the
real Reports API calls: 200,000 rows for the shop's SKUs (1 % of them drifted, 5 % FBA) and 800,000
SKUs the shop does not have (10 % FBA, some incomplete); every shop SKU was sent and accepted two days
earlier. Two runs: the first into an empty listings store, the second (the daily case) over the stored
one. Baseline in the same run: gunzipping and splitting the same document with nothing else. Targets:
under 120 s and under 512 MB. Per run and phase (bench/breakdown.py): calls, own wall time, SQL time
and statements. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import gc
import gzip
import os
import random
import tempfile
import time
from typing import Any

import httpx

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.listings import AmazonListings
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.reports import SpApiReports
from amazon_sync.services import reconcile as reconcile_service
from amazon_sync.services.reconcile import Reconciler, ReconcileRequest
from amazon_sync_devkit.expected import expected_listings
from amazon_sync_devkit.simulator.reports import COLUMNS
from bench.breakdown import Breakdown
from bench.common import TABLES, print_result
from bench.stack import MARKETPLACE, OFFERS, PeakMemory, bench_stack

LISTINGS = int(os.environ.get("BENCH_LISTINGS", "1000000"))

PHASES = {
    "report_request_and_wait": [(Reconciler, "_finished_report")],
    "report_download": [(SpApiReports, "download")],
    "offer_reads": [(OfferReader, "shop_context"), (OfferReader, "read_shop")],
    "expected_values": [(Reconciler, "_wanted")],  # the marketplace's rules over the offers read
    "stored_and_sent_skus_read": [(AmazonListings, "stored"), (EventLog, "skus_sent")],
    "report_rows": [(reconcile_service, "read_rows")],  # gunzip, decode and split, a block at a time
    "compare": [(Reconciler, "_compare")],  # per row: the SKU looked up, rows used converted and compared
    "listing_store_writes": [(AmazonListings, "write")],
    "forget": [(AmazonListings, "forget")],
    "in_flight_and_previous": [(EventLog, "products_with_rows"), (AmazonListings, "findings")],
    "judge_drift": [(reconcile_service._Judge, "judge")],
    "recent_and_accepted_reads": [(AmazonListings, "accepted_since"), (EventLog, "last_accepted")],
    "drift_queueing": [(EventLog, "forget_accepted"), (EventLog, "add_rows")],
    "findings_writes": [(AmazonListings, "record"), (AmazonListings, "forget_findings_before"),
                        (AmazonListings, "mark_read"), (AmazonListings, "set_pending_report")],
}


def write_report(path: str, shop: dict[str, tuple[int, str]], total: int) -> dict[str, int]:
    """The report document: the shop's SKUs (some drifted, some FBA) and many SKUs only Amazon has."""
    rng = random.Random(14)
    counts = {"drifted": 0, "fba": 0, "incomplete": 0}
    where = {name: position for position, name in enumerate(COLUMNS)}

    def line(sku: str, quantity: str, price: str, channel: str, status: str) -> bytes:
        cells = [""] * len(COLUMNS)
        cells[where["seller-sku"]], cells[where["quantity"]], cells[where["price"]] = sku, quantity, price
        cells[where["fulfillment-channel"]], cells[where["status"]] = channel, status
        cells[where["item-name"]], cells[where["asin1"]] = f"Item {sku}", "B0" + f"{abs(hash(sku)):08d}"[:8]
        return ("\t".join(cells) + "\r\n").encode("cp1252", errors="replace")

    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(("\t".join(COLUMNS) + "\r\n").encode("cp1252"))
        for sku, (wanted, price) in shop.items():
            quantity = wanted
            roll = rng.random()
            if roll < 0.05:
                counts["fba"] += 1
                out.write(line(sku, "", price, "AMAZON_EU", "Active"))
                continue
            if roll < 0.06:
                counts["drifted"] += 1
                quantity += 7
            out.write(line(sku, str(quantity), price, "DEFAULT", "Active" if quantity else "Inactive"))
        for number in range(total - len(shop)):
            roll = rng.random()
            if roll < 0.1:
                counts["fba"] += 1
                out.write(line(f"AMZ-{number:08d}", "", f"{rng.randint(100, 99999) / 100:.2f}", "AMAZON_EU", "Active"))
            elif roll < 0.101:
                counts["incomplete"] += 1
                out.write(line(f"AMZ-{number:08d}", "", "", "DEFAULT", "Incomplete"))
            else:
                out.write(line(f"AMZ-{number:08d}", str(rng.randint(0, 50)), f"{rng.randint(100, 99999) / 100:.2f}",
                               "DEFAULT", "Active"))
    return counts


def plain_read(path: str) -> float:
    started = time.perf_counter()
    with gzip.open(path, "rb") as stream:
        for raw in stream:
            raw.decode("cp1252").split("\t")
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, bench_stack(tmp, rows=0) as stack:
        started = time.perf_counter()
        conn = connect(stack.settings)
        wanted = expected_listings(conn, TABLES, stack.runtime.config, MARKETPLACE)
        shop = {sku: (listing.quantity, f"{listing.price:.2f}") for sku, listing in wanted.items()}
        report = os.path.join(tmp, "listings.tsv.gz")
        counts = write_report(report, shop, LISTINGS)
        in_both = len(shop)
        del wanted, shop  # the benchmark's own helpers: the peak RSS measured is the reconciliation's
        gc.collect()
        # every SKU sent and accepted by a full sync two days ago, as in a shop in use: the SKUs the
        # reconciliation keeps for the export, and the acceptance history it looks up for drifting SKUs
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLES.offer_state} (marketplace_id, sku, id_product, id_product_attribute, "
                        "quantity, price, fingerprint, accepted_at) SELECT %s, p.reference, p.id_product, 0, NULL, "
                        f"NULL, NULL, NOW(6) - INTERVAL 2 DAY FROM {TABLES.table('product')} p "
                        "WHERE p.reference <> ''", (MARKETPLACE,))
        conn.close()
        httpx.post(f"{stack.simulator_url}/_simulator/prepared-report", json={"path": report}, timeout=600)
        print(f"# report: {LISTINGS} listings, {os.path.getsize(report) / 1e6:.1f} MB compressed, written in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        baseline = plain_read(report)
        figures: dict[str, Any] = {
            "listings": LISTINGS, "offers": OFFERS, "report_mb_compressed": round(os.path.getsize(report) / 1e6, 1),
            "drifted_in_report": counts["drifted"], "fba_in_report": counts["fba"],
        }
        seconds: list[float] = []
        peaks: list[float] = []
        for label in ("first", "daily"):
            # Amazon prepares the report on its own machines: the benchmark skips that wait, not ours
            reconciler = stack.runtime.reconciler(remaining_seconds=lambda: 900.0,
                                                  sleep=lambda seconds: stack.advance_amazon(3600), temp_dir=tmp)
            load = os.getloadavg()[0]
            with PeakMemory() as memory, Breakdown(PHASES) as breakdown:
                began, cpu = time.perf_counter(), time.process_time()
                summary = reconciler.run(ReconcileRequest())
                elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            result = summary.marketplaces[0]
            assert not summary.failures and result.state == "read", (summary.failures, result.state)
            # every planted difference found, and nothing else (the repairs of the first run are not applied)
            assert (result.drift, result.fba_listings, result.listing_problems, result.compared) == (
                counts["drifted"], counts["fba"], counts["incomplete"], in_both), result
            load = max(load, os.getloadavg()[0])
            print(f"# {label} run: {elapsed:.1f} s, load average {load:.1f}", flush=True)
            seconds.append(elapsed)
            peaks.append(memory.peak_mb)
            figures.update({f"{label}_{name}": value for name, value in {
                "seconds": round(elapsed, 2), "cpu_seconds": round(cpu, 2),
                "sql_seconds": round(breakdown.sql_seconds, 2), "load_average": round(load, 1),
                "phases": breakdown.figures(elapsed), "peak_rss_mb": memory.peak_mb, "compared": result.compared,
                "skus_compared_per_second": round(result.compared / elapsed),
                "listings_per_second": round(result.listings_read / elapsed),
                "drift": result.drift, "fba": result.fba_listings, "not_on_amazon": result.not_on_amazon,
                "amazon_only": result.amazon_only, "listing_problems": result.listing_problems,
                "listings_read": result.listings_read}.items()})
            stack.runtime.connection().cursor().execute(f"DELETE FROM {TABLES.log}")  # the queued repairs
        figures.update({
            "plain_gunzip_and_split_seconds": round(baseline, 2),
            "ratio_daily_vs_plain_read": round(seconds[1] / baseline, 1),
            "total_seconds": round(max(seconds), 2), "peak_rss_mb": max(peaks),
            "skus_compared_per_second": figures["daily_skus_compared_per_second"],
            "target_under_120s": max(seconds) < 120, "target_under_512mb": max(peaks) < 512,
            "load_average_1_5_15": [round(value, 1) for value in os.getloadavg()],
        })
        print_result(figures)


if __name__ == "__main__":
    main()
