"""`amazon-sync notifications setup|status|remove`: FEED_PROCESSING_FINISHED to the stack's SQS queue."""

from __future__ import annotations

import argparse
import os
from typing import Any

from amazon_sync.errors import ConfigurationError


def _marketplaces(args: argparse.Namespace) -> list[str]:
    """One marketplace per region: notifications are set up per regional endpoint."""
    if args.marketplace:
        return list(args.marketplace)
    source = os.environ.get("CONFIG_SOURCE")
    if not source:
        raise ConfigurationError("name a marketplace with --marketplace, or set CONFIG_SOURCE")
    from amazon_sync.config import load_config

    per_region: dict[str, str] = {}
    for marketplace in load_config(source).marketplaces:
        per_region.setdefault(marketplace.region, marketplace.marketplace_id)
    return list(per_region.values())


def cmd_notifications(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.bootstrap import endpoints_from_env, read_credentials
    from amazon_sync_cli import notifications

    queue_arn = args.queue_arn or os.environ.get("NOTIFICATION_QUEUE_ARN")
    if not queue_arn:
        raise ConfigurationError("--queue-arn (or NOTIFICATION_QUEUE_ARN): the stack's NotificationQueueArn output")
    secret_arn = os.environ.get("SPAPI_SECRET_ARN")
    if not secret_arn:
        raise ConfigurationError("environment variable SPAPI_SECRET_ARN not set")
    endpoints = endpoints_from_env(dict(os.environ))
    credentials = read_credentials(secret_arn)
    action = {"setup": notifications.setup, "status": notifications.status,
              "remove": notifications.remove}[args.notifications_command]
    results = [action(notifications.SpApiNotifications(credentials, marketplace_id, endpoints), queue_arn)
               for marketplace_id in _marketplaces(args)]
    lines = []
    for result in results:
        state = "subscribed" if result.complete else "not set up"
        if args.notifications_command == "remove":
            state = "removed" if result.destination_id is None else "left in place"
        lines.append(f"{result.marketplace_id}: {state} (destination {result.destination_id or '-'}, "
                     f"subscription {result.subscription_id or '-'})")
        lines += [f"  {change}" for change in result.changes] or ["  nothing to change"]
    incomplete = args.notifications_command != "remove" and not all(r.complete for r in results)
    return {"regions": [r.as_dict() for r in results], "text": "\n".join(lines), "exit_code": int(incomplete)}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "notifications", help="FEED_PROCESSING_FINISHED notifications to the stack's queue: setup, status, remove")
    actions = parser.add_subparsers(dest="notifications_command", required=True, metavar="ACTION")
    for name, text in (("setup", "create the destination and the subscription (idempotent)"),
                       ("status", "show the destination and the subscription; exit 1 unless both are in place"),
                       ("remove", "delete the subscription and the destination (idempotent)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--queue-arn", help="the stack's NotificationQueueArn (default NOTIFICATION_QUEUE_ARN)")
        action.add_argument("--marketplace", action="append", metavar="ID",
                            help="a marketplace of the region (repeatable; default one per region of CONFIG_SOURCE)")
        action.set_defaults(handler=cmd_notifications)
