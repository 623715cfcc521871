"""Operating the sync: status, export, poll, errors, retry, release, config."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amazon_sync.bootstrap import Runtime


# --- operating the sync ---------------------------------------------------------------------------


def _runtime() -> Runtime:
    from amazon_sync.bootstrap import Runtime

    return Runtime.from_env()


def _progress(summary: Any) -> None:
    if sys.stderr.isatty():
        print(f"\r  claimed {summary.rows_claimed:>9,} rows   read {summary.offers_read:>8,} offers   "
              f"{summary.messages:>8,} messages", end="", file=sys.stderr, flush=True)


def _ack_progress(summary: Any) -> None:
    if sys.stderr.isatty():
        print(f"\r  checked {summary.feeds_checked:>4} feed(s)   {summary.feeds_done:>4} done   "
              f"{summary.rows_deleted:>9,} row(s) deleted", end="", file=sys.stderr, flush=True)


def _end_progress() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _failed(result: dict[str, Any], what: str, failure: str | None) -> dict[str, Any]:
    """A run that could not do its work: exit 1 and one line with Amazon's (or the database's) reason."""
    if failure:
        result["error"] = f"{what} could not do its work: {failure}"
        result["exit_code"] = 1
    return result


def cmd_status(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.adapters.mysql.eventlog import EventLog

    runtime = _runtime()
    stats = EventLog(runtime.connection(), runtime.tables).queue_stats()
    now = time.time()
    feeds = [{"feed_id": f.feed_id, "intent": f.intent_id, "marketplace": f.marketplace_id, "status": f.status,
              "messages": f.message_count, "age_seconds": round(now - f.created_at)}
             for f in runtime.state.feeds_in_flight()]
    errors = [{"sku": e.sku, "marketplace": e.marketplace_id, "code": e.code, "message": e.message}
              for e in runtime.state.sku_errors(limit=5)]
    attention = [{"feed_id": f.feed_id, "intent": f.intent_id, "marketplace": f.marketplace_id,
                  "reason": f.attention, "since": f.attention_at} for f in runtime.state.feeds_needing_attention()]
    kinds = ("export", "ack", "reconcile")
    runs = {kind: runtime.state.last_run(kind) for kind in kinds}
    failures = {kind: runtime.state.last_failure(kind) for kind in kinds}
    lines = [f"queue depth        {stats.pending_rows:,} rows ({stats.pending_offers:,} offers)",
             f"oldest change      {stats.oldest_pending_age_seconds:,.0f} s ago" if stats.pending_rows
             else "oldest change      -",
             f"claimed / failed   {stats.claimed_rows:,} / {stats.failed_rows:,} rows",
             f"feeds in flight    {len(feeds)}"]
    lines += [f"  {f['feed_id'] or '(submitting)'} {f['marketplace']} {f['status']} {f['messages']} messages, "
              f"{f['age_seconds']} s old" for f in feeds]
    lines.append(f"needing attention  {len(attention)}" + ("  (amazon-sync release --feed ID | --all)"
                                                          if attention else ""))
    lines += [f"  {a['feed_id'] or a['intent']} {a['marketplace']}: {a['reason']}" for a in attention]
    for kind, run in runs.items():
        lines.append(f"last {kind:<13}{_ago(run['at'], now) if run else 'never'}")
        failure = failures[kind]
        if failure:
            lines.append(f"  last failure     {_ago(failure['at'], now)}: {failure['reason']}")
    # Sales PrestaShop gives no end: sent with a far end_at, so they run on Amazon until PrestaShop's ends.
    open_sales = EventLog(runtime.connection(), runtime.tables).open_ended_sales(limit=10000)
    note = " (no end in PrestaShop: on Amazon until its specific price changes)" if open_sales else ""
    lines.append(f"open-ended sales   {len(open_sales)}{note}")
    amazon = _amazon_read(runtime, now)
    lines += amazon.pop("lines")
    lines.append(f"recent errors      {len(errors)}")
    lines += [f"  {e['sku']} [{e['marketplace']}] {e['code']}: {e['message']}" for e in errors]
    return {"queue_depth": stats.pending_rows, "pending_offers": stats.pending_offers,
            "oldest_pending_age_seconds": stats.oldest_pending_age_seconds, "claimed_rows": stats.claimed_rows,
            "failed_rows": stats.failed_rows, "feeds_in_flight": feeds, "feeds_needing_attention": attention,
            "last_failures": failures,
            "open_ended_sales": [{"marketplace": m, "sku": sku} for m, sku in open_sales],
            "last_runs": runs, "recent_errors": errors, "amazon_listings": amazon,
            "text": "\n".join(lines)}



def _amazon_read(runtime: Runtime, now: float) -> dict[str, Any]:
    """When Amazon's listings were last read per marketplace, and what reconciliation found."""
    from amazon_sync.adapters.mysql.listings import AmazonListings

    listings = AmazonListings(runtime.connection(), runtime.tables)
    lines, per_marketplace = [], {}
    for marketplace in runtime.config.marketplaces:
        marketplace_id = marketplace.marketplace_id
        read = listings.last_read(marketplace_id)
        counts = {**listings.counts(marketplace_id), **listings.finding_counts(marketplace_id)}
        per_marketplace[marketplace_id] = {"read_at": read.at if read else None, **counts}
        if read is None:
            lines.append(f"Amazon {marketplace_id}  never read: full syncs are refused until `amazon-sync reconcile`")
            continue
        lines.append(f"Amazon {marketplace_id}  read {_ago(read.at, now)}: {read.listings:,} listings, "
                     f"{counts['listings']:,} of them kept for the export ({counts['fba']:,} FBA); "
                     f"drift {counts['drift']:,}, fought over {counts['fought_over']:,}, "
                     f"not on Amazon {counts['not_on_amazon']:,}, listing problems {counts['listing_problem']:,}")
    return {"marketplaces": per_marketplace, "lines": lines}


