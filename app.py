"""mathchat web app: wires settings, the database, the policy engine, the critic, and the Gradio pages.

Run with `python app.py` (or `make run`). Pages: /login, /chat/ (students), /operator/ (operators).
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse

from feedback.db import make_engine, upgrade_db
from mathchat.settings import Settings, load_settings
from serving.bootstrap import ensure_operator, fail_interrupted_answers, live_checkpoint_at_start
from serving.chat_api import build_chat_router
from serving.chat_service import ChatService
from serving.critique.bounded import pool as symbolic_pool
from serving.critique.critic import build_critic
from serving.engine import PolicyEngine
from serving.external_vllm import describe_external
from serving.factory import PolicyRuntime, start_policy
from serving.live_model import LiveModelSync, SwitchableEngine
from console.api import build_operator_router
from console.page import build_console
from serving.ui import CSS, build_chat_ui
from serving.web_auth import WebAuth
from serving.web_security import BodySizeLimitMiddleware, SameSiteMiddleware

log = logging.getLogger("mathchat")


def create_app(settings: Settings | None = None, *, engine: PolicyEngine | None = None,
               runtime: PolicyRuntime | None = None, watch_interval_s: float = 5.0) -> FastAPI:
    """The whole web app. Settings decide the policy backend unless ``engine`` or ``runtime`` is given
    (tests, embedding); a given runtime is not shut down with the app."""
    settings = settings or load_settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade_db(settings.database.url)
    db = make_engine(settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms,
                     connect_timeout_s=settings.database.connect_timeout_s)
    fail_interrupted_answers(db, settings)
    ensure_operator(settings, db)
    live_id, live_path = live_checkpoint_at_start(settings, db)
    owns_runtime = runtime is None and engine is None
    if runtime is None:
        runtime = PolicyRuntime(engine=engine) if engine is not None else start_policy(
            settings, live_path, live_id, wait=False)
    policy = SwitchableEngine(runtime.engine)
    served_id = runtime.engine.checkpoint_id if runtime.external_url else live_id  # an external server may differ
    sync = LiveModelSync(settings, db, runtime, policy, served_id=served_id)
    critic = build_critic(settings, policy=policy, db=db)  # with the live verifier, if any
    if critic.verifier is not None:  # read its weights now, not during the first student's critique
        threading.Thread(target=critic.verifier.load, name="verifier-load", daemon=True).start()
    service = ChatService(settings=settings, engine=policy, db=db, critic=critic)
    auth = WebAuth(settings, db)

    scheduler = None
    if owns_runtime and settings.training.scheduler_in_app:
        from training.scheduler import LeaderScheduler

        scheduler = LeaderScheduler(settings)  # one leader among replicas sharing the database

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        symbolic_pool().warm()  # the critic's sympy workers start now, not on the first answer
        sync.start(watch_interval_s)
        if scheduler is not None:
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        sync.stop()
        if owns_runtime:
            runtime.close()
        db.dispose()

    app = FastAPI(title="mathchat", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings, app.state.db, app.state.runtime, app.state.sync = settings, db, runtime, sync
    app.state.service, app.state.auth, app.state.policy = service, auth, policy
    app.include_router(auth.router())
    app.include_router(build_operator_router(settings, db, sync, auth), prefix="/api/operator")
    app.include_router(build_chat_router(settings, service, auth), prefix="/api/chat")

    @app.get("/")
    def root(request: Request) -> RedirectResponse:
        user = auth.user_from_request(request)
        return RedirectResponse("/chat/" if user else "/login", status_code=303)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        health = policy.health()
        body = {"ok": health.ok, "backend": health.backend, "checkpoint_id": health.checkpoint_id,
                "detail": health.detail}
        if runtime.supervisor is not None:
            body["supervisor"] = runtime.supervisor.health()
        if runtime.external_url is not None:
            body["external"] = describe_external(runtime.external_url, health.checkpoint_id)
        return JSONResponse(body, status_code=200 if health.ok else 503)

    @app.middleware("http")
    async def send_anonymous_to_login(request: Request, call_next):  # noqa: ANN001, ANN202
        path = request.url.path
        if request.method == "GET" and path in ("/chat", "/chat/", "/operator", "/operator/"):
            user = await run_in_threadpool(auth.user_from_request, request)  # DB read: off the event loop
            if user is None or (path.startswith("/operator") and not user.is_operator):
                return RedirectResponse(f"/login?next={path.rstrip('/')}/", status_code=303)
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    # Explicit CORS (none but the allowed origins): Gradio then stops reflecting any Origin with credentials.
    app.add_middleware(CORSMiddleware, allow_origins=settings.server.allowed_origins, allow_credentials=True,
                       allow_methods=["GET", "POST"], allow_headers=["*"])
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(SameSiteMiddleware, allowed_origins=settings.server.allowed_origins,
                       hsts=settings.server.cookie_secure)
    gr.mount_gradio_app(app, build_chat_ui(service, auth, settings), "/chat", auth_dependency=auth.any_user,
                        css=CSS, footer_links=[], run_history=False, show_error=False,  # gr.Error still shows
                        max_file_size=settings.server.max_upload_bytes)
    gr.mount_gradio_app(app, build_console(settings, db, sync, auth), "/operator",
                        auth_dependency=auth.operator_only, footer_links=[], run_history=False,
                        max_file_size=settings.server.max_upload_bytes)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    uvicorn.run(create_app(settings), host=settings.server.host, port=settings.server.port,
                timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
