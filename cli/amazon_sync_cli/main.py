"""`amazon-sync`: the operator's command line.

Exit codes: 0 success, 1 the operation failed (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from amazon_sync.errors import SyncError
from amazon_sync_cli.commands import database, development, notifications, operations

Handler = Callable[[argparse.Namespace], dict[str, Any]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amazon-sync",
        description="Keep a PrestaShop shop's stock and prices on Amazon in step. Database settings come from "
                    "DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, DB_TABLE_PREFIX (or DB_SECRET_ARN).")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for register in (database.register, operations.register, notifications.register, development.register):
        register(commands)
    return parser


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str, sort_keys=True))
        return
    message = result.get("message")
    if message:
        print(message)
    for key, value in result.items():
        if key not in {"message", "text"}:
            if isinstance(value, list | dict) and not value:
                continue
            print(f"  {key}: {value if not isinstance(value, list | dict) else json.dumps(value, default=str)}")
    if "text" in result:
        print(result["text"])


def _fail(message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": message}))
    else:
        print(f"amazon-sync: error: {message}", file=sys.stderr)
    return 1


def _log_to_stderr() -> None:
    """The services log through Powertools' Logger as in Lambda; here its JSON lines go to stderr (stdout is
    the command's result), warnings and worse unless POWERTOOLS_LOG_LEVEL asks for more."""
    logger = Logger(stream=sys.stderr)
    logger.registered_handler.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING").upper())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to_stderr()
    try:
        result = args.handler(args)
    except SyncError as exc:
        return _fail(str(exc), args.json)
    except (BotoCoreError, ClientError) as exc:
        return _fail(f"AWS: {exc} (check AWS credentials, region and AWS_ENDPOINT_URL)", args.json)
    except KeyboardInterrupt:
        print("amazon-sync: interrupted", file=sys.stderr)
        return 130
    _print(result, args.json)
    return int(result.get("exit_code", 0))


if __name__ == "__main__":
    sys.exit(main())
