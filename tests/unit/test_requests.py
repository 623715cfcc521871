"""The payloads that cross into the functions: manual invokes and Amazon's notifications."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from amazon_sync.errors import validation_problems
from amazon_sync.services.acknowledge import AckRequest, FeedNotification
from amazon_sync.services.export import ExportRequest


def test_bad_export_request_is_refused():
    with pytest.raises(ValueError, match="mode"):
        ExportRequest.model_validate({"mode": "everything"})
    with pytest.raises(ValueError, match="dry_run"):
        ExportRequest.model_validate({"dry_run": True})
    with pytest.raises(ValueError, match="marketplaces"):
        ExportRequest.model_validate({"marketplaces": []})


def test_a_validation_error_is_one_line_naming_each_field():
    with pytest.raises(ValidationError) as refused:
        ExportRequest.model_validate({"mode": "everything", "dry_run": True})
    line = validation_problems(refused.value, "event")
    assert "\n" not in line
    assert line.startswith("mode: Input should be 'incremental' or 'full'; dry_run: Extra inputs")
    with pytest.raises(ValidationError) as not_an_object:
        AckRequest.model_validate([1])
    assert validation_problems(not_an_object.value, "event").startswith("event: ")


def test_a_feed_processing_finished_notification_is_parsed_and_other_types_refused():
    notification = FeedNotification.model_validate({
        "notificationType": "FEED_PROCESSING_FINISHED", "payload": {"feedProcessingFinishedNotification": {
            "sellerId": "A1", "feedId": "123", "feedType": "JSON_LISTINGS_FEED", "processingStatus": "DONE",
            "resultFeedDocumentId": "doc-1"}}})
    assert (notification.feed.feedId, notification.feed.processingStatus) == ("123", "DONE")
    with pytest.raises(ValidationError):
        FeedNotification.model_validate({"notificationType": "ANY_OFFER_CHANGED", "payload": {}})
