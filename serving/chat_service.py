"""One chat turn, end to end: check the input, store the question, stream the answer, store it, critique it.

The UI calls these methods and nothing else; they own every transaction. The question and an empty
``streaming`` answer row are committed before the first token, partial text is saved while streaming,
and the row ends ``ok`` or ``failed``: a crash never loses the question or the partial answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from feedback import store
from feedback.db import run_in_transaction
from feedback.errors import InvalidInput, StoreUnavailable
from mathchat.hardware import has_cuda
from mathchat.settings import Settings, replica_name
from serving.critique.consistency import SamplesLate
from serving.critique.types import Critic, CritiqueResult, stored_verdict
from serving.engine import EngineError, PolicyEngine, StreamEvent
from serving.input_checks import RejectedInput, clean_question, strip_control
from serving.policy_prompt import build_policy_messages, history_budget_chars, trim_history
from serving.rate_limit import RateLimited, RequestLimits
from serving.sample_prefetch import SamplePrefetcher
from mathchat.sampling import SamplingSettings

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0
"""How often partial answer text is written while streaming (seconds)."""
MIN_SAMPLES_WAIT_S = 0.05
"""Samples already drawn when the deadline has passed are still taken (a zero wait would miss finished ones)."""

UserFacingError = (RejectedInput, RateLimited, InvalidInput, StoreUnavailable)
"""Errors whose message is shown to the student as it is."""


@dataclass(frozen=True)
class CritiqueView:
    """What the student sees of a critique."""

    score: int | None
    band: str | None
    passed: bool | None
    confidence: float | None
    explanation: str
    verdict: str | None = None
    """"right", "wrong" or "unverified"; None for critiques stored before verdicts existed."""
    skipped: tuple[str, ...] = ()
    """Parts the critic went on without because the student would have waited for them (the self-consistency
    samples not ready in time): benches and the console count these, not words in the explanation."""


@dataclass(frozen=True)
class ChatTurn:
    """A stored message as the UI shows it."""

    message_id: int
    role: str
    content: str
    status: str
    critique: CritiqueView | None = None
    liked: bool | None = None


@dataclass(frozen=True)
class AnswerUpdate:
    """Progress of one answer: partial text while streaming, then a final update."""

    conversation_id: int
    question_id: int
    answer_id: int
    text: str
    done: bool = False
    status: str = "streaming"
    error: str | None = None
    checkpoint_id: str = ""


def view_of(critique: object | None) -> CritiqueView | None:
    """A stored Critique row (or CritiqueResult) as a CritiqueView."""
    if critique is None:
        return None
    verdict = critique.verdict if isinstance(critique, CritiqueResult) else stored_verdict(critique.parts)  # type: ignore[attr-defined]
    return CritiqueView(score=critique.score, band=critique.band, passed=critique.passed,  # type: ignore[attr-defined]
                        confidence=critique.confidence, explanation=critique.explanation,  # type: ignore[attr-defined]
                        verdict=verdict, skipped=skipped_parts(critique.parts))  # type: ignore[attr-defined]


def skipped_parts(parts: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Names of the parts marked late, from a CritiqueResult's PartScores or a stored row's parts JSON.

    >>> skipped_parts({"consistency": {"name": "consistency", "score": None, "data": {"late": True}},
    ...                "steps": {"name": "steps", "score": 10.0, "data": {}}})
    ('consistency',)
    >>> skipped_parts(None)
    ()
    """
    def data(part: Any) -> Mapping[str, Any]:
        return (part.get("data") if isinstance(part, Mapping) else getattr(part, "data", None)) or {}

    return tuple(name for name, part in (parts or {}).items() if data(part).get("late"))


