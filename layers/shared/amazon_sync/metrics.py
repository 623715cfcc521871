"""The CloudWatch metrics the functions publish: one list, shared with the dashboard and alarm tests.

Names here are the contract with template.yaml: tests/test_template.py checks that every metric the
dashboard or an alarm names is one of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # each function imports its own service only
    from amazon_sync.services.acknowledge import AckSummary
    from amazon_sync.services.export import ExportSummary
    from amazon_sync.services.reconcile import ReconcileSummary

NAMESPACE = "PrestaShopAmazonSync"

# metric name -> (unit, summary field)
EXPORT_METRICS: dict[str, tuple[str, str]] = {
    "RowsClaimed": ("Count", "rows_claimed"),
    "OffersExported": ("Count", "offers_exported"),
    "MessagesSubmitted": ("Count", "messages"),
    "FeedMessages": ("Count", "feed_messages"),
    "ExpressMessages": ("Count", "express_messages"),
    "ExpressRejected": ("Count", "express_rejected"),
    "ExpressUnsent": ("Count", "express_unsent"),
    # products a run left pending, in all (the marketplace's feed still at Amazon, Amazon's feed budget
    # used up, the express lane stopped by a 429 or 5xx), and those of them waiting for their marketplace's
    # feed (one at a time with the express lane); both are normal for a while, not for hours
    "ProductsLeftPending": ("Count", "skipped_budget_products"),
    "ProductsWaitingForFeed": ("Count", "waiting_for_feed_products"),
    "FeedsSubmitted": ("Count", "feeds_submitted"),
    "FeedsAbandoned": ("Count", "feeds_abandoned"),
    "OffersSkippedUnchanged": ("Count", "skipped_unchanged"),
    "RowsSkippedInFlight": ("Count", "skipped_in_flight_rows"),
    "OfferErrors": ("Count", "offer_errors"),
    "QuantitiesHeld": ("Count", "quantities_held"),
    "Throttles": ("Count", "throttles"),
    "OffersNotOnAmazon": ("Count", "not_on_amazon"),
    "FbaQuantitiesWithheld": ("Count", "fba_quantities_withheld"),
    "ExportDurationSeconds": ("Seconds", "duration_seconds"),
}

ACK_METRICS: dict[str, tuple[str, str]] = {
    "QueueDepth": ("Count", "queue_depth"),
    "PendingOffers": ("Count", "pending_offers"),
    "OldestPendingAgeSeconds": ("Seconds", "oldest_pending_age_seconds"),
    "FeedsInFlight": ("Count", "feeds_in_flight"),
    "OldestFeedInFlightAgeSeconds": ("Seconds", "oldest_feed_in_flight_age_seconds"),
    "MessagesAccepted": ("Count", "messages_accepted"),
    "MessagesRejected": ("Count", "messages_rejected"),
    "MessagesRetried": ("Count", "messages_retried"),
    "FailedRows": ("Count", "failed_rows"),
    "FeedsFailed": ("Count", "feeds_failed"),
    "FeedsOverdue": ("Count", "feeds_overdue"),
    # feeds waiting in ATTENTION (a gauge, with an alarm while it is above 0)
    "FeedsNeedingAttention": ("Count", "feeds_waiting_attention"),
    "FeedsReleased": ("Count", "feeds_released"),
    "ReportDownloadFailures": ("Count", "download_failures"),
    "SettleErrors": ("Count", "settle_errors"),
    "NotificationsIgnored": ("Count", "notifications_ignored"),
    "RowsDeleted": ("Count", "rows_deleted"),
}
FEED_PROCESSING_SECONDS = "FeedProcessingSeconds"
# 1 for a run that could not do its work (its reason is logged at ERROR and shown by `amazon-sync status`)
EXPORT_FAILURES = "ExportFailures"
# marketplaces where nothing may be submitted until a crashed run's feed is found (or not) on Amazon
MARKETPLACES_BLOCKED = "MarketplacesBlocked"
ACK_FAILURES = "AckFailures"
# a manual invocation with an event the function refuses, and a notification that is not one
BAD_EVENTS = "BadEvents"
BAD_NOTIFICATIONS = "BadNotifications"

# Published by each reconciliation run (services/reconcile.py), totals over its marketplaces.
RECONCILE_METRICS: dict[str, tuple[str, str]] = {
    "ListingsRead": ("Count", "listings_read"),
    "SkusCompared": ("Count", "compared"),
    "DriftSkus": ("Count", "drift"),
    "SkusFoughtOver": ("Count", "fought_over"),
    "SkusNotOnAmazon": ("Count", "not_on_amazon"),
    "ListingProblems": ("Count", "listing_problems"),
    "ReconcileFailures": ("Count", "failed"),
    "ReconcileDurationSeconds": ("Seconds", "duration_seconds"),
}

# Published by polling runs only, since a notification run does not count the queue.
QUEUE_METRICS = {"QueueDepth", "PendingOffers", "OldestPendingAgeSeconds", "FeedsInFlight",
                 "OldestFeedInFlightAgeSeconds", "FailedRows", "FeedsNeedingAttention"}

ALL_METRIC_NAMES = {*EXPORT_METRICS, *ACK_METRICS, FEED_PROCESSING_SECONDS, EXPORT_FAILURES, MARKETPLACES_BLOCKED,
                    ACK_FAILURES,
                    BAD_EVENTS, BAD_NOTIFICATIONS, *RECONCILE_METRICS}


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


def publish_export(sink: MetricsSink, summary: ExportSummary) -> None:
    values = summary.as_dict()
    for name, (unit, attribute) in EXPORT_METRICS.items():
        sink.add_metric(name=name, unit=unit, value=float(values[attribute]))
    sink.add_metric(name=EXPORT_FAILURES, unit="Count", value=1.0 if summary.failure else 0.0)
    sink.add_metric(name=MARKETPLACES_BLOCKED, unit="Count", value=float(len(summary.marketplaces_blocked)))


def publish_reconcile(sink: MetricsSink, summary: ReconcileSummary) -> None:
    values = summary.as_dict()
    for name, (unit, attribute) in RECONCILE_METRICS.items():
        sink.add_metric(name=name, unit=unit, value=float(values[attribute]))


def publish_ack(sink: MetricsSink, summary: AckSummary, *, include_queue: bool = True) -> None:
    values = summary.as_dict()
    for name, (unit, attribute) in ACK_METRICS.items():
        if include_queue or name not in QUEUE_METRICS:
            sink.add_metric(name=name, unit=unit, value=float(values[attribute]))
    for seconds in summary.feed_processing_seconds:
        sink.add_metric(name=FEED_PROCESSING_SECONDS, unit="Seconds", value=seconds)
    if include_queue:
        sink.add_metric(name=ACK_FAILURES, unit="Count", value=1.0 if summary.failure else 0.0)
