"""What the operator console shows: database rows and run files turned into tables and plot data.

No UI and no plotting here. Functions that read the database take a keyword-only ``session`` and return
plain dataclasses (safe to use after the transaction); the rest are pure functions over those, or small
read-only file helpers (JSONL heads, log tails) that never raise on a missing file.

The console reads what the training cycle wrote through the database only: ``TrainingRun.progress``
(per stage: ``status``, ``done``/``total``, ``seconds``, anything else), ``Dataset`` rows (kind, path,
manifest; the run's other files live beside them), and ``Checkpoint`` rows (``console_eval`` reads
their evaluation metrics).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback import registry
from feedback.models import Checkpoint, Dataset, Message, Promotion, Rating, TrainingRun

# --- tables ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table for the UI: column names and rows of plain values."""

    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def format_time(at: datetime | None) -> str:
    """A UTC time for tables.

    >>> from datetime import UTC
    >>> format_time(datetime(2026, 11, 25, 9, 5, 7, tzinfo=UTC)), format_time(None)
    ('2026-11-25 09:05:07', '')
    """
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    """A short human duration.

    >>> format_duration(42.25), format_duration(125), format_duration(7322), format_duration(None)
    ('42.2 s', '2 min 5 s', '2 h 2 min', '')
    """
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def format_pct(x: float | None) -> str:
    """A fraction as a percentage.

    >>> format_pct(0.1234), format_pct(None)
    ('12.3%', '-')
    """
    return "-" if x is None else f"{100 * x:.1f}%"


def tail_lines(text: str, lines: int = 200) -> str:
    """The last ``lines`` lines of a text.

    >>> tail_lines("a\\nb\\nc\\n", 2)
    'b\\nc'
    """
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def read_text_tail(path: str | Path | None, chars: int = 50_000) -> str:
    """The end of a text file ('' when it is missing or unreadable); reads only the last ``chars`` bytes."""
    if not path:
        return ""
    try:
        with Path(path).open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - chars))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


# --- training runs -----------------------------------------------------------------------------

RUN_HEADERS = ["run", "status", "trigger", "stage", "created (UTC)", "duration", "candidate", "error"]


@dataclass(frozen=True)
class DatasetInfo:
    """One recorded data file."""

    id: int
    run_id: int | None
    kind: str
    path: str
    count: int
    content_hash: str
    manifest: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class RunInfo:
    """One training run as the console shows it."""

    id: int
    status: str
    trigger: str
    stage: str | None
    progress: dict[str, Any]
    log: str
    log_path: str | None
    config: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    candidate_checkpoint_id: str | None
    error: str | None
    datasets: list[DatasetInfo] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()


def _dataset_info(d: Dataset) -> DatasetInfo:
    return DatasetInfo(d.id, d.run_id, d.kind, d.path, d.count, d.content_hash, d.manifest, d.created_at)


def _run_info(r: TrainingRun, datasets: Sequence[Dataset] = ()) -> RunInfo:
    return RunInfo(r.id, r.status, r.trigger, r.stage, dict(r.progress or {}), r.log or "", r.log_path, r.config,
                   r.created_at, r.started_at, r.finished_at, r.candidate_checkpoint_id, r.error,
                   [_dataset_info(d) for d in datasets])


def list_runs(*, session: Session, limit: int = 30) -> list[RunInfo]:
    """Recent runs, newest first (without their logs' files or datasets)."""
    return [_run_info(r) for r in registry.list_runs(session=session, limit=limit)]


def load_run(*, session: Session, run_id: int | None = None) -> RunInfo | None:
    """One run with its datasets; without ``run_id`` the newest run."""
    if run_id is None:
        run = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)).first()
    else:
        run = registry.get_run(session=session, run_id=run_id)
    if run is None:
        return None
    return _run_info(run, registry.list_datasets(session=session, run_id=run.id))


def runs_table(runs: Sequence[RunInfo]) -> Table:
    """The runs list."""
    return Table(RUN_HEADERS, [
        [r.id, r.status, r.trigger, r.stage or "", format_time(r.created_at), format_duration(r.duration_s),
         r.candidate_checkpoint_id or "", (r.error or "").strip().splitlines()[0][:120] if r.error else ""]
        for r in runs
    ])


PROGRESS_HEADERS = ["stage", "status", "done", "total", "progress", "seconds", "details"]
_PROGRESS_KEYS = {"status", "done", "total", "seconds"}


