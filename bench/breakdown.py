"""Where a run's time goes, per phase and per SQL statement, measured from the outside.

The benchmark wraps the adapters' methods while it runs (production code carries no hooks): each
phase gets its calls, its own wall time (SQL and the Python around it; a phase called from another
counts for itself, not for its caller, so the phases add up), and the time spent inside pymysql's
execute calls made within it, with the number of statements (round trips).

Calls made in another thread (the export's feed submissions) are counted apart, in ``background``: their time
overlaps the run's and is not part of the phases' sum.

It also keeps when each phase and each statement ran (time.perf_counter, comparable across processes),
so that ``beside`` can say what the run was doing when a concurrent shop update stalled.
"""

from __future__ import annotations

import bisect
import inspect
import re
import threading
import time
from array import array
from collections import Counter
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
        self._since = 0.0
        self._owner = threading.get_ident()  # the run's thread; calls from any other are background
        self.background: dict[str, Phase] = {}
        self._local = threading.local()  # per thread: whether it is in SQL; in a background one, its open calls
        self.statement_windows: list[tuple[float, float, str, str]] = []  # start, end, phase, statement
        # from each moment on, the phase of that index in self.phases ran: arrays, not tuples, so that the
        # timeline weighs little in the peak memory the benchmarks measure
        self._labels = list(self.phases)
        self._label_index = {label: index for index, label in enumerate(self._labels)}
        self._change_times = array("d")
        self._change_phases = array("H")

    def _note_change(self, moment: float) -> None:
        self._change_times.append(moment)
        self._change_phases.append(self._label_index[self.active_label()])

    def active_label(self) -> str:
        """The phase running now (\"other\" outside every phase)."""
        return self._active[-1] if self._active else "other"

    def _enter(self, label: str) -> None:
        now = time.perf_counter()
        if self._active:  # the phase that called this one stops counting until it returns
            self.phases[self._active[-1]].seconds += now - self._since
        self._active.append(label)
        self._since = now
        self._note_change(now)

    def _leave(self) -> None:
        now = time.perf_counter()
        self.phases[self._active.pop()].seconds += now - self._since
        self._since = now
        self._note_change(now)

    def _wrap(self, label: str, original: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self._owner:
                return self._background_call(label, original, args, kwargs)
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

    def _background_call(self, label: str, original: Any, args: Any, kwargs: Any) -> Any:
        local = self._local
        stack = local.__dict__.setdefault("labels", [])
        phase = self.background.setdefault(label, Phase())
        phase.calls += 1
        stack.append(label)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            stack.pop()
            if not stack:  # nested calls count for the outermost one only
                phase.seconds += time.perf_counter() - started

    def _statement_phase(self) -> tuple[str, Phase]:
        """The phase a statement counts for: the running phase in the run's thread, else the innermost
        call open in its own thread, counted apart (``background``)."""
        if threading.get_ident() == self._owner:
            label = self.active_label()
            return label, self.phases[label]
        labels = self._local.__dict__.get("labels") or ["other"]
        return f"background {labels[-1]}", self.background.setdefault(labels[-1], Phase())

    def _sql(self, original: Any) -> Any:
        def timed(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            local = self._local
            if local.__dict__.get("in_sql"):  # executemany runs execute: one round trip, counted once
                return original(cursor, *args, **kwargs)
            local.in_sql = True
            started = time.perf_counter()
            try:
                return original(cursor, *args, **kwargs)
            finally:
                local.in_sql = False
                ended = time.perf_counter()
                label, phase = self._statement_phase()
                phase.sql_seconds += ended - started
                phase.statements += 1
                self.statement_windows.append((started, ended, label, _statement_head(args[0] if args else "")))

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

    def beside(self, stalls: list[tuple[float, float]], slack: float = 0.005) -> list[dict[str, Any]]:
        """For each stall (start, seconds), longest first: the phases that ran and the statements whose
        execution overlapped it (within ``slack``), counted by phase and statement head."""
        explained = []
        for stall_start, seconds in sorted(stalls, key=lambda stall: -stall[1]):
            stall_end = stall_start + seconds
            first = max(0, bisect.bisect_right(self._change_times, stall_start) - 1)
            last = bisect.bisect_right(self._change_times, stall_end)
            phases = sorted({self._labels[index] for index in self._change_phases[first:last]}) or ["before the run"]
            overlapping = Counter(
                f"{label}: {head}" for started, ended, label, head in self.statement_windows
                if started < stall_end + slack and ended > stall_start - slack)
            explained.append({"ms": round(seconds * 1000, 1), "phases": phases,
                              "statements": [f"{count} x {what}" for what, count in overlapping.most_common(5)]})
        return explained


def _statement_head(statement: Any) -> str:
    # only the start: a statement with a list of 1,000 placeholders is 5 KB, and this runs for every one
    text = statement[:200].decode(errors="replace") if isinstance(statement, bytes) else str(statement)[:200]
    return re.sub(r"\s+", " ", text).strip()[:70]
