"""Time for the simulator: the wall clock, or a manual one that tests advance."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, manual: bool = False, start: float | None = None) -> None:
        self.manual = manual
        self._offset = 0.0
        self._manual_now = start if start is not None else time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._manual_now if self.manual else time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self.manual:
                self._manual_now += seconds
            else:
                self._offset += seconds

    def iso(self, at: float | None = None) -> str:
        moment = self.now() if at is None else at
        return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TokenBucket:
    """Amazon's usage plans: ``rate`` requests per second refilling a bucket of ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock.now()

    def take(self) -> bool:
        now = self.clock.now()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class SlidingWindow:
    """At most ``limit`` events in any ``seconds``-long window (JSON_LISTINGS_FEED: 5 per 5 minutes)."""

    def __init__(self, limit: int, seconds: float, clock: Clock) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self.events: list[float] = []

    def take(self) -> bool:
        now = self.clock.now()
        self.events = [t for t in self.events if t > now - self.seconds]
        if len(self.events) >= self.limit:
            return False
        self.events.append(now)
        return True
