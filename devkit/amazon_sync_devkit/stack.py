"""The one local stack the tests, the benchmarks and the demo run on.

- ``create_shop_database``: a database in a throwaway MariaDB with PrestaShop's tables, the event log and,
  where wanted, the capture triggers.
- ``provision``: what template.yaml would create in AWS (the document bucket, the state table, the SP-API
  secret and, where wanted, the database secret and the idempotency table), the marketplace configuration
  file, and the environment the functions read. The same whether AWS is moto inside this process
  (``mock_aws`` and an in-process simulator: the tests) or processes of their own
  (``local_processes.LocalProcesses``: moto_server and the simulator for the demo and the benchmarks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pymysql
import pymysql.cursors

from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.schema import Tables, install, install_triggers
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.config import SyncConfig
from amazon_sync_devkit.aws_fixtures import REGION, create_idempotency_table, create_state_table
from amazon_sync_devkit.mariadb_server import ThrowawayMariaDB
from amazon_sync_devkit.prestashop import create_prestashop_tables
from amazon_sync_devkit.simulator.amazon import SimulatorConfig


def create_shop_database(server: ThrowawayMariaDB, name: str, *, prefix: str = "ps_", triggers: bool = True
                         ) -> tuple[DatabaseSettings, pymysql.connections.Connection[pymysql.cursors.Cursor]]:
    """A new database on ``server`` with PrestaShop's tables, the event log and (``triggers``) the capture
    triggers; its settings and an open connection to it."""
    with server.root_connection() as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    settings = DatabaseSettings(host="127.0.0.1", port=server.port, user="root", database=name,
                                table_prefix=prefix)
    tables = Tables(prefix)
    conn = connect(settings)
    create_prestashop_tables(conn, tables)
    install(conn, tables)
    if triggers:
        install_triggers(conn, tables)
    return settings, conn


@dataclass(frozen=True)
class Provisioned:
    """What ``provision`` created, and the environment the functions (and ``Runtime.from_env``) read."""

    bucket: str
    state_table: str
    config_path: Path
    spapi_secret_arn: str
    env: dict[str, str]


def provision(name: str, *, simulator_url: str, simulator: SimulatorConfig, database: DatabaseSettings,
              config: dict[str, Any], config_dir: Path, database_secret: bool = False,
              idempotency_table: bool = False, lease_seconds: float | None = None) -> Provisioned:
    """Create the stack's AWS resources in the current AWS (moto), named after ``name``, and write the
    marketplace configuration (validated first) to ``config_dir``.

    The database is reached with DB_* variables, or with ``database_secret`` through an RDS-style secret
    as in AWS.
    """
    SyncConfig.model_validate(config)
    config_path = config_dir / "marketplaces.json"
    config_path.write_text(json.dumps(config, indent=2))
    bucket, state_table = f"{name}-documents", f"{name}-state"
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    create_state_table(state_table)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    spapi_secret = secrets.create_secret(Name=f"{name}/sp-api", SecretString=json.dumps({
        "lwa_app_id": simulator.client_id, "lwa_client_secret": simulator.client_secret,
        "refresh_token": simulator.refresh_tokens[0]}))["ARN"]
    env = {"STATE_TABLE": state_table, "DOCUMENT_BUCKET": bucket, "CONFIG_SOURCE": str(config_path),
           "SPAPI_SECRET_ARN": spapi_secret, "SPAPI_ENDPOINT_URL": simulator_url,
           "LWA_TOKEN_URL": f"{simulator_url}/auth/o2/token", "DB_TABLE_PREFIX": database.table_prefix,
           # the functions honour the simulator's endpoints only when told this is local development
           "AMAZON_SYNC_LOCAL_DEVELOPMENT": "true"}
    if database_secret:
        env["DB_SECRET_ARN"] = secrets.create_secret(Name=f"{name}/database", SecretString=json.dumps({
            "engine": "mariadb", "host": database.host, "port": database.port, "username": database.user,
            "password": database.password.get_secret_value(), "dbname": database.database}))["ARN"]
    else:
        env.update({"DB_HOST": database.host, "DB_PORT": str(database.port), "DB_USER": database.user,
                    "DB_PASSWORD": database.password.get_secret_value(), "DB_NAME": database.database})
    if idempotency_table:
        env["IDEMPOTENCY_TABLE"] = f"{name}-idempotency"
        create_idempotency_table(env["IDEMPOTENCY_TABLE"])
    if lease_seconds is not None:
        env["EXPORT_LEASE_SECONDS"] = str(int(lease_seconds))
    return Provisioned(bucket, state_table, config_path, spapi_secret, env)
