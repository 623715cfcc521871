"""Finding 13 of issue 16: `amazon-sync notifications setup|status|remove` against the simulator's
Notifications API, which is as strict as Amazon's about grantless and seller-authorised operations."""

from __future__ import annotations

import json

import boto3
import httpx
import jsonschema
import pytest

from amazon_sync_cli.main import main
from tests.conftest import MARKETPLACE_FR, shared

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:shop-sync-NotificationQueue-ABC"
OLD_QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:old-stack-NotificationQueue-XYZ"
NOTIFICATIONS: dict[str, object] = {}


def conforms(body, definition):
    if not NOTIFICATIONS:  # fails loudly without ../shared
        NOTIFICATIONS.update(json.loads((shared("amazon-models") / "notifications.json").read_text()))
    schema = {"definitions": NOTIFICATIONS["definitions"], "$ref": f"#/definitions/{definition}"}
    errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(body)]
    assert not errors, (definition, errors)


@pytest.fixture
def cli_env(simulator, aws, monkeypatch):
    config = simulator.config
    arn = boto3.client("secretsmanager").create_secret(Name="sp-api", SecretString=json.dumps({
        "lwa_app_id": config.client_id, "lwa_client_secret": config.client_secret,
        "refresh_token": config.refresh_tokens[0]}))["ARN"]
    for name, value in {"SPAPI_SECRET_ARN": arn, "SPAPI_ENDPOINT_URL": simulator.url,
                        "LWA_TOKEN_URL": f"{simulator.url}/auth/o2/token", "AMAZON_SYNC_LOCAL_DEVELOPMENT": "true",
                        "NOTIFICATION_QUEUE_ARN": QUEUE_ARN}.items():
        monkeypatch.setenv(name, value)
    return simulator


def run(capsys, *argv, simulator=None):
    if simulator is not None:
        simulator.amazon.clock.advance(10)  # an operator's commands are seconds apart: the usage plan refills
    code = main(["--json", "notifications", *argv, "--marketplace", MARKETPLACE_FR])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_setup_is_idempotent_and_remove_undoes_it(cli_env, capsys):
    api = cli_env.notifications_api
    code, result = run(capsys, "status", simulator=cli_env)
    assert code == 1 and not result["regions"][0]["complete"]
    code, result = run(capsys, "setup", simulator=cli_env)
    assert code == 0 and result["regions"][0]["complete"]
    assert len(api.destinations) == 1 and len(api.subscriptions) == 1
    (destination,) = api.destinations.values()
    (subscription,) = api.subscriptions.values()
    assert destination.arn == QUEUE_ARN
    assert (subscription.notification_type, subscription.payload_version) == ("FEED_PROCESSING_FINISHED", "1.0")
    assert subscription.destination_id == destination.destination_id
    code, again = run(capsys, "setup", simulator=cli_env)
    assert code == 0 and again["regions"][0]["changes"] == []
    assert again["regions"][0]["subscription_id"] == subscription.subscription_id
    assert run(capsys, "status", simulator=cli_env)[0] == 0
    code, removed = run(capsys, "remove", simulator=cli_env)
    assert code == 0 and api.destinations == {} and api.subscriptions == {}
    code, removed = run(capsys, "remove", simulator=cli_env)
    assert code == 0 and removed["regions"][0]["changes"] == [], removed
    assert run(capsys, "status", simulator=cli_env)[0] == 1


def test_setup_moves_a_subscription_left_by_an_older_stack(cli_env, capsys, monkeypatch):
    api = cli_env.notifications_api
    monkeypatch.setenv("NOTIFICATION_QUEUE_ARN", OLD_QUEUE_ARN)
    assert run(capsys, "setup", simulator=cli_env)[0] == 0
    monkeypatch.setenv("NOTIFICATION_QUEUE_ARN", QUEUE_ARN)
    code, result = run(capsys, "setup", simulator=cli_env)
    assert code == 0 and result["regions"][0]["complete"]
    (subscription,) = api.subscriptions.values()  # Amazon keeps one per type and payload version
    assert api.destinations[subscription.destination_id].arn == QUEUE_ARN
    assert len(api.destinations) == 2  # the old stack's destination is its own to remove


def test_the_cli_refuses_endpoint_overrides_without_the_switch(cli_env, capsys, monkeypatch):
    monkeypatch.delenv("AMAZON_SYNC_LOCAL_DEVELOPMENT")
    assert main(["notifications", "status", "--marketplace", MARKETPLACE_FR]) == 1
    assert "AMAZON_SYNC_LOCAL_DEVELOPMENT" in capsys.readouterr().err


def token(simulator, **form):
    config = simulator.config
    reply = httpx.post(f"{simulator.url}/auth/o2/token", data={
        "client_id": config.client_id, "client_secret": config.client_secret, **form})
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


def test_the_simulator_is_as_strict_as_amazon(simulator):
    base = f"{simulator.url}/notifications/v1"
    grantless = token(simulator, grant_type="client_credentials", scope="sellingpartnerapi::notifications")
    seller = token(simulator, grant_type="refresh_token", refresh_token=simulator.config.refresh_tokens[0])

    def call(method, path, access, body=None):
        return httpx.request(method, f"{base}{path}", headers={"x-amz-access-token": access}, json=body)

    destination = {"name": "sync", "resourceSpecification": {"sqs": {"arn": QUEUE_ARN}}}
    assert call("POST", "/destinations", seller, destination).status_code == 403  # grantless only
    created = call("POST", "/destinations", grantless, destination)
    assert created.status_code == 200
    conforms(created.json(), "CreateDestinationResponse")
    duplicate = call("POST", "/destinations", grantless, destination)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["code"] == "Conflict"
    destination_id = created.json()["payload"]["destinationId"]
    listed = call("GET", "/destinations", grantless)
    conforms(listed.json(), "GetDestinationsResponse")
    subscribe = {"payloadVersion": "1.0", "destinationId": destination_id}
    assert call("POST", "/subscriptions/FEED_PROCESSING_FINISHED", grantless, subscribe).status_code == 403
    missing_version = call("POST", "/subscriptions/FEED_PROCESSING_FINISHED", seller, {"destinationId": destination_id})
    assert missing_version.status_code == 400
    subscribed = call("POST", "/subscriptions/FEED_PROCESSING_FINISHED", seller, subscribe)
    assert subscribed.status_code == 200
    conforms(subscribed.json(), "CreateSubscriptionResponse")
    again = call("POST", "/subscriptions/FEED_PROCESSING_FINISHED", seller, subscribe)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "StateConflict"
    got = call("GET", "/subscriptions/FEED_PROCESSING_FINISHED?payloadVersion=1.0", seller)
    conforms(got.json(), "GetSubscriptionResponse")
    assert call("DELETE", f"/destinations/{destination_id}", grantless).status_code == 403  # has a subscription
    subscription_id = subscribed.json()["payload"]["subscriptionId"]
    deleted = call("DELETE", f"/subscriptions/FEED_PROCESSING_FINISHED/{subscription_id}", grantless)
    assert deleted.status_code == 200
    conforms(deleted.json(), "DeleteSubscriptionByIdResponse")
    assert call("GET", "/subscriptions/FEED_PROCESSING_FINISHED", seller).status_code == 404
    assert call("DELETE", f"/destinations/{destination_id}", grantless).status_code == 200
    assert httpx.post(f"{simulator.url}/auth/o2/token", data={
        "client_id": simulator.config.client_id, "client_secret": simulator.config.client_secret,
        "grant_type": "client_credentials"}).status_code == 400  # a grantless token needs a scope
