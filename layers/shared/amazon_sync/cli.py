"""`amazon-sync`: the operator's command line.

Exit codes: 0 success, 1 the operation failed (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amazon_sync.db.connection import connect
from amazon_sync.db.schema import (
    Tables,
    install,
    install_triggers,
    installed_triggers,
    uninstall_triggers,
)
from amazon_sync.db.settings import DatabaseSettings
from amazon_sync.errors import SyncError

Handler = Callable[[argparse.Namespace], dict[str, Any]]


def _db_settings() -> DatabaseSettings:
    loader = None
    if os.environ.get("DB_SECRET_ARN"):
        from amazon_sync.aws import secret_string
        loader = secret_string
    return DatabaseSettings.from_env(dict(os.environ), loader)


def cmd_db_install(args: argparse.Namespace) -> dict[str, Any]:
    settings = _db_settings()
    tables = Tables(settings.table_prefix)
    with connect(settings) as conn:
        applied = install(conn, tables)
        triggers = install_triggers(conn, tables) if args.triggers else []
    return {"migrations_applied": applied, "triggers_installed": triggers,
            "message": f"event log ready ({len(applied)} migration(s) applied"
                       + (f", {len(triggers)} triggers installed)" if args.triggers else ")")}


def cmd_db_uninstall(args: argparse.Namespace) -> dict[str, Any]:
    settings = _db_settings()
    tables = Tables(settings.table_prefix)
    with connect(settings) as conn:
        dropped = uninstall_triggers(conn, tables)
        dropped_tables: list[str] = []
        if args.drop_log:
            with conn.cursor() as cur:
                for table in (tables.log, tables.offer_state, tables.meta):
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                    dropped_tables.append(table.strip("`"))
        remaining = installed_triggers(conn, tables)
    return {"triggers_removed": dropped, "tables_dropped": dropped_tables, "triggers_left": remaining,
            "message": f"{len(dropped)} trigger(s) removed" + (", log tables dropped" if args.drop_log else "")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amazon-sync",
        description="Keep a PrestaShop shop's stock and prices on Amazon in step. Database settings come from "
                    "DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, DB_TABLE_PREFIX (or DB_SECRET_ARN).")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="install or remove the event log and the capture triggers")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_install = db_commands.add_parser("install", help="create or upgrade the event log (idempotent)")
    db_install.add_argument("--triggers", action="store_true", help="also (re)install the capture triggers")
    db_install.set_defaults(handler=cmd_db_install)
    db_uninstall = db_commands.add_parser("uninstall", help="remove the capture triggers")
    db_uninstall.add_argument("--triggers", action="store_true", help="remove the triggers (the default)")
    db_uninstall.add_argument("--drop-log", action="store_true", help="also drop the event log tables")
    db_uninstall.set_defaults(handler=cmd_db_uninstall)

    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


# Later modules (export, acknowledgment, simulator, status) add their sub-commands here, so that this
# module only imports what a command needs.
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str, sort_keys=True))
        return
    message = result.get("message")
    if message:
        print(message)
    for key, value in result.items():
        if key not in {"message", "text"}:
            if isinstance(value, list | dict) and not value:
                continue
            print(f"  {key}: {value if not isinstance(value, list | dict) else json.dumps(value, default=str)}")
    if "text" in result:
        print(result["text"])


def _fail(message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": message}))
    else:
        print(f"amazon-sync: error: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    from amazon_sync import cli_commands  # noqa: F401  (registers the other sub-commands)

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except SyncError as exc:
        return _fail(str(exc), args.json)
    except (BotoCoreError, ClientError) as exc:
        return _fail(f"AWS: {exc} (check AWS credentials, region and AWS_ENDPOINT_URL)", args.json)
    except KeyboardInterrupt:
        print("amazon-sync: interrupted", file=sys.stderr)
        return 130
    _print(result, args.json)
    return int(result.get("exit_code", 0))


if __name__ == "__main__":
    sys.exit(main())
