"""`amazon-sync simulator`: the local SP-API simulator, from the development kit (amazon-sync-devkit)."""

from __future__ import annotations

import argparse
import contextlib
import threading
from typing import Any

from amazon_sync.errors import ConfigurationError


def cmd_simulator(args: argparse.Namespace) -> dict[str, Any]:
    try:
        from amazon_sync_devkit.simulator.amazon import SimulatorConfig
        from amazon_sync_devkit.simulator.http import SimulatorServer
        from amazon_sync_devkit.simulator.notifications import sqs_sink
    except ImportError as exc:
        raise ConfigurationError(f"the simulator is in the development kit: pip install ./devkit ({exc})") from None

    config = SimulatorConfig(seller_id=args.seller_id, rate_limits=not args.no_rate_limits,
                             processing_profile=args.processing, time_scale=args.time_scale,
                             queue_seconds=args.queue_seconds, processing_seconds=args.processing_seconds,
                             report_seconds=args.report_seconds,
                             validate_messages=args.validate_messages,
                             feed_call_latency_seconds=args.feed_call_latency)
    notify = sqs_sink(args.sqs_queue_url, args.sqs_endpoint_url) if args.sqs_queue_url else None
    with SimulatorServer(config, host=args.host, port=args.port, notify=notify) as server:
        print(f"SP-API simulator listening on {server.url}  (LWA: {server.url}/auth/o2/token)")
        print(f"  credentials: lwa_app_id={config.client_id} lwa_client_secret={config.client_secret} "
              f"refresh_token={config.refresh_tokens[0]} seller={config.seller_id}")
        print("  control API: /_simulator/listings, /_simulator/feeds, /_simulator/faults, /_simulator/clock;"
              " Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return {"message": "simulator stopped"}


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def register(commands: Any) -> None:
    sim = commands.add_parser("simulator", help="run the local SP-API simulator (LWA, Feeds, Listings Items)")
    sim.add_argument("--port", type=port_number, default=8600, help="port to listen on (0: any free port)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--seller-id", default="A1LOCALSELLER")
    sim.add_argument("--no-rate-limits", action="store_true", help="lift Amazon's usage plans (benchmarks)")
    sim.add_argument("--processing", choices=("fast", "realistic"), default="fast",
                     help="fast: --queue-seconds then --processing-seconds per feed, side by side; realistic: one "
                          "queue per seller, U(30 s, 5 min) + 5 ms per message each (docs/amazon-behaviours.md)")
    sim.add_argument("--time-scale", type=float, default=1.0,
                     help="multiply realistic processing times by this (e.g. 0.02 for a demo)")
    sim.add_argument("--queue-seconds", type=float, default=1.0, help="fast: time a feed stays IN_QUEUE")
    sim.add_argument("--processing-seconds", type=float, default=2.0, help="fast: time a feed stays IN_PROGRESS")
    sim.add_argument("--report-seconds", type=float, default=30.0, help="time a listings report stays IN_PROGRESS")
    sim.add_argument("--validate-messages", type=int, default=None,
                     help="validate only this many messages per feed against the schema (benchmarks)")
    sim.add_argument("--feed-call-latency", type=float, default=0.0,
                     help="seconds createFeedDocument, the upload and createFeed each take (benchmarks)")
    sim.add_argument("--sqs-queue-url", help="send FEED_PROCESSING_FINISHED notifications to this SQS queue")
    sim.add_argument("--sqs-endpoint-url", help="SQS endpoint (moto_server) for the notifications")
    sim.set_defaults(handler=cmd_simulator)
