"""Shared fakes and test data for every test package: tests import helpers from here, never from each other.

- ``FakeEngine``: a scripted policy engine (the real engines are exercised in the integration tests).
- ``new_database`` / ``make_chat``: fresh migrated databases and chats built through the store's own functions.
- ``make_loop`` and friends: a finished training run with the files the cycle writes, for the console tests.
- ``fake_deps`` / ``small_config``: the cycle with scripted engines and a stand-in trainer.
- ``ShortestPassesCritic`` / ``miniature_cycle_config``: the real miniature cycle's scripted critic and sizes.
- ``wait_ready`` / ``stream_ask``: block until a supervised vLLM server answers again; ask the chat API.
- ``FakeAuth`` / ``FakeSync`` / ``request_as``: the console's auth, model switcher and Gradio request.
"""

from __future__ import annotations

import itertools
import json
from contextlib import contextmanager
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from feedback import registry, store
from feedback.db import upgrade_db
from feedback.models import Conversation, Message, User
from mathchat.sampling import SamplingSettings
from mathchat.settings import CritiqueSettings
from serving.critique.critic import MathCritic
from serving.critique.types import CritiqueResult
from serving.engine import ChatMessage, EngineError, Health, Sample, SampleCancelled, StreamEvent
from serving.live_model import SwitchStatus, SyncState
from serving.vllm_supervisor import SwitchReport
from serving.web_auth import SessionUser
from training.config import (CycleConfig, DPODataSettings, DPOTrainSettings, EvalSettings, PoolSettings,
                             RFTDataSettings, SFTTrainSettings)
from training.cycle_deps import CycleDeps
from training.pool import build_seed_pool
from training.trainer_common import write_metadata

SCREENSHOTS = Path(os.environ.get("MATHCHAT_SCREENSHOTS", Path(__file__).resolve().parent.parent / "artifacts"))
"""Where the browser tests leave their screenshots."""


# --- a scripted engine -------------------------------------------------------------------------

Reply = str | Callable[[Sequence[ChatMessage], SamplingSettings], str]