def progress_table(progress: Mapping[str, Any]) -> Table:
    """Per-stage progress, in the order the stages started (bookkeeping keys such as ``owner`` skipped).

    >>> t = progress_table({"owner": {"pid": 1}, "sample": {"status": "running", "done": 40, "total": 128}})
    >>> t.rows
    [['sample', 'running', 40, 128, '31%', '', '']]
    """
    rows = []
    for stage, data in progress.items():
        if stage == "owner" or not isinstance(data, Mapping):
            continue
        done, total = data.get("done"), data.get("total")
        pct = f"{100 * done / total:.0f}%" if isinstance(done, (int, float)) and isinstance(total, (int, float)) \
            and total else ""
        details = {k: v for k, v in data.items() if k not in _PROGRESS_KEYS}
        rows.append([stage, data.get("status", ""), "" if done is None else done, "" if total is None else total,
                     pct, "" if data.get("seconds") is None else data["seconds"],
                     json.dumps(details, default=str) if details else ""])
    return Table(PROGRESS_HEADERS, rows)


def stage_timings(progress: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """(stage, seconds, status) of stages that report their time, in order.

    >>> stage_timings({"owner": {}, "sample": {"status": "done", "seconds": 12.5}, "rft": {"status": "running"}})
    [('sample', 12.5, 'done')]
    """
    return [(stage, float(data["seconds"]), str(data.get("status", "")))
            for stage, data in progress.items()
            if stage != "owner" and isinstance(data, Mapping) and isinstance(data.get("seconds"), (int, float))]


def run_log_files(run: RunInfo) -> list[Path]:
    """The run's log file and the ``*.log`` files (training subprocesses) in its datasets' folders, oldest first."""
    files = [Path(run.log_path)] if run.log_path else []
    for folder in run_folders(run.datasets):
        try:
            files += sorted(Path(folder).glob("*.log"), key=lambda p: p.stat().st_mtime)
        except OSError:
            continue
    return list(dict.fromkeys(files))


def run_log_tail(run: RunInfo, lines: int = 200) -> str:
    """The end of a run's log (the database column), then the end of each of its log files."""
    parts = [tail_lines(run.log, lines)] if run.log else []
    for path in run_log_files(run):
        text = read_text_tail(path)
        if text:
            parts.append(f"--- {path} ---\n" + tail_lines(text, lines))
    return "\n".join(parts) if parts else "(no log yet)"


def run_adaptation(run: RunInfo) -> dict[str, Any] | None:
    """How the cycle adapted this run's settings to the previous run's gate verdict (``training/adapt.py``).

    >>> from datetime import UTC
    >>> run = RunInfo(2, "running", "schedule", "pool", {"adapt": {"status": "done", "note": "run 1: ..."}}, "",
    ...               None, None, datetime(2026, 1, 1, tzinfo=UTC), None, None, None, None)
    >>> run_adaptation(run)
    {'note': 'run 1: ...'}
    """
    adapt = (run.progress or {}).get("adapt")
    if not isinstance(adapt, Mapping):
        return None
    return {k: v for k, v in adapt.items() if k not in _PROGRESS_KEYS}


def run_manifest(run: RunInfo) -> dict[str, Any]:
    """The data manifest of a run: its (adapted) config, the adaptation, and each dataset it wrote, with that
    dataset's manifest."""
    return {
        "run": run.id,
        "config": run.config,
        "adaptation": run_adaptation(run),
        "datasets": [{"id": d.id, "kind": d.kind, "rows": d.count, "path": d.path, "sha256": d.content_hash,
                      "manifest": d.manifest} for d in run.datasets],
    }


def run_summary_markdown(run: RunInfo | None) -> str:
    """One paragraph about a run."""
    if run is None:
        return "No training runs yet."
    text = (f"**Run {run.id}** — {run.status} ({run.trigger}); stage **{run.stage or '-'}**; "
            f"started {format_time(run.started_at) or '-'}; running for {format_duration(run.duration_s) or '-'}")
    if run.candidate_checkpoint_id:
        text += f"; candidate **{run.candidate_checkpoint_id}**"
    adaptation = run_adaptation(run)
    if adaptation and adaptation.get("note"):
        text += f"\n\n**Settings adapted:** {adaptation['note']}" if adaptation.get("changes") else \
            f"\n\n**Settings:** {adaptation['note']}"
    if run.error:
        text += f"\n\n**Error:** {run.error.strip().splitlines()[-1][:500]}"
    return text


# --- datasets ----------------------------------------------------------------------------------

DATASET_HEADERS = ["dataset", "run", "kind", "rows", "created (UTC)", "path", "sha256"]


def list_datasets(*, session: Session, kind: str | None = None) -> list[DatasetInfo]:
    """Recorded datasets, newest first."""
    return [_dataset_info(d) for d in registry.list_datasets(session=session, kind=kind)]


def get_dataset(*, session: Session, dataset_id: int) -> DatasetInfo | None:
    """One dataset row."""
    d = session.get(Dataset, dataset_id)
    return None if d is None else _dataset_info(d)


def list_datasets_of_run(*, session: Session, run_id: int) -> list[DatasetInfo]:
    """The datasets one run recorded."""
    return [_dataset_info(d) for d in registry.list_datasets(session=session, run_id=run_id)]


def run_folders(datasets: Iterable[DatasetInfo]) -> list[str]:
    """The folders a run's datasets live in (where the cycle also keeps its reports, samples and logs).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> run_folders([DatasetInfo(1, 1, "rft", "/w/run-1/rft.jsonl", 3, "", None, t),
    ...              DatasetInfo(2, 1, "dpo", "/w/run-1/dpo.jsonl", 3, "", None, t)])
    ['/w/run-1']
    """
    out: list[str] = []
    for d in datasets:
        folder = str(Path(d.path).parent)
        if folder not in out:
            out.append(folder)
    return out


def datasets_table(datasets: Sequence[DatasetInfo]) -> Table:
    """The datasets list."""
    return Table(DATASET_HEADERS, [[d.id, d.run_id if d.run_id is not None else "", d.kind, d.count,
                                    format_time(d.created_at), d.path, d.content_hash[:12]] for d in datasets])


def counts_by_kind(datasets: Iterable[DatasetInfo]) -> dict[str, int]:
    """Total rows per dataset kind.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> counts_by_kind([DatasetInfo(1, 1, "rft", "a", 3, "", None, t), DatasetInfo(2, 2, "rft", "b", 4, "", None, t)])
    {'rft': 7}
    """
    out: dict[str, int] = defaultdict(int)
    for d in datasets:
        out[d.kind] += d.count
    return dict(sorted(out.items()))


def read_jsonl_head(path: str | Path, n: int = 5) -> list[dict[str, Any]]:
    """The first ``n`` rows of a JSONL file (reads no further; [] if missing; bad lines skipped)."""
    rows: list[dict[str, Any]] = []
    try:
        with Path(path).open(encoding="utf-8") as f:
            for line in f:
                if len(rows) >= n:
                    break
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
    except OSError:
        return []
    return rows


def _content(messages: Any) -> str:
    """The text of a conversational message list (the last message), or the value itself if it is text."""
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list) and messages and isinstance(messages[-1], Mapping):
        return str(messages[-1].get("content", ""))
    return ""


