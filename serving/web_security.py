"""Cross-site request refusal, request-body limits and response headers for the whole app (its own routes and
the Gradio pages).

A state-changing request (anything but GET, HEAD, OPTIONS) whose ``Origin`` (or, without one, ``Referer``) names
another site is refused with 403 before any handler runs: a form on another site can no longer promote, roll
back, rate, sign in or sign out with the visitor's cookie. Requests with neither header come from programs,
not from a page in a browser (browsers send ``Origin`` on every cross-site POST), and pass. Same site means
the same host and port as the request's ``Host`` (the scheme may differ behind a TLS-terminating proxy), or an
origin listed in ``ServerSettings.allowed_origins``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
"""Nothing may frame the app (clickjacking), and its forms post only to it. Scripts are not restricted: Gradio's
pages need inline scripts and styles."""


def _netloc(url: str) -> str | None:
    """``host:port`` of a URL, lower-cased, with the scheme's default port filled in (None when unparseable).

    >>> _netloc("https://Example.org"), _netloc("http://127.0.0.1:7860/chat/"), _netloc("null")
    ('example.org:443', '127.0.0.1:7860', None)
    """
    try:
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    return f"{parts.hostname.lower()}:{port}"


def _host_netlocs(host: str) -> set[str | None]:
    """What an Origin of this ``Host`` header may look like: without a port, either scheme's default port.

    >>> sorted(_host_netlocs("app.example")), _host_netlocs("127.0.0.1:7860")
    (['app.example:443', 'app.example:80'], {'127.0.0.1:7860'})
    """
    if ":" in host.rsplit("]", 1)[-1]:
        return {_netloc(f"http://{host}")}
    return {_netloc(f"http://{host}"), _netloc(f"https://{host}")}


def is_same_site(method: str, origin: str | None, referer: str | None, host: str | None,
                 allowed_origins: Iterable[str] = ()) -> bool:
    """Whether a request may change state: a safe method, no Origin/Referer at all (not a browser page), or an
    Origin/Referer naming this host (any scheme) or an allowed origin.

    >>> is_same_site("POST", "https://evil.example", None, "app.example")
    False
    >>> is_same_site("POST", "https://app.example", None, "app.example"), is_same_site("POST", None, None, "app.example")
    (True, True)
    >>> is_same_site("POST", None, "https://evil.example/x", "app.example"), is_same_site("POST", "null", None, "a")
    (False, False)
    >>> is_same_site("POST", "https://ui.example", None, "api.example", ["https://ui.example"])
    True
    """
    if method.upper() in SAFE_METHODS:
        return True
    claimed = origin if origin is not None else referer
    if claimed is None:
        return True
    source = _netloc(claimed)
    if source is None:
        return False
    if host and source in _host_netlocs(host):  # host and port; the scheme may differ behind a TLS proxy
        return True
    return any(source == _netloc(o) for o in allowed_origins)


class SameSiteMiddleware:
    """ASGI middleware: 403 for cross-site state-changing requests; security headers on every response."""

    def __init__(self, app, allowed_origins: Iterable[str] = (), hsts: bool = False) -> None:  # noqa: ANN001
        self.app = app
        self.allowed_origins = tuple(allowed_origins)
        self.hsts = hsts

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not is_same_site(scope["method"], headers.get("origin"), headers.get("referer"), headers.get("host"),
                            self.allowed_origins):
            body = json.dumps({"detail": "cross-site request refused"}).encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                         (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"same-origin")]
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = list(message.get("headers", [])) + [(k, v) for k, v in extra if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """ASGI middleware: 413 for a request body over ``max_bytes``, by its Content-Length or, for a chunked body,
    as soon as the bytes read pass the limit (nothing past it is read; the app then sees a disconnect)."""

    def __init__(self, app, max_bytes: int) -> None:  # noqa: ANN001
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key.lower() == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _refuse_too_large(send, self.max_bytes)
                    return
        seen = 0
        started = refused = False

        async def limited_receive():  # noqa: ANN202
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if not started:
                        await _refuse_too_large(send, self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message) -> None:  # noqa: ANN001
            nonlocal started
            if refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


async def _refuse_too_large(send, max_bytes: int) -> None:  # noqa: ANN001
    body = json.dumps({"detail": f"request body over {max_bytes} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
