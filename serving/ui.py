"""The student chat page (Gradio 6). Handlers take UI values, call one ChatService method, return UI values."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import gradio as gr

from feedback.models import MAX_COMMENT_CHARS, MAX_CORRECTION_CHARS, RATING_REASONS
from mathchat.settings import Settings
from serving.badge import BADGE_CSS, render_badge
from serving.chat_service import ChatService, ChatTurn, UserFacingError
from serving.rate_limit import RateLimited
from mathchat.sampling import MAX_ANSWER_TOKENS
from serving.web_auth import WebAuth

LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
]
"""Gradio 6 renders only $$ by default; students and models write all four."""

LIKE, DISLIKE = "Like", "Dislike"
FEEDBACK_OPTIONS = (LIKE, DISLIKE, *RATING_REASONS)

CSS = BADGE_CSS + "\n#mc-status{min-height:1.5em}"


def parse_feedback(liked: bool | str | None) -> tuple[bool, str | None] | None:
    """Gradio's like payload -> (liked, reason); None when the student took a thumb back.

    >>> parse_feedback(True), parse_feedback(False), parse_feedback("wrong steps"), parse_feedback(None)
    ((True, None), (False, None), (False, 'wrong steps'), None)
    """
    if liked is None or liked == "":
        return None
    if isinstance(liked, bool):
        return liked, None
    if liked == LIKE:
        return True, None
    if liked == DISLIKE:
        return False, None
    return False, str(liked)


def to_chat(turns: list[ChatTurn]) -> tuple[list[dict[str, Any]], list[int]]:
    """Stored turns -> (Chatbot messages, message ids aligned with them)."""
    messages, ids = [], []
    for t in turns:
        content = t.content
        if t.status == "failed":
            content = (content + "\n\n" if content else "") + "⚠️ This answer could not be finished."
        messages.append({"role": t.role, "content": content})
        ids.append(t.message_id)
    return messages, ids


def client_ip(request: gr.Request) -> str | None:
    """The client address of a Gradio request (what per-address limits count)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


