"""EndpointRouter: leases pin an endpoint, switches are atomic, draining waits for in-flight requests."""

from __future__ import annotations

import threading
import time

import pytest

from serving.router import Endpoint, EndpointRouter

BLUE = Endpoint("http://127.0.0.1:1", "blue", "blue")
GREEN = Endpoint("http://127.0.0.1:2", "green", "green")


def test_lease_without_endpoint_raises() -> None:
    with pytest.raises(LookupError):
        with EndpointRouter().lease():
            pass


def test_lease_keeps_endpoint_across_switch() -> None:
    router = EndpointRouter(BLUE)
    with router.lease() as ep:
        assert router.switch(GREEN) == BLUE
        assert ep == BLUE and router.inflight(BLUE) == 1
        assert router.current() == GREEN
    assert router.inflight(BLUE) == 0


def test_wait_drained_blocks_until_lease_released() -> None:
    router = EndpointRouter(BLUE)
    released = threading.Event()

    def hold() -> None:
        with router.lease():
            time.sleep(0.3)
        released.set()

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.05)
    router.switch(GREEN)
    assert router.wait_drained(BLUE, timeout_s=5)
    assert released.is_set()
    t.join()


def test_wait_drained_times_out_while_held() -> None:
    router = EndpointRouter(BLUE)
    with router.lease():
        assert router.wait_drained(BLUE, timeout_s=0.1) is False