class FakeEngine:
    """Replies from a script, cycling; records every call.

    ``fail_after`` makes stream_chat raise EngineError after that many characters (a dying server).
    """

    backend = "fake"

    def __init__(self, replies: Sequence[Reply] = ("The answer is 4.",), checkpoint_id: str = "fake-ckpt",
                 fail_after: int | None = None) -> None:
        self._replies = itertools.cycle(list(replies))
        self._checkpoint_id = checkpoint_id
        self.fail_after = fail_after
        self.calls: list[tuple[str, list[ChatMessage], SamplingSettings]] = []

    @property
    def checkpoint_id(self) -> str:
        return self._checkpoint_id

    def _next(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> str:
        reply = next(self._replies)
        return reply(messages, sampling) if callable(reply) else reply

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        self.calls.append(("stream", list(messages), sampling))
        text = self._next(messages, sampling)
        sent = 0
        for word in text.split(" "):
            piece = word if sent == 0 else " " + word
            if self.fail_after is not None and sent + len(piece) > self.fail_after:
                raise EngineError("fake engine died mid-stream")
            sent += len(piece)
            yield StreamEvent(delta=piece, checkpoint_id=self._checkpoint_id)
        yield StreamEvent(done=True, finish_reason="stop", completion_tokens=len(text.split()),
                          checkpoint_id=self._checkpoint_id)

    def sample(self, messages: Sequence[ChatMessage], sampling: SamplingSettings, n: int = 1,
               logprobs: bool = False, cancel: threading.Event | None = None) -> list[Sample]:
        self.calls.append(("sample", list(messages), sampling))
        if cancel is not None and cancel.is_set():
            raise SampleCancelled("fake engine: cancelled")
        out = []
        for _ in range(n):
            text = self._next(messages, sampling)
            out.append(Sample(text=text, finish_reason="stop", num_tokens=len(text.split()),
                              token_logprobs=[-0.1] * len(text.split()) if logprobs else None))
        return out

    def sample_many(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings,
                    n: int = 1, logprobs: bool = False) -> list[list[Sample]]:
        return [self.sample(conv, sampling, n=n, logprobs=logprobs) for conv in conversations]

    def health(self) -> Health:
        return Health(ok=True, backend=self.backend, checkpoint_id=self._checkpoint_id)


class CancelAfter(threading.Event):
    """A cancel event that reads as set from its ``after``-th look on: a cancel at an exact point of a stream or
    a generation (each streamed line, each generated token looks once), with no timing in the test."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.looks = after, 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks >= self.after or super().is_set()


# --- databases and chats -----------------------------------------------------------------------

PG_URL = os.environ.get("MATHCHAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA_PREFIX = "mathchat_test_"


def _drop_stale_schemas(admin: Engine) -> None:
    """Drop schemas left by killed test sessions on this host (their pid is gone)."""
    with admin.begin() as connection:
        names = connection.execute(
            text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"),
            {"p": SCHEMA_PREFIX + "%"},
        ).scalars()
        for name in list(names):
            pid = name.removeprefix(SCHEMA_PREFIX).split("_")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def new_database(backend: str, folder: Path) -> Iterator[str]:
    """A new, migrated database of ``backend``; yields its URL and removes it afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'feedback-{secrets.token_hex(4)}.db'}"
        upgrade_db(url)
        yield url
        return
    schema = f"{SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL)
    try:
        _drop_stale_schemas(admin)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        upgrade_db(url_text)
        yield url_text
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""The store backends every DB test runs on (PostgreSQL only where the server is up: marker ``postgres``)."""


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back afterwards (store code may use savepoints)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            yield s
        transaction.rollback()


@dataclass
class Chat:
    """A student with one conversation holding one question and one finished answer."""

    user: User
    conversation: Conversation
    question: Message
    answer: Message


def make_chat(
    session: Session,
    username: str,
    question: str = "What is 2+3?",
    answer: str = "2+3 = 5. The answer is 5.",
    checkpoint_id: str = "base",
    user: User | None = None,
) -> Chat:
    """Build a finished exchange through the store's own functions (fake hash: no argon2 cost)."""
    if user is None:
        user = store.create_user(session=session, username=username, password_hash="x")
    conversation = store.create_conversation(session=session, user_id=user.id)
    q = store.add_user_message(session=session, conversation_id=conversation.id, user_id=user.id, content=question)
    a = store.begin_assistant_message(
        session=session, conversation_id=conversation.id, parent_id=q.id, checkpoint_id=checkpoint_id,
        sampling={"temperature": 0.7},
    )
    store.finish_assistant_message(session=session, message_id=a.id, status="ok", text=answer)
    return Chat(user, conversation, q, a)


# --- a finished training run, for the console ---------------------------------------------------

BASE_ID = "base-smollm2-135m-instruct"
CAND_ID = "rft-r1-20261125-1200"


def block(n: int, k: int, mean: float | None, lo: float, hi: float) -> dict[str, Any]:
    """One summary block as ``training.evaluate.summarize`` writes it."""
    return {"n": n, "strict_accuracy": {"k": k, "n": n, "rate": k / n, "ci95": [lo, hi]},
            "accuracy": {"k": k, "n": n, "rate": k / n, "ci95": [lo, hi]}, "format_rate": 0.9,
            "scored": n, "mean_score": mean, "pass_rate": 0.5}


def item(qid: int, answer: str, correct: bool, score: int) -> dict[str, Any]:
    """One evaluation item as ``training.evaluate.evaluate`` writes it."""
    return {"question_id": f"q{qid}", "source": "seed", "category": "add", "question": f"{qid} + 1 = ?",
            "reference": str(qid + 1), "answer": answer, "strict_correct": correct, "correct": correct,
            "format_ok": True, "score": score, "passed": score >= 7}