def build_chat_ui(service: ChatService, auth: WebAuth, settings: Settings) -> gr.Blocks:
    """The student page: chat with streaming answers, confidence badges, ratings, own history."""

    def user_of(request: gr.Request):  # noqa: ANN202
        user = auth.user_from_request(request.request)
        if user is None:
            raise gr.Error("Your session has ended; please sign in again.")
        return user

    def on_load(request: gr.Request):  # noqa: ANN202
        user = user_of(request)
        chats = service.list_conversations(user.id)
        return (f"Signed in as **{user.username}** ({user.role}) · [Sign out](/logout)"
                + (" · [Operator console](/operator/)" if user.is_operator else ""),
                gr.update(choices=[(title, cid) for cid, title in chats], value=None))

    def on_refresh_history(conversation_id: int | None, request: gr.Request):  # noqa: ANN202
        user = user_of(request)
        chats = service.list_conversations(user.id)
        return gr.update(choices=[(title, cid) for cid, title in chats], value=conversation_id)

    def on_new_chat():  # noqa: ANN202
        return [], [], None, "", "", gr.update(value=None)

    def on_open(conversation_id: int | None, request: gr.Request):  # noqa: ANN202
        if conversation_id is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        user = user_of(request)
        turns = service.load_conversation(user.id, int(conversation_id))
        messages, ids = to_chat(turns)
        last = next((t for t in reversed(turns) if t.role == "assistant"), None)
        return messages, ids, int(conversation_id), render_badge(last.critique if last else None)

    def on_submit(question: str, chat: list, ids: list, conversation_id: int | None, temperature: float,
                  max_tokens: int, request: gr.Request) -> Iterator[tuple]:
        user = user_of(request)
        sampling = settings.sampling.with_(temperature=min(max(float(temperature), 0.0), 1.5),  # a crafted API
                                           max_tokens=min(max(int(max_tokens), 1), MAX_ANSWER_TOKENS))  # call too
        updates = service.ask(user.id, conversation_id, question, sampling, ip=client_ip(request))
        try:
            first = next(updates)
        except UserFacingError as exc:
            gr.Warning(str(exc))
            yield gr.skip(), chat, ids, conversation_id, gr.skip(), f"⚠️ {exc}"
            return
        chat = [*chat, {"role": "user", "content": question.strip()}, {"role": "assistant", "content": ""}]
        ids = [*ids, first.question_id, first.answer_id]
        update = first
        while True:
            chat[-1] = {"role": "assistant", "content": update.text}
            if update.done:
                if update.status == "failed":
                    chat[-1] = {"role": "assistant",
                                "content": (update.text + "\n\n" if update.text else "") + f"⚠️ {update.error}"}
                    yield "", chat, ids, update.conversation_id, "", f"⚠️ {update.error}"
                else:
                    yield "", chat, ids, update.conversation_id, render_badge(None, pending=True), ""
                return
            yield "", chat, ids, update.conversation_id, gr.skip(), ""
            update = next(updates)

    def on_critique(ids: list, chat: list, request: gr.Request):  # noqa: ANN202
        if not ids or not chat or chat[-1].get("role") != "assistant" or "⚠️" in str(chat[-1].get("content")):
            return gr.skip()
        user = user_of(request)
        try:
            return render_badge(service.critique(user.id, int(ids[-1]), ip=client_ip(request)))
        except RateLimited as exc:
            return f'<div class="mc-badge mc-unscored">Not checked: {html.escape(str(exc))}</div>'
        except Exception as exc:  # the answer is kept; only the badge is missing
            return f'<div class="mc-badge mc-unscored">Could not check this answer ({type(exc).__name__}).</div>'

    def on_like(ids: list, rated: dict | None, data: gr.LikeData, request: gr.Request):  # noqa: ANN202
        user = user_of(request)
        index = data.index if isinstance(data.index, int) else data.index[0]
        parsed = parse_feedback(data.liked)
        if parsed is None or index >= len(ids):
            return rated, "Rating unchanged."
        liked, reason = parsed
        try:
            ack = service.rate(user.id, int(ids[index]), liked, reason, None, ip=client_ip(request))
        except UserFacingError as exc:
            gr.Warning(str(exc))
            return rated, f"⚠️ {exc} (your rating was not saved)"
        return {"answer_id": int(ids[index]), "liked": liked, "reason": reason}, ack

    def on_comment(comment: str, correction: str | None, rated: dict | None, request: gr.Request):  # noqa: ANN202
        user = user_of(request)
        if not rated:
            return gr.skip(), gr.skip(), "Rate an answer with a thumb first, then add your comment."
        try:
            ack = service.rate(user.id, rated["answer_id"], rated["liked"], rated["reason"], comment, correction,
                               ip=client_ip(request))
        except UserFacingError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip(), f"⚠️ {exc} (your comment was not saved)"
        return "", "", ack

    with gr.Blocks(title="mathchat") as ui:
        ids = gr.State([])
        conversation = gr.State(None)
        rated = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=220):
                who = gr.Markdown(elem_id="mc-who")
                new_chat = gr.Button("New chat", elem_id="mc-new-chat")
                history = gr.Radio(label="Your chats", choices=[], elem_id="mc-history")
                with gr.Accordion("Answer settings", open=False):
                    temperature = gr.Slider(0.0, 1.5, value=settings.sampling.temperature, step=0.05,
                                            label="Temperature")
                    max_tokens = gr.Slider(32, MAX_ANSWER_TOKENS, value=settings.sampling.max_tokens, step=16,
                                           label="Max answer tokens")
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(label="mathchat", elem_id="mc-chat", height=520,
                                     latex_delimiters=LATEX_DELIMITERS, feedback_options=FEEDBACK_OPTIONS,
                                     sanitize_html=True, allow_tags=False, buttons=["copy"])
                badge = gr.HTML(elem_id="confidence-badge")
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a math question… (LaTeX welcome: $x^2$)", show_label=False,
                                     scale=6, elem_id="mc-question", max_lines=8,
                                     max_length=settings.server.max_question_chars)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="mc-send")
                with gr.Accordion("Comment on your last rating", open=False):
                    comment = gr.Textbox(placeholder="What was wrong or unclear?", show_label=False,
                                         elem_id="mc-comment", max_lines=6, max_length=MAX_COMMENT_CHARS)
                    correction = gr.Textbox(placeholder="The right answer, if you know it (optional)",
                                            show_label=False, elem_id="mc-correction", max_lines=1,
                                            max_length=MAX_CORRECTION_CHARS)
                    send_comment = gr.Button("Send comment", elem_id="mc-send-comment")
                status = gr.Markdown(elem_id="mc-status")

        ui.load(on_load, None, [who, history], api_name="whoami")
        new_chat.click(on_new_chat, None, [chatbot, ids, conversation, badge, status, history], api_name="new_chat")
        history.input(on_open, [history], [chatbot, ids, conversation, badge], api_name="open_chat")
        inputs = [box, chatbot, ids, conversation, temperature, max_tokens]
        outputs = [box, chatbot, ids, conversation, badge, status]
        for trigger, name in ((box.submit, "ask"), (send.click, "ask_button")):
            trigger(on_submit, inputs, outputs, concurrency_limit=None, api_name=name,
                    api_visibility="public" if name == "ask" else "undocumented").then(
                on_critique, [ids, chatbot], [badge], concurrency_limit=None, api_name=f"critique_{name}",
                api_visibility="public" if name == "ask" else "undocumented").then(
                on_refresh_history, [conversation], [history], api_visibility="private")
        chatbot.like(on_like, [ids, rated], [rated, status], concurrency_limit=None, api_name="rate")
        send_comment.click(on_comment, [comment, correction, rated], [comment, correction, status],
                           concurrency_limit=None, api_name="comment")
    return ui
