"""`amazon-sync` commands against the local stack, including bad arguments and unreachable services."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_sync_cli.main import main
from amazon_sync_devkit.local_processes import free_port
from tests.integration.test_export import change_stock


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("db", "simulator", "status", "export", "poll", "errors", "retry", "config", "reconcile", "drift"):
        assert command in out


@pytest.mark.parametrize("argv", [["nonsense"], ["export", "--fast"], ["config"], ["errors", "--limit", "many"]])
def test_bad_arguments_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_status_export_poll_errors_retry(make_stack, capsys, tmp_path):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 4)
    code, out, _ = run(capsys, "--json", "status")
    assert code == 0 and json.loads(out)["queue_depth"] == 1
    code, out, _ = run(capsys, "export", "--dry-run", "--out", str(tmp_path / "dry"))
    assert code == 0 and "nothing claimed" in out
    assert len(list((tmp_path / "dry").rglob("*.json"))) == 1
    code, out, _ = run(capsys, "export")
    assert code == 0 and "submitted 1 feed(s)" in out
    code, out, _ = run(capsys, "status")
    assert "feeds in flight    1" in out and "IN_FLIGHT" in out
    stack.advance()
    code, out, _ = run(capsys, "poll")
    assert code == 0 and "2 accepted" in out and "1 row(s) deleted" in out
    code, out, _ = run(capsys, "--json", "errors")
    assert code == 0 and json.loads(out)["errors"] == []
    stack.db.sql("INSERT INTO ps_amazon_sync_log (id_product, id_product_attribute, id_shop, change_kind, state) "
                 "VALUES (1, 0, 1, 'stock', 2)")
    code, out, _ = run(capsys, "retry")
    assert code == 0 and "1 failed row(s) back in the queue" in out
    assert stack.log_count(0) == 1


def test_errors_lists_amazons_reason(make_stack, capsys):
    stack = make_stack()
    product, attribute, sku = stack.first_offer()
    stack.amazon.faults.sku_errors = {sku: {"code": "8560", "message": "SKU does not match any ASIN",
                                            "attributeName": "merchant_suggested_asin"}}
    change_stock(stack, product, attribute, 4)
    stack.cycle()
    code, out, _ = run(capsys, "errors", "--sku", sku)
    assert code == 0 and "8560 (merchant_suggested_asin): SKU does not match any ASIN" in out


def test_export_for_an_unknown_marketplace_is_a_clear_error(make_stack, capsys):
    make_stack()
    code, _, err = run(capsys, "export", "--marketplace", "ATVPDKIKX0DER")
    assert code == 1 and "ATVPDKIKX0DER is not configured" in err


def test_config_validate_and_schema(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("marketplaces:\n  - marketplace_id: A13V1IB3VIYZZH\n    seller_id: A1SELLER\n"
                    "    country: FR\n    currency: EUR\n")
    code, out, _ = run(capsys, "config", "validate", str(good))
    assert code == 0 and "is valid: 1 marketplace(s)" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"marketplaces": [{"marketplace_id": "A13V1IB3VIYZZH", "seller_id": "S",
                                                 "country": "France", "currency": "EUR"}]}))
    code, _, err = run(capsys, "config", "validate", str(bad))
    assert code == 1 and "marketplaces.0.country" in err
    code, _, err = run(capsys, "config", "validate", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read configuration file" in err
    code, out, _ = run(capsys, "--json", "config", "schema")
    assert code == 0 and "marketplaces" in json.loads(out)["properties"]


def test_unreachable_database_is_one_clear_line(make_stack, capsys, monkeypatch):
    make_stack()
    monkeypatch.setenv("DB_PORT", str(free_port()))
    code, _, err = run(capsys, "status")
    assert code == 1 and "cannot reach the database" in err and "Traceback" not in err


def test_unreachable_aws_endpoint_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name, value in {"STATE_TABLE": "t", "DOCUMENT_BUCKET": "b", "CONFIG_SOURCE": str(tmp_path / "c.json"),
                        "SPAPI_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "errors")
    assert code == 1 and "SP-API secret" in err and "Traceback" not in err


def test_missing_runtime_settings_are_named(capsys, monkeypatch):
    for name in ("STATE_TABLE", "DOCUMENT_BUCKET", "CONFIG_SOURCE", "SPAPI_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(capsys, "poll")
    assert code == 1 and "STATE_TABLE" in err and "SPAPI_SECRET_ARN" in err


def test_simulator_command_serves_until_stopped():
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "amazon-sync"), "simulator", "--port", str(port)],
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_remote_export_needs_the_function_name_and_says_what_failed(capsys, monkeypatch, aws):
    monkeypatch.delenv("EXPORT_FUNCTION_NAME", raising=False)
    code, _, err = run(capsys, "export", "--remote")
    assert code == 1 and "EXPORT_FUNCTION_NAME" in err
    monkeypatch.setenv("EXPORT_FUNCTION_NAME", "no-such-function")
    code, _, err = run(capsys, "export", "--remote", "--full")
    assert code == 1 and "cannot invoke no-such-function" in err


def test_remote_export_invokes_once_and_waits_as_long_as_the_function_may_run(capsys, monkeypatch):
    """Finding 14 of issue 16: botocore's 60 s read timeout and automatic retries would invoke the
    900 s export twice, into its reserved concurrency of 1. A Lambda endpoint that fails shows it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from amazon_sync_cli.commands.operations import REMOTE_READ_TIMEOUT_SECONDS, lambda_client

    invokes = []

    class FailingLambda(BaseHTTPRequestHandler):
        def do_POST(self):
            invokes.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(502)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"Type": "Service", "message": "bad gateway"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingLambda)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name, value in {"AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{server.server_port}",
                            "EXPORT_FUNCTION_NAME": "shop-sync-ExportFunction", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
            monkeypatch.setenv(name, value)
        code, _, err = run(capsys, "export", "--remote")
    finally:
        server.shutdown()
    assert code == 1 and "cannot invoke shop-sync-ExportFunction" in err
    assert len(invokes) == 1  # botocore's default would have sent it up to 5 times
    assert lambda_client().meta.config.read_timeout >= 900 + 5
    assert REMOTE_READ_TIMEOUT_SECONDS > 900


def test_reconcile_drift_and_status(make_stack, capsys):
    stack = make_stack(reconcile={"settle_seconds": 0})
    stack.amazon.config.queue_seconds = stack.amazon.config.report_seconds = 0  # the CLI waits in real time
    code, out, _ = run(capsys, "export", "--full")
    assert code == 1 and "run `amazon-sync reconcile` first" in out
    code, out, _ = run(capsys, "status")
    assert "never read: full syncs are refused" in out
    skus = stack.list_on_amazon()
    code, out, _ = run(capsys, "reconcile", "--dry-run")
    assert code == 0 and "(would be queued)" in out and stack.log_count() == 0
    code, out, _ = run(capsys, "--json", "reconcile")
    result = json.loads(out)
    assert code == 0 and result["drift"] == len(skus) and result["rows_queued"] == len(skus)
    code, out, _ = run(capsys, "drift")
    assert code == 0 and all(sku in out for sku in skus)
    code, out, _ = run(capsys, "--json", "status")
    amazon = json.loads(out)["amazon_listings"]["marketplaces"]
    assert [(m["listings"], m["drift"]) for m in amazon.values()] == [(len(skus), len(skus))]
    code, out, _ = run(capsys, "drift", "--clear", skus[0])
    assert code == 0 and "1 finding(s) cleared" in out
    code, out, _ = run(capsys, "drift", "--not-on-amazon")
    assert code == 0 and "no not on amazon findings" in out
