"""Building the export and acknowledgment services from the environment.

The Lambda functions, the operator CLI and the local run all go through here, so the local stack
(moto_server, the simulator, a throwaway MariaDB) exercises exactly what runs in AWS.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pymysql
from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from amazon_sync.adapters.dynamodb import StateStore
from amazon_sync.adapters.mysql.connection import connect
from amazon_sync.adapters.mysql.eventlog import EventLog
from amazon_sync.adapters.mysql.listings import AmazonListings
from amazon_sync.adapters.mysql.offers import OfferReader
from amazon_sync.adapters.mysql.schema import Tables, require_log
from amazon_sync.adapters.mysql.settings import DatabaseSettings, describe_errors
from amazon_sync.adapters.s3 import S3DocumentStore
from amazon_sync.adapters.secrets import secret_reader, secret_string
from amazon_sync.adapters.spapi import (
    FeedsGateway,
    ListingsGateway,
    RetryPolicy,
    SpApiCredentials,
    SpApiEndpoints,
    SpApiFeeds,
    SpApiListings,
)
from amazon_sync.config import SyncConfig, load_config
from amazon_sync.errors import ConfigurationError, DatabaseAccessDenied

if TYPE_CHECKING:
    # Each function imports the service it runs when it first builds it: the export's cold start does
    # not pay for the acknowledgment's, the reconciliation's or the Reports client's modules.
    from amazon_sync.adapters.reports import ReportsGateway, SpApiReports
    from amazon_sync.services.acknowledge import Acknowledger, AckSettings
    from amazon_sync.services.export import Exporter
    from amazon_sync.services.reconcile import Reconciler

logger = Logger(child=True)
# How long a warm execution environment keeps the secrets, the configuration and its connection before
# reading them again: a rotated password or an edited configuration is picked up within this time.
RUNTIME_MAX_AGE_SECONDS = 300.0

# The switch that lets SPAPI_ENDPOINT_URL / LWA_TOKEN_URL point the SP-API client away from Amazon: the
# simulator, the tests, the demo and the benchmarks set it; the template never does.
LOCAL_DEVELOPMENT = "AMAZON_SYNC_LOCAL_DEVELOPMENT"


def checked_endpoints(api_url: str | None, token_url: str | None, *, local_development: bool) -> SpApiEndpoints:
    """The SP-API endpoint overrides, refused without the local-development switch (ValueError)."""
    overridden = [name for name, value in (("SPAPI_ENDPOINT_URL", api_url), ("LWA_TOKEN_URL", token_url)) if value]
    if overridden and not local_development:
        raise ValueError(f"{' and '.join(overridden)} would send the SP-API credentials away from Amazon: "
                         f"they are honoured only with {LOCAL_DEVELOPMENT}=true (the local simulator)")
    return SpApiEndpoints(api_url=api_url, token_url=token_url)  # https unless this machine


def endpoints_from_env(env: dict[str, str]) -> SpApiEndpoints:
    """The same rule for commands that need only the SP-API (``amazon-sync notifications``)."""
    local = env.get(LOCAL_DEVELOPMENT, "").strip().lower() in ("1", "true", "yes", "on")
    try:
        return checked_endpoints(env.get("SPAPI_ENDPOINT_URL") or None, env.get("LWA_TOKEN_URL") or None,
                                 local_development=local)
    except ValidationError as exc:
        raise ConfigurationError(f"SP-API endpoints are invalid: {describe_errors(exc)}") from None
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)
    state_table: str = Field(min_length=1)
    document_bucket: str = Field(min_length=1)
    config_source: str = Field(min_length=1)
    spapi_secret_arn: str = Field(min_length=1)
    spapi_endpoint_url: str | None = None  # the simulator's URL locally; unset for Amazon
    lwa_token_url: str | None = None
    local_development: bool = False
    lease_seconds: float = Field(default=900.0, ge=60)

    @model_validator(mode="after")
    def _overrides_only_for_local_development(self) -> RuntimeSettings:
        checked_endpoints(self.spapi_endpoint_url, self.lwa_token_url, local_development=self.local_development)
        return self

    @property
    def endpoints(self) -> SpApiEndpoints:
        return SpApiEndpoints(api_url=self.spapi_endpoint_url, token_url=self.lwa_token_url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RuntimeSettings:
        env = dict(os.environ) if env is None else env
        names = {"STATE_TABLE": "state_table", "DOCUMENT_BUCKET": "document_bucket",
                 "CONFIG_SOURCE": "config_source", "SPAPI_SECRET_ARN": "spapi_secret_arn",
                 "SPAPI_ENDPOINT_URL": "spapi_endpoint_url", "LWA_TOKEN_URL": "lwa_token_url",
                 "EXPORT_LEASE_SECONDS": "lease_seconds", LOCAL_DEVELOPMENT: "local_development"}
        values = {field_: env[name] for name, field_ in names.items() if env.get(name)}
        try:
            return cls(**values)
        except ValidationError as exc:
            missing = [names_by_field(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
            if missing:
                raise ConfigurationError(f"environment variable(s) {', '.join(missing)} not set") from None
            raise ConfigurationError(f"runtime settings are invalid: {describe_errors(exc, FIELD_NAMES)}") from None


FIELD_NAMES = {"state_table": "STATE_TABLE", "document_bucket": "DOCUMENT_BUCKET", "config_source": "CONFIG_SOURCE",
               "spapi_secret_arn": "SPAPI_SECRET_ARN", "spapi_endpoint_url": "SPAPI_ENDPOINT_URL",
               "lwa_token_url": "LWA_TOKEN_URL", "lease_seconds": "EXPORT_LEASE_SECONDS",
               "local_development": LOCAL_DEVELOPMENT}


def names_by_field(field_name: object) -> str:
    return FIELD_NAMES.get(str(field_name), str(field_name))


@dataclass
class Runtime:
    settings: RuntimeSettings
    database: DatabaseSettings
    config: SyncConfig
    state: StateStore
    store: S3DocumentStore
    credentials: SpApiCredentials
    _conn: Any = None
    _submit_conn: Any = None  # the export's feed-submitting thread's own connection
    _gateways: dict[str, SpApiFeeds] = field(default_factory=dict)
    env: dict[str, str] | None = None  # what it was built from, to read the secrets again after a rotation
    _listings: dict[str, SpApiListings] = field(default_factory=dict)
    _reports: dict[str, SpApiReports] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Runtime:
        env = dict(os.environ) if env is None else env
        settings = RuntimeSettings.from_env(env)
        read_secret = secret_reader()
        database = DatabaseSettings.from_env(env, read_secret)
        credentials = read_credentials(settings.spapi_secret_arn, read_secret)
        return cls(settings, database, load_config(settings.config_source), StateStore(settings.state_table),
                   S3DocumentStore(settings.document_bucket), credentials, env=env)

    def reload_credentials(self) -> SpApiCredentials | None:
        """The SP-API secret read again after LWA refused it: the new credentials, None when unchanged."""
        fresh = read_credentials(self.settings.spapi_secret_arn)
        if fresh == self.credentials:
            return None
        logger.warning("SP-API credentials changed in %s: using the new ones", self.settings.spapi_secret_arn)
        self.credentials = fresh
        self._gateways.clear()  # the other marketplaces' clients log in with the new credentials too
        return fresh

    def close(self) -> None:
        for name in ("_conn", "_submit_conn"):
            conn = getattr(self, name)
            if conn is not None:
                with contextlib.suppress(Exception):  # a connection already gone is closed enough
                    conn.close()
                setattr(self, name, None)

    @property
    def tables(self) -> Tables:
        return Tables(self.database.table_prefix)

    def connection(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """One connection per execution environment, checked (and reopened) before each use."""
        self._conn = self._checked(self._conn)
        return self._conn  # type: ignore[no-any-return]

    def submit_connection(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """A second one, for the export's feed-submitting thread (a connection serves one thread at a time)."""
        self._submit_conn = self._checked(self._submit_conn)
        return self._submit_conn  # type: ignore[no-any-return]

    def _checked(self, conn: Any) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        if conn is not None:
            try:
                conn.ping()
                return conn  # type: ignore[no-any-return]
            except pymysql.err.Error:
                conn.close()
        try:
            conn = connect(self.database)
        except DatabaseAccessDenied:
            if self.env is None or not self.env.get("DB_SECRET_ARN"):
                raise
            # A rotated password: the secret holds the new one (the old one stays valid for open sessions only).
            fresh = DatabaseSettings.from_env(self.env, secret_string)
            if fresh == self.database:
                raise
            logger.warning("database credentials changed in the secret: reconnecting with the new ones")
            self.database = fresh
            conn = connect(self.database)
        require_log(conn, self.tables)
        return conn  # type: ignore[no-any-return]

    def gateway_for(self, deadline: Callable[[], float] | None = None,
                    on_throttle: Callable[[str], None] | None = None) -> Callable[[str], FeedsGateway]:
        endpoints = self.settings.endpoints

        def build(marketplace_id: str) -> FeedsGateway:
            gateway = self._gateways.get(marketplace_id)
            if gateway is None:
                gateway = self._gateways[marketplace_id] = SpApiFeeds(
                    self.credentials, marketplace_id, endpoints, RetryPolicy(),
                    reload_credentials=self.reload_credentials)
            # the client (and its token) outlives an invocation; the deadline and the counters do not
            gateway.deadline, gateway.on_throttle = deadline, on_throttle
            return gateway

        return build

    def listings_for(self, on_throttle: Callable[[str], None] | None = None) -> Callable[[str], ListingsGateway]:
        """Listings Items clients for the express lane: one quick retry, then the lane stops for the run
        (what it did not send stays pending), so a throttled lane never holds a run up."""
        endpoints = self.settings.endpoints

        def build(marketplace_id: str) -> ListingsGateway:
            gateway = self._listings.get(marketplace_id)
            if gateway is None:
                gateway = self._listings[marketplace_id] = SpApiListings(
                    self.credentials, marketplace_id, endpoints, RetryPolicy(attempts=2, base_delay=1.0, max_delay=2.0),
                    reload_credentials=self.reload_credentials)
            gateway.on_throttle = on_throttle
            return gateway

        return build

    def exporter(self, remaining_seconds: Callable[[], float] | None = None,
                 on_throttle: Callable[[str], None] | None = None, **overrides: Any) -> Exporter:
        """``remaining_seconds`` is the Lambda's clock; elsewhere (the CLI) a run gets the same 900 s."""
        from amazon_sync.services.export import Exporter, SubmitSide
        from amazon_sync.services.express import ExpressLane

        remaining_seconds = remaining_seconds or deadline_in(EXPORT_DEADLINE_SECONDS)
        conn = self.connection()
        overrides.setdefault("express", ExpressLane(self.listings_for(on_throttle)))
        def submit_side() -> SubmitSide:
            return SubmitSide(EventLog(self.submit_connection(), self.tables), StateStore(self.state.table_name))

        overrides.setdefault("submit_side", submit_side)
        return Exporter(log=EventLog(conn, self.tables), reader=OfferReader(conn, self.tables, self.config.sku_field),
                        listings=AmazonListings(conn, self.tables), config=self.config, state=self.state,
                        store=self.store,
                        gateway_for=self.gateway_for(remaining_seconds, on_throttle),
                        remaining_seconds=remaining_seconds, lease_seconds=self.settings.lease_seconds, **overrides)

    def reports_for(self, deadline: Callable[[], float] | None = None) -> Callable[[str], ReportsGateway]:
        from amazon_sync.adapters.reports import SpApiReports

        endpoints = self.settings.endpoints

        def build(marketplace_id: str) -> ReportsGateway:
            gateway = self._reports.get(marketplace_id)
            if gateway is None:
                gateway = self._reports[marketplace_id] = SpApiReports(
                    self.credentials, marketplace_id, endpoints, RetryPolicy(),
                    reload_credentials=self.reload_credentials)
            gateway.deadline = deadline
            return gateway

        return build

    def reconciler(self, remaining_seconds: Callable[[], float] | None = None, **overrides: Any) -> Reconciler:
        """``remaining_seconds`` is the Lambda's clock; elsewhere (the CLI) a run gets the same 900 s."""
        from amazon_sync.services.reconcile import Reconciler

        remaining_seconds = remaining_seconds or deadline_in(RECONCILE_DEADLINE_SECONDS)
        conn = self.connection()
        return Reconciler(log=EventLog(conn, self.tables), reader=OfferReader(conn, self.tables, self.config.sku_field),
                          listings=AmazonListings(conn, self.tables), config=self.config, state=self.state,
                          reports_for=self.reports_for(remaining_seconds), remaining_seconds=remaining_seconds,
                          lease_seconds=self.settings.lease_seconds, **overrides)

    def acknowledger(self, remaining_seconds: Callable[[], float] | None = None,
                     settings: AckSettings | None = None, **overrides: Any) -> Acknowledger:
        from amazon_sync.services.acknowledge import Acknowledger

        remaining_seconds = remaining_seconds or deadline_in(ACK_DEADLINE_SECONDS)
        conn = self.connection()
        return Acknowledger(log=EventLog(conn, self.tables), state=self.state, store=self.store,
                            gateway_for=self.gateway_for(remaining_seconds), config=self.config,
                            settings=settings or self.ack_settings(),
                            remaining_seconds=remaining_seconds, **overrides)

    def ack_settings(self, **changes: Any) -> AckSettings:
        """The acknowledgment's settings from the deployment and the configuration document."""
        from amazon_sync.services.acknowledge import AckSettings

        hours = self.config.attention_release_after_hours
        return AckSettings(lease_seconds=self.settings.lease_seconds,
                           temporary_codes=tuple(self.config.temporary_issue_codes),
                           release_attention_after_seconds=hours * 3600 if hours is not None else None,
                           **changes)


