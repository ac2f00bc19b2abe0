"""A student's side of the app's HTTP API, for the benches that drive a running app (loopback only).

``signup`` (or ``login``) gets a session cookie; ``ask`` streams one answer (``/api/chat/ask``, NDJSON) and times it;
``critique`` asks for the badge. They raise nothing for HTTP errors a student could meet: the caller
gets the status and decides.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx

SESSION_COOKIE = "mathchat_session"


def is_loopback(url: str) -> bool:
    """Benches only ever drive an app on this machine.

    >>> is_loopback("http://127.0.0.1:7860"), is_loopback("http://example.com")
    (True, False)
    """
    return url.startswith(("http://127.", "http://localhost", "http://[::1]"))


def signup(client: httpx.Client, username: str, password: str = "bench-student-pw-1", attempts: int = 10) -> str | None:
    """Create the account and keep its session cookie on ``client``; None when it worked, else why not.

    A class signing up at once meets the password-hashing cap (429): retry as the page says.
    """
    return _session_from("/signup", client, username, password, attempts)


def login(client: httpx.Client, username: str, password: str, attempts: int = 10) -> str | None:
    """Sign in to an existing account (a student coming back); like ``signup``, 429s are retried."""
    return _session_from("/login", client, username, password, attempts)


def _session_from(path: str, client: httpx.Client, username: str, password: str, attempts: int) -> str | None:
    for attempt in range(attempts):
        r = client.post(path, data={"username": username, "password": password})
        if r.status_code != 429:
            break
        time.sleep(1 + attempt)
    if r.status_code != 303 or "set-cookie" not in r.headers:
        return f"{path.strip('/')} {r.status_code}"
    client.cookies.set(SESSION_COOKIE, r.headers["set-cookie"].split(";")[0].split("=", 1)[1])
    return None


@dataclass
class Answer:
    """One streamed answer as the student saw it."""

    status_code: int
    text: str = ""
    final: dict | None = None
    """The last NDJSON line (status, answer_id, question_id, conversation_id, checkpoint_id)."""
    first_token_s: float | None = None
    seconds: float = 0.0
    """From sending the question to the last line."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.final is not None and self.final.get("status") == "ok"


def ask(client: httpx.Client, question: str, conversation_id: int | None = None, **sampling: object) -> Answer:
    """Stream one answer; ``sampling`` may set ``temperature`` and ``max_tokens`` as the page's sliders do."""
    body = {"question": question, "conversation_id": conversation_id, **sampling}
    t0 = time.monotonic()
    try:
        with client.stream("POST", "/api/chat/ask", json=body) as resp:
            if resp.status_code != 200:
                return Answer(resp.status_code, error=resp.read()[:200].decode(errors="replace"),
                              seconds=time.monotonic() - t0)
            answer = Answer(200)
            for line in resp.iter_lines():
                if not line:
                    continue
                update = json.loads(line)
                if update["delta"] and answer.first_token_s is None:
                    answer.first_token_s = time.monotonic() - t0
                answer.text += update["delta"]
                if update["done"]:
                    answer.final = update
    except httpx.HTTPError as exc:
        return Answer(0, error=f"transport: {exc!r}", seconds=time.monotonic() - t0)
    answer.seconds = time.monotonic() - t0
    if not answer.ok:
        answer.error = f"answer {answer.final and answer.final.get('status')}: {answer.final and answer.final.get('error')}"
    return answer


def critique(client: httpx.Client, answer_id: int) -> tuple[int, dict | None, float]:
    """(HTTP status, the badge's view or None, seconds) for one answer's critique."""
    t0 = time.monotonic()
    r = client.post(f"/api/chat/critique/{answer_id}")
    return r.status_code, (r.json() if r.status_code == 200 else None), time.monotonic() - t0
