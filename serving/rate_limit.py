"""Per-user rate limit on questions: a sliding window kept in memory (one app process per DB in this design)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimited(RuntimeError):
    """Too many requests; the message says when to retry."""


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window_s`` per key.

    >>> clock = iter([0.0, 1.0, 2.0, 61.0]).__next__
    >>> lim = SlidingWindowLimiter(2, 60.0, clock=clock)
    >>> lim.check("ann"); lim.check("ann")
    >>> try: lim.check("ann")
    ... except RateLimited as e: print(e)
    You are sending questions too fast (limit 2 per minute). Please wait 58 s.
    >>> lim.check("ann")
    """

    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one event for ``key`` or raise RateLimited (not counted)."""
        if self.limit <= 0:
            return
        now = self._clock()
        with self._lock:
            events = self._events[key]
            while events and now - events[0] >= self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                wait = self.window_s - (now - events[0])
                per = "minute" if self.window_s == 60 else f"{self.window_s:.0f} s"
                raise RateLimited(f"You are sending questions too fast (limit {self.limit} per {per}). "
                                  f"Please wait {wait:.0f} s.")
            events.append(now)