def _question(row: Mapping[str, Any]) -> str:
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
        return str(users[-1].get("content", "")) if users else _content(prompt)
    return str(row.get("question") or prompt or "")


def example_rows(kind: str, rows: Sequence[Mapping[str, Any]], max_chars: int = 600) -> Table:
    """Dataset rows as a readable table: RFT/SFT (question, answer), DPO (question, chosen, rejected).

    >>> row = {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "2+3?"}],
    ...        "chosen": [{"role": "assistant", "content": "5"}], "rejected": [{"role": "assistant", "content": "6"}]}
    >>> example_rows("dpo", [row]).rows
    [['2+3?', '5', '6']]
    """

    def cut(text: str) -> str:
        return text if len(text) <= max_chars else text[:max_chars] + " …"

    if any("chosen" in r for r in rows):
        return Table(["question", "chosen", "rejected"],
                     [[cut(_question(r)), cut(_content(r.get("chosen"))), cut(_content(r.get("rejected")))]
                      for r in rows])
    headers = ["question", "answer"] + (["label"] if any("label" in r for r in rows) else []) \
        + (["score"] if any("score" in r for r in rows) else [])
    out = []
    for r in rows:
        answer = _content(r.get("completion")) or str(r.get("answer", ""))
        line = [cut(_question(r)), cut(answer)]
        if "label" in headers:
            line.append(r.get("label", ""))
        if "score" in headers:
            line.append(r.get("score", ""))
        out.append(line)
    return Table(headers, out)


