"""Keeps the served model equal to the database's live checkpoint.

The database is the source of truth: `mathchat promote` / `rollback` (or the console) only write a
Promotion row; this watcher notices the change and switches the server blue/green (vLLM) or swaps the
in-process model (transformers). In-flight chats finish on the model that started them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from feedback import store
from feedback.db import run_in_transaction
from mathchat.settings import Settings
from serving.engine import ChatMessage, Health, PolicyEngine, Sample, StreamEvent
from serving.factory import PolicyRuntime
from serving.sampling import SamplingSettings
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
               logprobs: bool = False) -> list[Sample]:
        return self._target.sample(messages, sampling, n=n, logprobs=logprobs)

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


class LiveModelSync:
    """Watches the DB's live checkpoint and switches the served model to it."""

    def __init__(self, settings: Settings, db: Engine, runtime: PolicyRuntime, engine: SwitchableEngine,
                 served_id: str) -> None:
        self.settings = settings
        self.db = db
        self.runtime = runtime
        self.engine = engine
        self.state = SyncState(served_id=served_id)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failed: set[str] = set()
        self._thread: threading.Thread | None = None

    def live_in_db(self) -> tuple[str, str] | None:
        def work(s):  # noqa: ANN001, ANN202
            live = store.get_live_checkpoint(session=s)
            return (live.id, live.path) if live else None

        return run_in_transaction(self.db, work, retries=1)

    def sync(self) -> SwitchReport | None:
        """Switch to the DB's live checkpoint if it isn't served; returns the switch report (None: nothing to do)."""
        with self._lock:
            live = self.live_in_db()
            if live is None or live[0] == self.state.served_id or live[0] in self._failed:
                return None
            checkpoint_id, path = live
            self.state.switching_to = checkpoint_id
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
                self.state.last_error = f"switch to {checkpoint_id} failed: {exc}"
                return None
            finally:
                self.state.switching_to = None
            self.state.served_id = checkpoint_id
            self.state.last_report = report
            self.state.last_error = None
            log.info("now serving %s (%s)", checkpoint_id, report)
            return report

    def retry(self, checkpoint_id: str) -> None:
        """Forget an earlier failed switch to this checkpoint (an operator promoted it again)."""
        self._failed.discard(checkpoint_id)

    def start(self, interval_s: float = 5.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.sync()
                except Exception:
                    log.exception("live-model sync failed")

        self._thread = threading.Thread(target=loop, name="live-model-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
