"""The named steps of a run after which its progress is durable, and the observer a caller may attach.

A run stopped right after any step (a Lambda timeout, a crash, a lost connection) must be finished by the
next run without losing or repeating anything; callers pass an observer to follow the run step by step
(the crash-safety tests stop a run at each step this way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Step = Literal[
    "after_claim",  # export: the batch's rows are claimed
    "after_s3",  # export: a feed document and its manifest are in S3, no intent recorded yet
    "before_create_feed",  # export: the document is uploaded and its id recorded, createFeed not called
    "after_create_feed",  # export: Amazon has the feed, its record still says SUBMITTING
    "express_answered",  # export: Amazon answered the express lane's calls (ACCEPTED…), nothing booked yet
    "express_booked",  # export: the answers are booked (accepted state, issues, record), rows not yet deleted
    "after_report",  # acknowledgment: the verdict is read and the report kept, the record not yet saved
    "before_settle",  # acknowledgment: the feed's record is saved, its batch's rows not yet settled
]
StepObserver = Callable[[Step], None]


def ignore_step(step: Step) -> None:
    """The default observer."""