SCORE_KEYS = ("score", "chosen_score", "rejected_score")


def scores_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Critique scores found in rows, by field (``score``, ``chosen_score``, ``rejected_score``).

    >>> scores_from_rows([{"score": 9}, {"score": None}, {"chosen_score": 8, "rejected_score": 2}])
    {'score': [9.0], 'chosen_score': [8.0], 'rejected_score': [2.0]}
    """
    out: dict[str, list[float]] = {}
    for row in rows:
        for key in SCORE_KEYS:
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, []).append(float(value))
    return out


def scores_from_histogram(histogram: Mapping[str, Any]) -> list[float]:
    """Expand a ``{score: count}`` histogram (as manifests store it) into a list of scores.

    >>> scores_from_histogram({"9": 2, "3": 1, "none": 4})
    [9.0, 9.0, 3.0]
    """
    out: list[float] = []
    for key, count in histogram.items():
        try:
            out += [float(key)] * int(count)
        except (TypeError, ValueError):
            continue
    return out


def dataset_scores(dataset: DatasetInfo, max_rows: int = 100_000) -> dict[str, list[float]]:
    """Critique scores of the samples a dataset was built from.

    TRL-format RFT/DPO rows carry no scores, so, in order: score fields in the rows themselves; a
    ``score_histogram`` in the manifest; the sample files named in the manifest's ``inputs`` (the cycle
    writes ``<input name>.jsonl``, e.g. ``samples_live.jsonl``, beside the dataset), one group per file.
    """
    rows_scores = scores_from_rows(read_jsonl_head(dataset.path, max_rows))
    if rows_scores:
        return rows_scores
    manifest = dataset.manifest or {}
    out: dict[str, list[float]] = {}
    histogram = manifest.get("score_histogram")
    if isinstance(histogram, Mapping):
        out["score"] = scores_from_histogram(histogram)
    if not out:
        for name in (manifest.get("inputs") or {}):
            path = Path(dataset.path).parent / f"{name}.jsonl"
            found = scores_from_rows(read_jsonl_head(path, max_rows)).get("score")
            if found:
                out[str(name)] = found
    return {k: v for k, v in out.items() if v}


# --- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint as the console shows it."""

    id: str
    parent_id: str | None
    kind: str
    status: str
    gate_passed: bool | None
    metrics: dict[str, Any] | None
    path: str
    created_at: datetime


def _checkpoint_info(c: Checkpoint) -> CheckpointInfo:
    return CheckpointInfo(c.id, c.parent_id, c.kind, c.status, c.gate_passed, c.metrics, c.path, c.created_at)


def list_checkpoints(*, session: Session, limit: int = 200) -> list[CheckpointInfo]:
    """Policy and critic checkpoints, newest first."""
    return [_checkpoint_info(c) for c in registry.list_checkpoints(session=session, limit=limit)]


def get_checkpoint(*, session: Session, checkpoint_id: str) -> CheckpointInfo | None:
    c = registry.get_checkpoint(session=session, checkpoint_id=checkpoint_id)
    return None if c is None else _checkpoint_info(c)


def live_checkpoint(*, session: Session) -> CheckpointInfo | None:
    """The live policy checkpoint."""
    c = registry.get_live_checkpoint(session=session, family="policy")
    return None if c is None else _checkpoint_info(c)


def lineage(*, session: Session, checkpoint_id: str, max_depth: int = 100) -> list[CheckpointInfo]:
    """The checkpoint and its ancestors along ``parent_id``, oldest first (cycles are cut)."""
    chain: list[CheckpointInfo] = []
    seen: set[str] = set()
    current: str | None = checkpoint_id
    while current is not None and current not in seen and len(chain) < max_depth:
        seen.add(current)
        c = registry.get_checkpoint(session=session, checkpoint_id=current)
        if c is None:
            break
        chain.append(_checkpoint_info(c))
        current = c.parent_id
    return chain[::-1]