def student_reason(exc: BaseException) -> str:
    """Why an answer failed, in words for the student: no server replies, URLs, paths or tracebacks (operators
    find the detail in the answer row's ``error`` and the logs).

    >>> student_reason(EngineError("model server answered 500: b'Traceback ... /srv/x.py'"))
    'the model server had a problem'
    >>> student_reason(EngineError("The model server is starting; please try again in a minute."))
    'the model server is starting'
    """
    text = str(exc)
    if isinstance(exc, EngineError) and text.startswith("The model server is starting"):
        return "the model server is starting"
    if isinstance(exc, EngineError) and ("mid-answer" in text or "closed the stream" in text):
        return "the connection to the model server was lost"
    return "the model server had a problem" if isinstance(exc, EngineError) else "an internal error"


def rating_ack(correction: str | None) -> str:
    """What the student reads once a rating is committed; it names the answer they gave, as it was stored.

    >>> rating_ack(None)
    'Thanks, your feedback is saved.'
    >>> rating_ack("85")
    'Thanks, your feedback and your answer `85` are saved.'
    """
    if correction is None:
        return "Thanks, your feedback is saved."
    shown = correction.replace("`", "'")
    return f"Thanks, your feedback and your answer `{shown}` are saved."


class ChatService:
    """Chat turns, critiques and ratings for signed-in users."""

    def __init__(self, *, settings: Settings, engine: PolicyEngine, db: Engine, critic: Critic | None) -> None:
        self.settings = settings
        self.engine = engine
        self.db = db
        self.critic = critic
        prefetch = settings.critique.prefetch_samples
        self._prefetch_on = has_cuda() if prefetch is None else prefetch
        """Whether the critique's samples are drawn beside the stream (``CritiqueSettings.prefetch_samples``)."""
        self.limits = RequestLimits(settings.limits)
        self.owner = replica_name(settings.server)  # stamped on streaming answers (see fail_interrupted_answers)
        self.prefetch = SamplePrefetcher()
        self._retries = settings.database.write_retries

    def _tx(self, work, read_only: bool = False):  # noqa: ANN001, ANN202 - thin wrapper
        return run_in_transaction(self.db, work, retries=self._retries, read_only=read_only)

    # --- reading ------------------------------------------------------------------------------

    def list_conversations(self, user_id: int) -> list[tuple[int, str]]:
        """(id, title) of the user's own conversations, newest first."""
        return self._tx(lambda s: [(c.id, c.title or f"Chat {c.id}")
                                   for c in store.list_conversations(session=s, user_id=user_id)], read_only=True)

    def load_conversation(self, user_id: int, conversation_id: int) -> list[ChatTurn]:
        """The user's own conversation with critiques and their ratings; empty for anyone else's."""

        def work(s):  # noqa: ANN001, ANN202
            turns = []
            for m in store.conversation_messages(session=s, conversation_id=conversation_id, user_id=user_id):
                critique = rating = None
                if m.role == "assistant":
                    critique = view_of(store.get_critique(session=s, message_id=m.id))
                    r = store.get_rating(session=s, message_id=m.id, user_id=user_id)
                    rating = r.liked if r else None
                turns.append(ChatTurn(m.id, m.role, m.content, m.status, critique, rating))
            return turns

        return self._tx(work, read_only=True)

    # --- asking -------------------------------------------------------------------------------

    def ask(self, user_id: int, conversation_id: int | None, question: str,
            sampling: SamplingSettings, ip: str | None = None) -> Iterator[AnswerUpdate]:
        """Stream the answer to ``question``; raises a UserFacingError before anything is stored if refused
        (``ip``: the client address, limited as well as the user)."""
        text = clean_question(question, self.settings.server.max_question_chars)
        self.limits.hit("ask", user=user_id, ip=ip)
        checkpoint_id = self.engine.checkpoint_id

        def start(s):  # noqa: ANN001, ANN202
            if conversation_id is None or store.get_conversation(
                    session=s, conversation_id=conversation_id, user_id=user_id) is None:
                conv_id = store.create_conversation(session=s, user_id=user_id).id
            else:
                conv_id = conversation_id
            history = [{"role": m.role, "content": m.content}
                       for m in store.conversation_messages(session=s, conversation_id=conv_id, user_id=user_id)
                       if m.status == "ok"]
            q = store.add_user_message(session=s, conversation_id=conv_id, user_id=user_id, content=text,
                                       max_chars=self.settings.server.max_question_chars)
            a = store.begin_assistant_message(session=s, conversation_id=conv_id, parent_id=q.id,
                                              checkpoint_id=checkpoint_id, sampling=sampling, owner=self.owner)
            return conv_id, q.id, a.id, history

        conv_id, q_id, a_id, history = self._tx(start)
        parts: list[str] = []
        t0 = time.monotonic()
        ttft: float | None = None
        last_flush = t0
        update = AnswerUpdate(conv_id, q_id, a_id, "", checkpoint_id=checkpoint_id)
        stored = False  # whether the row got its final status (ok or failed)
        try:
            for event in self._stream(history, text, sampling):
                if event.checkpoint_id and event.checkpoint_id != checkpoint_id:
                    checkpoint_id = event.checkpoint_id
                if event.delta:
                    if ttft is None:
                        ttft = time.monotonic() - t0
                        self._prefetch_samples(a_id, text)  # the server answers: overlap the critique's samples
                    parts.append(event.delta)
                    now = time.monotonic()
                    if now - last_flush >= FLUSH_EVERY_S:
                        last_flush = now
                        self._save_partial(a_id, "".join(parts))
                    yield AnswerUpdate(conv_id, q_id, a_id, "".join(parts), checkpoint_id=checkpoint_id)
                if event.done:
                    final = "".join(parts)
                    self._tx(lambda s: self._finish(s, a_id, "ok", final, None, ttft, t0, event, checkpoint_id))
                    stored = True
                    yield AnswerUpdate(conv_id, q_id, a_id, final, done=True, status="ok",
                                       checkpoint_id=checkpoint_id)
                    return
            raise EngineError("the model stopped without finishing its answer")
        except Exception as exc:
            self.prefetch.cancel(a_id)
            partial = "".join(parts)
            message = str(exc) if isinstance(exc, EngineError) else "internal error"
            if not isinstance(exc, EngineError):
                log.exception("answer %s failed", a_id)
            stored = self._fail(a_id, partial, message, ttft, t0, checkpoint_id)  # the row keeps the detail
            yield AnswerUpdate(conv_id, q_id, a_id, partial, done=True, status="failed",
                               error=f"The answer could not be finished ({student_reason(exc)}). Your question is "
                                     "saved; please try again.", checkpoint_id=checkpoint_id)
        finally:
            if not stored:  # the client went away mid-stream (GeneratorExit is no Exception) or the worker stops
                self.prefetch.cancel(a_id)
                self._fail(a_id, "".join(parts), "the stream was closed before the answer finished", ttft, t0,
                           checkpoint_id)

    def _fail(self, answer_id: int, partial: str, message: str, ttft: float | None, t0: float,
              checkpoint_id: str) -> bool:
        """Mark an answer failed with its partial text; False (logged) when even that cannot be written."""
        try:
            self._tx(lambda s: self._finish(s, answer_id, "failed", partial, message, ttft, t0, None, checkpoint_id))
            return True
        except Exception:
            log.exception("could not mark answer %s failed", answer_id)
            return False

    def _prefetch_samples(self, answer_id: int, question: str) -> None:
        """Start the critique's self-consistency samples beside the stream (they need the question only)."""
        wants = getattr(self.critic, "wants_samples", None)
        if wants is not None and self._prefetch_on and wants(question):
            self.prefetch.start(answer_id, lambda stop: self.critic.draw_samples(question, cancel=stop))  # type: ignore[union-attr]

    def _stream(self, history: list, text: str, sampling: SamplingSettings) -> Iterator[StreamEvent]:
        """Stream with as much history as fits; if the server still finds the prompt too long, drop the history."""
        budget = history_budget_chars(self.settings.vllm.max_model_len, sampling.max_tokens, text)
        messages = build_policy_messages(trim_history(history, budget), text)
        started = False
        try:
            for event in self.engine.stream_chat(messages, sampling):
                started = True
                yield event
        except EngineError as exc:
            overflow = "context length" in str(exc) or "input_tokens" in str(exc)
            if started or not overflow or len(messages) <= 2:
                raise
            log.info("prompt too long for the context; answering without earlier turns")
            yield from self.engine.stream_chat(build_policy_messages([], text), sampling)

    def _save_partial(self, answer_id: int, text: str) -> None:
        try:
            self._tx(lambda s: store.update_assistant_text(session=s, message_id=answer_id, text=text))
        except StoreUnavailable:
            log.warning("could not save partial text of answer %s; will retry at the end", answer_id)

    @staticmethod
    def _finish(s, answer_id, status, text, error, ttft, t0, event, checkpoint_id):  # noqa: ANN001, ANN205
        msg = store.finish_assistant_message(
            session=s, message_id=answer_id, status=status, text=text, error=error, ttft_s=ttft,
            latency_s=time.monotonic() - t0,
            prompt_tokens=event.prompt_tokens if event else None,
            completion_tokens=event.completion_tokens if event else None)
        if checkpoint_id and msg.checkpoint_id != checkpoint_id:
            msg.checkpoint_id = checkpoint_id
        return msg

    # --- critique -----------------------------------------------------------------------------

    def critique(self, user_id: int, answer_id: int, ip: str | None = None) -> CritiqueView | None:
        """Judge a finished answer of the user's own conversation and store the verdict (RateLimited when the
        user or the address asks for too many)."""
        if self.critic is None:
            return None
        started = time.monotonic()
        self.limits.hit("critique", user=user_id, ip=ip)

        def load(s):  # noqa: ANN001, ANN202
            answer = store.get_message(session=s, message_id=answer_id, user_id=user_id)
            if answer is None or answer.role != "assistant" or answer.status != "ok" or answer.parent_id is None:
                return None
            question = store.get_message(session=s, message_id=answer.parent_id, user_id=user_id)
            return (question.content, answer.content) if question else None

        loaded = self._tx(load, read_only=True)
        if loaded is None:
            self.prefetch.cancel(answer_id)
            return None
        question, answer = loaded
        budget = self.settings.critique.samples_deadline_s or self.settings.vllm.request_timeout_s
        deadline = started + budget

        def samples() -> list[str]:
            """Called only if the critic still wants samples once the step check and the verifier have spoken;
            waits until the deadline at most (then ``SamplesLate``: the critique decides without them)."""
            if not self.prefetch.has(answer_id):  # not drawn beside the stream: draw now, under the same bound
                self.prefetch.start(answer_id,  # type: ignore[union-attr]
                                    lambda stop: self.critic.draw_samples(question, answer, cancel=stop))
            try:
                wait = max(MIN_SAMPLES_WAIT_S, deadline - time.monotonic())
                return self.prefetch.take(answer_id, wait) or []  # [] after a failed draw: no samples, no second try
            except SamplesLate:
                raise SamplesLate(f"the samples were not ready within {budget:g} s") from None

        try:
            result: CritiqueResult = self.critic.critique(question, answer, None, samples=samples)
        finally:
            self.prefetch.cancel(answer_id)  # not taken: the critique decided without them
        self._tx(lambda s: store.save_critique(session=s, message_id=answer_id, row=result.to_row()))
        return view_of(result)

    # --- rating -------------------------------------------------------------------------------

    def rate(self, user_id: int, answer_id: int, liked: bool, reason: str | None = None,
             comment: str | None = None, correction: str | None = None, ip: str | None = None) -> str:
        """Store (or change) the user's rating, with the right final answer if they give one (thumbs-down only);
        returns an acknowledgement only after it is committed."""
        self.limits.hit("rate", user=user_id, ip=ip)
        comment = strip_control(comment) if comment is not None else None
        correction = strip_control(correction) if correction is not None else None
        saved = self._tx(lambda s: store.upsert_rating(session=s, message_id=answer_id, user_id=user_id, liked=liked,
                                                       reason=reason, comment=comment,
                                                       correction=correction).correction)
        return rating_ack(saved)
