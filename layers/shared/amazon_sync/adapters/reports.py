"""The Reports API 2021-06-30 adapter: request the merchant listings report, follow it, download it.

One report per marketplace (the file has no marketplace column, and Amazon serves only the first of
several marketplaces for this type). English headers are asked for, since other locales rename the
columns. The document is streamed to a file as it arrives (still compressed): a million listings never
sit in memory, and the presigned URL, valid 5 minutes, is fetched right before the download.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from amazon_sync.adapters.spapi import SpApiClient, _EmptyAnswer, _parse, sp_api_class, tls_context
from amazon_sync.domain.listings_report import REPORT_TYPE


class ReportStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    reportId: str
    reportType: str
    processingStatus: Literal["CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"]
    createdTime: datetime
    reportDocumentId: str | None = None
    processingEndTime: datetime | None = None


class _CreateReport(BaseModel):
    reportId: str


class _ReportDocument(BaseModel):
    reportDocumentId: str
    url: str
    compressionAlgorithm: Literal["GZIP"] | None = None


class DownloadedReport(BaseModel):
    content_type: str | None
    compressed: bool
    size: int


class ReportsGateway(Protocol):
    """What reconciliation needs from Amazon's Reports API."""

    def request_listings_report(self, marketplace_id: str) -> str: ...
    def get_report(self, report_id: str) -> ReportStatus: ...
    def download(self, document_id: str, target: BinaryIO) -> DownloadedReport: ...


class SpApiReports(SpApiClient):
    def api_class(self) -> type[Any]:
        """The Reports API, imported only when a client is built (sp_api and httpx are not cold-start costs)."""
        return sp_api_class("sp_api.api.reports.reports", "Reports")

    def request_listings_report(self, marketplace_id: str) -> str:
        def create() -> str:
            response = self.client.create_report(reportType=REPORT_TYPE, marketplaceIds=[marketplace_id],
                                                 reportOptions={"preferredReportDocumentLocale": "en_US"})
            return _parse(_CreateReport, response.payload, "createReport").reportId

        return self._call("createReport", create)

    def get_report(self, report_id: str) -> ReportStatus:
        return self._call("getReport", lambda: _parse(ReportStatus, self.client.get_report(report_id).payload,
                                                      "getReport"))

    def download(self, document_id: str, target: BinaryIO) -> DownloadedReport:
        import httpx

        def fetch() -> DownloadedReport:
            document = _parse(_ReportDocument, self.client.get_report_document(document_id).payload,
                              "getReportDocument")
            target.seek(0)
            target.truncate()
            size = 0
            # a network error or an unexpected status is retried by _call, with a fresh URL
            with httpx.stream("GET", document.url, timeout=httpx.Timeout(60.0), verify=tls_context()) as response:
                if response.status_code != 200:
                    raise _EmptyAnswer(f"report document download answered HTTP {response.status_code}")
                for block in response.iter_raw(1 << 20):
                    target.write(block)
                    size += len(block)
                content_type = response.headers.get("content-type")
            target.flush()
            return DownloadedReport(content_type=content_type, compressed=document.compressionAlgorithm == "GZIP",
                                    size=size)

        return self._call("getReportDocument", fetch)
