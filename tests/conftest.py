"""Shared fixtures: one throwaway MariaDB per test session, a fresh database per test."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.schema import Tables
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync_devkit.aws_fixtures import aws_environment
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.stack import create_shop_database

# Tests only ever talk to moto: fake credentials, so nothing can reach a real AWS account.
os.environ.update(aws_environment())
os.environ.pop("AWS_PROFILE", None)

ROOT = Path(__file__).resolve().parents[1]
# Amazon's official models and PrestaShop's real schema, next to the project (AMAZON_SYNC_SHARED elsewhere).
SHARED = Path(os.environ.get("AMAZON_SYNC_SHARED") or ROOT.parent / "shared")
# The Lambda handlers are top-level modules in their function folders, as Lambda loads them.
for _folder in ("functions/export", "functions/ack", "functions/reconcile"):
    if str(ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(ROOT / _folder))
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PrestaShopAmazonSync")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "prestashop-amazon-sync")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("IDEMPOTENCY_TABLE", "sync-idempotency")
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _no_login_from_an_earlier_test() -> None:
    """python-amazon-sp-api caches access tokens for the whole process, keyed by the token URL. Each test
    starts its own simulator on a free port, which the OS may give again to a later test: that test's
    first call would then carry a token its simulator never issued, be refused with a 403 and counted."""
    token_client = sys.modules.get("sp_api.auth.access_token_client")
    if token_client is not None:
        token_client.cache.clear()
        token_client.grantless_cache.clear()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[ThrowawayMariaDB]:
    with ThrowawayMariaDB() as server:
        yield server


@dataclass
class ShopDatabase:
    server: ThrowawayMariaDB
    settings: DatabaseSettings
    tables: Tables
    conn: pymysql.connections.Connection[pymysql.cursors.Cursor]

    def sql(self, statement: str, args: object = None) -> list[tuple[object, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def scalar(self, statement: str, args: object = None) -> object:
        rows = self.sql(statement, args)
        return rows[0][0] if rows else None

    def new_connection(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return connect(self.settings)


def make_database(server: ThrowawayMariaDB, prefix: str = "ps_", triggers: bool = True) -> ShopDatabase:
    settings, conn = create_shop_database(server, f"shop_{next(_counter)}", prefix=prefix, triggers=triggers)
    return ShopDatabase(server, settings, Tables(prefix), conn)


@pytest.fixture
def shop_db(mariadb: ThrowawayMariaDB) -> Iterator[ShopDatabase]:
    db = make_database(mariadb)
    yield db
    db.conn.close()
    with mariadb.root_connection() as root, root.cursor() as cur:
        cur.execute(f"DROP DATABASE `{db.settings.database}`")


@contextlib.contextmanager
def service_log() -> Iterator[list[logging.LogRecord]]:
    """The records that reach the service's logger: in Lambda, the handler's Powertools ``Logger``, whose
    handler writes them as JSON lines with their ``extra`` keys."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    service = logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"])
    service.addHandler(handler)
    try:
        yield records
    finally:
        service.removeHandler(handler)


# --- the SP-API simulator -------------------------------------------------------------------------

def shared(folder: str) -> Path:
    """A folder of ../shared. The tests that need it check our code against Amazon's and PrestaShop's own
    files: without it they fail, saying so, rather than pass with their checks switched off."""
    path = SHARED / folder
    if not path.is_dir():
        pytest.fail(f"{path} is missing: conformance checks need Amazon's models and PrestaShop's schema in "
                    "../shared next to the project (or set AMAZON_SYNC_SHARED to where they are)", pytrace=False)
    return path


MARKETPLACE_FR = "A13V1IB3VIYZZH"


class AmazonModels:
    """Validators built from Amazon's official models in ../shared."""

    def __init__(self, folder: Path) -> None:
        import json

        import jsonschema

        self.folder = folder
        feeds = json.loads((folder / "feeds_2021-06-30.json").read_text())
        self.definitions = feeds["definitions"]
        listings = json.loads((folder / "listingsItems_2021-08-01.json").read_text())
        self.listings_definitions = listings["definitions"]
        self.reports_definitions = json.loads((folder / "reports_2021-06-30.json").read_text())["definitions"]
        self.report = jsonschema.Draft7Validator(
            json.loads((folder / "listings-feed-processing-report-schema-v2.json").read_text()))
        self.feed = jsonschema.Draft7Validator(
            json.loads((folder / "listings-feed-schema-v2.json").read_text()))
        self.notification = jsonschema.Draft7Validator(
            json.loads((folder / "FeedProcessingFinishedNotification.json").read_text()))

    def feeds_validator(self, definition: str):
        import jsonschema

        return jsonschema.Draft4Validator({"definitions": self.definitions, "$ref": f"#/definitions/{definition}"})

    def listings_validator(self, definition: str):
        import jsonschema

        return jsonschema.Draft4Validator({"definitions": self.listings_definitions,
                                           "$ref": f"#/definitions/{definition}"})

    def reports_validator(self, definition: str):
        import jsonschema

        return jsonschema.Draft4Validator({"definitions": self.reports_definitions,
                                           "$ref": f"#/definitions/{definition}"})


