"""AWS resources as template.yaml defines them, created in moto for the local stack and the tests."""

from __future__ import annotations

from typing import Any

import boto3

REGION = "eu-west-1"


def aws_environment(endpoint_url: str | None = None) -> dict[str, str]:
    """Fake credentials (nothing can reach a real AWS account), the region and, for moto_server, its URL."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": REGION}
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def create_state_table(table_name: str, resource: Any = None) -> None:
    """The table as template.yaml defines it, for the local stack and the tests."""
    client = (resource or boto3.resource("dynamodb")).meta.client
    client.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"},
                                               {"AttributeName": "gsi1sk", "KeyType": "RANGE"}]}])


def create_idempotency_table(table_name: str) -> None:
    """Powertools Idempotency's table, as template.yaml defines it."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
