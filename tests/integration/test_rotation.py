"""Finding 3 of issue 16: secrets and configuration are not kept for the life of the execution environment.
A rotated database password (MySQL 1045) or LWA client secret (invalid_client) makes the runtime read the
secret again; the shared runtime is rebuilt after RUNTIME_MAX_AGE_SECONDS."""

from __future__ import annotations

import json

import boto3
import pytest
from sp_api.auth import access_token_client

from amazon_sync import bootstrap
from amazon_sync.bootstrap import Runtime, shared_runtime, use_runtime
from amazon_sync.errors import DatabaseAccessDenied
from tests.conftest import MARKETPLACE_FR
from tests.integration.test_export import change_stock


def database_secret(stack, user: str, password: str) -> str:
    return json.dumps({"host": "127.0.0.1", "port": stack.db.server.port, "username": user, "password": password,
                       "dbname": stack.db.settings.database})


@pytest.fixture
def rotating_user(make_stack):
    stack = make_stack()
    stack.db.sql("CREATE USER 'rotating'@'%' IDENTIFIED BY 'first-password'")
    stack.db.sql(f"GRANT ALL ON `{stack.db.settings.database}`.* TO 'rotating'@'%'")
    arn = boto3.client("secretsmanager").create_secret(
        Name="shop-db", SecretString=database_secret(stack, "rotating", "first-password"))["ARN"]
    yield stack, arn
    stack.db.sql("DROP USER 'rotating'@'%'")


def test_a_rotated_database_password_is_read_again(rotating_user):
    stack, arn = rotating_user
    runtime = Runtime.from_env({**stack.runtime.env, "DB_SECRET_ARN": arn})
    connection_id = runtime.connection().thread_id()
    # Secrets Manager's rotation: the new password in the user and in the secret; the open session dies
    stack.db.sql("ALTER USER 'rotating'@'%' IDENTIFIED BY 'second-password'")
    boto3.client("secretsmanager").put_secret_value(
        SecretId=arn, SecretString=database_secret(stack, "rotating", "second-password"))
    stack.db.sql(f"KILL {connection_id}")
    change_stock(stack, *stack.catalogue.offers[0], 3)
    summary = runtime.exporter().run(bootstrap_request())
    assert summary.feeds_submitted == 1
    assert runtime.database.password.get_secret_value() == "second-password"
    assert runtime.connection().thread_id() != connection_id


def test_a_wrong_password_that_was_not_rotated_still_fails_with_one_line(rotating_user):
    stack, arn = rotating_user
    boto3.client("secretsmanager").put_secret_value(
        SecretId=arn, SecretString=database_secret(stack, "rotating", "not-the-password"))
    runtime = Runtime.from_env({**stack.runtime.env, "DB_SECRET_ARN": arn})
    with pytest.raises(DatabaseAccessDenied) as caught:
        runtime.connection()
    assert "rotating" in str(caught.value) and "not-the-password" not in str(caught.value)


def rotate_client_secret(stack, new_secret: str, *, in_the_secret: bool) -> None:
    stack.amazon.config.client_secret = new_secret  # Amazon now accepts only the new client secret
    if in_the_secret:
        boto3.client("secretsmanager").put_secret_value(SecretId=stack.runtime.settings.spapi_secret_arn,
                                                        SecretString=json.dumps({
                                                            "lwa_app_id": stack.amazon.config.client_id,
                                                            "lwa_client_secret": new_secret,
                                                            "refresh_token": stack.amazon.config.refresh_tokens[0]}))
    access_token_client.cache.clear()  # the access token obtained with the old secret has expired


def test_a_rotated_lwa_client_secret_is_read_again(make_stack):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 3)
    stack.export()  # logged in with the old client secret
    rotate_client_secret(stack, "rotated-client-secret", in_the_secret=True)
    change_stock(stack, *stack.catalogue.offers[1], 4)
    stack.amazon._json_window.events.clear()
    stack.runtime.state.table.delete_item(Key={"pk": "SUBMISSIONS", "sk": "SUBMISSIONS"})
    summary = stack.export()
    assert summary.feeds_submitted == 1 and summary.feeds_abandoned == 0
    assert stack.runtime.credentials.lwa_client_secret.get_secret_value() == "rotated-client-secret"


def test_credentials_refused_and_not_rotated_abandon_the_feed_with_the_cause(make_stack):
    stack = make_stack()
    change_stock(stack, *stack.catalogue.offers[0], 3)
    rotate_client_secret(stack, "only-amazon-knows-this", in_the_secret=False)
    summary = stack.export()
    assert summary.feeds_submitted == 0 and summary.feeds_abandoned == 1
    record = stack.runtime.state.get_feed(f"{summary.batch_id}-{MARKETPLACE_FR}-1")
    assert "Login with Amazon refused the SP-API credentials (invalid_client, HTTP 401)" in record.attention
    assert "local-secret" not in record.attention
    assert stack.log_count(0) == 1  # the change waits in the queue


def bootstrap_request():
    from amazon_sync.services.export import ExportRequest

    return ExportRequest()


def test_the_shared_runtime_is_rebuilt_after_its_lifetime(make_stack, monkeypatch):
    stack = make_stack()
    use_runtime(None)
    try:
        monkeypatch.setenv("RUNTIME_MAX_AGE_SECONDS", "3600")
        first = shared_runtime()
        assert shared_runtime() is first
        config = json.loads(stack.config_path.read_text())
        config["marketplaces"][0]["handling_time_days"] = 5  # an operator edits the configuration
        stack.config_path.write_text(json.dumps(config))
        monkeypatch.setattr(bootstrap, "_shared_expires_at", 0.0)  # its lifetime is over
        second = shared_runtime()
        assert second is not first and second.config.marketplaces[0].handling_time_days == 5
        assert first._conn is None and first._submit_conn is None  # the old connections were closed
    finally:
        use_runtime(None)
