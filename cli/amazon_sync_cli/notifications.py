"""FEED_PROCESSING_FINISHED notifications to the stack's SQS queue: set up, check, remove.

Destinations are grantless (an LWA token with the notifications scope, no seller authorization);
subscriptions act for the seller (the refresh token) and need a payloadVersion, "1.0". Each step first
looks for what exists, so running `setup` or `remove` again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sp_api.api import Notifications
from sp_api.base.exceptions import SellingApiNotFoundException, SellingApiStateConflictException

from amazon_sync.adapters.spapi import SpApiClient

NOTIFICATION_TYPE = "FEED_PROCESSING_FINISHED"
PAYLOAD_VERSION = "1.0"
DESTINATION_NAME = "prestashop-amazon-sync"
T = TypeVar("T")


class SpApiNotifications(SpApiClient):
    client_class = Notifications

    def _optional(self, operation: str, call: Callable[[], T]) -> T | None:
        """404 is an answer here (nothing of that kind exists), not an error."""

        def attempt() -> T | None:
            try:
                return call()
            except SellingApiNotFoundException:
                return None

        return self._call(operation, attempt)

    def destinations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("getDestinations", lambda: self.client.get_destinations().payload)
        return found or []

    def create_destination(self, queue_arn: str) -> dict[str, Any] | None:
        """The new destination, or None when Amazon already has one for this ARN (409)."""

        def create() -> dict[str, Any] | None:
            try:
                payload: dict[str, Any] = self.client.create_destination(
                    name=DESTINATION_NAME, arn=queue_arn).payload
                return payload
            except SellingApiStateConflictException:
                return None

        return self._call("createDestination", create)

    def delete_destination(self, destination_id: str) -> None:
        self._optional("deleteDestination", lambda: self.client.delete_destination(destination_id))

    def subscription(self) -> dict[str, Any] | None:
        response = self._optional("getSubscription", lambda: self.client.get_subscription(
            NOTIFICATION_TYPE, payloadVersion=PAYLOAD_VERSION))
        return response.payload if response is not None else None

    def create_subscription(self, destination_id: str) -> dict[str, Any] | None:
        """The new subscription, or None when the seller already has one for this type and version (409)."""

        def create() -> dict[str, Any] | None:
            try:
                payload: dict[str, Any] = self.client.create_subscription(
                    NOTIFICATION_TYPE, destination_id=destination_id, payload_version=PAYLOAD_VERSION).payload
                return payload
            except SellingApiStateConflictException:
                return None

        return self._call("createSubscription", create)

    def delete_subscription(self, subscription_id: str) -> None:
        self._optional("deleteSubscriptionById", lambda: self.client.delete_notification_subscription(
            NOTIFICATION_TYPE, subscription_id))


@dataclass
class NotificationSetup:
    marketplace_id: str
    queue_arn: str
    destination_id: str | None = None
    subscription_id: str | None = None
    subscription_destination_id: str | None = None
    changes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.destination_id is not None and self.subscription_destination_id == self.destination_id

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "complete": self.complete, "changes": list(self.changes)}


def _our_destination(api: SpApiNotifications, queue_arn: str) -> str | None:
    for destination in api.destinations():
        if ((destination.get("resource") or {}).get("sqs") or {}).get("arn") == queue_arn:
            return str(destination["destinationId"])
    return None


def status(api: SpApiNotifications, queue_arn: str) -> NotificationSetup:
    result = NotificationSetup(api.marketplace_id, queue_arn, _our_destination(api, queue_arn))
    subscription = api.subscription()
    if subscription is not None:
        result.subscription_id = str(subscription["subscriptionId"])
        result.subscription_destination_id = str(subscription["destinationId"])
    return result


def setup(api: SpApiNotifications, queue_arn: str) -> NotificationSetup:
    result = status(api, queue_arn)
    changes: list[str] = []
    if result.destination_id is None:
        created = api.create_destination(queue_arn)
        result.destination_id = str(created["destinationId"]) if created else _our_destination(api, queue_arn)
        changes.append(f"destination {result.destination_id} created")
    if result.subscription_id is not None and result.subscription_destination_id != result.destination_id:
        # one subscription per type and version: one pointing elsewhere (an older stack) is replaced
        api.delete_subscription(result.subscription_id)
        changes.append(f"subscription {result.subscription_id} to destination "
                       f"{result.subscription_destination_id} removed")
        result.subscription_id = result.subscription_destination_id = None
    if result.subscription_id is None and result.destination_id is not None:
        created = api.create_subscription(result.destination_id)
        current = created or api.subscription()
        if current is not None:
            result.subscription_id = str(current["subscriptionId"])
            result.subscription_destination_id = str(current["destinationId"])
            changes.append(f"subscription {result.subscription_id} created")
    result.changes = tuple(changes)
    return result


def remove(api: SpApiNotifications, queue_arn: str) -> NotificationSetup:
    result = status(api, queue_arn)
    changes: list[str] = []
    if result.subscription_id is not None and result.subscription_destination_id == result.destination_id:
        api.delete_subscription(result.subscription_id)
        changes.append(f"subscription {result.subscription_id} removed")
        result.subscription_id = result.subscription_destination_id = None
    if result.destination_id is not None:
        api.delete_destination(result.destination_id)
        changes.append(f"destination {result.destination_id} removed")
        result.destination_id = None
    result.changes = tuple(changes)
    return result
