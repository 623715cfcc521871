"""Shared set-up for the benchmark scripts: a throwaway MariaDB with a fresh shop database."""

from __future__ import annotations

import gc
import json
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import pymysql.cursors

from amazon_sync.adapters.mysql.connection import placeholders
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync_devkit.catalogue import CatalogueSpec, create_catalogue
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.stack import create_shop_database

TABLES = Tables("ps_")


def shop_database(server: ThrowawayMariaDB, name: str, spec: CatalogueSpec) -> tuple[DatabaseSettings, Any]:
    """The devkit's shop database without the triggers (a benchmark installs them when it measures them)."""
    settings, conn = create_shop_database(server, name, triggers=False)
    catalogue = create_catalogue(conn, TABLES, spec)
    conn.close()
    return settings, catalogue


def global_status(cur: pymysql.cursors.Cursor, names: Sequence[str]) -> dict[str, int]:
    """The server's counters of these names (SHOW GLOBAL STATUS), as integers."""
    cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders(names)})", tuple(names))
    return {str(name): int(value) for name, value in cur.fetchall()}


# What the server says made statements wait while a benchmark measured: row locks (ours or the shop's),
# the redo log buffer, free pages in the buffer pool. A stall with none of these grew is the machine's.
WAIT_COUNTERS = ("Innodb_row_lock_waits", "Innodb_row_lock_time", "Innodb_log_waits", "Innodb_buffer_pool_wait_free")


class ServerWaits:
    """``with ServerWaits(server) as waits:``; afterwards ``waits.grown`` holds what each counter gained."""

    def __init__(self, server: ThrowawayMariaDB) -> None:
        self.server = server
        self.grown: dict[str, int] = {}
        self._before: dict[str, int] = {}

    def _read(self) -> dict[str, int]:
        with self.server.root_connection() as conn, conn.cursor() as cur:
            return global_status(cur, WAIT_COUNTERS)

    def __enter__(self) -> ServerWaits:
        self._before = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self._read()
        self.grown = {name: after[name] - self._before.get(name, 0) for name in after}


class GarbageCollections:
    """``with GarbageCollections(where) as collections:``: how long the cyclic garbage collector ran inside
    the block, in seconds, in all and per whatever ``where()`` names at each collection (a benchmark's
    phase), and how many collections of each generation it made."""

    def __init__(self, where: Callable[[], str] = lambda: "run") -> None:
        self.where = where
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self.seconds_where: dict[str, float] = {}
        self._started = 0.0

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        self.seconds += seconds
        self.collections[info["generation"]] += 1
        label = self.where()
        self.seconds_where[label] = self.seconds_where.get(label, 0.0) + seconds

    def __enter__(self) -> GarbageCollections:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._note)

    def figures(self) -> dict[str, Any]:
        return {"gc_seconds": round(self.seconds, 2), "gc_collections_by_generation": self.collections,
                "gc_seconds_by_phase": {label: round(seconds, 2) for label, seconds in sorted(
                    self.seconds_where.items(), key=lambda item: -item[1]) if seconds >= 0.01}}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_result(figures: dict[str, Any]) -> None:
    """Human lines first; the last line is one JSON object, for scripts and closing notes."""
    for key, value in figures.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            print(f"{key:>40}:")
            for name, row in value.items():
                print(f"{name:>44}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            print(f"{key:>40}:")
            for row in value:
                print(" " * 42 + json.dumps(row))
        else:
            print(f"{key:>40}: {value}")
    print(json.dumps(figures, sort_keys=True))
