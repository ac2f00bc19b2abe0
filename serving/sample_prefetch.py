"""Self-consistency samples drawn while the answer streams, so the badge is ready soon after the answer ends.

The samples depend on the question only (``MathCritic.draw_samples``), so the chat service starts them
beside the stream and hands them to the critique; where they are drawn after the answer, it starts them here
too, so the critique's wait is bounded the same way (``take``'s timeout, ``CritiqueSettings.samples_deadline_s``).
A failed answer cancels its entry; entries that no critique ever takes are dropped oldest first
(``max_pending``), so memory stays bounded. Each job gets a stop event: a cancelled, dropped or late job has it
set, and the draw passes it to the engine (``PolicyEngine.sample(cancel=...)``), which closes the request, so
the model server stops generating samples nobody will read and the pool's workers are free for the next answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from serving.critique.consistency import SamplesLate

log = logging.getLogger(__name__)


class SamplePrefetcher:
    """Runs one sampling job per answer id in a small thread pool; ``take`` waits for it (bounded)."""

    def __init__(self, workers: int = 4, max_pending: int = 256) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prefetch-samples")
        self._jobs: OrderedDict[int, _Job] = OrderedDict()
        self._lock = threading.Lock()
        self._max_pending = max_pending

    def start(self, key: int, draw: Callable[[threading.Event], list[str]]) -> None:
        """Begin drawing the samples for answer ``key``; ``draw`` should stop when its event is set."""
        stop = threading.Event()
        job = _Job(self._pool.submit(draw, stop), stop)
        with self._lock:
            self._jobs[key] = job
            while len(self._jobs) > self._max_pending:
                _, oldest = self._jobs.popitem(last=False)
                oldest.stop()

    def take(self, key: int, timeout_s: float) -> list[str] | None:
        """The samples for ``key`` (waiting up to ``timeout_s``); None if none were started or drawing failed.

        Raises ``SamplesLate`` when they are not ready by then (and stops the draw): the critique goes on
        without them."""
        with self._lock:
            job = self._jobs.pop(key, None)
        if job is None:
            return None
        try:
            return job.future.result(timeout=timeout_s)
        except FutureTimeout:
            job.stop()
            log.info("samples for answer %s not ready after %.1f s; the critique decides without them", key, timeout_s)
            raise SamplesLate(f"the samples were not ready within {timeout_s:g} s") from None
        except Exception as exc:
            log.warning("prefetched samples for answer %s failed: %s", key, exc)
        return None

    def cancel(self, key: int) -> None:
        """Forget answer ``key`` (its answer failed, or the critique decided without its samples): a queued job
        never runs, a running one is stopped."""
        with self._lock:
            job = self._jobs.pop(key, None)
        if job is not None:
            job.stop()

    def has(self, key: int) -> bool:
        """Whether samples for answer ``key`` were started and not yet taken or cancelled."""
        with self._lock:
            return key in self._jobs

    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def close(self) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), OrderedDict()
        for job in jobs:
            job.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class _Job:
    """One answer's draw and the event that stops it."""

    future: Future[list[str]]
    stop_event: threading.Event

    def stop(self) -> None:
        self.future.cancel()  # a queued draw never starts
        self.stop_event.set()  # a running one closes its request
