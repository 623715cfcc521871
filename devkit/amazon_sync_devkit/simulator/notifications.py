"""Delivering FEED_PROCESSING_FINISHED notifications to an SQS queue, as Amazon's Notifications API does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3


def sqs_sink(queue_url: str, endpoint_url: str | None = None) -> Callable[[dict[str, Any]], None]:
    sqs = boto3.client("sqs", endpoint_url=endpoint_url)

    def send(notification: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(notification))

    return send
