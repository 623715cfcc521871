"""The Notifications API v1 (destinations and subscriptions), as hard as Amazon's:

- destinations (create, list, get, delete) are grantless: they need an LWA token obtained with
  grant_type=client_credentials and scope sellingpartnerapi::notifications, and refuse a seller's token;
- createSubscription and getSubscription act for a seller: they need a token from the seller's refresh
  token, and refuse a grantless one (models#4491: "createSubscription is not a grantless operation");
- getSubscriptionById and deleteSubscriptionById accept either (python-amazon-sp-api#373 deletes with a
  seller token; the model calls them grantless);
- one subscription per notification type and payload version: a second createSubscription answers 409
  (models#1960, #2737); a second destination for the same ARN answers 409 Conflict (models#2281); a
  destination that still has subscriptions cannot be deleted (docs#1800);
- payloadVersion and destinationId are required (notifications.json CreateSubscriptionRequest), the SQS
  ARN must match the model's pattern (SqsResource).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from amazon_sync_devkit.simulator.amazon import Reply, error

NOTIFICATION_TYPES = frozenset({"FEED_PROCESSING_FINISHED", "REPORT_PROCESSING_FINISHED", "LISTINGS_ITEM_STATUS_CHANGE",
                                "LISTINGS_ITEM_ISSUES_CHANGE", "ANY_OFFER_CHANGED", "ORDER_CHANGE"})
GRANTLESS_SCOPE = "sellingpartnerapi::notifications"
SQS_ARN = re.compile(r"^arn:aws:sqs:\S+:\S+:\S+")
GRANTLESS_ONLY = frozenset({"getDestinations", "createDestination", "getDestination", "deleteDestination"})
SELLER_ONLY = frozenset({"createSubscription", "getSubscription"})
OPERATIONS = GRANTLESS_ONLY | SELLER_ONLY | {"getSubscriptionById", "deleteSubscriptionById"}


@dataclass
class Destination:
    destination_id: str
    name: str
    arn: str

    def model(self) -> dict[str, Any]:
        return {"destinationId": self.destination_id, "name": self.name, "resource": {"sqs": {"arn": self.arn}}}


@dataclass
class Subscription:
    subscription_id: str
    notification_type: str
    payload_version: str
    destination_id: str

    def model(self) -> dict[str, Any]:
        return {"subscriptionId": self.subscription_id, "payloadVersion": self.payload_version,
                "destinationId": self.destination_id}


def _unauthorized(details: str) -> Reply:
    return error(403, "Unauthorized", "Access to requested resource is denied.", details)


class NotificationsApi:
    def __init__(self, application_id: str) -> None:
        self.application_id = application_id
        self.destinations: dict[str, Destination] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self._ids = 0

    def _next(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:08d}-local"

    def authorise(self, operation: str, grantless_scope: str | None) -> Reply | None:
        """``grantless_scope`` is the token's scope when it came from client_credentials, None for a seller's."""
        if operation in GRANTLESS_ONLY and grantless_scope != GRANTLESS_SCOPE:
            return _unauthorized(f"{operation} is grantless: use an LWA token with scope {GRANTLESS_SCOPE}.")
        if operation in SELLER_ONLY and grantless_scope is not None:
            return _unauthorized(f"{operation} needs the selling partner's authorization (a refresh token).")
        return None

    def handle(self, operation: str, args: dict[str, str], query: dict[str, str], body: Any) -> Reply:
        notification_type = args.get("notification_type")
        if notification_type is not None and notification_type not in NOTIFICATION_TYPES:
            return error(400, "InvalidInput", f"{notification_type} is not a notification type.")
        if operation == "getDestinations":
            return Reply(200, {"payload": [d.model() for d in self.destinations.values()]})
        if operation == "createDestination":
            return self._create_destination(body)
        if operation in ("getDestination", "deleteDestination"):
            destination = self.destinations.get(args["destination_id"])
            if destination is None:
                return error(404, "NotFound", "The resource specified does not exist.")
            if operation == "getDestination":
                return Reply(200, {"payload": destination.model()})
            if any(s.destination_id == destination.destination_id for s in self.subscriptions.values()):
                return error(403, "Unauthorized", "The requested action is forbidden.", "Destination has subscriptions")
            del self.destinations[destination.destination_id]
            return Reply(200, {})
        assert notification_type is not None
        if operation == "createSubscription":
            return self._create_subscription(notification_type, body)
        if operation == "getSubscription":
            version = query.get("payloadVersion")
            found = [s for (kind, v), s in self.subscriptions.items()
                     if kind == notification_type and (version is None or v == version)]
            if not found:
                return error(404, "NotFound", "The resource specified does not exist.",
                             f"No subscription found for notification type {notification_type}.")
            return Reply(200, {"payload": found[-1].model()})
        subscription = next((s for s in self.subscriptions.values()
                             if s.subscription_id == args["subscription_id"]
                             and s.notification_type == notification_type), None)
        if subscription is None:
            return error(404, "NotFound", "The resource specified does not exist.")
        if operation == "getSubscriptionById":
            return Reply(200, {"payload": subscription.model()})
        del self.subscriptions[(subscription.notification_type, subscription.payload_version)]
        return Reply(200, {})

    def _create_destination(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return error(400, "InvalidInput", "name and resourceSpecification are required.")
        sqs = (body.get("resourceSpecification") or {}).get("sqs") if isinstance(
            body.get("resourceSpecification"), dict) else None
        arn = sqs.get("arn") if isinstance(sqs, dict) else None
        if not isinstance(arn, str) or not SQS_ARN.match(arn) or len(body["name"]) > 256:
            return error(400, "InvalidInput", "resourceSpecification.sqs.arn must be an SQS queue ARN.")
        if any(d.arn == arn for d in self.destinations.values()):
            return error(409, "Conflict", "The requested resource conflict with a resource in the server.",
                         f"A destination with arn {arn} already exists for the application {self.application_id}")
        destination = Destination(self._next("destination"), body["name"], arn)
        self.destinations[destination.destination_id] = destination
        return Reply(200, {"payload": destination.model()})

    def _create_subscription(self, notification_type: str, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error(400, "InvalidInput", "The request body is not a JSON object.")
        missing = [name for name in ("payloadVersion", "destinationId") if not isinstance(body.get(name), str)]
        if missing:
            return error(400, "InvalidInput", f"Missing required field(s): {', '.join(missing)}.")
        if body["destinationId"] not in self.destinations:
            return error(400, "InvalidInput", f"Destination {body['destinationId']} does not exist.")
        key = (notification_type, body["payloadVersion"])
        if key in self.subscriptions:
            return error(409, "StateConflict", "The resource specified conflicts with the current state.",
                         f"Subscription already exist for notification type {notification_type}")
        subscription = Subscription(self._next("subscription"), notification_type, body["payloadVersion"],
                                    body["destinationId"])
        self.subscriptions[key] = subscription
        return Reply(200, {"payload": subscription.model()})
