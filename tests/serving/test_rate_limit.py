"""Request limits: per user, per address and per account, in memory or shared through the real Redis."""

from __future__ import annotations

import secrets

import pytest

from mathchat.settings import RateLimitSettings
from serving.rate_limit import RateLimited, RequestLimits

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own; every key under it is deleted afterwards, even on failure."""
    import redis

    prefix = f"mathchat-test-{secrets.token_hex(6)}"
    client = redis.Redis.from_url(REDIS_URL)
    yield prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_limits_are_per_user_and_name_the_wait() -> None:
    limits = RequestLimits(RateLimitSettings(ask_per_user="2/minute"))
    limits.hit("ask", user=1)
    limits.hit("ask", user=1)
    with pytest.raises(RateLimited, match=r"Too many questions \(limit 2 per minute\).*wait \d+ s"):
        limits.hit("ask", user=1)
    limits.hit("ask", user=2)


def test_an_address_is_limited_across_new_accounts() -> None:
    limits = RequestLimits(RateLimitSettings(critique_per_ip="3/minute"))
    for user in range(3):
        limits.hit("critique", user=user, ip="10.0.0.7")
    with pytest.raises(RateLimited, match="from your network"):
        limits.hit("critique", user=99, ip="10.0.0.7")


def test_two_replicas_share_one_limit_through_redis(redis_prefix: str) -> None:
    settings = RateLimitSettings(storage_url=REDIS_URL, key_prefix=redis_prefix, ask_per_user="5/minute")
    replica_a, replica_b = RequestLimits(settings), RequestLimits(settings)
    for i in range(5):
        (replica_a if i % 2 else replica_b).hit("ask", user=42)
    for replica in (replica_a, replica_b):
        with pytest.raises(RateLimited):
            replica.hit("ask", user=42)
    restarted = RequestLimits(settings)  # a restart keeps the counts
    with pytest.raises(RateLimited):
        restarted.hit("ask", user=42)


def test_an_unreachable_storage_lets_requests_through() -> None:
    limits = RequestLimits(RateLimitSettings(storage_url="redis://127.0.0.1:9/0", ask_per_user="1/minute"))
    limits.hit("ask", user=1)
    limits.hit("ask", user=1)