def _ago(at: float, now: float) -> str:
    return f"{datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC ({now - at:,.0f} s ago)"


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.errors import ConfigurationError
    from amazon_sync.services.export import ExportRequest

    if args.out and not args.dry_run:
        args.parser.error("--out writes a dry run's documents: add --dry-run")
    if args.validate and not args.dry_run:
        raise ConfigurationError("--validate needs --dry-run: Amazon's VALIDATION_PREVIEW is never used in a real run")
    request = ExportRequest(mode="full" if args.full else "incremental",
                            marketplaces=args.marketplace or None, dryRun=args.dry_run, validate_=args.validate)
    if args.remote:
        return _invoke_remote(request.model_dump(exclude_none=True, by_alias=True))
    runtime = _runtime()
    overrides: dict[str, Any] = {"progress": _progress}
    if args.dry_run and args.out:
        from amazon_sync.adapters.s3 import FolderDocumentStore

        overrides["dry_run_store"] = FolderDocumentStore(args.out)
    summary = runtime.exporter(**overrides).run(request)
    _end_progress()
    result: dict[str, Any] = summary.as_dict()
    if summary.skipped_reason:
        result["message"] = f"export skipped: {summary.skipped_reason}"
    elif summary.refused_marketplaces and not summary.messages:
        result["message"] = (f"full sync refused for {', '.join(summary.refused_marketplaces)}: Amazon's listings "
                             "were never read, and Amazon would create an incomplete listing for every SKU it lacks; "
                             "run `amazon-sync reconcile` first")
        result["exit_code"] = 1
    elif args.dry_run:
        result["rows_pending"] = result.pop("rows_claimed")  # a dry run reads the queue, it claims nothing
        where = args.out or f"s3://{runtime.settings.document_bucket}"
        result["message"] = (f"dry run: {summary.rows_claimed} pending row(s), {summary.messages} message(s) in "
                             f"{len(summary.dry_run_documents)} document(s) written to {where}; "
                             "nothing claimed or submitted")
        if args.validate:
            verdicts = [entry["status"] for entry in summary.validation]
            result["message"] += (f"; Amazon checked {len(verdicts)} of them (VALIDATION_PREVIEW, nothing "
                                  f"applied): {verdicts.count('VALID')} VALID, {verdicts.count('INVALID')} INVALID"
                                  + "".join(f"\n  {e['status']} {e['sku']}: {'; '.join(e['issues'])}"
                                            for e in summary.validation if e["status"] != "VALID"))
    else:
        result["message"] = (f"claimed {summary.rows_claimed} row(s), submitted {summary.feeds_submitted} feed(s) "
                             f"with {summary.feed_messages} message(s) and {summary.express_messages} through the "
                             f"express lane ({summary.express_accepted} accepted)")
    return _failed(result, "export", summary.failure)


# The export function may run its whole Timeout (900 s in template.yaml): the AWS CLI's and boto3's 60 s
# read timeout would give up, and their automatic retry would invoke it a second time, into its reserved
# concurrency of 1. One attempt, waiting as long as the function may run.
REMOTE_READ_TIMEOUT_SECONDS = 910


def lambda_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", config=Config(read_timeout=REMOTE_READ_TIMEOUT_SECONDS, connect_timeout=10,
                                                retries={"total_max_attempts": 1}))


def _invoke_remote(payload: dict[str, Any], variable: str = "EXPORT_FUNCTION_NAME") -> dict[str, Any]:
    import json

    from amazon_sync.errors import ConfigurationError

    name = os.environ.get(variable)
    if not name:
        raise ConfigurationError(f"--remote needs {variable} (the deployed function's name)")
    try:
        answer = lambda_client().invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    except Exception as exc:  # botocore's ClientError and EndpointConnectionError alike
        raise ConfigurationError(f"cannot invoke {name}: {exc}") from None
    result: dict[str, Any] = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise ConfigurationError(f"{name} failed: {result.get('errorMessage', result)}")
    result["message"] = f"invoked {name}"
    return result


