"""AWS resources as template.yaml defines them, created in moto for the local stack and the tests."""

from __future__ import annotations

from typing import Any

import boto3


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