RESPONSE_DEFINITIONS = {
    ("createFeedDocument", 201): "CreateFeedDocumentResponse",
    ("createFeed", 202): "CreateFeedResponse",
    ("getFeed", 200): "Feed",
    ("getFeeds", 200): "GetFeedsResponse",
    ("getFeedDocument", 200): "FeedDocument",
}
LISTINGS_RESPONSE_DEFINITIONS = {("patchListingsItem", 200): "ListingsItemSubmissionResponse"}
REPORTS_RESPONSE_DEFINITIONS = {
    ("createReport", 202): "CreateReportResponse",
    ("getReport", 200): "Report",
    ("getReportDocument", 200): "ReportDocument",
}


@pytest.fixture(scope="session")
def amazon_models() -> AmazonModels:
    return AmazonModels(shared("amazon-models"))


def check_simulator_conformance(models, responses, simulator) -> list[str]:
    """Every Feeds API body against the Feeds model, every report and notification against its schema."""
    import gzip
    import json

    problems = []
    for operation, status, reply in responses:
        if operation is None or operation == "token" or reply.raw is not None or reply.body is None:
            continue
        if operation == "patchListingsItem":
            definition = "ErrorList" if status >= 400 else LISTINGS_RESPONSE_DEFINITIONS.get((operation, status))
            validator = models.listings_validator(definition) if definition else None
        elif operation in {op for op, _ in REPORTS_RESPONSE_DEFINITIONS}:
            definition = "ErrorList" if status >= 400 else REPORTS_RESPONSE_DEFINITIONS.get((operation, status))
            validator = models.reports_validator(definition) if definition else None
        else:
            definition = "ErrorList" if status >= 400 else RESPONSE_DEFINITIONS.get((operation, status))
            validator = models.feeds_validator(definition) if definition else None
        if validator is None:
            continue
        for err in validator.iter_errors(reply.body):
            problems.append(f"{operation} {status} vs {definition}: {err.message}")
    amazon = simulator.amazon
    for feed in amazon.feeds.values():
        if feed.result_document_id:
            raw = amazon.documents[feed.result_document_id].data
            try:
                report = json.loads(gzip.decompress(raw))
            except (OSError, ValueError):
                continue  # a deliberately corrupt report
            problems.extend(f"report of {feed.feed_id}: {e.message}" for e in models.report.iter_errors(report))
    for notification in amazon.notifications:
        problems.extend(f"notification: {e.message}" for e in models.notification.iter_errors(notification))
    return problems


@pytest.fixture
def simulator(amazon_models):
    from amazon_sync_devkit.simulator.amazon import SimulatorConfig
    from amazon_sync_devkit.simulator.clock import Clock
    from amazon_sync_devkit.simulator.http import SimulatorServer

    responses = []
    server = SimulatorServer(SimulatorConfig(), clock=Clock(manual=True),
                             observe=lambda op, status, reply: responses.append((op, status, reply)))
    with server:
        yield server
    problems = check_simulator_conformance(amazon_models, responses, server)
    assert not problems, "simulator answers that do not match Amazon's models:\n" + "\n".join(problems[:20])


@pytest.fixture
def sp_credentials():
    from amazon_sync.adapters.spapi import SpApiCredentials

    return SpApiCredentials(lwa_app_id="amzn1.application-oa2-client.local", lwa_client_secret="local-secret",
                            refresh_token="Atzr|local-refresh-token")


@pytest.fixture
def feeds_api(simulator, sp_credentials):
    from amazon_sync.adapters.spapi import RetryPolicy, SpApiEndpoints, SpApiFeeds

    return SpApiFeeds(sp_credentials, MARKETPLACE_FR,
                      SpApiEndpoints(api_url=simulator.url, token_url=f"{simulator.url}/auth/o2/token"),
                      retry=RetryPolicy(attempts=1))


pytest_plugins = ["tests.stack"]