def cmd_reconcile(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.services.reconcile import ReconcileRequest

    request = ReconcileRequest(marketplaces=args.marketplace or None, dryRun=args.dry_run)
    if args.remote:
        return _invoke_remote(request.model_dump(exclude_none=True), "RECONCILE_FUNCTION_NAME")
    summary = _runtime().reconciler().run(request)
    result = summary.as_dict()
    if summary.skipped_reason:
        result["message"] = f"reconciliation skipped: {summary.skipped_reason}"
        return result
    lines = []
    for r in summary.marketplaces:
        lines.append(f"{r.marketplace_id}: {r.state}; {r.listings_read:,} listings read ({r.fba_listings:,} FBA), "
                     f"{r.compared:,} SKUs compared, {r.in_sync:,} in sync, {r.drift:,} drifting"
                     f"{' (would be queued)' if summary.dry_run else ' (queued again)'}, "
                     f"{r.fought_over:,} fought over, "
                     f"{r.not_on_amazon:,} not on Amazon, {r.listing_problems:,} listing problems, "
                     f"{r.skipped_in_flight + r.skipped_recent:,} not judged (change of ours in flight or recent)")
        lines += [f"  {example}" for example in r.drift_examples]
    result["message"] = "\n".join(lines) or "no marketplace reconciled"
    result.pop("marketplaces")
    if summary.failures:
        result["message"] += "\n" + "\n".join(f"failed: {failure}" for failure in summary.failures)
        result["exit_code"] = 1
    return result


def cmd_drift(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.adapters.mysql.listings import AmazonListings, FindingKind

    runtime = _runtime()
    listings = AmazonListings(runtime.connection(), runtime.tables)
    if args.clear:
        cleared = listings.clear_fought_over(args.marketplace, args.clear)
        return {"cleared": cleared, "message": f"{args.clear}: {cleared} finding(s) cleared; the next reconciliation "
                                                "repairs it again if it still drifts"}
    kind: FindingKind = "not_on_amazon" if args.not_on_amazon else "listing_problem" if args.problems else "drift"
    findings = listings.findings(args.marketplace, kind, args.limit)
    rows = [{"marketplace": f.marketplace_id, "sku": f.sku, "detail": f.detail, "repairs": f.repairs,
             "fought_over": f.fought_over, "since": f.first_seen} for f in findings]
    text = "\n".join(f"{f.sku} [{f.marketplace_id}]{' FOUGHT OVER' if f.fought_over else ''}: {f.detail}"
                     f"{f' ({f.repairs} repair(s) queued)' if kind == 'drift' else ''}, since "
                     f"{datetime.fromtimestamp(f.first_seen, UTC):%Y-%m-%d %H:%M}" for f in findings)
    return {"findings": rows, "text": text or f"no {kind.replace('_', ' ')} findings"}


def cmd_poll(args: argparse.Namespace) -> dict[str, Any]:
    summary = _runtime().acknowledger(progress=_ack_progress).run()
    _end_progress()
    result = summary.as_dict()
    result["message"] = (f"checked {summary.feeds_checked} feed(s): {summary.feeds_done} done, "
                         f"{summary.feeds_failed} failed, {summary.feeds_waiting_attention} needing attention; "
                         f"{summary.messages_accepted} accepted, {summary.messages_rejected} rejected; "
                         f"{summary.rows_deleted} row(s) deleted; queue depth {summary.queue_depth}")
    return _failed(result, "poll", summary.failure)


def cmd_errors(args: argparse.Namespace) -> dict[str, Any]:
    errors = _runtime().state.sku_errors(sku=args.sku, limit=args.limit)
    rows = [e.model_dump() for e in errors]
    text = "\n".join(f"{e.sku} [{e.marketplace_id}] {e.severity} {e.code}"
                     f"{' (' + e.attribute + ')' if e.attribute else ''}: {e.message} — feed {e.feed_id or '-'}, "
                     f"seen {e.occurrences}x, last {datetime.fromtimestamp(e.last_seen, UTC):%Y-%m-%d %H:%M}"
                     for e in errors) or "no errors recorded"
    return {"errors": rows, "text": text}


def cmd_retry(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.adapters.mysql.eventlog import EventLog

    runtime = _runtime()
    released = EventLog(runtime.connection(), runtime.tables).retry_failed()
    return {"released": released, "message": f"{released} failed row(s) back in the queue"}


def cmd_release(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.errors import ConfigurationError

    runtime = _runtime()
    acknowledger = runtime.acknowledger()
    if args.feed:
        waiting = {f.feed_id for f in runtime.state.feeds_needing_attention()} | {
            f.intent_id for f in runtime.state.feeds_needing_attention()}
        unknown = [feed for feed in args.feed if feed not in waiting]
        if unknown:
            raise ConfigurationError(f"feed(s) {', '.join(unknown)} not in ATTENTION (amazon-sync status lists them)")
    released = acknowledger.release_attention(args.feed or None)
    return {"feeds_released": released.feed_ids, "rows_released": released.rows_released,
            "message": f"{released.feeds_released} feed(s) released from ATTENTION; {released.rows_released} "
                       "row(s) back in the queue, their SKUs sent again by the next export"}


def cmd_config_validate(args: argparse.Namespace) -> dict[str, Any]:
    from amazon_sync.config import load_config

    config = load_config(args.file)
    return {"marketplaces": [m.marketplace_id for m in config.marketplaces],
            "quantity_marketplaces": sorted(config.quantity_marketplaces()),
            "message": f"{args.file} is valid: {len(config.marketplaces)} marketplace(s)"}


def cmd_config_schema(args: argparse.Namespace) -> dict[str, Any]:
    import json

    from amazon_sync.config import config_schema

    schema: dict[str, Any] = config_schema()
    return {"text": json.dumps(schema, indent=2)} if not args.json else schema


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def register(commands: Any) -> None:
    status = commands.add_parser("status", help="queue, feeds in flight, last runs, recent errors")
    status.set_defaults(handler=cmd_status)
    export = commands.add_parser("export", help="run an export now")
    export.add_argument("--full", action="store_true", help="re-send every active offer (reconciliation)")
    export.add_argument("--dry-run", action="store_true", help="build the feeds, claim and submit nothing")
    export.add_argument("--out", metavar="DIR", help="with --dry-run: write the feeds to this folder")
    export.add_argument("--validate", action="store_true",
                        help="with --dry-run: have Amazon check a sample of the messages (patchListingsItem "
                             "VALIDATION_PREVIEW: nothing is applied)")
    export.add_argument("--marketplace", action="append", metavar="ID", help="only this marketplace (repeatable)")
    export.add_argument("--remote", action="store_true", help="invoke the deployed function (EXPORT_FUNCTION_NAME)")
    export.set_defaults(handler=cmd_export, parser=export)
    reconcile = commands.add_parser("reconcile", help="read Amazon's listings, compare with PrestaShop, repair drift")
    reconcile.add_argument("--marketplace", action="append", metavar="ID", help="only this marketplace (repeatable)")
    reconcile.add_argument("--dry-run", action="store_true", help="compare and report; store and queue nothing")
    reconcile.add_argument("--remote", action="store_true",
                           help="invoke the deployed function (RECONCILE_FUNCTION_NAME)")
    reconcile.set_defaults(handler=cmd_reconcile)
    drift = commands.add_parser("drift", help="SKUs where Amazon differs from PrestaShop (last reconciliation)")
    drift.add_argument("--marketplace", metavar="ID", help="only this marketplace")
    drift.add_argument("--not-on-amazon", action="store_true", help="list PrestaShop SKUs Amazon has no listing for")
    drift.add_argument("--problems", action="store_true", help="list suppressed and incomplete listings")
    drift.add_argument("--clear", metavar="SKU", help="forget a fought-over SKU so it is repaired again")
    drift.add_argument("--limit", type=int, default=200)
    drift.set_defaults(handler=cmd_drift)
    poll = commands.add_parser("poll", help="run the acknowledgment step now")
    poll.set_defaults(handler=cmd_poll)
    errors = commands.add_parser("errors", help="Amazon's rejections per SKU")
    errors.add_argument("--sku", help="only this SKU")
    errors.add_argument("--limit", type=positive_int, default=100)
    errors.set_defaults(handler=cmd_errors)
    retry = commands.add_parser("retry", help="release failed rows for another attempt")
    retry.set_defaults(handler=cmd_retry)
    release = commands.add_parser("release", help="send the rows of feeds in ATTENTION back to the queue")
    which = release.add_mutually_exclusive_group(required=True)
    which.add_argument("--feed", action="append", metavar="FEED_ID", help="this feed (repeatable)")
    which.add_argument("--all", action="store_true", help="every feed in ATTENTION")
    release.set_defaults(handler=cmd_release)
    config = commands.add_parser("config", help="check a marketplace configuration document, print its schema")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    validate = config_commands.add_parser("validate", help="validate a JSON/YAML configuration document")
    validate.add_argument("file")
    validate.set_defaults(handler=cmd_config_validate)
    schema = config_commands.add_parser("schema", help="print the configuration's JSON schema")
    schema.set_defaults(handler=cmd_config_schema)

