"""FeedSubmissions: one submission at a time, in a thread of its own when the run has one, its outcome
applied in the run's thread."""

import threading

import pytest

from amazon_sync.services.export import FeedSubmissions, SubmitSide

SIDE = SubmitSide(log=None, state=None)  # the submissions here never use it


def test_without_a_side_a_submission_runs_at_once_and_a_refusal_is_applied_at_once():
    submissions = FeedSubmissions(None)
    seen: list[object] = []
    refused: list[str] = []

    def refusal(side: SubmitSide | None) -> bool:
        seen.append(side)
        return False

    submissions.start(refusal, lambda: refused.append("first"))
    assert seen == [None] and refused == ["first"]
    submissions.start(lambda side: True, lambda: refused.append("second"))
    assert refused == ["first"]
    submissions.close()


def test_with_a_side_the_run_goes_on_while_a_submission_is_under_way_and_applies_its_outcome_itself():
    submissions = FeedSubmissions(lambda: SIDE)
    release = threading.Event()
    submitting: list[int] = []
    refused_in: list[int] = []

    def slow_refusal(side: SubmitSide | None) -> bool:
        assert side is SIDE
        submitting.append(threading.get_ident())
        release.wait(5)
        return False

    submissions.start(slow_refusal, lambda: refused_in.append(threading.get_ident()))
    assert not refused_in  # start returned while the submission waits
    release.set()
    submissions.wait()
    assert submitting and submitting[0] != threading.get_ident()
    assert refused_in == [threading.get_ident()]  # applied in the run's thread, by wait
    submissions.close()


def test_two_submissions_never_overlap_and_keep_their_order():
    submissions = FeedSubmissions(lambda: SIDE)
    events: list[str] = []
    first_may_end = threading.Event()

    def first(side: SubmitSide | None) -> bool:
        events.append("first starts")
        first_may_end.wait(5)
        events.append("first ends")
        return True

    def second(side: SubmitSide | None) -> bool:
        events.append("second starts")
        return True

    submissions.start(first, lambda: None)
    threading.Timer(0.2, first_may_end.set).start()
    submissions.start(second, lambda: None)  # waits for the first
    submissions.wait()
    assert events == ["first starts", "first ends", "second starts"]
    submissions.close()


def test_an_error_of_the_submission_is_raised_in_the_run_but_not_over_the_runs_own_failure():
    def broken(side: SubmitSide | None) -> bool:
        raise RuntimeError("S3 is down")

    submissions = FeedSubmissions(lambda: SIDE)
    submissions.start(broken, lambda: None)
    with pytest.raises(RuntimeError, match="S3 is down"):
        submissions.wait()
    submissions.start(broken, lambda: None)
    submissions.settle_after_failure()  # the run failed already: its own error stays the one reported
    submissions.wait()  # nothing left under way
    submissions.close()
