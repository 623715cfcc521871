"""What the capture triggers cost PrestaShop: single-row stock updates with and without them.

Each update is its own autocommit transaction, as PrestaShop's StockAvailable::update does.
"""

from __future__ import annotations

import statistics
import time

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.schema import install_triggers, uninstall_triggers
from amazon_sync_devkit.catalogue import CatalogueSpec
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from bench.common import TABLES, print_result, shop_database

UPDATES = 5000


def run_updates(conn, offers, rounds: int) -> list[float]:
    timings = []
    with conn.cursor() as cur:
        for index in range(rounds):
            product, attribute = offers[index % len(offers)]
            start = time.perf_counter()
            cur.execute("UPDATE ps_stock_available SET quantity = quantity + 1 WHERE id_product = %s "
                        "AND id_product_attribute = %s AND id_shop = 1", (product, attribute))
            timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    with ThrowawayMariaDB() as server:
        settings, catalogue = shop_database(server, "bench_triggers", CatalogueSpec(products=5000, seed=5))
        conn = connect(settings)
        run_updates(conn, catalogue.offers, 500)  # warm the buffer pool
        figures = {}
        for label, with_triggers in (("baseline", False), ("triggers", True), ("baseline_again", False)):
            if with_triggers:
                install_triggers(conn, TABLES)
            else:
                uninstall_triggers(conn, TABLES)
            timings = run_updates(conn, catalogue.offers, UPDATES)
            figures[f"{label}_mean_us"] = round(statistics.mean(timings) * 1e6, 1)
            figures[f"{label}_p99_us"] = round(sorted(timings)[int(len(timings) * 0.99)] * 1e6, 1)
        baseline = (figures["baseline_mean_us"] + figures["baseline_again_mean_us"]) / 2
        figures["updates_per_variant"] = UPDATES
        figures["overhead_us_per_update"] = round(figures["triggers_mean_us"] - baseline, 1)
        figures["ratio_triggers_vs_baseline"] = round(figures["triggers_mean_us"] / baseline, 3)
        print_result(figures)


if __name__ == "__main__":
    main()
