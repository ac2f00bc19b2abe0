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
    real = feedback.auth.password_matches

    def slow_check(*args):  # noqa: ANN002, ANN202
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return real(*args)

    monkeypatch.setattr(feedback.auth, "password_matches", slow_check)
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda i: login(app, f"user{i}", "whatever-123").status_code, range(6)))
    assert codes == [303] * 6 and peak == 2


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_no_database_lock_is_held_while_a_password_is_hashed(served_app_factory, monkeypatch, path: str) -> None:  # noqa: ANN001
    """argon2 costs a good fraction of a second on a busy CPU: done inside a write transaction it held SQLite's one
    write lock, and a burst of sign-ins made students' ratings fail with "database is locked"."""
    import feedback.auth
    from feedback.db import make_engine, run_in_transaction
    from tests.fakes import make_chat

    app = start(served_app_factory)
    signup_cookie(app.url, "ada_lovelace")
    hashing, release = threading.Event(), threading.Event()
    name = "password_matches" if path == "/login" else "hash_password"
    real = getattr(feedback.auth, name)

    def slow(*args):  # noqa: ANN002, ANN202
        hashing.set()
        release.wait(20)
        return real(*args)

    monkeypatch.setattr(feedback.auth, name, slow)
    username = "ada_lovelace" if path == "/login" else "grace_hopper"
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(httpx.post, f"{app.url}{path}",
                            data={"username": username, "password": "correct-horse-9", "next": "/chat/"}, timeout=60)
        try:
            assert hashing.wait(20)
            writer = make_engine(app.settings.database.url, busy_timeout_ms=100)
            try:  # another user's write while the hash runs: no lock to wait for
                run_in_transaction(writer, lambda s: make_chat(s, "bob_writer"), retries=0)
            finally:
                writer.dispose()
        finally:
            release.set()
        response = reply.result(60)
    assert response.status_code == 303 and response.headers["location"] == "/chat/"
    assert "set-cookie" in response.headers


def test_a_sign_in_upgrades_an_outdated_hash_and_refuses_a_disabled_user(served_app_factory) -> None:  # noqa: ANN001
    from argon2 import PasswordHasher

    from feedback import auth, store
    from feedback.db import make_engine, run_in_transaction

    app = start(served_app_factory)
    signup_cookie(app.url, "someone_else")  # the app has migrated its database
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct-horse-9")
    db = make_engine(app.settings.database.url)
    try:
        ada = run_in_transaction(db, lambda s: store.create_user(session=s, username="ada_weak", password_hash=weak))
        assert login(app, "ada_weak", "wrong-horse-99").headers["location"].startswith("/login")
        assert run_in_transaction(db, lambda s: store.get_user(session=s, user_id=ada.id).password_hash) == weak
        assert login(app, "ada_weak", "correct-horse-9").headers["location"] == "/chat/"
        stored = run_in_transaction(db, lambda s: store.get_user(session=s, user_id=ada.id).password_hash)
        assert stored != weak and auth.verify_password(stored, "correct-horse-9")
        run_in_transaction(db, lambda s: store.set_user_disabled(session=s, user_id=ada.id, disabled=True))
        refused = login(app, "ada_weak", "correct-horse-9")
        assert refused.headers["location"].startswith("/login") and "set-cookie" not in refused.headers
    finally:
        db.dispose()


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
