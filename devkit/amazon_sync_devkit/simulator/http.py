"""The simulator's HTTP face: Amazon's paths, plus a control API under /_simulator/."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from amazon_sync_devkit.simulator.amazon import Reply, SimulatedAmazon, SimulatorConfig, error
from amazon_sync_devkit.simulator.clock import Clock
from amazon_sync_devkit.simulator.notifications_api import OPERATIONS as NOTIFICATION_OPERATIONS
from amazon_sync_devkit.simulator.notifications_api import NotificationsApi
from amazon_sync_devkit.simulator.seller_central import ListingChange, change_listing

FEEDS = "/feeds/2021-06-30"
LISTINGS = "/listings/2021-08-01/items/<seller_id>/<path:sku>"
NOTIFICATIONS = "/notifications/v1"
REPORTS = "/reports/2021-06-30"

URLS = Map([
    Rule("/auth/o2/token", methods=["POST"], endpoint="token"),
    Rule(f"{FEEDS}/documents", methods=["POST"], endpoint="createFeedDocument"),
    Rule(f"{FEEDS}/documents/<document_id>", methods=["GET"], endpoint="getFeedDocument"),
    Rule(f"{FEEDS}/feeds", methods=["POST"], endpoint="createFeed"),
    Rule(f"{FEEDS}/feeds", methods=["GET"], endpoint="getFeeds"),
    Rule(f"{FEEDS}/feeds/<feed_id>", methods=["GET"], endpoint="getFeed"),
    Rule(f"{FEEDS}/feeds/<feed_id>", methods=["DELETE"], endpoint="cancelFeed"),
    Rule(LISTINGS, methods=["PATCH"], endpoint="patchListingsItem"),
    Rule(LISTINGS, methods=["GET"], endpoint="getListingsItem"),
    Rule(f"{NOTIFICATIONS}/destinations", methods=["GET"], endpoint="getDestinations"),
    Rule(f"{NOTIFICATIONS}/destinations", methods=["POST"], endpoint="createDestination"),
    Rule(f"{NOTIFICATIONS}/destinations/<destination_id>", methods=["GET"], endpoint="getDestination"),
    Rule(f"{NOTIFICATIONS}/destinations/<destination_id>", methods=["DELETE"], endpoint="deleteDestination"),
    Rule(f"{NOTIFICATIONS}/subscriptions/<notification_type>", methods=["GET"], endpoint="getSubscription"),
    Rule(f"{NOTIFICATIONS}/subscriptions/<notification_type>", methods=["POST"], endpoint="createSubscription"),
    Rule(f"{NOTIFICATIONS}/subscriptions/<notification_type>/<subscription_id>", methods=["GET"],
         endpoint="getSubscriptionById"),
    Rule(f"{NOTIFICATIONS}/subscriptions/<notification_type>/<subscription_id>", methods=["DELETE"],
         endpoint="deleteSubscriptionById"),
    Rule(f"{REPORTS}/reports", methods=["POST"], endpoint="createReport"),
    Rule(f"{REPORTS}/reports/<report_id>", methods=["GET"], endpoint="getReport"),
    Rule(f"{REPORTS}/documents/<document_id>", methods=["GET"], endpoint="getReportDocument"),
    Rule("/_documents/upload/<document_id>", methods=["PUT"], endpoint="upload"),
    Rule("/_documents/download/<document_id>", methods=["GET"], endpoint="download"),
    Rule("/_simulator/listings", methods=["GET"], endpoint="sim_listings"),
    Rule("/_simulator/listings/<path:sku>", methods=["GET", "PUT"], endpoint="sim_listing"),
    Rule("/_simulator/seller-central/<path:sku>", methods=["POST"], endpoint="sim_seller_central"),
    Rule("/_simulator/feeds", methods=["GET"], endpoint="sim_feeds"),
    Rule("/_simulator/prepared-report", methods=["POST"], endpoint="sim_prepared_report"),
    Rule("/_simulator/clock", methods=["POST"], endpoint="sim_clock"),
    Rule("/_simulator/faults", methods=["POST"], endpoint="sim_faults"),
    Rule("/_simulator/stats", methods=["GET"], endpoint="sim_stats"),
])

_UNPARSED = object()


class SimulatorApp:
    def __init__(self, amazon: SimulatedAmazon,
                 observe: Callable[[str | None, int, Reply], None] | None = None,
                 notifications: NotificationsApi | None = None) -> None:
        self.amazon = amazon
        self.observe = observe
        self.notifications = notifications or NotificationsApi(amazon.config.application_id)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            return self.respond(error(exc.code or 404, "NotFound" if exc.code == 404 else "InvalidInput",
                                      f"{request.method} {request.path} is not an operation of this API."), None)
        operation = str(endpoint)
        amazon = self.amazon
        try:
            reply = self.route(operation, request, dict(args))
        except ValueError as exc:
            reply = error(400, "InvalidInput", str(exc))
        amazon.advance()
        return self.respond(reply, operation)

    def route(self, operation: str, request: Request, args: dict[str, str]) -> Reply:
        amazon = self.amazon
        if operation == "token":
            return amazon.token(request.form.to_dict())
        if operation == "upload":
            return amazon.upload(args["document_id"], request.args.get("X-Amz-Expires"),
                                 request.headers.get("Content-Type"), request.get_data())
        if operation == "download":
            return amazon.download(args["document_id"], request.args.get("X-Amz-Expires"))
        if operation.startswith("sim_"):
            return self.control(operation, request, args)
        with amazon.lock:
            denied = amazon.admit(operation, request.headers.get("x-amz-access-token"))
        if denied is not None:
            return denied
        body = self.json_body(request) if request.method in ("POST", "PUT", "PATCH") else None
        if body is _UNPARSED:
            return error(400, "InvalidInput", "The request body is not valid JSON.")
        if operation in NOTIFICATION_OPERATIONS:
            with amazon.lock:
                token = request.headers.get("x-amz-access-token") or ""
                refused = self.notifications.authorise(operation, amazon.grantless_scopes.get(token))
                return refused or self.notifications.handle(operation, args, request.args.to_dict(), body)
        marketplaces = [m for v in request.args.getlist("marketplaceIds") for m in v.split(",") if m]
        handlers: dict[str, Callable[[], Reply]] = {
            "createFeedDocument": lambda: amazon.create_feed_document(body),
            "getFeedDocument": lambda: amazon.get_feed_document(args["document_id"]),
            "createFeed": lambda: amazon.create_feed(body),
            "getFeeds": lambda: amazon.get_feeds(request.args.to_dict(flat=False)),
            "getFeed": lambda: amazon.get_feed(args["feed_id"]),
            "cancelFeed": lambda: amazon.cancel_feed(args["feed_id"]),
            "patchListingsItem": lambda: amazon.patch_listing(args["seller_id"], args["sku"], marketplaces, body,
                                                              request.args.get("mode")),
            "getListingsItem": lambda: amazon.get_listing(args["seller_id"], args["sku"], marketplaces),
            "createReport": lambda: amazon.reports.create_report(body),
            "getReport": lambda: amazon.reports.get_report(args["report_id"]),
            "getReportDocument": lambda: amazon.reports.get_report_document(args["document_id"]),
        }
        return handlers[operation]()

    @staticmethod
    def json_body(request: Request) -> Any:
        data = request.get_data()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return _UNPARSED

    def control(self, operation: str, request: Request, args: dict[str, str]) -> Reply:
        amazon = self.amazon
        body = self.json_body(request) if request.method in ("POST", "PUT") else None
        if body is _UNPARSED:
            return error(400, "InvalidInput", "The request body is not valid JSON.")
        with amazon.lock:
            if operation == "sim_listings":
                return Reply(200, {"listings": {sku: item.snapshot() for sku, item in amazon.listings.items()}})
            if operation == "sim_listing":
                if request.method == "PUT":
                    spec = body or {}
                    if not isinstance(spec, dict):
                        return error(400, "InvalidInput", "The body must be a JSON object.")
                    amazon.add_listing(args["sku"], spec.get("productType", "PRODUCT"),
                                       marketplace_ids=spec.get("marketplaceIds"), fulfillment=spec.get("fulfillment"),
                                       attributes=spec.get("attributes"))
                listing = amazon.listings.get(args["sku"])
                return Reply(200, listing.snapshot()) if listing else error(404, "NotFound", "no such SKU")
            if operation == "sim_seller_central":
                changed = change_listing(amazon, args["sku"], ListingChange.model_validate(body or {}))
                return Reply(200, changed.snapshot()) if changed else error(404, "NotFound", "no such SKU")
            if operation == "sim_prepared_report":
                # benchmarks: a million-listing GZIP document, served as every following report's content
                path = (body or {}).get("path")
                amazon.reports.prepared_document = Path(path).read_bytes() if path else None
                return Reply(200, {"bytes": len(amazon.reports.prepared_document or b"")})
            if operation == "sim_feeds":
                return Reply(200, {"feeds": [{**f.as_model(amazon.clock), "outcome": f.outcome,
                                              "inputFeedDocumentId": f.input_document_id, "report": f.report}
                                             for f in amazon.feeds.values()]})
            if operation == "sim_clock":
                amazon.clock.advance(float((body or {}).get("advance", 0)))
                amazon.advance()
                return Reply(200, {"now": amazon.clock.iso()})
            if operation == "sim_faults":
                if (body or {}).pop("release_stuck", False):
                    amazon.release_stuck()
                amazon.set_faults(body or {})
                return Reply(200, {"faults": vars(amazon.faults)})
            return Reply(200, {"calls": amazon.calls, "throttled": amazon.throttled,
                               "notifications": len(amazon.notifications), "feeds": len(amazon.feeds)})

    def respond(self, reply: Reply, operation: str | None) -> Response:
        if self.observe is not None:
            self.observe(operation, reply.status, reply)
        headers = {"x-amzn-RequestId": self.amazon.request_id()}
        if operation:
            headers.update(self.amazon.rate_header(operation))
        headers.update(reply.headers)
        if reply.raw is not None:
            return Response(reply.raw, status=reply.status, headers=headers, content_type=reply.content_type)
        body = b"" if reply.body is None else json.dumps(reply.body).encode()
        return Response(body, status=reply.status, headers=headers, content_type="application/json")


class SimulatorServer:
    """``with SimulatorServer(config) as sim:`` runs the simulator on a free local port in a thread."""

    def __init__(self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None, notify: Callable[[dict[str, Any]], None] | None = None,
                 observe: Callable[[str | None, int, Reply], None] | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.observe = observe
        self.amazon = SimulatedAmazon(self.config, clock, notify)
        self.notifications_api = NotificationsApi(self.config.application_id)  # destinations, subscriptions
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        app = SimulatorApp(self.amazon, self.observe, self.notifications_api)
        self._server = make_server(self.host, self.port, app, threaded=True)
        self.port = self._server.server_port
        self.config.base_url = self.url
        serve = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="sp-api-simulator", daemon=True)
        # Feeds finish on the clock even when nobody polls, so notifications arrive on their own.
        ticker = threading.Thread(target=self._tick, name="sp-api-simulator-clock", daemon=True)
        self._threads = [serve, ticker]
        for thread in self._threads:
            thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(0.1):
            self.amazon.advance()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
