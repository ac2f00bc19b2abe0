"""Request limits per user, per client address and per account name, on ask, critique, rate, login and signup.

Counts live in one ``limits`` storage (moving windows): ``memory://`` by default (this process only, lost on
restart), ``redis://host:6379/0`` in production, where every app replica shares them and a restart keeps them.
The rules come from ``RateLimitSettings`` in limits notation ("20/minute", "10/minute;50/hour"). When the storage
cannot be reached (Redis down), requests pass and a warning is logged: a limit outage never stops the chat.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from mathchat.settings import RateLimitSettings

log = logging.getLogger(__name__)

WHAT = {"ask": "questions", "critique": "answer checks", "rate": "ratings", "login": "sign-in attempts",
        "signup": "new accounts"}
"""What each limited action counts, as the refusal names it."""


class RateLimited(RuntimeError):
    """Too many requests; the message says when to retry."""


def describe(item: RateLimitItem) -> str:
    """A limit in words.

    >>> describe(parse_many("20/minute")[0]), describe(parse_many("50 per 2 hours")[0])
    ('20 per minute', '50 per 2 hours')
    """
    unit = item.GRANULARITY.name
    return f"{item.amount} per {unit}" if item.multiples == 1 else f"{item.amount} per {item.multiples} {unit}s"


def rules_of(settings: RateLimitSettings) -> dict[tuple[str, str], list[RateLimitItem]]:
    """(action, key kind) -> its limits, from the settings' ``<action>_per_<kind>`` fields.

    >>> sorted(rules_of(RateLimitSettings()))[:3]
    [('ask', 'ip'), ('ask', 'user'), ('critique', 'ip')]
    """
    rules = {}
    for name, value in settings.model_dump().items():
        action, sep, kind = name.partition("_per_")
        if sep and action in WHAT and value:
            rules[(action, kind)] = parse_many(value)
    return rules


class RequestLimits:
    """``hit(action, user=..., ip=..., account=...)`` counts one request against every rule for those keys."""

    def __init__(self, settings: RateLimitSettings | None = None) -> None:
        settings = settings or RateLimitSettings()
        self.storage = storage_from_string(settings.storage_url, key_prefix=settings.key_prefix)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.rules = rules_of(settings)

    def hit(self, action: str, **keys: object) -> None:
        """Count one ``action`` for each given key (None keys are skipped), or raise RateLimited naming the
        wait. Each count is atomic in the storage, so replicas sharing it enforce one limit together."""
        for kind, value in keys.items():
            if value is None or value == "":
                continue
            for item in self.rules.get((action, kind), []):
                try:
                    allowed = self.limiter.hit(item, action, kind, str(value))
                    reset = None if allowed else self.limiter.get_window_stats(item, action, kind, str(value)).reset_time
                except Exception as exc:  # noqa: BLE001 - storage unreachable: fail open, loudly
                    log.warning("rate-limit storage unavailable (%s: %s); %s not limited", type(exc).__name__, exc,
                                action)
                    return
                if not allowed:
                    wait = max(1, round((reset or time.time()) - time.time()))
                    who = "from your network " if kind == "ip" else ("for this account " if kind == "account" else "")
                    raise RateLimited(f"Too many {WHAT.get(action, action)} {who}(limit {describe(item)}): you are "
                                      f"sending them too fast. Please wait {wait} s.")