# Outside Lambda (the operator CLI) a run has the same time as the function's Timeout in template.yaml.
EXPORT_DEADLINE_SECONDS = 900.0
ACK_DEADLINE_SECONDS = 300.0
RECONCILE_DEADLINE_SECONDS = 900.0


def deadline_in(seconds: float) -> Callable[[], float]:
    """A clock like LambdaContext.get_remaining_time_in_millis, in seconds, for a run started now."""
    deadline = time.monotonic() + seconds

    def remaining() -> float:
        return deadline - time.monotonic()

    return remaining


def read_credentials(secret_arn: str, read_secret: Callable[[str], str] = secret_string) -> SpApiCredentials:
    try:
        text = read_secret(secret_arn)
    except ConfigurationError as exc:  # "cannot read secret ARN: reason": say which secret it is
        raise ConfigurationError(str(exc).replace("cannot read secret", "cannot read SP-API secret", 1)) from None
    except Exception as exc:  # Powertools raises GetParameterError for every Secrets Manager failure
        raise ConfigurationError(f"cannot read SP-API secret {secret_arn}: {exc}") from None
    try:
        return SpApiCredentials.model_validate_json(text)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" or not e["loc"] for e in exc.errors()):
            raise ConfigurationError(f"SP-API secret {secret_arn} is not a JSON object with lwa_app_id, "
                                     "lwa_client_secret and refresh_token") from None
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigurationError(f"SP-API secret {secret_arn} lacks or has bad: {fields}") from None


_shared: Runtime | None = None
_shared_expires_at = 0.0


def shared_runtime() -> Runtime:
    """One Runtime per execution environment: connections and tokens outlive invocations, but secrets and
    configuration are read again after RUNTIME_MAX_AGE_SECONDS (env, default 300)."""
    global _shared, _shared_expires_at  # noqa: PLW0603
    now = time.monotonic()
    if _shared is not None and now >= _shared_expires_at:
        _shared.close()
        _shared = None
    if _shared is None:
        _shared = Runtime.from_env()
        max_age = os.environ.get("RUNTIME_MAX_AGE_SECONDS") or RUNTIME_MAX_AGE_SECONDS
        try:
            _shared_expires_at = now + float(max_age)
        except ValueError:
            raise ConfigurationError("RUNTIME_MAX_AGE_SECONDS must be a number of seconds") from None
    return _shared


def use_runtime(runtime: Runtime | None) -> None:
    """Install (or, with None, forget) the shared Runtime: the local run and the tests build their own,
    which never expires."""
    global _shared, _shared_expires_at
    _shared, _shared_expires_at = runtime, math.inf
