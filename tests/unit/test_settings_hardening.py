"""Settings never echo a secret, and the SP-API endpoint overrides are for local development only
(issue 16, findings 6 and 7)."""

from __future__ import annotations

import json

import pytest

from amazon_sync.adapters.mysql.settings import DatabaseSettings
from amazon_sync.adapters.spapi import SpApiCredentials, SpApiEndpoints
from amazon_sync.bootstrap import LOCAL_DEVELOPMENT, RuntimeSettings
from amazon_sync.config import parse_config
from amazon_sync.errors import ConfigurationError

SECRET = "93418276051"  # a numeric password: pydantic refuses it for a string field and would echo it
BASE = {"STATE_TABLE": "t", "DOCUMENT_BUCKET": "b", "CONFIG_SOURCE": "c.json",
        "SPAPI_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}


def chain_text(exc: BaseException) -> str:
    """Everything a logger or a tracer could print: the message and every exception chained to it."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("secret", [
    {"host": "db", "username": "sync", "password": int(SECRET)},               # wrong type
    {"host": "db", "username": "sync", "password": SECRET, "port": SECRET + "x"},  # another bad field
])
def test_database_settings_errors_never_contain_the_password(secret):
    with pytest.raises(ConfigurationError) as caught:
        DatabaseSettings.from_env({"DB_SECRET_ARN": "arn:db"}, lambda arn: json.dumps(secret))
    assert "password" in str(caught.value) or "port" in str(caught.value)
    assert SECRET not in chain_text(caught.value)


def test_a_secret_that_is_not_json_is_not_quoted():
    with pytest.raises(ConfigurationError) as caught:
        DatabaseSettings.from_env({"DB_SECRET_ARN": "arn:db"}, lambda arn: '{"password": "' + SECRET + '"')
    assert SECRET not in chain_text(caught.value)


def test_sp_api_credentials_and_runtime_settings_hide_inputs():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        SpApiCredentials.model_validate({"lwa_app_id": "app", "lwa_client_secret": int(SECRET),
                                         "refresh_token": "Atzr|x"})
    assert SECRET not in chain_text(caught.value)
    with pytest.raises(ConfigurationError) as caught_runtime:
        RuntimeSettings.from_env({**BASE, "EXPORT_LEASE_SECONDS": SECRET + "s"})
    assert "EXPORT_LEASE_SECONDS" in str(caught_runtime.value) and SECRET not in chain_text(caught_runtime.value)
    with pytest.raises(ConfigurationError) as caught_config:
        parse_config(json.dumps({"marketplaces": [{"marketplace_id": "A13V1IB3VIYZZH", "seller_id": "S",
                                                   "country": "FR", "currency": "EUR",
                                                   "handling_time_days": SECRET}]}))
    assert SECRET not in chain_text(caught_config.value)


def test_endpoint_overrides_need_the_local_development_switch():
    overrides = {"SPAPI_ENDPOINT_URL": "https://collector.example.com", "LWA_TOKEN_URL": "https://x.example.com/t"}
    with pytest.raises(ConfigurationError) as caught:
        RuntimeSettings.from_env({**BASE, **overrides})
    assert LOCAL_DEVELOPMENT in str(caught.value) and "SPAPI_ENDPOINT_URL" in str(caught.value)
    settings = RuntimeSettings.from_env({**BASE, **overrides, LOCAL_DEVELOPMENT: "true"})
    assert settings.spapi_endpoint_url == overrides["SPAPI_ENDPOINT_URL"]
    assert RuntimeSettings.from_env(BASE).spapi_endpoint_url is None  # Amazon's own endpoints


@pytest.mark.parametrize("url", ["http://collector.example.com", "http://10.0.0.5:8080", "ftp://127.0.0.1/x",
                                 "127.0.0.1:8080"])
def test_plain_http_only_to_this_machine(url):
    with pytest.raises(ConfigurationError, match="https"):
        RuntimeSettings.from_env({**BASE, LOCAL_DEVELOPMENT: "true", "LWA_TOKEN_URL": url})
    with pytest.raises(ValueError, match="https"):
        SpApiEndpoints(api_url=url)


def test_the_simulator_on_loopback_is_allowed():
    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9000"):
        assert SpApiEndpoints(api_url=url, token_url=f"{url}/auth/o2/token").api_url == url
