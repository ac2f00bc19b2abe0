"""SamplePrefetcher: take returns what was drawn, a failure or a missing key gives None, a late draw raises
SamplesLate, memory stays bounded."""

from __future__ import annotations

import threading

import pytest

from serving.critique.consistency import SamplesLate
from serving.sample_prefetch import SamplePrefetcher


def test_take_waits_for_the_samples_and_forgets_them() -> None:
    pre = SamplePrefetcher(workers=1)
    release = threading.Event()
    pre.start(1, lambda: release.wait(10) and ["a", "b"])
    assert pre.has(1) and not pre.has(2)
    release.set()
    assert pre.take(1, timeout_s=10) == ["a", "b"]
    assert pre.take(1, timeout_s=0.1) is None and pre.pending() == 0 and not pre.has(1)


def test_a_failed_draw_gives_none_and_a_late_one_says_it_is_late() -> None:
    pre = SamplePrefetcher(workers=2)
    pre.start(1, lambda: (_ for _ in ()).throw(RuntimeError("server gone")))
    blocker = threading.Event()
    pre.start(2, lambda: blocker.wait(10) and ["late"])
    assert pre.take(1, timeout_s=5) is None
    with pytest.raises(SamplesLate, match="not ready within 0.05 s"):
        pre.take(2, timeout_s=0.05)
    assert not pre.has(2), "a late entry is forgotten: nobody waits for it again"
    blocker.set()


def test_entries_never_taken_are_dropped_oldest_first() -> None:
    pre = SamplePrefetcher(workers=1, max_pending=2)
    for key in range(4):
        pre.start(key, lambda: ["x"])
    assert pre.pending() == 2 and pre.take(0, 0.1) is None and pre.take(3, 5) == ["x"]
