"""The database privileges the sync needs, and nothing more (`amazon-sync db grants`).

The runtime user (the functions and the operator CLI) reads only the PrestaShop tables the offer reader
uses, and writes only the sync's own tables; the installer user creates those tables and the capture
triggers. Table-level grants keep customers, orders, employees and ps_configuration out of reach.
tests/system/test_least_privilege.py runs the whole pipeline as users holding exactly these grants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from amazon_sync.adapters.mysql.schema import REQUIRED_PRESTASHOP_TABLES, Tables, trigger_tables
from amazon_sync.errors import ConfigurationError

_USER = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
_HOST = re.compile(r"^[A-Za-z0-9_.%:-]{1,255}$")
_DATABASE = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")

# What each of the sync's own tables is used for at run time (adapters/mysql/eventlog.py, listings.py,
# schema.require_log).
RUNTIME_OWN_TABLES = {
    "amazon_sync_log": "SELECT, INSERT, UPDATE, DELETE",   # claim, continuation rows, release, delete
    "amazon_sync_offer_state": "SELECT, INSERT, UPDATE",   # remember / forget what Amazon accepted
    "amazon_sync_open_sale": "SELECT, INSERT, DELETE",      # sales sent without an end: noted, ended
    # the schema version check, the price calendar, the pending listings report (set and cleared)
    "amazon_sync_meta": "SELECT, INSERT, UPDATE, DELETE",
    "amazon_sync_listing": "SELECT, INSERT, UPDATE, DELETE",  # what Amazon shows: upsert, forget delisted SKUs
    "amazon_sync_drift": "SELECT, INSERT, UPDATE, DELETE",    # reconciliation findings: upsert, resolve
}
# The installer creates, upgrades and drops the sync's tables and writes the schema version; the triggers
# run as their definer (the installer), who therefore needs INSERT on the log.
INSTALLER_OWN_TABLES = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP"


@dataclass(frozen=True)
class Account:
    user: str
    host: str = "%"

    def __post_init__(self) -> None:
        if not _USER.fullmatch(self.user):
            raise ConfigurationError(f"user name {self.user!r}: use letters, digits, '_', '.', '-'")
        if not _HOST.fullmatch(self.host):
            raise ConfigurationError(f"host {self.host!r}: use a host name, an address or a pattern with '%'")

    def __str__(self) -> str:
        return f"'{self.user}'@'{self.host}'"


def _database(name: str) -> str:
    if not _DATABASE.fullmatch(name):
        raise ConfigurationError(f"database name {name!r} is not a plain identifier")
    return f"`{name}`"


def runtime_grants(database: str, tables: Tables, account: Account) -> list[str]:
    """Run after `db install`: table-level grants on tables that must already exist."""
    db = _database(database)
    statements = [f"GRANT SELECT ON {db}.{tables.table(name)} TO {account};"
                  for name in sorted(REQUIRED_PRESTASHOP_TABLES)]
    statements += [f"GRANT {privileges} ON {db}.{tables.table(name)} TO {account};"
                   for name, privileges in RUNTIME_OWN_TABLES.items()]
    statements.append(f"ALTER USER {account} REQUIRE SSL;")
    return statements


def installer_grants(database: str, tables: Tables, account: Account) -> list[str]:
    """Run before `db install`: the grants on the sync's tables include CREATE, so they may name tables
    that do not exist yet."""
    db = _database(database)
    statements = [f"GRANT {INSTALLER_OWN_TABLES} ON {db}.{tables.table(name)} TO {account};"
                  for name in RUNTIME_OWN_TABLES]
    triggered = set(trigger_tables(tables))
    for name in sorted(REQUIRED_PRESTASHOP_TABLES):
        privileges = "SELECT, TRIGGER" if name in triggered else "SELECT"
        statements.append(f"GRANT {privileges} ON {db}.{tables.table(name)} TO {account};")
    statements.append(f"ALTER USER {account} REQUIRE SSL;")
    return statements


def grants_script(database: str, tables: Tables, runtime: Account, installer: Account | None) -> str:
    lines = ["-- prestashop-amazon-sync: least-privilege grants (amazon-sync db grants)",
             f"-- Create the user(s) first, e.g. CREATE USER {runtime} IDENTIFIED BY '...';",
             "-- (or IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' for RDS IAM authentication)."]
    if installer is not None:
        lines += ["", f"-- 1. The installer {installer}: before `amazon-sync db install --triggers`."]
        lines += installer_grants(database, tables, installer)
        lines += ["", f"-- 2. The runtime user {runtime}: after `amazon-sync db install` (the tables must exist)."]
    else:
        lines += ["", f"-- The runtime user {runtime}: after `amazon-sync db install` (the tables must exist)."]
    lines += runtime_grants(database, tables, runtime)
    return "\n".join(lines) + "\n"
