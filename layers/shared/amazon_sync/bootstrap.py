"""Building the export and acknowledgment services from the environment.

The Lambda functions, the operator CLI and the local run all go through here, so the local stack
(moto_server, the simulator, a throwaway MariaDB) exercises exactly what runs in AWS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql
from pydantic import BaseModel, Field, ValidationError

from amazon_sync.adapters.dynamodb import StateStore
from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import Tables, require_log
from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.adapters.s3 import S3DocumentStore
from amazon_sync.adapters.secrets import secret_string
from amazon_sync.adapters.spapi import FeedsGateway, RetryPolicy, SpApiCredentials, SpApiEndpoints, SpApiFeeds
from amazon_sync.config import SyncConfig, load_config
from amazon_sync.errors import ConfigurationError
from amazon_sync.services.acknowledge import Acknowledger, AckSettings
from amazon_sync.services.export import Exporter


class RuntimeSettings(BaseModel):
    state_table: str = Field(min_length=1)
    document_bucket: str = Field(min_length=1)
    config_source: str = Field(min_length=1)
    spapi_secret_arn: str = Field(min_length=1)
    spapi_endpoint_url: str | None = None  # the simulator's URL locally; unset for Amazon
    lwa_token_url: str | None = None
    lease_seconds: float = Field(default=900.0, ge=60)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RuntimeSettings:
        env = dict(os.environ) if env is None else env
        names = {"STATE_TABLE": "state_table", "DOCUMENT_BUCKET": "document_bucket",
                 "CONFIG_SOURCE": "config_source", "SPAPI_SECRET_ARN": "spapi_secret_arn",
                 "SPAPI_ENDPOINT_URL": "spapi_endpoint_url", "LWA_TOKEN_URL": "lwa_token_url",
                 "EXPORT_LEASE_SECONDS": "lease_seconds"}
        values = {field_: env[name] for name, field_ in names.items() if env.get(name)}
        try:
            return cls(**values)
        except ValidationError as exc:
            missing = [names_by_field(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
            if missing:
                raise ConfigurationError(f"environment variable(s) {', '.join(missing)} not set") from None
            raise ConfigurationError(f"runtime settings are invalid: {exc}") from None


def names_by_field(field_name: object) -> str:
    return {"state_table": "STATE_TABLE", "document_bucket": "DOCUMENT_BUCKET", "config_source": "CONFIG_SOURCE",
            "spapi_secret_arn": "SPAPI_SECRET_ARN"}.get(str(field_name), str(field_name))


@dataclass
class Runtime:
    settings: RuntimeSettings
    database: DatabaseSettings
    config: SyncConfig
    state: StateStore
    store: S3DocumentStore
    credentials: SpApiCredentials
    _conn: Any = None
    _gateways: dict[str, SpApiFeeds] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Runtime:
        env = dict(os.environ) if env is None else env
        settings = RuntimeSettings.from_env(env)
        database = DatabaseSettings.from_env(env, secret_string)
        try:
            credentials = SpApiCredentials.model_validate_json(secret_string(settings.spapi_secret_arn))
        except ValidationError as exc:
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
            raise ConfigurationError(f"SP-API secret {settings.spapi_secret_arn} lacks or has bad: {fields}") from None
        except ConfigurationError:
            raise
        except Exception as exc:  # Powertools raises GetParameterError for every Secrets Manager failure
            raise ConfigurationError(f"cannot read SP-API secret {settings.spapi_secret_arn}: {exc}") from None
        return cls(settings, database, load_config(settings.config_source), StateStore(settings.state_table),
                   S3DocumentStore(settings.document_bucket), credentials)

    @property
    def tables(self) -> Tables:
        return Tables(self.database.table_prefix)

    def connection(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """One connection per execution environment, checked (and reopened) before each use."""
        if self._conn is not None:
            try:
                self._conn.ping()
                return self._conn  # type: ignore[no-any-return]
            except pymysql.err.Error:
                self._conn.close()
                self._conn = None
        self._conn = connect(self.database)
        require_log(self._conn, self.tables)
        return self._conn  # type: ignore[no-any-return]

    def gateway_for(self, deadline: Callable[[], float] | None = None,
                    on_throttle: Callable[[str], None] | None = None) -> Callable[[str], FeedsGateway]:
        endpoints = SpApiEndpoints(api_url=self.settings.spapi_endpoint_url, token_url=self.settings.lwa_token_url)

        def build(marketplace_id: str) -> FeedsGateway:
            gateway = self._gateways.get(marketplace_id)
            if gateway is None:
                gateway = self._gateways[marketplace_id] = SpApiFeeds(self.credentials, marketplace_id, endpoints,
                                                                      RetryPolicy())
            # the client (and its token) outlives an invocation; the deadline and the counters do not
            gateway.deadline, gateway.on_throttle = deadline, on_throttle
            return gateway

        return build

    def exporter(self, remaining_seconds: Callable[[], float] = lambda: 900.0,
                 on_throttle: Callable[[str], None] | None = None, **overrides: Any) -> Exporter:
        conn = self.connection()
        return Exporter(log=EventLog(conn, self.tables), reader=OfferReader(conn, self.tables, self.config.sku_field),
                        config=self.config, state=self.state, store=self.store,
                        gateway_for=self.gateway_for(remaining_seconds, on_throttle),
                        remaining_seconds=remaining_seconds, lease_seconds=self.settings.lease_seconds, **overrides)

    def acknowledger(self, remaining_seconds: Callable[[], float] = lambda: 300.0,
                     settings: AckSettings | None = None, **overrides: Any) -> Acknowledger:
        conn = self.connection()
        return Acknowledger(log=EventLog(conn, self.tables), state=self.state, store=self.store,
                            gateway_for=self.gateway_for(remaining_seconds), config=self.config,
                            settings=settings or AckSettings(
                                lease_seconds=self.settings.lease_seconds,
                                temporary_codes=tuple(self.config.temporary_issue_codes)),
                            remaining_seconds=remaining_seconds, **overrides)


_shared: Runtime | None = None


def shared_runtime() -> Runtime:
    """One Runtime per execution environment: connections, tokens and secrets outlive invocations."""
    global _shared  # noqa: PLW0603
    if _shared is None:
        _shared = Runtime.from_env()
    return _shared


def use_runtime(runtime: Runtime | None) -> None:
    """Install (or, with None, forget) the shared Runtime: the local run and the tests build their own."""
    global _shared  # noqa: PLW0603
    _shared = runtime
