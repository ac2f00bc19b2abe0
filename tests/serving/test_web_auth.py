"""Sign-in abuse: logins throttled per account and per address, signups per address, argon2 hashing capped,
usernames case-folded; critiques and ratings limited like questions."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mathchat.settings import RateLimitSettings
from serving.local_app import signup_cookie
from tests.fakes import FakeEngine


def start(served_app_factory, **limits):  # noqa: ANN001, ANN003, ANN201
    return served_app_factory(engine=FakeEngine(["2 + 2 = 4. The answer is 4."]),
                              limits=RateLimitSettings(**limits))


def login(app, username: str, password: str) -> httpx.Response:  # noqa: ANN001
    return httpx.post(f"{app.url}/login", data={"username": username, "password": password, "next": "/chat/"},
                      timeout=60)


def test_wrong_passwords_on_one_account_are_throttled(served_app_factory) -> None:  # noqa: ANN001
    app = start(served_app_factory, login_per_account="3/minute")
    signup_cookie(app.url, "target_user")
    codes = [login(app, "target_user", f"guess-{i}-xxxx").status_code for i in range(3)]
    assert codes == [303, 303, 303]
    refused = login(app, "TARGET_user", "correct-horse-9")  # another spelling is the same account
    assert refused.status_code == 429 and "sign-in attempts for this account" in refused.text
    assert "set-cookie" not in refused.headers


def test_logins_and_signups_are_throttled_per_address(served_app_factory) -> None:  # noqa: ANN001
    app = start(served_app_factory, login_per_ip="4/minute", signup_per_ip="2/minute")
    assert [httpx.post(f"{app.url}/signup", data={"username": f"farm{i}", "password": "correct-horse-9"},
                       timeout=60).status_code
            for i in range(3)] == [303, 303, 429]
    codes = [login(app, f"someone{i}", "whatever-123").status_code for i in range(5)]
    assert codes[:4] == [303] * 4 and codes[4] == 429


def test_password_hashing_runs_at_most_hash_concurrency_at_once(served_app_factory, monkeypatch) -> None:  # noqa: ANN001
    import feedback.auth

    app = start(served_app_factory, hash_concurrency=2)
    running, peak, lock = 0, 0, threading.Lock()
    real = feedback.auth.authenticate

    def slow_authenticate(**kwargs):  # noqa: ANN003, ANN202
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return real(**kwargs)

    monkeypatch.setattr(feedback.auth, "authenticate", slow_authenticate)
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda i: login(app, f"user{i}", "whatever-123").status_code, range(6)))
    assert codes == [303] * 6 and peak == 2


def test_usernames_are_case_folded(served_app_factory) -> None:  # noqa: ANN001
    app = start(served_app_factory)
    signup_cookie(app.url, "Ada_L")
    again = httpx.post(f"{app.url}/signup", data={"username": "ADA_l", "password": "correct-horse-9"}, timeout=60)
    assert again.status_code == 303 and "taken" in httpx.URL(again.headers["location"]).params["error"]
    assert login(app, "ada_l", "correct-horse-9").headers.get("set-cookie", "").startswith("mathchat_session=")


def test_critiques_and_ratings_are_limited_per_user(served_app_factory) -> None:  # noqa: ANN001
    app = start(served_app_factory, critique_per_user="2/minute", rate_per_user="2/minute")
    cookie = {"Cookie": signup_cookie(app.url, "greedy_student")}
    last = httpx.post(f"{app.url}/api/chat/ask", json={"question": "What is 2+2?"}, headers=cookie,
                      timeout=60).text.splitlines()[-1]
    answer_id = httpx.Response(200, content=last).json()["answer_id"]
    codes = [httpx.post(f"{app.url}/api/chat/critique/{answer_id}", headers=cookie, timeout=60).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    codes = [httpx.post(f"{app.url}/api/chat/rate", json={"answer_id": answer_id, "liked": True},
                        headers=cookie, timeout=60).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_cookies_are_secure_when_the_request_came_over_https(served_app_factory) -> None:  # noqa: ANN001
    app = start(served_app_factory)
    plain = httpx.post(f"{app.url}/signup", data={"username": "plain_http", "password": "correct-horse-9"}, timeout=60)
    assert "secure" not in plain.headers["set-cookie"].lower()
    proxied = httpx.post(f"{app.url}/signup", data={"username": "via_tls", "password": "correct-horse-9"},
                         headers={"X-Forwarded-Proto": "https"}, timeout=60)  # a TLS proxy on loopback
    assert "; secure" in proxied.headers["set-cookie"].lower()


def test_secret_files_are_private_from_their_creation(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from pathlib import Path

    from mathchat.settings import Settings
    from serving.web_auth import load_secret

    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)  # only the creation may set the mode
    load_secret(Settings(state_dir=tmp_path))
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_api_and_page_share_the_answer_token_limit(served_app_factory) -> None:  # noqa: ANN001
    from mathchat.sampling import MAX_ANSWER_TOKENS

    app = start(served_app_factory)
    cookie = {"Cookie": signup_cookie(app.url, "token_greedy")}
    r = httpx.post(f"{app.url}/api/chat/ask", json={"question": "2+2?", "max_tokens": MAX_ANSWER_TOKENS + 1},
                   headers=cookie, timeout=60)
    assert r.status_code == 422
    config = httpx.get(f"{app.url}/chat/config", headers=cookie, timeout=60).json()
    sliders = [c["props"] for c in config["components"] if c.get("type") == "slider"]
    assert any(p.get("maximum") == MAX_ANSWER_TOKENS for p in sliders)


def test_sign_out_everywhere_revokes_every_session(served_app_factory) -> None:  # noqa: ANN001
    from serving.local_app import login_cookie

    app = start(served_app_factory)
    laptop = signup_cookie(app.url, "two_devices")
    phone = login_cookie(app.url, "two_devices", "correct-horse-9")
    listing = f"{app.url}/api/chat/conversations"
    assert httpx.get(listing, headers={"Cookie": phone}, timeout=60).status_code == 200
    out = httpx.post(f"{app.url}/logout", data={"everywhere": "1"}, headers={"Cookie": laptop}, timeout=60)
    assert out.status_code == 303
    for cookie in (laptop, phone):  # the phone never signed out, yet its cookie no longer works
        assert httpx.get(listing, headers={"Cookie": cookie}, timeout=60).status_code == 401
    fresh = login_cookie(app.url, "two_devices", "correct-horse-9")
    assert httpx.get(listing, headers={"Cookie": fresh}, timeout=60).status_code == 200
