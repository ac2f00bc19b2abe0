"""The whole app running in this process on a free loopback port, for tests and benchmarks.

Production starts ``app.py`` under uvicorn; tests and ``bench/load.py`` need the same app with isolated
state (a temp state dir and SQLite file), started in a thread and stopped cleanly, plus the two HTTP
steps every client does first: sign up or sign in to get a session cookie.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from mathchat.settings import DatabaseSettings, Settings, VLLMSettings
from serving.ports import free_port


def isolated_settings(state_dir: Path, **overrides: object) -> Settings:
    """Settings with all state (DB, logs, vLLM port) private to ``state_dir``; the model cache stays shared."""
    base: dict[str, object] = {
        "state_dir": state_dir,
        "database": DatabaseSettings(url=f"sqlite:///{state_dir / 'mathchat.db'}"),
        "vllm": VLLMSettings(port=free_port(), enforce_eager=True, logs_dir=state_dir / "logs",
                             startup_timeout_s=900),
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


class ServedApp:
    """A running app (uvicorn in a daemon thread) and how to reach it."""

    def __init__(self, app, port: int, settings: Settings, start_timeout_s: float = 60) -> None:
        import uvicorn

        self.app, self.port, self.settings = app, port, settings
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                   timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("app did not start")
            time.sleep(0.1)

    @property
    def admin_password(self) -> str:
        """The first operator's password, written on first start."""
        return (Path(self.settings.state_dir) / "admin_password").read_text().strip()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def signup_cookie(url: str, username: str, password: str = "correct-horse-9") -> str:
    """Create a student and return its session cookie header value."""
    r = httpx.post(f"{url}/signup", data={"username": username, "password": password}, timeout=60)
    if r.status_code != 303:
        raise RuntimeError(f"signup of {username!r} failed ({r.status_code}): {r.text[:300]}")
    return r.headers["set-cookie"].split(";")[0]


def login_cookie(url: str, username: str, password: str) -> str:
    """Sign in and return the session cookie header value."""
    r = httpx.post(f"{url}/login", data={"username": username, "password": password, "next": "/chat/"},
                   timeout=60)
    if r.status_code != 303 or "set-cookie" not in r.headers:
        raise RuntimeError(f"login of {username!r} failed ({r.status_code}): {r.text[:300]}")
    return r.headers["set-cookie"].split(";")[0]
