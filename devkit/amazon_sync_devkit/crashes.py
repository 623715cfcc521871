"""Stopping a service run at one of its named steps, as a Lambda timeout or a crash would.

The services call an observer after each step whose progress is durable (``amazon_sync.services.steps``);
the observers here raise ``CrashPoint`` there, which the test catches where Lambda would have died.
"""

from __future__ import annotations

from amazon_sync.services.steps import Step, StepObserver


class CrashPoint(BaseException):
    """The run stopped at a named step.

    A BaseException, like the SystemExit of a Lambda timeout: a crash is not an error the services handle,
    so no ``except Exception`` of theirs may turn it into an orderly failure that releases the claims."""


def crash_at(*steps: Step) -> StepObserver:
    """An observer that stops the run at the first of ``steps`` it reaches."""
    def observe(step: Step) -> None:
        if step in steps:
            raise CrashPoint(step)
    return observe

