"""Database connection settings: environment variables locally, an RDS-style secret in AWS."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from amazon_sync.errors import ConfigurationError

_PREFIX_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")


def validate_table_prefix(prefix: str) -> str:
    """The prefix ends up inside identifiers, so only a conservative character set is allowed."""
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigurationError(
            f"DB_TABLE_PREFIX {prefix!r} is not a valid table prefix: use letters, digits and '_', "
            "starting with a letter, at most 31 characters (PrestaShop's default is 'ps_')"
        )
    return prefix


def describe_errors(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """Where and what, never the value: settings carry passwords and tokens."""
    names = names or {}
    return "; ".join(f"{'.'.join(names.get(str(p), str(p)) for p in error['loc']) or 'value'}: {error['msg']}"
                     for error in exc.errors(include_input=False, include_url=False))


class DatabaseSettings(BaseModel):
    # A wrong value would otherwise be echoed in the error (pydantic's input_value): it may be the password.
    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    user: str = "root"
    password: SecretStr = SecretStr("")
    database: str = "prestashop"
    table_prefix: str = "ps_"
    unix_socket: str | None = None
    # Path to a CA bundle; when set, the connection requires TLS and verifies the server.
    tls_ca_file: str | None = None
    connect_timeout: int = Field(default=5, ge=1, le=60)
    # Every read and write on the socket is bounded: a database that stops answering (a failover that drops
    # packets) fails the statement instead of holding the run, and its lease, until the Lambda timeout.
    read_timeout: int = Field(default=60, ge=1, le=3600)
    write_timeout: int = Field(default=30, ge=1, le=3600)
    # RDS IAM authentication: the password is a 15-minute token from the function's role (TLS required).
    iam_auth: bool = False

    @field_validator("table_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        try:
            return validate_table_prefix(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from exc

    @classmethod
    def from_env(cls, env: dict[str, str], secret_loader: Any = None) -> DatabaseSettings:
        """Read DB_* variables; DB_SECRET_ARN (resolved through ``secret_loader``) wins over them."""
        values: dict[str, Any] = {}
        secret_arn = env.get("DB_SECRET_ARN")
        if secret_arn:
            if secret_loader is None:
                raise ConfigurationError("DB_SECRET_ARN is set but no secret loader is available")
            raw = secret_loader(secret_arn)
            try:
                secret = json.loads(raw) if isinstance(raw, str) else dict(raw)
            except ValueError:
                # json's message quotes the document (the password): only say where it broke
                raise ConfigurationError(f"secret {secret_arn} is not RDS-style JSON") from None
            if not isinstance(secret, dict):
                raise ConfigurationError(f"secret {secret_arn} is not RDS-style JSON (an object)")
            for key in ("host", "port", "username", "password", "dbname"):
                if key in secret:
                    values[{"username": "user", "dbname": "database"}.get(key, key)] = secret[key]
        mapping = {
            "DB_HOST": "host",
            "DB_PORT": "port",
            "DB_USER": "user",
            "DB_PASSWORD": "password",
            "DB_NAME": "database",
            "DB_TABLE_PREFIX": "table_prefix",
            "DB_SOCKET": "unix_socket",
            "DB_TLS_CA_FILE": "tls_ca_file",
            "DB_IAM_AUTH": "iam_auth",
            "DB_READ_TIMEOUT": "read_timeout",
            "DB_WRITE_TIMEOUT": "write_timeout",
        }
        from_env: dict[str, str] = {}  # field -> the variable it came from, to name it in an error
        for env_name, field in mapping.items():
            if env_name in env and env[env_name] != "" and not (secret_arn and field in values):
                values[field] = env[env_name]
                from_env[field] = env_name
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigurationError(f"database settings are invalid: {describe_errors(exc, from_env)}") from None
