"""CSRF: a page on another site cannot promote, roll back, rate, sign in, sign up or sign out with a visitor's
cookie; operator sessions are SameSite=Strict; logout is POST only; CORS reflects no foreign Origin."""

from __future__ import annotations

import httpx
import pytest

from feedback import registry
from feedback.db import run_in_transaction
from serving.local_app import login_cookie, signup_cookie
from tests.fakes import FakeEngine

EVIL = "https://evil.example"


@pytest.fixture
def app(served_app_factory):  # noqa: ANN001
    served = served_app_factory(engine=FakeEngine(checkpoint_id="base-smollm2-135m-instruct"))
    return served


def promotions(app) -> int:  # noqa: ANN001
    return run_in_transaction(app.app.state.db, lambda s: len(registry.list_promotions(session=s)))


def test_cross_site_rollback_and_promote_are_refused_before_anything_is_written(app) -> None:  # noqa: ANN001
    admin = login_cookie(app.url, "admin", app.admin_password)
    before = promotions(app)
    for path, body in (("/api/operator/rollback", None), ("/api/operator/promote", {"checkpoint_id": "x"})):
        r = httpx.post(f"{app.url}{path}", json=body, headers={"Cookie": admin, "Origin": EVIL})
        assert r.status_code == 403, (path, r.status_code, r.text)
        r = httpx.post(f"{app.url}{path}", data={}, headers={"Cookie": admin, "Referer": EVIL + "/page"})
        assert r.status_code == 403, (path, r.status_code, r.text)
    assert promotions(app) == before
    same = httpx.post(f"{app.url}/api/operator/rollback", headers={"Cookie": admin, "Origin": app.url})
    assert same.status_code == 400  # reaches the handler: nothing to roll back to


def test_cross_site_login_signup_rate_and_logout_are_refused(app) -> None:  # noqa: ANN001
    cookie = signup_cookie(app.url, "csrf_student")
    forms = {"/login": {"username": "csrf_student", "password": "correct-horse-9"},
             "/signup": {"username": "csrf_victim", "password": "correct-horse-9"}, "/logout": {}}
    for path, form in forms.items():
        r = httpx.post(f"{app.url}{path}", data=form, headers={"Cookie": cookie, "Origin": EVIL})
        assert r.status_code == 403 and "set-cookie" not in r.headers, path
    r = httpx.post(f"{app.url}/api/chat/rate", json={"answer_id": 1, "liked": False},
                   headers={"Cookie": cookie, "Origin": EVIL})
    assert r.status_code == 403
    r = httpx.post(f"{app.url}/chat/gradio_api/queue/join", json={}, headers={"Cookie": cookie, "Origin": EVIL})
    assert r.status_code == 403


def test_logout_needs_a_post_and_get_only_asks(app) -> None:  # noqa: ANN001
    cookie = signup_cookie(app.url, "logout_student")
    page = httpx.get(f"{app.url}/logout", headers={"Cookie": cookie})
    assert page.status_code == 200 and 'method="post" action="/logout"' in page.text
    assert "set-cookie" not in page.headers
    out = httpx.post(f"{app.url}/logout", headers={"Cookie": cookie, "Origin": app.url})
    assert out.status_code == 303 and 'mathchat_session=""' in out.headers["set-cookie"]


def test_operator_sessions_are_strict_and_student_sessions_lax(app) -> None:  # noqa: ANN001
    r = httpx.post(f"{app.url}/login", data={"username": "admin", "password": app.admin_password, "next": "/operator/"})
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    r = httpx.post(f"{app.url}/signup", data={"username": "lax_student", "password": "correct-horse-9"})
    assert "samesite=lax" in r.headers["set-cookie"].lower()


def test_no_foreign_origin_is_reflected_with_credentials(app) -> None:  # noqa: ANN001
    # A public host name: Gradio's own CORS handling reflects any Origin when the host is not localhost.
    headers = {"Origin": EVIL, "Host": "mathchat.example", "Access-Control-Request-Method": "POST"}
    for method, path in (("GET", "/chat/config"), ("OPTIONS", "/chat/gradio_api/queue/join")):
        r = httpx.request(method, f"{app.url}{path}", headers=headers)
        assert r.headers.get("access-control-allow-origin") != EVIL, (method, path)


def test_pages_may_not_be_framed(app) -> None:  # noqa: ANN001
    r = httpx.get(f"{app.url}/login")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"] and r.headers["x-frame-options"] == "DENY"


def test_request_bodies_and_fields_are_bounded(app) -> None:  # noqa: ANN001
    cookie = {"Cookie": signup_cookie(app.url, "big_sender")}
    huge = b'{"question": "' + b"1" * (3 * 2**20) + b'"}'
    r = httpx.post(f"{app.url}/api/chat/ask", content=huge, headers={**cookie, "Content-Type": "application/json"},
                   timeout=60)
    assert r.status_code == 413

    def chunks():  # noqa: ANN202 - no Content-Length: the limit counts what is read
        for _ in range(48):
            yield b"x" * 65536

    r = httpx.post(f"{app.url}/api/chat/ask", content=chunks(), headers={**cookie, "Content-Type": "application/json"},
                   timeout=60)
    assert r.status_code == 413
    r = httpx.post(f"{app.url}/api/chat/ask", json={"question": "1" * 30_000}, headers=cookie, timeout=60)
    assert r.status_code == 422
    r = httpx.post(f"{app.url}/api/chat/rate", json={"answer_id": 1, "liked": True, "comment": "c" * 5000},
                   headers=cookie, timeout=60)
    assert r.status_code == 422
    r = httpx.post(f"{app.url}/chat/gradio_api/upload", files={"files": ("a.bin", b"\0" * (3 * 2**19))},
                   headers=cookie, timeout=60)
    assert r.status_code in (400, 413) and "a.bin" not in r.text
