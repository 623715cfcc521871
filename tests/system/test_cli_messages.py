"""Every failure an operator may meet gives one line (never a traceback) and the right exit code, and
the text output shows what the operator needs without raw dicts or escapes. One test per case."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from sp_api.auth import access_token_client

from amazon_sync.adapters.dynamodb import SkuError
from amazon_sync_cli.main import main
from amazon_sync_devkit.local_processes import free_port
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from tests.conftest import MARKETPLACE_FR, make_database
from tests.integration.test_export import change_stock

CLI = str(Path(sys.executable).parent / "amazon-sync")


@pytest.fixture(autouse=True)
def quiet_simulator(monkeypatch):
    """The in-process simulator's access log would share stderr with the command's one line."""
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", True)


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amazon-sync: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- exports and polls that could not do their work --------------------------------------------------


def test_export_with_credentials_lwa_refuses_exits_1_with_amazons_reason(make_stack, capsys):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    stack.simulator.config.client_secret = "rotated-secret"  # the secret in Secrets Manager is now wrong
    access_token_client.cache.clear()  # a new process: no access token cached
    code, _, err = run(capsys, "export")
    assert code == 1 and "invalid_client" in one_line_error(err)
    assert stack.log_count(0) == 1  # the change waits in the queue, not claimed
    failure = stack.runtime.state.last_failure("export")
    assert "invalid_client" in failure["reason"]
    code, out, _ = run(capsys, "status")
    assert code == 0 and "last failure" in out and "invalid_client" in out


def test_poll_with_credentials_lwa_refuses_exits_1(make_stack, capsys):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    stack.export()
    stack.simulator.config.client_secret = "rotated-secret"
    access_token_client.cache.clear()
    code, _, err = run(capsys, "poll")
    assert code == 1 and "invalid_client" in one_line_error(err)
    assert "invalid_client" in stack.runtime.state.last_failure("ack")["reason"]


def test_export_with_amazon_unreachable_exits_1(make_stack, capsys, monkeypatch):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SPAPI_ENDPOINT_URL", closed)
    monkeypatch.setenv("LWA_TOKEN_URL", f"{closed}/auth/o2/token")
    access_token_client.cache.clear()
    code, _, err = run(capsys, "export")
    assert code == 1 and "could not do its work" in one_line_error(err)
    assert stack.log_count(0) == 1


def test_export_with_the_feed_budget_used_up_exits_1(make_stack, capsys):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    for _ in range(5):
        stack.runtime.state.note_submission(300)
    code, _, err = run(capsys, "export")
    assert code == 1 and "budget" in one_line_error(err)
    assert stack.log_count(0) == 1


# --- settings and secrets ------------------------------------------------------------------------------


def test_wrong_db_secret_arn_is_one_line(make_stack, capsys, monkeypatch):
    make_stack()
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:no-such-secret")
    code, _, err = run(capsys, "status")
    assert code == 1 and "no-such-secret" in one_line_error(err)


def test_sp_api_secret_that_is_not_json_is_one_line(make_stack, capsys, monkeypatch):
    make_stack()
    arn = boto3.client("secretsmanager").create_secret(Name="not-json", SecretString="lwa-id,secret,token")["ARN"]
    monkeypatch.setenv("SPAPI_SECRET_ARN", arn)
    code, _, err = run(capsys, "poll")
    assert code == 1 and "is not a JSON object" in one_line_error(err)


@pytest.mark.parametrize(("name", "value", "named"), [("DB_PORT", "abc", "DB_PORT"),
                                                      ("DB_TABLE_PREFIX", "ps-", "DB_TABLE_PREFIX")])
def test_bad_database_settings_are_one_line(make_stack, capsys, monkeypatch, name, value, named):
    make_stack()
    monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "status")
    assert code == 1 and named in one_line_error(err)


def test_config_validate_rejects_an_unknown_time_zone(tmp_path, capsys):
    config = tmp_path / "marketplaces.yaml"
    config.write_text("marketplaces:\n  - marketplace_id: A13V1IB3VIYZZH\n    seller_id: A1SELLER\n"
                      "    country: FR\n    currency: EUR\n    shop_timezone: Mars/Olympus\n")
    code, _, err = run(capsys, "config", "validate", str(config))
    assert code == 1 and "Mars/Olympus" in one_line_error(err) and "shop_timezone" in err


# --- the database refusing ---------------------------------------------------------------------------------


def test_db_install_as_a_user_without_create_is_one_line(mariadb, capsys, monkeypatch):
    db = make_database(mariadb, prefix="limited_", triggers=False)
    for table in (db.tables.log, db.tables.offer_state, db.tables.meta):  # a shop where the log was never installed
        db.sql(f"DROP TABLE {table}")
    db.sql("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'pw'")
    db.sql(f"GRANT SELECT, INSERT, UPDATE ON `{db.settings.database}`.* TO 'reader'@'%'")
    for key, value in {"DB_HOST": "127.0.0.1", "DB_PORT": str(mariadb.port), "DB_USER": "reader",
                       "DB_PASSWORD": "pw", "DB_NAME": db.settings.database, "DB_TABLE_PREFIX": "limited_"}.items():
        monkeypatch.setenv(key, value)
    code, _, err = run(capsys, "db", "install")
    line = one_line_error(err)
    assert code == 1 and "1142" in line and "administrative user" in line


def test_db_install_triggers_with_binary_logging_names_the_parameter(capsys, monkeypatch, tmp_path):
    with ThrowawayMariaDB(buffer_pool="32M", binary_log=True) as server:
        db = make_database(server, triggers=False)
        db.sql("CREATE USER 'installer'@'%' IDENTIFIED BY 'pw'")
        db.sql(f"GRANT ALL PRIVILEGES ON `{db.settings.database}`.* TO 'installer'@'%'")  # no SUPER
        for key, value in {"DB_HOST": "127.0.0.1", "DB_PORT": str(server.port), "DB_USER": "installer",
                           "DB_PASSWORD": "pw", "DB_NAME": db.settings.database, "DB_TABLE_PREFIX": "ps_"}.items():
            monkeypatch.setenv(key, value)
        code, _, err = run(capsys, "db", "install", "--triggers")
    assert code == 1 and "log_bin_trust_function_creators" in one_line_error(err)


# --- argument mistakes exit 2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["errors", "--limit", "-1"], ["errors", "--limit", "0"],
                                  ["export", "--out", "/tmp/feeds"], ["simulator", "--port", "99999"],
                                  ["release"]])
def test_argument_mistakes_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# --- text output ---------------------------------------------------------------------------------------


def test_output_to_a_closed_pipe_is_quiet():
    """`amazon-sync … | head -1`: the reader is gone before the command writes (here from the start)."""
    process = subprocess.Popen([CLI, "config", "schema"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_json_is_accepted_after_the_command(make_stack, capsys):
    make_stack()
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["queue_depth"] == 0
    code, out, _ = run(capsys, "errors", "--json", "--limit", "5")
    assert code == 0 and json.loads(out)["errors"] == []


def test_status_text_has_no_raw_dicts_and_errors_no_escapes(make_stack, capsys):
    stack = make_stack()
    stack.runtime.state.record_run("export", {"batch_id": 3})
    stack.runtime.state.record_sku_error(SkuError(marketplace_id=MARKETPLACE_FR, sku="ÉTÉ-1", code="8541",
                                                  message="Écart de données", first_seen=1.0, last_seen=1.0))
    code, out, _ = run(capsys, "status")
    assert code == 0 and "last_runs" not in out and "{" not in out and "last export" in out
    code, out, _ = run(capsys, "errors")
    assert code == 0 and "ÉTÉ-1" in out and "Écart de données" in out and "\\u00" not in out
    code, out, _ = run(capsys, "--json", "errors")
    assert json.loads(out)["errors"][0]["sku"] == "ÉTÉ-1"


def test_a_dry_run_does_not_say_it_claimed_rows(make_stack, capsys, tmp_path):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    code, out, _ = run(capsys, "export", "--dry-run", "--out", str(tmp_path / "dry"))
    assert code == 0 and "nothing claimed" in out and "rows_claimed" not in out and "1 pending row(s)" in out
    assert stack.log_count(0) == 1


def test_poll_shows_progress_on_a_terminal(make_stack, capsys, monkeypatch):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    stack.export()
    stack.advance()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(capsys, "poll")
    # one offer is two messages since quantity and price went into messages of their own
    assert code == 0 and "checked    1 feed(s)" in err and "2 accepted, 0 rejected" in out


def test_release_command_frees_attention_feeds(make_stack, capsys):
    stack = make_stack()
    stack.amazon.faults.corrupt_reports = 1
    change_stock(stack, *stack.catalogue.offers[0], 4)
    feed_id = stack.export().feed_ids[0]
    stack.advance()
    stack.ack()
    code, out, _ = run(capsys, "status")
    assert "needing attention  1" in out and "unreadable processing report" in out
    code, _, err = run(capsys, "release", "--feed", "999")
    assert code == 1 and "999 not in ATTENTION" in one_line_error(err)
    code, out, _ = run(capsys, "release", "--feed", feed_id)
    assert code == 0 and "1 feed(s) released" in out and "1 row(s) back in the queue" in out
    assert stack.log_count(0) == 1
    code, out, _ = run(capsys, "release", "--all")
    assert code == 0 and "0 feed(s) released" in out
