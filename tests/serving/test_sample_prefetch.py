"""SamplePrefetcher: take returns what was drawn, a failure or a missing key gives None, a late draw raises
SamplesLate, memory stays bounded, and a draw nobody will read is told to stop."""

from __future__ import annotations

import threading

import pytest

from serving.critique.consistency import SamplesLate
from serving.sample_prefetch import SamplePrefetcher


class StoppableDraw:
    """A draw that runs until it is released or told to stop, and records which happened."""

    def __init__(self, result: list[str]) -> None:
        self.result = result
        self.release = threading.Event()
        self.started = threading.Event()
        self.stopped = threading.Event()

    def __call__(self, stop: threading.Event) -> list[str]:
        self.started.set()
        while not self.release.is_set():
            if stop.wait(0.01):
                self.stopped.set()
                raise RuntimeError("stopped")
        return self.result


def test_take_waits_for_the_samples_and_forgets_them() -> None:
    pre = SamplePrefetcher(workers=1)
    draw = StoppableDraw(["a", "b"])
    pre.start(1, draw)
    assert pre.has(1) and not pre.has(2)
    draw.release.set()
    assert pre.take(1, timeout_s=10) == ["a", "b"] and not draw.stopped.is_set()
    assert pre.take(1, timeout_s=0.1) is None and pre.pending() == 0 and not pre.has(1)


def test_a_failed_draw_gives_none_and_a_late_one_says_it_is_late_and_is_stopped() -> None:
    pre = SamplePrefetcher(workers=2)
    pre.start(1, lambda stop: (_ for _ in ()).throw(RuntimeError("server gone")))
    late = StoppableDraw(["late"])
    pre.start(2, late)
    assert pre.take(1, timeout_s=5) is None
    with pytest.raises(SamplesLate, match="not ready within 0.05 s"):
        pre.take(2, timeout_s=0.05)
    assert not pre.has(2), "a late entry is forgotten: nobody waits for it again"
    assert late.stopped.wait(10), "a late draw is told to stop, so the server stops generating for nobody"


def test_a_cancelled_draw_is_stopped_and_a_queued_one_never_runs() -> None:
    pre = SamplePrefetcher(workers=1)
    running, queued = StoppableDraw(["r"]), StoppableDraw(["q"])
    pre.start(1, running)
    pre.start(2, queued)
    assert running.started.wait(10)
    pre.cancel(2)
    pre.cancel(1)
    assert running.stopped.wait(10)
    pre.start(3, lambda stop: ["next"])
    assert pre.take(3, timeout_s=10) == ["next"], "the stopped draw freed its worker"
    assert not queued.started.is_set()


def test_entries_never_taken_are_dropped_oldest_first_and_stopped() -> None:
    pre = SamplePrefetcher(workers=1, max_pending=2)
    first = StoppableDraw(["first"])
    pre.start(0, first)
    assert first.started.wait(10)
    for key in range(1, 4):
        pre.start(key, lambda stop: ["x"])
    assert first.stopped.wait(10), "a dropped draw is stopped"
    assert pre.pending() == 2 and pre.take(0, 0.1) is None and pre.take(3, 5) == ["x"]


def test_close_stops_what_is_running() -> None:
    pre = SamplePrefetcher(workers=1)
    draw = StoppableDraw(["x"])
    pre.start(1, draw)
    assert draw.started.wait(10)
    pre.close()
    assert draw.stopped.wait(10) and pre.pending() == 0
