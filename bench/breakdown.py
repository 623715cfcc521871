"""Where a run's time goes, per phase and per SQL statement, measured from the outside.

The benchmark wraps the adapters' methods while it runs (production code carries no hooks): each
phase gets its calls, its own wall time (SQL and the Python around it; a phase called from another
counts for itself, not for its caller, so the phases add up), and the time spent inside pymysql's
execute calls made within it, with the number of statements (round trips).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql.cursors


@dataclass
class Phase:
    calls: int = 0
    seconds: float = 0.0
    sql_seconds: float = 0.0
    statements: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "seconds": round(self.seconds, 2), "sql_seconds": round(self.sql_seconds, 2),
                "statements": self.statements}


class Breakdown:
    """``phases``: label -> [(owner, method name), ...]; SQL outside every phase is counted as "other"."""

    def __init__(self, phases: dict[str, list[tuple[Any, str]]]) -> None:
        self.phases = {label: Phase() for label in [*phases, "other"]}
        self._targets = phases
        self._active: list[str] = []
        self._patched: list[tuple[Any, str, Any]] = []
        self._in_sql = False
        self._since = 0.0

    def _enter(self, label: str) -> None:
        now = time.perf_counter()
        if self._active:  # the phase that called this one stops counting until it returns
            self.phases[self._active[-1]].seconds += now - self._since
        self._active.append(label)
        self._since = now

    def _leave(self) -> None:
        now = time.perf_counter()
        self.phases[self._active.pop()].seconds += now - self._since
        self._since = now

    def _wrap(self, label: str, original: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.phases[label].calls += 1
            self._enter(label)
            try:
                result = original(*args, **kwargs)
            finally:
                self._leave()
            if inspect.isgenerator(result):
                return self._timed_iteration(label, result)
            return result

        return timed

    def _timed_iteration(self, label: str, generator: Iterator[Any]) -> Iterator[Any]:
        while True:
            self._enter(label)
            try:
                item = next(generator)
            except StopIteration:
                return
            finally:
                self._leave()
            yield item

    def _sql(self, original: Any) -> Any:
        def timed(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            if self._in_sql:  # executemany runs execute: one round trip, counted once
                return original(cursor, *args, **kwargs)
            self._in_sql = True
            started = time.perf_counter()
            try:
                return original(cursor, *args, **kwargs)
            finally:
                self._in_sql = False
                phase = self.phases[self._active[-1] if self._active else "other"]
                phase.sql_seconds += time.perf_counter() - started
                phase.statements += 1

        return timed

    def __enter__(self) -> Breakdown:
        for label, targets in self._targets.items():
            for owner, name in targets:
                original = owner.__dict__[name]
                self._patched.append((owner, name, original))
                setattr(owner, name, self._wrap(label, original))
        for name in ("execute", "executemany"):
            original = pymysql.cursors.Cursor.__dict__[name]
            self._patched.append((pymysql.cursors.Cursor, name, original))
            setattr(pymysql.cursors.Cursor, name, self._sql(original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()

    @property
    def sql_seconds(self) -> float:
        return sum(phase.sql_seconds for phase in self.phases.values())

    def figures(self, total_seconds: float | None = None) -> dict[str, dict[str, Any]]:
        """Per phase; with ``total_seconds``, the time outside every phase becomes "other"."""
        if total_seconds is not None:
            self.phases["other"].seconds = max(0.0, total_seconds - sum(
                phase.seconds for label, phase in self.phases.items() if label != "other"))
            self.phases["other"].calls = 1
        return {label: phase.as_dict() for label, phase in self.phases.items() if phase.calls or phase.statements}
