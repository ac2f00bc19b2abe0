"""Keeps the served model equal to the database's live checkpoint.

The database is the source of truth: `mathchat promote` / `rollback` (or the console) only write a
Promotion row; this watcher notices the change and switches the server blue/green (vLLM) or swaps the
in-process model (transformers). In-flight chats finish on the model that started them. An external vLLM
server (``MATHCHAT_VLLM__URL``) is never switched, nor are weights loaded here for it: the switch waits in
``needs_operator`` until that server serves the live checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from sqlalchemy.engine import Engine

from feedback import registry
from feedback.db import run_in_transaction
from mathchat.settings import Settings
from serving.engine import ChatMessage, EngineError, Health, PolicyEngine, Sample, StreamEvent
from serving.external_vllm import endpoint_for, list_served_models, operator_message, serves
from serving.factory import PolicyRuntime
from mathchat.sampling import SamplingSettings
from serving.vllm_supervisor import SwitchReport

log = logging.getLogger(__name__)


class SwitchableEngine:
    """A PolicyEngine whose target can be replaced; calls already running keep the old target."""

    def __init__(self, target: PolicyEngine) -> None:
        self._target = target

    @property
    def target(self) -> PolicyEngine:
        return self._target

    def replace(self, target: PolicyEngine) -> PolicyEngine:
        old, self._target = self._target, target
        return old

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self._target.backend

    @property
    def checkpoint_id(self) -> str:
        return self._target.checkpoint_id

    def stream_chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> Iterator[StreamEvent]:
        return self._target.stream_chat(messages, sampling)

    def sample(self, messages: Sequence[ChatMessage], sampling: SamplingSettings, n: int = 1,
               logprobs: bool = False, cancel: threading.Event | None = None) -> list[Sample]:
        return self._target.sample(messages, sampling, n=n, logprobs=logprobs, cancel=cancel)

    def sample_many(self, conversations: Sequence[Sequence[ChatMessage]], sampling: SamplingSettings,
                    n: int = 1, logprobs: bool = False) -> list[list[Sample]]:
        return self._target.sample_many(conversations, sampling, n=n, logprobs=logprobs)

    def health(self) -> Health:
        return self._target.health()


@dataclass
class SyncState:
    """What the watcher last did (shown in the console)."""

    served_id: str
    last_report: SwitchReport | None = None
    last_error: str | None = None
    switching_to: str | None = None


SwitchState = Literal["pending", "switching", "done", "failed", "needs_operator"]


@dataclass(frozen=True)
class SwitchStatus:
    """Where the switch to one checkpoint stands, whoever performs it (a request or the watcher's loop).

    ``pending``: the database names it live but no switch has started; ``switching``: a server is starting;
    ``done``: it is served (``report`` is the switch that got there, None if none was needed);
    ``failed``: the last switch to it failed (``error``); it is retried when an operator promotes it again;
    ``needs_operator``: the model server is external (``MATHCHAT_VLLM__URL``) and does not serve it: ``error``
    says what an operator must do; it becomes ``done`` once the server serves it (checked every tick).
    """

    to_checkpoint: str
    state: SwitchState
    served: str
    report: SwitchReport | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "needs_operator")

    def as_dict(self) -> dict:
        body = asdict(self)
        body["report"] = None if self.report is None else asdict(self.report)
        return body


class LiveModelSync:
    """Watches the DB's live checkpoint and switches the served model to it."""

    def __init__(self, settings: Settings, db: Engine, runtime: PolicyRuntime, engine: SwitchableEngine,
                 served_id: str) -> None:
        self.settings = settings
        self.db = db
        self.runtime = runtime
        self.engine = engine
        self.state = SyncState(served_id=served_id)
        self._lock = threading.Lock()  # one switch at a time; held for the whole switch
        self._changed = threading.Condition()  # notified whenever a switch starts or ends
        self._reports: dict[str, SwitchReport] = {}  # the latest switch that reached each checkpoint
        self._stop = threading.Event()
        self._failed: set[str] = set()
        self._needs_operator: dict[str, str] = {}  # checkpoint -> what an operator must do (external server)
        self._thread: threading.Thread | None = None

    def live_in_db(self) -> tuple[str, str] | None:
        def work(s):  # noqa: ANN001, ANN202
            live = registry.get_live_checkpoint(session=s)
            return (live.id, live.path) if live else None

        return run_in_transaction(self.db, work, retries=1, read_only=True)  # a poll: no write lock

    def sync(self) -> SwitchReport | None:
        """Switch to the DB's live checkpoint if it isn't served; returns the switch report (None: nothing to do).

        Callers that need the outcome of one promotion use ``status``/``wait_for`` instead: the loop may
        have performed the switch already, and then this call has nothing to do.
        """
        with self._lock:
            live = self.live_in_db()
            if live is None or live[0] == self.state.served_id or live[0] in self._failed:
                return None
            checkpoint_id, path = live
            if self.runtime.external_url is not None:
                return self._follow_external(checkpoint_id, path)
            self._set(switching_to=checkpoint_id)
            t0 = time.monotonic()
            try:
                if self.runtime.supervisor is not None:
                    report = self.runtime.supervisor.switch(path, checkpoint_id)
                else:
                    from serving.hf_engine import HFEngine

                    self.engine.replace(HFEngine(path, checkpoint_id=checkpoint_id, dtype=self.settings.model.dtype))
                    report = SwitchReport(self.state.served_id, checkpoint_id, start_s=time.monotonic() - t0)
            except Exception as exc:
                log.exception("switch to %s failed; still serving %s", checkpoint_id, self.state.served_id)
                self._failed.add(checkpoint_id)
                self._set(switching_to=None, last_error=f"switch to {checkpoint_id} failed: {exc}")
                return None
            self._reports[checkpoint_id] = report
            self._set(switching_to=None, served_id=checkpoint_id, last_report=report, last_error=None)
            log.info("now serving %s (%s)", checkpoint_id, report)
            return report

    def _follow_external(self, checkpoint_id: str, path: str) -> SwitchReport | None:
        """An external server is never switched from here: once it serves the live checkpoint, answers are
        recorded under it; until then the switch says what an operator must do."""
        url = self.runtime.external_url or ""
        try:
            models = list_served_models(url)
        except EngineError as exc:
            message = f"cannot read what the external server serves ({exc}); an operator must check it"
        else:
            if any(serves(m, checkpoint_id, path) for m in models):
                endpoint = endpoint_for(url, models, checkpoint_id, path)
                self.runtime.engine.router.switch(endpoint)  # type: ignore[attr-defined]
                report = SwitchReport(self.state.served_id, checkpoint_id,
                                      notes=[f"the external server {url} serves it as {endpoint.model!r}"])
                self._needs_operator.pop(checkpoint_id, None)
                self._reports[checkpoint_id] = report
                self._set(served_id=checkpoint_id, last_report=report, last_error=None)
                log.info("the external server now serves %s", checkpoint_id)
                return report
            message = operator_message(url, models, checkpoint_id, path)
        if self._needs_operator.get(checkpoint_id) != message:
            log.warning("%s", message)
        self._needs_operator[checkpoint_id] = message
        self._set(last_error=message)
        return None

    def _set(self, **fields: object) -> None:
        with self._changed:
            for name, value in fields.items():
                setattr(self.state, name, value)
            self._changed.notify_all()

    def status(self, checkpoint_id: str) -> SwitchStatus:
        """Where the switch to ``checkpoint_id`` stands now (never blocks)."""
        with self._changed:
            st = self.state
            if st.served_id == checkpoint_id:
                return SwitchStatus(checkpoint_id, "done", st.served_id, report=self._reports.get(checkpoint_id))
            if st.switching_to == checkpoint_id:
                return SwitchStatus(checkpoint_id, "switching", st.served_id)
            if checkpoint_id in self._failed:
                return SwitchStatus(checkpoint_id, "failed", st.served_id, error=st.last_error)
            if checkpoint_id in self._needs_operator:
                return SwitchStatus(checkpoint_id, "needs_operator", st.served_id,
                                    error=self._needs_operator[checkpoint_id])
            return SwitchStatus(checkpoint_id, "pending", st.served_id)

    def request_switch(self, checkpoint_id: str) -> SwitchStatus:
        """After a promotion: forget an earlier failure of ``checkpoint_id`` and start the switch now, in the
        background, without waiting for the loop's next tick. Returns the status at once."""
        self.retry(checkpoint_id)
        threading.Thread(target=self._sync_logged, name=f"switch-{checkpoint_id}", daemon=True).start()
        return self.status(checkpoint_id)

    def wait_for(self, checkpoint_id: str, timeout_s: float) -> SwitchStatus:
        """Block until the switch to ``checkpoint_id`` is done or failed, or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not (status := self.status(checkpoint_id)).finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 1.0))  # also re-reads the state if a notify was missed
            return status

    def _sync_logged(self) -> None:
        try:
            self.sync()
        except Exception:
            log.exception("live-model sync failed")

    def retry(self, checkpoint_id: str) -> None:
        """Forget an earlier failed switch to this checkpoint (an operator promoted it again)."""
        self._failed.discard(checkpoint_id)

    def start(self, interval_s: float = 5.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                self._sync_logged()

        self._thread = threading.Thread(target=loop, name="live-model-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
