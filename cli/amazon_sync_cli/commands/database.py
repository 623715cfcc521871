"""`amazon-sync db`: the event log and the capture triggers in the shop's database."""

from __future__ import annotations

import argparse
import os
from typing import Any

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.schema import (
    Tables,
    install,
    install_triggers,
    installed_triggers,
    uninstall_triggers,
)
from amazon_sync.adapters.mysql.settings import DatabaseSettings


def _db_settings() -> DatabaseSettings:
    loader = None
    if os.environ.get("DB_SECRET_ARN"):
        from amazon_sync.adapters.secrets import secret_string
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
                for table in (tables.log, tables.offer_state, tables.open_sale, tables.listing, tables.drift,
                              tables.meta):
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                    dropped_tables.append(table.strip("`"))
        remaining = installed_triggers(conn, tables)
    return {"triggers_removed": dropped, "tables_dropped": dropped_tables, "triggers_left": remaining,
            "message": f"{len(dropped)} trigger(s) removed" + (", log tables dropped" if args.drop_log else "")}


def cmd_db_grants(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.adapters.mysql.settings import validate_table_prefix
    from amazon_sync_cli.grants import Account, grants_script, installer_grants, runtime_grants

    database = args.database or os.environ.get("DB_NAME") or "prestashop"
    tables = Tables(validate_table_prefix(args.prefix or os.environ.get("DB_TABLE_PREFIX") or "ps_"))
    runtime = Account(args.user, args.host)
    installer = Account(args.installer, args.host) if args.installer else None
    if args.json:
        return {"runtime": runtime_grants(database, tables, runtime),
                "installer": installer_grants(database, tables, installer) if installer else []}
    return {"text": grants_script(database, tables, runtime, installer).rstrip("\n")}


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="install or remove the event log and the capture triggers")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_install = db_commands.add_parser("install", help="create or upgrade the event log (idempotent)")
    db_install.add_argument("--triggers", action="store_true", help="also (re)install the capture triggers")
    db_install.set_defaults(handler=cmd_db_install)
    db_uninstall = db_commands.add_parser("uninstall", help="remove the capture triggers")
    db_uninstall.add_argument("--triggers", action="store_true", help="remove the triggers (the default)")
    db_uninstall.add_argument("--drop-log", action="store_true", help="also drop the event log tables")
    db_uninstall.set_defaults(handler=cmd_db_uninstall)
    db_grants = db_commands.add_parser(
        "grants", help="print the least-privilege GRANT statements for the sync's database user(s)")
    db_grants.add_argument("--user", required=True, help="the runtime user of the functions and the CLI")
    db_grants.add_argument("--installer", metavar="USER", help="also the grants of a user for `db install`")
    db_grants.add_argument("--host", default="%", help="the users' host part (default '%%')")
    db_grants.add_argument("--database", help="the shop's database (default DB_NAME, else prestashop)")
    db_grants.add_argument("--prefix", help="PrestaShop's table prefix (default DB_TABLE_PREFIX, else ps_)")
    db_grants.set_defaults(handler=cmd_db_grants)
