"""What an export run publishes: every summary figure an operator reads on the dashboard."""

from amazon_sync.metrics import EXPORT_FAILURES, publish_export
from amazon_sync.services.export import ExportSummary


class Sink:
    def __init__(self):
        self.values = {}

    def add_metric(self, name, unit, value):
        assert name not in self.values, f"{name} published twice"
        self.values[name] = (unit, value)


def test_an_export_publishes_the_products_it_left_pending_and_why():
    summary = ExportSummary(waiting_for_feed_products=4, skipped_budget_products=7, express_messages=2,
                            feed_messages=30)
    sink = Sink()
    publish_export(sink, summary)
    assert sink.values["ProductsWaitingForFeed"] == ("Count", 4.0)
    assert sink.values["ProductsLeftPending"] == ("Count", 7.0)
    assert sink.values["ExpressMessages"] == ("Count", 2.0) and sink.values["FeedMessages"] == ("Count", 30.0)
    assert sink.values[EXPORT_FAILURES] == ("Count", 0.0)
