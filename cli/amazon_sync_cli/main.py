"""`amazon-sync`: the operator's command line.

Exit codes: 0 success, 1 the operation failed or could not do its work (one line on stderr says why),
2 bad arguments, 130 interrupted. `--json` may appear anywhere on the line. When the reader of the
output goes away (`amazon-sync export | head -1`) the command still finishes and exits as it would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pymysql
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
        print(json.dumps(result, default=str, sort_keys=True, ensure_ascii=False))
        return
    if result.get("error"):
        print(f"amazon-sync: error: {result['error']}", file=sys.stderr)
        return
    message = result.get("message")
    if message:
        print(message)
    if "text" in result:  # a command that lays out its own text shows that, not its raw fields
        print(result["text"])
        return
    for key, value in result.items():
        if key not in {"message", "exit_code"}:
            if (isinstance(value, list | dict) and not value) or value is None:
                continue
            shown = value if not isinstance(value, list | dict) else json.dumps(value, default=str,
                                                                                 ensure_ascii=False)
            print(f"  {key}: {shown}")


def _fail(message: str, as_json: bool) -> int:
    message = " ".join(message.split())  # one line, whatever the cause put in it
    if as_json:
        print(json.dumps({"error": message}, ensure_ascii=False))
    else:
        print(f"amazon-sync: error: {message}", file=sys.stderr)
    return 1


def _log_to_stderr() -> None:
    """The services log through Powertools' Logger as in Lambda; here its JSON lines go to stderr (stdout is
    the command's result) only when POWERTOOLS_LOG_LEVEL asks for them: by default the command's result,
    or its one error line, says what happened (the one-line promise holds for failures too)."""
    logger = Logger(stream=sys.stderr)
    logger.registered_handler.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "CRITICAL").upper())


def describe_mysql_error(exc: pymysql.err.MySQLError) -> str:
    code = exc.args[0] if exc.args else "?"
    text = str(exc.args[-1]) if exc.args else str(exc)
    hint = ""
    if code in (1044, 1142, 1143, 1227, 1370):
        hint = ": the database user lacks this privilege; run the command as an administrative user"
    return f"the database refused the statement (MySQL error {code}: {text}){hint}"


def _stdout_gone() -> None:
    # Python's advice for SIGPIPE: point stdout at devnull so the interpreter's final flush is quiet.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    # --json is accepted anywhere: before or after the command, as in `amazon-sync status --json`
    args = parser.parse_args((["--json"] if as_json else []) + [a for a in arguments if a != "--json"])
    _log_to_stderr()
    try:
        result = args.handler(args)
    except SyncError as exc:
        return _fail(str(exc), as_json)
    except pymysql.err.MySQLError as exc:
        return _fail(describe_mysql_error(exc), as_json)
    except (BotoCoreError, ClientError) as exc:
        return _fail(f"AWS: {exc} (check AWS credentials, region and AWS_ENDPOINT_URL)", as_json)
    except KeyboardInterrupt:
        print("amazon-sync: interrupted", file=sys.stderr)
        return 130
    try:
        _print(result, as_json)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()
    return int(result.get("exit_code", 0))


if __name__ == "__main__":
    sys.exit(main())
