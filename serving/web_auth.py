"""Sign-in for the web app: signed, HttpOnly, SameSite session cookies over the users table.

Operators' cookies are ``SameSite=Strict``, students' ``Lax``; signing out is a POST (GET /logout only shows
the button). Cross-site POSTs never reach these routes (``serving.web_security``).

Roles are checked on every request against the database (a disabled user or a demoted operator loses
access at once), for Gradio pages through ``auth_dependency`` and for JSON endpoints through
``require_operator``.
"""

from __future__ import annotations

import html
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from feedback import auth as user_auth
from feedback import store
from feedback.db import run_in_transaction
from feedback.errors import InvalidInput, StoreUnavailable
from feedback.models import User
from mathchat.settings import Settings
from serving.rate_limit import RateLimited, RequestLimits

COOKIE = "mathchat_session"
MAX_AGE_S = 7 * 24 * 3600


@dataclass(frozen=True)
class SessionUser:
    """The signed-in user, as read from the DB for this request."""

    id: int
    username: str
    role: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def load_secret(settings: Settings) -> str:
    """The cookie-signing key: configured, or generated once and kept in the state dir (mode 600)."""
    if settings.server.secret_key:
        return settings.server.secret_key
    path = Path(settings.state_dir) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    write_private(path, key)
    return key


def write_private(path: Path, text: str) -> None:
    """Write a secret to a file that is mode 0600 from its creation (never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its old mode otherwise
        handle.write(text)


def client_address(request: Request) -> str | None:
    """The client address (what per-address limits count); behind a proxy, uvicorn's proxy headers set it."""
    return request.client.host if request.client else None