def report(checkpoint_id: str, items: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    return {"report_version": 1, "checkpoint_id": checkpoint_id, "questions": len(items), "summary": summary,
            "perplexity": 10.0, "items": items}


@dataclass
class Loop:
    """What ``make_loop`` created."""

    run_id: int
    run_dir: Path
    rft_dataset_id: int
    dpo_dataset_id: int
    live_scores: list[int]


def make_loop(db: Engine, run_dir: Path, *, gate_passed: bool = False) -> Loop:
    """A live base checkpoint, one finished run with its files, and its RFT candidate (gate as given)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    live_scores = [9, 9, 2, 5, 7]
    samples = [{"question_id": f"q{i}", "question": f"{i} + 1 = ?", "answer": f"The answer is {i}.", "score": s}
               for i, s in enumerate(live_scores)]
    samples.append({"question_id": "q9", "question": "?", "answer": "", "score": None})  # unscored: skipped
    (run_dir / "samples_live.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    rft_rows = [{"prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": f"{i} + 1 = ?"}],
                 "completion": [{"role": "assistant", "content": f"The answer is {i + 1}."}]} for i in range(7)]
    (run_dir / "rft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rft_rows))
    dpo_rows = [{"prompt": [{"role": "user", "content": "2 + 3 = ?"}],
                 "chosen": [{"role": "assistant", "content": "The answer is 5."}],
                 "rejected": [{"role": "assistant", "content": "The answer is 6."}]}]
    (run_dir / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dpo_rows))
    (run_dir / "train_sft.log").write_text("step 1 loss 2.0\nstep 2 loss 1.5\n")

    live_items = [item(1, "2", True, 9), item(2, "4", False, 2), item(3, "4", True, 8)]
    cand_items = [item(1, "2", True, 9), item(2, "3", True, 8), item(3, "5", False, 3)]
    live_summary = {"overall": block(3, 2, 6.3, 0.2, 0.9), "per_category": {"add": block(3, 2, 6.3, 0.2, 0.9),
                                                                            "sub": block(2, 0, 2.0, 0.0, 0.6)}}
    cand_summary = {"overall": block(3, 2, 6.7, 0.25, 0.95), "per_category": {"add": block(3, 2, 6.7, 0.25, 0.95)}}
    (run_dir / "eval.json").write_text(json.dumps({"reports": [report(BASE_ID, live_items, live_summary),
                                                               report(CAND_ID, cand_items, cand_summary)]}))
    gate = {"promotable": gate_passed, "reasons": ["strict accuracy gain +0.000 is below the margin 0.020"],
            "accuracy_delta": 0.0, "mcnemar_p": 1.0, "perplexity_ratio": 1.01}

    with Session(db) as s, s.begin():
        registry.register_checkpoint(session=s, checkpoint_id=BASE_ID, path="/models/base", kind="base",
                                     status="live", gate_passed=True,
                                     metrics={"eval": {"checkpoint_id": BASE_ID, "summary": live_summary,
                                                       "perplexity": 10.0}})
        run = registry.create_run(session=s, trigger="manual", config={"k": 4})
        registry.update_run_stage(session=s, run_id=run.id, stage="pool", progress={"status": "done", "seconds": 1.5})
        registry.update_run_stage(session=s, run_id=run.id, stage="sample_live",
                                  progress={"status": "running", "done": 40, "total": 128})
        registry.append_run_log(session=s, run_id=run.id, text="[10:00:00] stage pool started\n")
        rft = registry.record_dataset(session=s, kind="rft", path=str(run_dir / "rft.jsonl"), count=7,
                                      content_hash="a" * 64, run_id=run.id,
                                      manifest={"kind": "rft", "rows": 7, "inputs": {"samples_live": "b" * 64},
                                                "counts": {"questions_mixed": 3}})
        dpo = registry.record_dataset(session=s, kind="dpo", path=str(run_dir / "dpo.jsonl"), count=1,
                                      content_hash="c" * 64, run_id=run.id,
                                      manifest={"kind": "dpo", "rows": 1, "inputs": {"samples_rft": "d" * 64}})
        registry.register_checkpoint(
            session=s, checkpoint_id=CAND_ID, path="/models/rft", kind="rft", parent_id=BASE_ID,
            status="candidate", gate_passed=gate_passed,
            metrics={"eval": {"checkpoint_id": CAND_ID, "summary": cand_summary, "perplexity": 10.1,
                              "vs_baseline": {"baseline_checkpoint_id": BASE_ID, "mcnemar_p": 1.0,
                                              "only_baseline": 1, "only_candidate": 1}},
                     "live_eval": {"checkpoint_id": BASE_ID}, "gate": gate, "run_id": run.id})
        run_id, rft_id, dpo_id = run.id, rft.id, dpo.id
    return Loop(run_id, run_dir, rft_id, dpo_id, live_scores)


# --- a supervised vLLM server ------------------------------------------------------------------


def wait_ready(supervisor, timeout_s: float = 900) -> None:  # noqa: ANN001
    """Block until the supervised server answers (after a restart)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if supervisor.state == "ready" and supervisor.active is not None and supervisor.active.ready():
            return
        time.sleep(1)
    raise TimeoutError("vLLM did not come back")


def stream_ask(client: httpx.Client, question: str, max_tokens: int, on_line=None) -> dict:
    with client.stream("POST", "/api/chat/ask", json={"question": question, "temperature": 0.0,
                                                      "max_tokens": max_tokens}) as resp:
        assert resp.status_code == 200, resp.read()
        final = None
        for i, line in enumerate(resp.iter_lines()):
            if not line:
                continue
            update = json.loads(line)
            if on_line:
                on_line(i)
            if update["done"]:
                final = update
    return final


# --- the cycle with scripted engines -------------------------------------------------------------

REFS = {q.question: q.reference for q in build_seed_pool(400, seed=0)}
ACCURACY = {"base": 1, "rft": 2, "dpo": 3}  # right answers out of every 4


def scripted_engine(kind: str, checkpoint_id: str) -> FakeEngine:
    counter = itertools.count()

    def reply(messages, sampling):
        question = messages[-1]["content"]
        ref = REFS.get(question, "1")
        right = next(counter) % 4 < ACCURACY[kind]
        answer = ref if right else ref + "0"
        return f"Let me work it out step by step. The answer is {answer}."

    return FakeEngine([reply], checkpoint_id=checkpoint_id)


def fake_deps(tmp_path: Path, fail_stage: str | None = None, calls: list | None = None,
              verifier_aurocs: list | None = None, perplexity=None) -> CycleDeps:  # noqa: ANN001
    """Scripted engines and a stand-in trainer; ``perplexity(path)`` overrides the base 10.0 / trained 10.2."""
    base = tmp_path / "base-model"
    base.mkdir(exist_ok=True)

    @contextmanager
    def open_engine(path, checkpoint_id, is_live):
        if calls is not None:
            calls.append((checkpoint_id, is_live))
        kind = "base" if is_live else ("dpo" if checkpoint_id.startswith("dpo") else "rft")
        yield scripted_engine(kind, checkpoint_id)

    def train(job, job_path, log_path):
        if fail_stage == job.kind:
            raise RuntimeError(f"{job.kind} exploded")
        rows = [json.loads(line) for line in job.data_path.read_text().splitlines()]
        assert rows, "trainer received no rows"
        job.output_dir.mkdir(parents=True)
        extra = {}
        if job.kind == "verifier":  # the held-out AUROCs the test scripted, in order
            auroc = verifier_aurocs.pop(0) if verifier_aurocs else None
            extra = {"evaluation": {"held_out": {"auroc": auroc}, "current": {"auroc": 0.5}
                                    if job.current_verifier else None}}
        write_metadata(job.output_dir, {**job.metadata, "rows": len(rows), **extra})
        return job.output_dir

    return CycleDeps(open_engine=open_engine,
                     make_critic=lambda engine: MathCritic(CritiqueSettings(use_judge=False), policy=None),
                     train=train, base_model_path=lambda: str(base),
                     perplexity=perplexity or (lambda path: 10.0 if "base" in str(path) else 10.2))


def small_config(**changes) -> CycleConfig:
    """A small cycle; one RFT round unless a test asks for two (the default); no verifier unless asked."""
    fields = dict(questions=40, k=4, dpo_questions=30, dpo_k=4, general_prompts=4, min_dpo_pairs=2, rft_rounds=1,
                  train_verifier=False,
                  pool=PoolSettings(seed_questions=400, eval_questions=60, logged_questions=0))
    return CycleConfig(**{**fields, **changes})


class ShortestPassesCritic:
    """Passes the shortest of a question's samples and fails its siblings, surely (confidence 0.95 / 0.05, so a
    question without a reference trains too): every question is mixed, and the passing answer is the one most
    likely to have finished inside the token budget (truncated answers never become training data)."""

    def critique(self, question, answer, reference=None, *, samples=None) -> CritiqueResult:
        shortest = all(len(answer) <= len(other) for other in samples or [])
        score = 9 if shortest else 2
        return CritiqueResult(score=score, band=None, passed=score >= 7, confidence=0.95 if shortest else 0.05,
                              explanation="scripted",
                              parts={}, critic_version="test", calibration_version="test")


def miniature_cycle_config() -> CycleConfig:
    """A whole cycle at the smallest sizes that still train: 4 questions x 2 samples, one step per trainer, two
    RFT rounds (round 2 runs the later-round code; a third adds minutes on a slow machine and no new path)."""
    return CycleConfig(
        rft_rounds=2, questions=4, k=2, dpo_questions=3, dpo_k=2, general_prompts=2, min_rft_rows=1, min_dpo_pairs=1,
        engine_backend="transformers",
        sampling=CycleConfig().sampling.with_(max_tokens=160),
        general_sampling=CycleConfig().general_sampling.with_(max_tokens=32),
        pool=PoolSettings(seed_questions=60, eval_questions=4, logged_questions=0, level_weights={1: 1.0}),
        rft=RFTDataSettings(require_stated_answer=False, general_ratio=0.75),  # the general-row path, for real
        dpo_data=DPODataSettings(require_stated_answer=False),
        sft=SFTTrainSettings(max_steps=1, batch_size=2, max_length=128),
        dpo=DPOTrainSettings(max_steps=1, batch_size=2, max_length=128),
        eval=EvalSettings(max_tokens=32, margin=0.0, require_significant=False, ppl_tolerance=1.0),
    )


# --- the console's collaborators ----------------------------------------------------------------

OPERATOR = SessionUser(1, "admin", "operator")
STUDENT = SessionUser(2, "stu", "student")


class FakeAuth:
    """Resolves the user the fake request carries (the real WebAuth reads a signed cookie from the DB)."""

    def user_from_request(self, raw: Any) -> SessionUser | None:
        return raw.user


def request_as(user: SessionUser | None) -> Any:
    """A stand-in for gr.Request: ``.request`` is the underlying HTTP request."""
    return SimpleNamespace(request=SimpleNamespace(user=user))


class FakeSync:
    """Records the calls; a requested switch finishes at once with a report like the blue/green supervisor's."""

    def __init__(self) -> None:
        self.state = SyncState(served_id=BASE_ID)
        self.calls: list[tuple[str, str | None]] = []
        self.fail_next = False

    def request_switch(self, checkpoint_id: str) -> SwitchStatus:
        self.calls.append(("request_switch", checkpoint_id))
        return SwitchStatus(checkpoint_id, "switching", self.state.served_id)

    def wait_for(self, checkpoint_id: str, timeout_s: float) -> SwitchStatus:
        self.calls.append(("wait_for", checkpoint_id))
        if self.fail_next:
            return SwitchStatus(checkpoint_id, "failed", self.state.served_id, error="the new server did not start")
        report = SwitchReport(self.state.served_id, checkpoint_id, start_s=12.5, flip_s=0.004, drain_s=1.5,
                              inflight_at_flip=3)
        self.state.served_id, self.state.last_report = checkpoint_id, report
        return SwitchStatus(checkpoint_id, "done", checkpoint_id, report=report)
