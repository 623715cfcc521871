"""The simulator against Amazon's official models, and the bundled schema copies against the originals."""

import json
from importlib import resources

import boto3
import pytest
from moto import mock_aws

from amazon_sync_devkit.simulator.amazon import Reply
from amazon_sync_devkit.simulator.notifications import sqs_sink
from tests.conftest import check_simulator_conformance
from tests.integration.test_simulator import feed_document, quantity_message, run_feed


@pytest.mark.parametrize("name", ["listings-feed-schema-v2.json", "listings-feed-message-schema-v2.json"])
def test_bundled_schemas_are_unmodified_copies(name, amazon_models):
    bundled = resources.files("amazon_sync_devkit").joinpath(f"schemas/{name}").read_bytes()
    assert bundled == (amazon_models.folder / name).read_bytes()


def test_the_conformance_check_catches_a_wrong_body(amazon_models, simulator):
    wrong = [("getFeed", 200, Reply(200, {"feedId": "1", "processingStatus": "DONE"})),
             ("createFeed", 503, Reply(503, {"message": "no errors array"}))]
    problems = check_simulator_conformance(amazon_models, wrong, simulator)
    assert any("createdTime" in p for p in problems) and any("ErrorList" in p for p in problems)


def test_notifications_reach_sqs_in_the_official_shape(amazon_models, simulator, feeds_api):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        queue_url = sqs.create_queue(QueueName="feed-notifications")["QueueUrl"]
        simulator.amazon.notify = sqs_sink(queue_url)
        feed = run_feed(simulator, feeds_api, feed_document(quantity_message(1, "SQS-1", 2)))
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert list(amazon_models.notification.iter_errors(body)) == []
    assert body["payload"]["feedProcessingFinishedNotification"]["feedId"] == feed.feedId