def safe_next(target: str | None, default: str = "/chat/") -> str:
    """Only same-site relative redirects after sign-in.

    >>> safe_next("/operator/"), safe_next("//evil.example/"), safe_next("https://evil.example")
    ('/operator/', '/chat/', '/chat/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class WebAuth:
    """Cookie sessions plus the login/signup/logout routes."""

    def __init__(self, settings: Settings, db: Engine) -> None:
        self.settings = settings
        self.db = db
        self._signer = URLSafeTimedSerializer(load_secret(settings), salt="mathchat-session")
        self.limits = RequestLimits(settings.limits)
        self._hashing = threading.BoundedSemaphore(settings.limits.hash_concurrency)

    @contextmanager
    def _hashing_slot(self) -> Iterator[None]:
        """One of ``hash_concurrency`` argon2 slots (a burst of sign-ins queues instead of exhausting CPU and
        memory); RateLimited when none frees up within ``hash_wait_s``."""
        if not self._hashing.acquire(timeout=self.settings.limits.hash_wait_s):
            raise RateLimited("Too many sign-ins at once; please try again in a few seconds.")
        try:
            yield
        finally:
            self._hashing.release()

    def _check_login(self, username: str, password: str) -> User | None:
        """The enabled user with these credentials, else None. The argon2 check runs between two short
        transactions, never inside one: on SQLite a write transaction holds the one write lock, and a burst of
        sign-ins hashing inside it made students' ratings wait past busy_timeout ("database is locked")."""
        name = user_auth.fold_username(username)
        user = run_in_transaction(self.db, lambda s: store.get_user_by_name(session=s, username=name),
                                  read_only=True)
        with self._hashing_slot():
            if not user_auth.password_matches(user, password):
                return None
            fresh = user_auth.upgraded_hash(user, password)
        if fresh is not None:
            run_in_transaction(self.db, lambda s: store.set_password_hash(session=s, user_id=user.id,
                                                                          password_hash=fresh))
        return user

    # --- sessions -------------------------------------------------------------------------------

    def user_from_request(self, request: Request) -> SessionUser | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            data = self._signer.loads(token, max_age=MAX_AGE_S)
        except BadSignature:
            return None

        def work(s):  # noqa: ANN001, ANN202
            user = store.get_user(session=s, user_id=int(data["uid"]))
            if user is None or user.disabled or int(data.get("v", 0)) != user.session_version:
                return None  # unknown, disabled, or signed out everywhere since this cookie was made
            return SessionUser(user.id, user.username, user.role)

        try:
            return run_in_transaction(self.db, work, retries=1, read_only=True)
        except StoreUnavailable:
            return None

    async def any_user(self, request: Request) -> str | None:
        """Gradio auth_dependency for the student chat: any signed-in user. Gradio calls it on the event loop for
        every request, so the database read runs in the thread pool (a slow database stalls only this request)."""
        user = await run_in_threadpool(self.user_from_request, request)
        return user.username if user else None

    async def operator_only(self, request: Request) -> str | None:
        """Gradio auth_dependency for the console: operators only (read off the event loop, as ``any_user``)."""
        user = await run_in_threadpool(self.user_from_request, request)
        return user.username if user and user.is_operator else None

    def require_operator(self, request: Request) -> SessionUser:
        """FastAPI dependency for operator endpoints: 401 anonymous, 403 students."""
        user = self.user_from_request(request)
        if user is None:
            raise HTTPException(status_code=401, detail="sign in first")
        if not user.is_operator:
            raise HTTPException(status_code=403, detail="operators only")
        return user

    def _set_cookie(self, response: RedirectResponse, user: User, request: Request) -> None:
        """Operators get ``SameSite=Strict`` (no cross-site request carries their session, not even a link);
        students ``Lax``, so a link to the chat keeps them signed in. ``Secure`` when configured or when the
        request came over HTTPS (directly, or through a proxy uvicorn trusts for X-Forwarded-Proto)."""
        response.set_cookie(COOKIE, self._signer.dumps({"uid": user.id, "v": user.session_version}),
                            max_age=MAX_AGE_S, httponly=True,
                            samesite="strict" if user.role == "operator" else "lax",
                            secure=self.settings.server.cookie_secure or request.url.scheme == "https", path="/")

    # --- routes ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/login", response_class=HTMLResponse)
        def login_page(next: str = "/chat/", error: str = "") -> HTMLResponse:  # noqa: A002
            return HTMLResponse(render_form("Sign in", "/login", safe_next(next), error,
                                            self.settings.server.allow_signup))

        @router.post("/login")
        def login(request: Request, username: str = Form("", max_length=64),
                  password: str = Form("", max_length=user_auth.MAX_PASSWORD_CHARS),
                  next: str = Form("/chat/", max_length=512)):  # noqa: A002
            target = safe_next(next)
            try:
                self.limits.hit("login", ip=client_address(request), account=user_auth.fold_username(username))
                user = self._check_login(username, password)
            except RateLimited as exc:
                return HTMLResponse(render_form("Sign in", "/login", target, str(exc),
                                                self.settings.server.allow_signup), status_code=429)
            except StoreUnavailable as exc:
                return RedirectResponse(f"/login?next={quote(target)}&error={quote(str(exc))}", status_code=303)
            if user is None:
                return RedirectResponse(f"/login?next={quote(target)}&error={quote('Wrong username or password.')}",
                                        status_code=303)
            if target.startswith("/operator") and user.role != "operator":
                target = "/chat/"
            response = RedirectResponse(target, status_code=303)
            self._set_cookie(response, user, request)
            return response

        @router.get("/signup", response_class=HTMLResponse)
        def signup_page(error: str = "") -> HTMLResponse:
            if not self.settings.server.allow_signup:
                raise HTTPException(status_code=404)
            return HTMLResponse(render_form("Create a student account", "/signup", "/chat/", error, False))

        @router.post("/signup")
        def signup(request: Request, username: str = Form("", max_length=64),
                   password: str = Form("", max_length=user_auth.MAX_PASSWORD_CHARS)):
            if not self.settings.server.allow_signup:
                raise HTTPException(status_code=404)
            try:
                self.limits.hit("signup", ip=client_address(request))
                with self._hashing_slot():
                    user = run_in_transaction(self.db, lambda s: user_auth.register_user(
                        session=s, username=username, password=password, role="student"))
            except RateLimited as exc:
                return HTMLResponse(render_form("Create a student account", "/signup", "/chat/", str(exc), False),
                                    status_code=429)
            except (InvalidInput, StoreUnavailable) as exc:
                return RedirectResponse(f"/signup?error={quote(str(exc))}", status_code=303)
            response = RedirectResponse("/chat/", status_code=303)
            self._set_cookie(response, user, request)
            return response

        @router.get("/logout", response_class=HTMLResponse)
        def logout_page() -> HTMLResponse:
            """Signing out changes state, so it takes a POST: this page only asks (a link cannot sign anyone out)."""
            return HTMLResponse(render_logout_form())

        @router.post("/logout")
        def logout(request: Request, everywhere: str = Form("")):
            """Sign out this browser; with ``everywhere`` set, every browser of this user (sessions revoked)."""
            user = self.user_from_request(request) if everywhere else None
            if user is not None:
                run_in_transaction(self.db, lambda s: store.revoke_sessions(session=s, user_id=user.id))
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(COOKIE, path="/")
            return response

        return router


def render_logout_form() -> str:
    """The sign-out page: one button that posts to /logout."""
    return ("""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mathchat · Sign out</title>"""
            """<style>body{font-family:system-ui,sans-serif;max-width:360px;margin:10vh auto;padding:0 1em}"""
            """button{padding:.6em 1.2em}</style></head><body><h1>mathchat</h1>"""
            """<form method="post" action="/logout"><button type="submit" id="logout">Sign out</button></form>"""
            """<form method="post" action="/logout"><input type="hidden" name="everywhere" value="1">"""
            """<button type="submit" id="logout-everywhere">Sign out on every device</button></form>"""
            """<p><a href="/chat/">Back to the chat</a></p></body></html>""")


def render_form(title: str, action: str, next_url: str, error: str, show_signup: bool) -> str:
    """The sign-in / sign-up page (plain HTML, everything escaped)."""
    e = html.escape
    err = f'<p class="err" role="alert">{e(error)}</p>' if error else ""
    signup = '<p><a href="/signup">Create a student account</a></p>' if show_signup else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mathchat · {e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:360px;margin:10vh auto;padding:0 1em}}
label{{display:block;margin:.8em 0 .2em}}input{{width:100%;padding:.5em;box-sizing:border-box}}
button{{margin-top:1em;padding:.6em 1.2em}}.err{{color:#b00020}}</style></head>
<body><h1>mathchat</h1><h2>{e(title)}</h2>{err}
<form method="post" action="{e(action)}"><input type="hidden" name="next" value="{e(next_url)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit" id="submit">{e(title)}</button></form>{signup}</body></html>"""
