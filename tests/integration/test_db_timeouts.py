"""Finding 4 of issue 16: a database that stops answering fails the statement within the read timeout
instead of holding the run (and the export's lease) until the Lambda timeout."""

from __future__ import annotations

import dataclasses
import threading

import pymysql
import pytest

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.services.export import ExportRequest
from amazon_sync_devkit.tcp_proxy import FreezableProxy
from tests.integration.test_export import change_stock

LIVENESS_LIMIT = 60  # seconds: only to keep a broken build from hanging; the timeout under test is 2 s


def run_in_thread(work):
    outcome: dict[str, object] = {}

    def target():
        try:
            outcome["result"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(LIVENESS_LIMIT)
    assert not thread.is_alive(), "the statement is still waiting for a database that stopped answering"
    return outcome


def test_defaults_bound_every_read_and_write(shop_db):
    settings = shop_db.settings
    assert settings.read_timeout and settings.write_timeout
    conn = connect(settings)
    assert conn._read_timeout == settings.read_timeout and conn._write_timeout == settings.write_timeout
    conn.close()


def test_a_query_to_a_silent_server_fails_within_the_read_timeout(shop_db):
    with FreezableProxy(shop_db.server.port) as proxy:
        settings = shop_db.settings.model_copy(update={"port": proxy.port, "read_timeout": 2})
        conn = connect(settings)
        proxy.frozen = True
        outcome = run_in_thread(lambda: conn.cursor().execute("SELECT 1"))
        assert isinstance(outcome.get("error"), pymysql.err.OperationalError)


def test_an_export_against_a_silent_database_fails_and_frees_the_lease(make_stack):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 3)
    with FreezableProxy(stack.db.server.port) as proxy:
        database = stack.runtime.database.model_copy(update={"port": proxy.port, "read_timeout": 2})
        runtime = dataclasses.replace(stack.runtime, database=database, _conn=None, _submit_conn=None,
                                      _gateways={})
        exporter = runtime.exporter()
        proxy.frozen = True
        outcome = run_in_thread(lambda: exporter.run(ExportRequest()))
    # the export reports its failure as one line naming the timeout, as every failed run does (issue 12)
    assert "error" not in outcome, outcome
    assert "Lost connection to MySQL server" in outcome["result"].failure, outcome
    assert stack.runtime.state.lease_holder("export") is None  # the next run is not kept waiting
    summary = stack.export()  # through the healthy connection: the change is still there to send
    assert summary.feeds_submitted == 1


@pytest.mark.parametrize(("name", "value"), [("DB_READ_TIMEOUT", "0"), ("DB_WRITE_TIMEOUT", "-1")])
def test_timeouts_are_settings(name, value):
    from amazon_sync.adapters.mysql.settings import DatabaseSettings
    from amazon_sync.errors import ConfigurationError

    assert DatabaseSettings.from_env({"DB_READ_TIMEOUT": "120"}).read_timeout == 120
    with pytest.raises(ConfigurationError, match=name):
        DatabaseSettings.from_env({name: value})
