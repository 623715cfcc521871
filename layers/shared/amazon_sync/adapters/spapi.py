"""The SP-API adapter: python-amazon-sp-api, pointed at Amazon or at the local simulator.

The library has no setting for the API host or the LWA token URL, assumes https in its Host header,
does not retry throttled calls and turns some error responses into empty payloads. This module fixes
exactly those points, and nothing else, so the same code talks to real Amazon when no override is set.

python-amazon-sp-api and httpx are imported when a client is first built, not with this module: the
models and the gateway protocol are all most runs need, and the library costs a cold start dearly.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import random
import sys
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from amazon_sync.errors import AmazonError, ConfigurationError

if TYPE_CHECKING:
    from sp_api.auth.exceptions import AuthorizationError
    from sp_api.base import Marketplaces
    from sp_api.base.exceptions import SellingApiException

FEED_TYPE = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
# A processing report of a 25,000-message feed with an issue on every message is ~10 MB; anything
# far larger is not a report, and decompressing it without a bound could exhaust the function's memory.
MAX_REPORT_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60.0
# a 10 MB document (Amazon's limit) at 2 MB/s: well within Lambda's bandwidth to S3
UPLOAD_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


class SpApiCredentials(BaseModel):
    """LWA credentials, as kept in the SP-API secret (JSON with these keys)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)
    lwa_app_id: str = Field(min_length=1)
    lwa_client_secret: SecretStr
    refresh_token: SecretStr


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class SpApiEndpoints(BaseModel):
    """Overrides for a local simulator; both None means real Amazon.

    The token URL receives the client secret and the refresh token, the API URL the access token: plain
    http is accepted only for a server on this machine (the simulator), https everywhere else.
    """

    model_config = ConfigDict(hide_input_in_errors=True)
    api_url: str | None = None
    token_url: str | None = None

    @field_validator("api_url", "token_url")
    @classmethod
    def _https_unless_loopback(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            return value
        raise ValueError("must be an https URL (plain http only to this machine: 127.0.0.1, ::1, localhost)")


class AmazonThrottled(AmazonError):
    pass


class CredentialsRejected(AmazonError):
    """Login with Amazon refused the client id/secret or the refresh token (invalid_client, invalid_grant)."""


class AmazonUnavailable(AmazonError):
    """A call that may succeed if tried again later: 429, 5xx, an empty answer, a network error."""


class ReportUnreadable(AmazonError):
    """The report was downloaded but cannot be read: retrying the download would not help."""


class FeedStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedId: str
    feedType: str
    processingStatus: Literal["CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"]
    createdTime: datetime
    marketplaceIds: list[str] = Field(default_factory=list)
    processingStartTime: datetime | None = None
    processingEndTime: datetime | None = None
    resultFeedDocumentId: str | None = None


class _CreateDocument(BaseModel):
    feedDocumentId: str
    url: str


class _FeedDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedDocumentId: str
    url: str
    compressionAlgorithm: str | None = None


class _CreateFeed(BaseModel):
    feedId: str


class FeedsGateway(Protocol):
    """What the export and acknowledgment sides need from Amazon's Feeds API."""

    def submit_document(self, document: bytes) -> str: ...
    def create_feed(self, document_id: str, marketplace_id: str) -> str: ...
    def get_feed(self, feed_id: str) -> FeedStatus: ...
    def list_feeds(self, marketplace_id: str, created_since: datetime) -> list[FeedStatus]: ...
    def download_report(self, document_id: str) -> str: ...


class ListingIssue(BaseModel):
    """An issue of a Listings Items submission (``Issue`` in listingsItems_2021-08-01)."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    severity: Literal["ERROR", "WARNING", "INFO"]
    attributeNames: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)


class ListingSubmission(BaseModel):
    """``ListingsItemSubmissionResponse``: ACCEPTED (queued for processing, not yet applied), INVALID
    (nothing accepted), or VALID (only with mode=VALIDATION_PREVIEW: checked, nothing applied)."""

    model_config = ConfigDict(extra="allow")
    sku: str
    status: Literal["ACCEPTED", "INVALID", "VALID"]
    submissionId: str
    issues: list[ListingIssue] = Field(default_factory=list)


class ListingsGateway(Protocol):
    """What the express lane needs from Amazon's Listings Items API."""

    def patch_listings_item(self, seller_id: str, sku: str, marketplace_id: str, product_type: str,
                            patches: list[dict[str, Any]], *, issue_locale: str | None = None,
                            validation_preview: bool = False) -> ListingSubmission: ...


_API_PACKAGE = "sp_api.api"
_API_PACKAGE_LOCK = threading.RLock()


def sp_api_class(module: str, name: str) -> type[Any]:
    """A client class from one module of python-amazon-sp-api's ``sp_api.api`` package.

    The package's own ``__init__`` imports every one of the library's ~90 API modules, about 50 ms of
    CPU at each cold start for the two or three we use. So the package is registered without running
    it, and its submodules import as usual. Anyone who then asks the package itself for a name
    (``from sp_api.api import Orders``) gets it: the first such question runs the ``__init__`` (PEP 562).
    """
    with _API_PACKAGE_LOCK:
        if _API_PACKAGE not in sys.modules:
            _register_without_init()
    found: type[Any] = getattr(importlib.import_module(module), name)
    return found


def _register_without_init() -> None:
    spec = importlib.util.find_spec(_API_PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # an ordinary import then says what is wrong
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    running: list[bool] = []

    def run_init(attribute: str) -> Any:
        # One thread runs the __init__ while the others wait for it and then find their name; a name the
        # __init__ itself asks for before defining it is missing, as in any import; an __init__ that
        # fails leaves the hook in place, so the next question raises the real error again.
        with _API_PACKAGE_LOCK:
            if package.__dict__.get("__getattr__") is run_init and not running:
                running.append(True)
                try:
                    loader.exec_module(package)
                finally:
                    running.clear()
                del package.__dict__["__getattr__"]
        try:
            return package.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {_API_PACKAGE!r} has no attribute {attribute!r}") from None

    package.__getattr__ = run_init  # type: ignore[method-assign]
    sys.modules[_API_PACKAGE] = package
    parent, _, child = _API_PACKAGE.rpartition(".")
    setattr(sys.modules[parent], child, package)  # what the import system does for a package it loads


@functools.cache
def tls_context() -> Any:
    """One TLS context (httpx's default: certifi's CAs, or SSL_CERT_FILE/SSL_CERT_DIR) for every
    client of a run: each context loads the CA bundle again, ~20 ms of CPU, and a run builds four
    clients or more (an API client and its LWA token client per API, the document downloads)."""
    import httpx

    return httpx.create_ssl_context()


def _marketplace(marketplace_id: str) -> Marketplaces:
    from sp_api.base import Marketplaces

    for member in Marketplaces:
        if member.marketplace_id == marketplace_id:
            return member
    raise ConfigurationError(f"{marketplace_id!r} is not an Amazon marketplace id known to the SP-API client")


def _token_client_class(token_url: str | None) -> type[Any]:
    from sp_api.auth import AccessTokenClient

    if not token_url:
        return AccessTokenClient  # type: ignore[no-any-return]
    parts = urlsplit(token_url)
    cache_scope = token_url

    class OverriddenAccessTokenClient(AccessTokenClient):  # type: ignore[misc]
        scheme = f"{parts.scheme}://"
        host = parts.netloc
        path = parts.path or "/auth/o2/token"

        def _get_cache_key(self, token_flavor: str = "") -> str:
            # The library caches tokens per refresh token only; a token from another endpoint is useless.
            key: str = super()._get_cache_key(token_flavor + cache_scope)
            return key

    return OverriddenAccessTokenClient


def _with_correct_host(client_class: type[Any]) -> type[Any]:
    """The library derives the Host header as endpoint[8:], which is only right for https URLs."""

    class HostCorrectClient(client_class):  # type: ignore[misc]
        @property
        def headers(self) -> dict[str, str]:
            headers: dict[str, str] = super().headers
            headers["host"] = urlsplit(self.endpoint).netloc
            return headers

        def _request(self, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
            # grantless operations build their own headers, with the same endpoint[8:] host
            if headers is not None:
                headers = {**headers, "host": urlsplit(self.endpoint).netloc}
            return super()._request(path, headers=headers, **kwargs)

    HostCorrectClient.__name__ = f"HostCorrect{client_class.__name__}"
    corrected: type[Any] = HostCorrectClient
    return corrected


def sp_api_client(client_class: type[Any], credentials: SpApiCredentials, marketplace_id: str,
                  endpoints: SpApiEndpoints | None = None) -> Any:
    """Any python-amazon-sp-api client class, with credentials passed in code (never the config-file
    fallback, which writes to the home directory) and the endpoint overrides applied."""
    endpoints = endpoints or SpApiEndpoints()
    client = _with_correct_host(client_class)(
        _marketplace(marketplace_id),
        credentials={"lwa_app_id": credentials.lwa_app_id,
                     "lwa_client_secret": credentials.lwa_client_secret.get_secret_value(),
                     "refresh_token": credentials.refresh_token.get_secret_value()},
        auth_token_client_class=_token_client_class(endpoints.token_url),
        verify=tls_context(),
    )
    if endpoints.api_url:
        client.endpoint = endpoints.api_url.rstrip("/")
    return client


class RetryPolicy(BaseModel):
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0


class SpApiClient:
    """A python-amazon-sp-api client with retries for throttling and transient failures, a second login
    after a 403 and one re-read of the credentials after LWA refuses them."""

    client_class: type[Any] | None = None  # a python-amazon-sp-api class; None: the Feeds API

    def __init__(self, credentials: SpApiCredentials, marketplace_id: str,
                 endpoints: SpApiEndpoints | None = None, retry: RetryPolicy | None = None,
                 deadline: Callable[[], float] | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_throttle: Callable[[str], None] | None = None,
                 reload_credentials: Callable[[], SpApiCredentials | None] | None = None,
                 max_report_bytes: int = MAX_REPORT_BYTES) -> None:
        self.retry = retry or RetryPolicy()
        self.max_report_bytes = max_report_bytes
        self.marketplace_id = marketplace_id
        self.endpoints = endpoints
        # After LWA refuses the credentials: the current ones from the secret, or None when unchanged.
        self.reload_credentials = reload_credentials
        self.deadline = deadline  # seconds left to work with, e.g. the Lambda's remaining time
        self.sleep = sleep
        self.on_throttle = on_throttle
        self.client = sp_api_client(self.api_class(), credentials, marketplace_id, endpoints)

    def api_class(self) -> type[Any]:
        """``client_class``, or the Feeds API's, imported only when a client is built."""
        if self.client_class is not None:
            return self.client_class
        return sp_api_class("sp_api.api.feeds.feeds_2021_06_30", "FeedsV20210630")

    # -- retries ----------------------------------------------------------------------------------

    def _call(self, operation: str, call: Callable[[], T], attempts: int | None = None) -> T:
        import httpx
        from sp_api.auth.exceptions import AuthorizationError
        from sp_api.base.exceptions import (
            SellingApiException,
            SellingApiForbiddenException,
            SellingApiGatewayTimeoutException,
            SellingApiRequestThrottledException,
            SellingApiServerException,
            SellingApiTemporarilyUnavailableException,
        )

        last: Exception | None = None
        logged_in_again = reloaded = False
        attempt = 0
        attempts = self.retry.attempts if attempts is None else attempts
        while attempt < attempts:
            try:
                return call()
            except SellingApiRequestThrottledException:
                last = AmazonThrottled(f"{operation} throttled by Amazon (429)")
                if self.on_throttle:
                    self.on_throttle(operation)
            except (SellingApiServerException, SellingApiTemporarilyUnavailableException,
                    SellingApiGatewayTimeoutException) as exc:
                last = AmazonUnavailable(f"{operation} failed on Amazon's side: {_describe(exc)}")
            except SellingApiForbiddenException as exc:
                if logged_in_again:
                    raise AmazonError(f"{operation} was refused (403): {_describe(exc)}") from None
                # The cached access token expired or was revoked early: log in again once, at no cost.
                self._forget_token()
                logged_in_again = True
                continue
            except AuthorizationError as exc:
                # A rotated client secret (Amazon requires rotation) or a re-authorised refresh token: the
                # secret is read again once; the same credentials refused twice are an operator's problem.
                fresh = self.reload_credentials() if self.reload_credentials and not reloaded else None
                if fresh is None:
                    raise CredentialsRejected(
                        f"Login with Amazon refused the SP-API credentials ({_describe_login(exc)}): check the "
                        "client secret and refresh token in the SP-API secret") from None
                reloaded = True
                self.client = sp_api_client(self.api_class(), fresh, self.marketplace_id, self.endpoints)
                continue
            except (httpx.TransportError, _EmptyAnswer) as exc:
                last = AmazonUnavailable(f"{operation}: {exc or type(exc).__name__}")
            except SellingApiException as exc:
                raise AmazonError(f"{operation} was rejected by Amazon: {_describe(exc)}") from None
            attempt += 1
            if attempt >= attempts:
                break
            delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if self.deadline is not None and self.deadline() < delay + 1:
                break
            self.sleep(delay)
        assert last is not None
        raise last

    def _forget_token(self) -> None:
        from sp_api.auth import access_token_client

        access_token_client.cache.clear()


class SpApiFeeds(SpApiClient):
    """FeedsGateway over python-amazon-sp-api (the Feeds API: SpApiClient's default client class)."""

    _uploads: Any = None  # the httpx client of the document uploads, built with the first one

    # -- operations -------------------------------------------------------------------------------

    def submit_document(self, document: bytes) -> str:
        """createFeedDocument, then upload."""

        def create() -> str:
            # The document is uploaded here, not by the library: it builds a client per upload (a TLS
            # context loading the CA bundle again, ~30 ms a feed) with httpx's 5 s default timeout.
            response = self.client.create_feed_document(None, FEED_CONTENT_TYPE)
            created = _parse(_CreateDocument, response.payload, "createFeedDocument")
            self._upload(created.url, document)
            return created.feedDocumentId

        return self._call("createFeedDocument", create)

    def _upload(self, url: str, document: bytes) -> None:
        """PUT the document to its pre-signed URL; a refusal (an expired URL, S3 failing) is retried with a
        new document, as the whole createFeedDocument call is."""
        import httpx

        if self._uploads is None:
            self._uploads = httpx.Client(timeout=UPLOAD_TIMEOUT_SECONDS, verify=tls_context())
        answer = self._uploads.put(url, content=document, headers={"Content-Type": FEED_CONTENT_TYPE})
        if answer.status_code >= 300:
            raise _EmptyAnswer(_s3_failure("upload", answer.status_code, answer.text[:2000]))

    def create_feed(self, document_id: str, marketplace_id: str) -> str:
        def create() -> str:
            response = self.client.create_feed(FEED_TYPE, document_id, marketplaceIds=[marketplace_id])
            return _parse(_CreateFeed, response.payload, "createFeed").feedId

        return self._call("createFeed", create)

    def get_feed(self, feed_id: str) -> FeedStatus:
        return self._call("getFeed", lambda: _parse(FeedStatus, self.client.get_feed(feed_id).payload, "getFeed"))

    def list_feeds(self, marketplace_id: str, created_since: datetime) -> list[FeedStatus]:
        feeds: list[FeedStatus] = []
        token: str | None = None
        while True:
            if token:
                response = self._call("getFeeds", functools.partial(self.client.get_feeds, nextToken=token))
            else:
                response = self._call("getFeeds", lambda: self.client.get_feeds(
                    feedTypes=[FEED_TYPE], marketplaceIds=[marketplace_id], pageSize=100,
                    createdSince=created_since.isoformat().replace("+00:00", "Z")))
            feeds.extend(FeedStatus.model_validate(f) for f in response.payload.get("feeds", []))
            token = response.next_token
            if not token:
                return feeds

    def download_report(self, document_id: str) -> str:
        """getFeedDocument, then the download, tried once: getFeedDocument allows one call per 45 s,
        so a failure is retried by a later run (the caller paces and counts attempts), not here.

        The library's own download neither checks the HTTP status (an S3 error page would be taken
        for the report) nor bounds decompression; both are done here."""

        def download() -> str:
            response = self.client._request(f"/feeds/2021-06-30/documents/{document_id}", params={"method": "GET"},
                                            add_marketplace=False)
            return fetch_document(_parse(_FeedDocument, response.payload, "getFeedDocument"), self.max_report_bytes)

        return self._call("getFeedDocument", download, attempts=1)


def _s3_failure(what: str, status: int, body: str) -> str:
    """One line for a refused transfer of a document: S3 answers with an XML page naming its error code."""
    code = body.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in body else ""
    return f"{what} answered HTTP {status}" + (f" ({code})" if code else "")


def fetch_document(document: _FeedDocument, max_bytes: int) -> str:
    """Download a document from its pre-signed URL: an HTTP error is a failed download (retried
    later), content that cannot be decompressed or decoded, or is too large, is ReportUnreadable."""
    import httpx

    with (httpx.Client(timeout=DOWNLOAD_TIMEOUT_SECONDS, verify=tls_context()) as client,
          client.stream("GET", document.url) as response):
        if response.status_code >= 400:
            raise AmazonUnavailable(_s3_failure("report download", response.status_code,
                                                response.read()[:2000].decode("utf-8", "replace")))
        gzipped = (document.compressionAlgorithm or "").upper() == "GZIP"
        inflater = zlib.decompressobj(15 + 32) if gzipped else None
        parts: list[bytes] = []
        size = 0
        try:
            for received in response.iter_bytes():
                data = received
                if inflater is not None:
                    data = inflater.decompress(received, max_bytes + 1 - size)
                    if inflater.unconsumed_tail:
                        size = max_bytes + 1
                size += len(data)
                if size > max_bytes:
                    raise ReportUnreadable(f"the report is larger than {max_bytes} bytes once decompressed")
                parts.append(data)
            if inflater is not None:
                parts.append(inflater.flush())
                if not inflater.eof:
                    raise ReportUnreadable("the report's GZIP stream is truncated")
        except zlib.error as exc:
            raise ReportUnreadable(f"the report is not valid GZIP: {exc}") from None
    try:
        return b"".join(parts).decode(response.charset_encoding or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise ReportUnreadable(f"the report cannot be decoded: {exc}") from None


class SpApiListings(SpApiClient):
    """ListingsGateway over python-amazon-sp-api's ListingsItems client (2021-08-01)."""

    def api_class(self) -> type[Any]:
        return sp_api_class("sp_api.api.listings_items.listings_items_2021_08_01", "ListingsItemsV20210801")

    def patch_listings_item(self, seller_id: str, sku: str, marketplace_id: str, product_type: str,
                            patches: list[dict[str, Any]], *, issue_locale: str | None = None,
                            validation_preview: bool = False) -> ListingSubmission:
        params: dict[str, Any] = {"marketplaceIds": [marketplace_id], "includedData": "issues"}
        if issue_locale:
            params["issueLocale"] = issue_locale
        if validation_preview:
            params["mode"] = "VALIDATION_PREVIEW"
        body = {"productType": product_type, "patches": patches}

        def patch() -> ListingSubmission:
            # the library URL-encodes the SKU in the path (a '/' or '#' in a SKU would otherwise fail)
            response = self.client.patch_listings_item(seller_id, sku, body=body, **params)
            return _parse(ListingSubmission, response.payload, "patchListingsItem")

        return self._call("patchListingsItem", patch)


class _EmptyAnswer(Exception):
    pass


def _parse[M](model: type[M], payload: Any, operation: str) -> M:
    try:
        return model.model_validate(payload)  # type: ignore[attr-defined, no-any-return]
    except ValidationError:
        # A 429 or 502 without an `errors` body reaches us as an empty payload instead of an exception.
        raise _EmptyAnswer(f"{operation} returned an empty or malformed answer") from None


def _describe_login(exc: AuthorizationError) -> str:
    """LWA's error code and status, never the request (it carries the secrets)."""
    code, status = (exc.args[0], exc.args[2]) if len(exc.args) >= 3 else ("refused", "?")
    return f"{code}, HTTP {status}"


def _describe(exc: SellingApiException) -> str:
    errors = getattr(exc, "error", None) or []
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return f"{first.get('code', '?')}: {first.get('message', '')}".strip()
    return str(exc)
