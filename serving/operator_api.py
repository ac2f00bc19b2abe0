"""Operator JSON endpoints (role checked on every call): status, promote, roll back."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from feedback import store
from feedback.db import run_in_transaction
from feedback.errors import InvalidInput
from mathchat.settings import Settings
from serving.live_model import LiveModelSync
from serving.promotion import promote, rollback
from serving.web_auth import SessionUser, WebAuth


class PromoteRequest(BaseModel):
    checkpoint_id: str
    override: bool = False


def build_operator_router(settings: Settings, db: Engine, sync: LiveModelSync, auth: WebAuth) -> APIRouter:
    router = APIRouter()

    def operator(request: Request) -> SessionUser:
        return auth.require_operator(request)

    def status_body() -> dict:
        def work(s):  # noqa: ANN001, ANN202
            live = store.get_live_checkpoint(session=s)
            return {"live_in_db": live.id if live else None,
                    "checkpoints": [{"id": c.id, "kind": c.kind, "status": c.status, "gate_passed": c.gate_passed}
                                    for c in store.list_checkpoints(session=s, limit=50)]}

        body = run_in_transaction(db, work)
        report = sync.state.last_report
        body.update(served=sync.state.served_id, switching_to=sync.state.switching_to,
                    last_error=sync.state.last_error,
                    last_switch=None if report is None else report.__dict__)
        return body

    @router.get("/status")
    def status(_user: SessionUser = Depends(operator)) -> dict:
        return status_body()

    @router.post("/promote")
    def do_promote(req: PromoteRequest, user: SessionUser = Depends(operator)) -> dict:
        try:
            result = promote(db, req.checkpoint_id, by_user=user.username, override=req.override)
        except InvalidInput as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        sync.retry(result.to_id)
        report = sync.sync()
        return {"promotion": result.__dict__, "switch": None if report is None else report.__dict__,
                **status_body()}

    @router.post("/rollback")
    def do_rollback(user: SessionUser = Depends(operator)) -> dict:
        try:
            result = rollback(db, by_user=user.username)
        except InvalidInput as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        sync.retry(result.to_id)
        report = sync.sync()
        return {"promotion": result.__dict__, "switch": None if report is None else report.__dict__,
                **status_body()}

    return router
