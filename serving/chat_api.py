"""JSON chat API for non-browser clients (and the load benchmark): ask (streamed NDJSON), rate, list chats.

Same ChatService and the same rules as the web page; authentication is the session cookie.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from feedback.errors import StoreUnavailable
from feedback.models import MAX_COMMENT_CHARS, MAX_CORRECTION_CHARS
from mathchat.settings import Settings
from serving.chat_service import ChatService, UserFacingError
from serving.rate_limit import RateLimited
from mathchat.sampling import MAX_ANSWER_TOKENS
from serving.web_auth import SessionUser, WebAuth


MAX_QUESTION_FIELD_CHARS = 20_000
"""Hard cap of the question field; the configured ``server.max_question_chars`` refuses long ones with a message."""


class AskRequest(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_FIELD_CHARS)
    conversation_id: int | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=MAX_ANSWER_TOKENS)


class RateRequest(BaseModel):
    answer_id: int
    liked: bool
    reason: str | None = Field(None, max_length=64)
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)
    correction: str | None = Field(None, max_length=MAX_CORRECTION_CHARS)
    """With a thumbs-down: the right final answer, if the student knows it."""


def client_ip(request: Request) -> str | None:
    """The client address (what per-address limits count); behind a proxy, uvicorn's proxy headers set it."""
    return request.client.host if request.client else None


def build_chat_router(settings: Settings, service: ChatService, auth: WebAuth) -> APIRouter:
    router = APIRouter()

    def user(request: Request) -> SessionUser:
        found = auth.user_from_request(request)
        if found is None:
            raise HTTPException(status_code=401, detail="sign in first")
        return found

    @router.post("/ask")
    def ask(req: AskRequest, request: Request, who: SessionUser = Depends(user)) -> StreamingResponse:
        changes = {k: v for k, v in (("temperature", req.temperature), ("max_tokens", req.max_tokens)) if v is not None}
        updates = service.ask(who.id, req.conversation_id, req.question, settings.sampling.with_(**changes),
                              ip=client_ip(request))
        try:
            first = next(updates)
        except RateLimited as exc:
            raise HTTPException(status_code=429, detail=str(exc)) from exc
        except UserFacingError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

        def lines() -> Iterator[str]:
            sent = 0
            for update in itertools.chain([first], updates):  # lazily: stream as tokens arrive
                body = {"delta": update.text[sent:], "done": update.done}
                sent = len(update.text)
                if update.done:
                    body.update(status=update.status, error=update.error, answer_id=update.answer_id,
                                question_id=update.question_id, conversation_id=update.conversation_id,
                                checkpoint_id=update.checkpoint_id)
                yield json.dumps(body) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @router.post("/critique/{answer_id}")
    def critique(answer_id: int, request: Request, who: SessionUser = Depends(user)) -> dict:
        try:
            view = service.critique(who.id, answer_id, ip=client_ip(request))
        except RateLimited as exc:
            raise HTTPException(status_code=429, detail=str(exc)) from exc
        if view is None:
            raise HTTPException(status_code=404, detail="no finished answer with that id in your chats")
        return view.__dict__

    @router.post("/rate")
    def rate(req: RateRequest, request: Request, who: SessionUser = Depends(user)) -> dict:
        try:
            return {"ok": True, "message": service.rate(who.id, req.answer_id, req.liked, req.reason, req.comment,
                                                        req.correction, ip=client_ip(request))}
        except UserFacingError as exc:
            code = 503 if isinstance(exc, StoreUnavailable) else 429 if isinstance(exc, RateLimited) else 400
            raise HTTPException(status_code=code, detail=str(exc)) from exc

    @router.get("/conversations")
    def conversations(who: SessionUser = Depends(user)) -> list[dict]:
        return [{"id": cid, "title": title} for cid, title in service.list_conversations(who.id)]

    return router
