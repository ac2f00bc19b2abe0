"""Operator JSON endpoints (role checked on every call): status, promote, roll back.

A promotion only writes the Promotion row and starts the switch in the background: starting a server can
take minutes on a small CPU machine, so the request does not wait unless it asks to (``wait_s``). Both the
reply and ``GET /status`` carry the switch's state (``pending``/``switching``/``done``/``failed``) and, once
done, its report, whoever performed it (this request or the app's sync loop). Poll ``/status`` until
``switch.state`` is ``done`` or ``failed``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from feedback import registry
from feedback.db import run_in_transaction
from feedback.errors import InvalidInput
from mathchat.settings import Settings
from serving.external_vllm import describe_external
from serving.live_model import LiveModelSync
from console.promotion import PromotionResult, promote, rollback
from serving.web_auth import SessionUser, WebAuth


MAX_WAIT_S = 900.0


class SwitchRequest(BaseModel):
    wait_s: float = Field(0.0, ge=0.0, le=MAX_WAIT_S)
    """Seconds to wait for the switch to finish before answering (0: answer at once, 202 while switching)."""


class PromoteRequest(SwitchRequest):
    checkpoint_id: str = Field(max_length=200)
    override: bool = False


def build_operator_router(settings: Settings, db: Engine, sync: LiveModelSync, auth: WebAuth) -> APIRouter:
    router = APIRouter()

    def operator(request: Request) -> SessionUser:
        return auth.require_operator(request)

    def status_body() -> dict:
        def work(s):  # noqa: ANN001, ANN202
            live = registry.get_live_checkpoint(session=s)
            return {"live_in_db": live.id if live else None,
                    "checkpoints": [{"id": c.id, "kind": c.kind, "status": c.status, "gate_passed": c.gate_passed}
                                    for c in registry.list_checkpoints(session=s, limit=50)]}

        body = run_in_transaction(db, work)
        report = sync.state.last_report
        body.update(served=sync.state.served_id, switching_to=sync.state.switching_to,
                    last_error=sync.state.last_error,
                    last_switch=None if report is None else report.__dict__,
                    switch=None if body["live_in_db"] is None else sync.status(body["live_in_db"]).as_dict())
        if sync.runtime.external_url is not None:
            body["external"] = describe_external(sync.runtime.external_url, sync.state.served_id)
        return body

    def switch_reply(result: PromotionResult, wait_s: float, response: Response) -> dict:
        sync.request_switch(result.to_id)
        switch = sync.wait_for(result.to_id, wait_s)
        response.status_code = 200 if switch.finished else 202
        return {"promotion": result.__dict__, **status_body(), "switch": switch.as_dict()}

    @router.get("/status")
    def status(_user: SessionUser = Depends(operator)) -> dict:
        return status_body()

    @router.post("/promote")
    def do_promote(req: PromoteRequest, response: Response, user: SessionUser = Depends(operator)) -> dict:
        try:
            result = promote(db, req.checkpoint_id, by_user=user.username, override=req.override)
        except InvalidInput as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return switch_reply(result, req.wait_s, response)

    @router.post("/rollback")
    def do_rollback(response: Response, req: SwitchRequest | None = None,
                    user: SessionUser = Depends(operator)) -> dict:
        try:
            result = rollback(db, by_user=user.username)
        except InvalidInput as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return switch_reply(result, (req or SwitchRequest()).wait_s, response)

    return router