def candidate_choices(checkpoints: Sequence[CheckpointInfo]) -> list[tuple[str, str]]:
    """(label, id) for the promote dropdown: policy checkpoints that are not live, candidates first.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> cps = [CheckpointInfo("a", None, "base", "live", True, None, "", t),
    ...        CheckpointInfo("b", "a", "rft", "candidate", False, None, "", t),
    ...        CheckpointInfo("c", "a", "critic", "candidate", None, None, "", t)]
    >>> candidate_choices(cps)
    [('b · rft · candidate · gate failed', 'b')]
    """
    order = {"candidate": 0, "retired": 1, "rejected": 2}
    pickable = [c for c in checkpoints if c.kind in registry.FAMILIES["policy"] and c.status != "live"]
    pickable.sort(key=lambda c: order.get(c.status, 3))
    gate = {True: "gate passed", False: "gate failed", None: "no gate"}
    return [(f"{c.id} · {c.kind} · {c.status} · {gate[c.gate_passed]}", c.id) for c in pickable]


# --- feedback ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeDay:
    """Chat activity on one UTC day."""

    day: date
    questions: int = 0
    answers: int = 0
    ratings: int = 0
    thumbs_up: int = 0


def feedback_volume_by_day(*, session: Session, since: datetime | None = None) -> list[VolumeDay]:
    """Questions, answers and ratings per UTC day (bucketed in Python, the same on every backend)."""
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    query = select(Message.created_at, Message.role).execution_options(yield_per=5000)
    if since is not None:
        query = query.where(Message.created_at >= since)
    for created_at, role in session.execute(query):
        days[created_at.date()][0 if role == "user" else 1] += 1
    ratings = select(Rating.created_at, Rating.liked).execution_options(yield_per=5000)
    if since is not None:
        ratings = ratings.where(Rating.created_at >= since)
    for created_at, liked in session.execute(ratings):
        counts = days[created_at.date()]
        counts[2] += 1
        counts[3] += int(bool(liked))
    return [VolumeDay(day, *counts) for day, counts in sorted(days.items())]


# --- promotions --------------------------------------------------------------------------------

PROMOTION_HEADERS = ["at (UTC)", "action", "from", "to", "by", "override"]


def promotions_table(*, session: Session, limit: int = 30) -> Table:
    """The promotion audit trail, newest first."""
    rows = session.scalars(select(Promotion).order_by(Promotion.id.desc()).limit(limit))
    return Table(PROMOTION_HEADERS, [[format_time(p.at), p.action, p.from_id or "", p.to_id, p.by_user,
                                      "yes" if p.override else ""] for p in rows])


def switch_report_markdown(report: Any) -> str:
    """A blue/green switch report (``serving.vllm_supervisor.SwitchReport``) as text."""
    if report is None:
        return "No switch was needed (the server already serves the live checkpoint, or the switch failed)."
    lines = [f"**Switched** {report.from_checkpoint or '-'} → **{report.to_checkpoint}**",
             f"- start new server: {report.start_s:.1f} s",
             f"- router flip: {report.flip_s:.3f} s",
             f"- drain old server: {report.drain_s:.1f} s ({'drained' if report.drained else 'NOT fully drained'})",
             f"- chats in flight at the flip: {report.inflight_at_flip}"]
    lines += [f"- {note}" for note in getattr(report, "notes", []) or []]
    return "\n".join(lines)


def switch_status_markdown(status: Any) -> str:
    """The outcome of one switch (``serving.live_model.SwitchStatus``) as text."""
    if status.state == "failed":
        return f"**Switch failed:** {status.error}; still serving **{status.served}**."
    if status.state == "needs_operator":
        return f"**Not switched here:** {status.error}. Serving **{status.served}** until then."
    if status.state != "done":
        return (f"**Still switching** to **{status.to_checkpoint}** ({status.state}); serving **{status.served}**. "
                "This panel and `/api/operator/status` show it when it ends.")
    if status.report is None:
        return f"**{status.to_checkpoint}** was already served: no switch was needed."
    return switch_report_markdown(status.report)


def sync_status_markdown(state: Any, live_in_db: str | None) -> str:
    """What is served now vs what the database says is live (``serving.live_model.SyncState``)."""
    lines = [f"Live in the database: **{live_in_db or '-'}** · served now: **{state.served_id}**"]
    if state.switching_to:
        lines.append(f"Switching to **{state.switching_to}** …")
    elif live_in_db and live_in_db != state.served_id:
        lines.append("The server has not switched to the live checkpoint yet.")
    if state.last_error:
        lines.append(f"**Last switch error:** {state.last_error}")
    if state.last_report is not None:
        lines.append("Last switch:\n" + switch_report_markdown(state.last_report))
    return "\n\n".join(lines)
