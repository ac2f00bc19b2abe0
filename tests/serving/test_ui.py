"""serving/ui.py handlers called as Gradio calls them (no browser): the comment box also carries a correction."""

from __future__ import annotations

import gradio as gr
import pytest
from sqlalchemy import select

from feedback.db import session_scope
from feedback.models import Rating
from serving.ui import build_chat_ui
from serving.web_auth import SessionUser
from tests.fakes import FakeAuth, request_as
from tests.serving.test_chat_service import SAMPLING, db, make_service, new_user  # noqa: F401 - db is a fixture


def handler(blocks, api_name: str):  # noqa: ANN001, ANN201
    return next(d.fn for d in blocks.fns.values() if d.api_name == api_name)


@pytest.fixture
def page(db):  # noqa: ANN001, ANN201, F811
    uid = new_user(db, "ann")
    service = make_service(db)
    answer_id = list(service.ask(uid, None, "What is 37 + 48?", SAMPLING))[-1].answer_id
    blocks = build_chat_ui(service, FakeAuth(), service.settings)
    return blocks, request_as(SessionUser(uid, "ann", "student")), answer_id


def test_send_comment_saves_the_correction_and_the_ack_says_so(page, db) -> None:  # noqa: ANN001, F811
    blocks, request, answer_id = page
    rated = {"answer_id": answer_id, "liked": False, "reason": "wrong answer"}
    comment, correction, status = handler(blocks, "comment")("adds 7 + 8 wrong", " 85 ", rated, request)
    assert (comment, correction) == ("", "") and "your answer `85`" in status
    with session_scope(db) as s:
        assert s.execute(select(Rating.comment, Rating.correction)).one() == ("adds 7 + 8 wrong", "85")


@pytest.mark.filterwarnings("ignore:A right answer goes with a thumbs-down only")
def test_a_correction_on_a_liked_answer_is_refused_and_the_boxes_kept(page, db) -> None:  # noqa: ANN001, F811
    blocks, request, answer_id = page
    rated = {"answer_id": answer_id, "liked": True, "reason": None}
    comment, correction, status = handler(blocks, "comment")("", "85", rated, request)
    assert "thumbs-down only" in status and "not saved" in status
    assert comment == correction == gr.skip()  # the boxes keep what the student typed
    with session_scope(db) as s:
        assert s.scalars(select(Rating)).all() == []


def test_the_page_has_the_correction_box_beside_the_comment(page) -> None:  # noqa: ANN001
    blocks, _, _ = page
    ids = {getattr(b, "elem_id", None) for b in blocks.blocks.values()}
    assert {"mc-comment", "mc-correction", "mc-send-comment"} <= ids
