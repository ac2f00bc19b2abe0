"""Which vLLM server answers new requests, and how many requests each server still has in flight.

Blue/green promotion flips the current endpoint atomically; requests already streaming keep the
endpoint they leased, and the old server is stopped only once its in-flight count reaches zero.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible server and the checkpoint it serves."""

    base_url: str
    """e.g. http://127.0.0.1:8011 (no /v1)."""
    model: str
    """Model name the server answers to (vLLM's --served-model-name)."""
    checkpoint_id: str


class EndpointRouter:
    """Thread-safe pointer to the current endpoint plus per-endpoint in-flight counters."""

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self._current = endpoint
        self._inflight: dict[Endpoint, int] = {}
        self._cond = threading.Condition()

    def current(self) -> Endpoint:
        with self._cond:
            if self._current is None:
                raise LookupError("no model server is ready yet")
            return self._current

    def has_endpoint(self) -> bool:
        with self._cond:
            return self._current is not None

    @contextmanager
    def lease(self) -> Iterator[Endpoint]:
        """Pin the current endpoint for the length of one request."""
        with self._cond:
            if self._current is None:
                raise LookupError("no model server is ready yet")
            endpoint = self._current
            self._inflight[endpoint] = self._inflight.get(endpoint, 0) + 1
        try:
            yield endpoint
        finally:
            with self._cond:
                self._inflight[endpoint] -= 1
                if self._inflight[endpoint] == 0:
                    del self._inflight[endpoint]
                self._cond.notify_all()

    def inflight(self, endpoint: Endpoint) -> int:
        with self._cond:
            return self._inflight.get(endpoint, 0)

    def switch(self, endpoint: Endpoint) -> Endpoint | None:
        """Send new requests to ``endpoint``; returns the previous one."""
        with self._cond:
            old, self._current = self._current, endpoint
            return old

    def wait_drained(self, endpoint: Endpoint, timeout_s: float) -> bool:
        """Block until no request holds ``endpoint`` (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._inflight.get(endpoint, 0) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True
