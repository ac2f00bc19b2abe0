"""Writes beside a burst of sign-ins: do the app's other writers wait on the database while passwords are checked?

A sign-in costs an argon2 check (a good fraction of a second on a busy 2-core CPU). Done inside a write
transaction it holds SQLite's one write lock, and every rating and chat message waits behind it (up to
``busy_timeout``, then "database is locked"). This starts the app in process on a temp SQLite state, signs up
``--students`` students, then has them sign in ``--rounds`` times each, all at once, while one writer commits a
small chat (user, conversation, question, answer) every ``--write-every-ms`` through ``run_in_transaction``
with the app's busy_timeout and no retry. It reports the burst's length, the sign-ins that worked and those
refused as busy, how many writes landed, their wait (p50, worst), the writes that failed, and the app's own
transient-error retries. No question is asked, so the policy engine is tests/fakes.py's scripted one: it is
never called. The last line printed is one JSON object.

    python bench/signin_burst.py [--students 20] [--rounds 3] [--write-every-ms 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.summary import percentile  # noqa: E402
from feedback.db import make_engine, run_in_transaction  # noqa: E402
from serving.local_app import ServedApp, free_port, isolated_settings, signup_cookie  # noqa: E402

PASSWORD = "correct-horse-9"


class RetryCounter(logging.Handler):
    """Counts ``feedback.db``'s "transient database error" warnings (the app retried a transaction)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "transient database error" in record.getMessage():
            self.count += 1


def percentile_ms(values: list[float], q: float) -> float | None:
    """``percentile`` of ``values`` (seconds) in milliseconds; None for no values.

    >>> percentile_ms([0.010, 0.020, 0.030], 0.5), percentile_ms([], 0.5)
    (20.0, None)
    """
    return round(1000 * percentile(values, q), 1) if values else None


def write_until(url: str, busy_timeout_ms: int, every_s: float, stop: threading.Event) -> tuple[list[float], list[str]]:
    """Commit one small chat every ``every_s`` until ``stop``; (each landed write's seconds, each failure)."""
    from tests.fakes import make_chat

    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
    waits: list[float] = []
    failures: list[str] = []
    try:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                run_in_transaction(engine, lambda s: make_chat(s, f"writer_{n}"), retries=0)
                waits.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 -- counted and reported, the bench goes on
                failures.append(str(error).splitlines()[0][:120])
            n += 1
            stop.wait(every_s)
    finally:
        engine.dispose()
    return waits, failures


def sign_in(url: str, username: str) -> int:
    """One sign-in through the login form: 303 when it worked, else minus the status (-429: every argon2 slot
    stayed busy past ``limits.hash_wait_s``, the app's answer to a burst larger than the CPU can hash)."""
    reply = httpx.post(f"{url}/login", data={"username": username, "password": PASSWORD, "next": "/chat/"},
                       timeout=120)
    return reply.status_code if "set-cookie" in reply.headers else -reply.status_code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="sign-ins per student, all at once")
    parser.add_argument("--write-every-ms", type=float, default=50.0)
    args = parser.parse_args(argv)

    import app as web
    from mathchat.settings import RateLimitSettings
    from tests.fakes import FakeEngine

    retries = RetryCounter()
    logging.getLogger("feedback.db").addHandler(retries)
    with tempfile.TemporaryDirectory(prefix="mathchat-signin-") as tmp:
        # the per-account and per-address sign-in limits would refuse a burst from one loopback address
        settings = isolated_settings(Path(tmp), limits=RateLimitSettings(login_per_ip="10000/minute",
                                                                         login_per_account="1000/minute",
                                                                         signup_per_ip="10000/minute"))
        served = ServedApp(web.create_app(settings, engine=FakeEngine(["unused"])), free_port(), settings)
        try:
            names = [f"student_{i:03d}" for i in range(args.students)]
            for name in names:
                signup_cookie(served.url, name, PASSWORD)
            stop = threading.Event()
            with ThreadPoolExecutor(1) as background:
                writer = background.submit(write_until, settings.database.url, settings.database.busy_timeout_ms,
                                           args.write_every_ms / 1000, stop)
                started = time.perf_counter()
                with ThreadPoolExecutor(args.students) as pool:
                    codes = list(pool.map(lambda name: sign_in(served.url, name), names * args.rounds))
                burst_s = time.perf_counter() - started
                stop.set()
                waits, failures = writer.result()
        finally:
            served.stop()
            served.app.state.runtime.close()
            logging.getLogger("feedback.db").removeHandler(retries)
    print(json.dumps({"students": args.students, "sign_ins": len(codes), "sign_ins_ok": codes.count(303),
                      "sign_ins_busy": codes.count(-429),
                      "burst_s": round(burst_s, 2), "writes": len(waits), "write_failures": len(failures),
                      "write_p50_ms": percentile_ms(waits, 0.5), "write_max_ms": percentile_ms(waits, 1.0),
                      "app_retries": retries.count, "failure_examples": failures[:3]}))


if __name__ == "__main__":
    main()
