"""What the operator console shows: database rows and run files turned into tables and plot data.

No UI and no plotting here. Functions that read the database take a keyword-only ``session`` and return
plain dataclasses (safe to use after the transaction); the rest are pure functions over those, or small
read-only file helpers (JSONL heads, log tails, evaluation report files) that never raise on a missing file.

The console reads what the training cycle wrote through the database only: ``TrainingRun.progress``
(per stage: ``status``, ``done``/``total``, ``seconds``, anything else), ``Dataset`` rows (kind, path,
manifest) and ``Checkpoint.metrics`` (an evaluation report from ``training.evaluate`` -- its ``summary``,
optionally its ``items`` or the path of the full JSON report -- plus the ``gate`` decision).
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


def run_manifest(run: RunInfo) -> dict[str, Any]:
    """The data manifest of a run: its config and each dataset it wrote, with that dataset's manifest."""
    return {
        "run": run.id,
        "config": run.config,
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


# --- checkpoints, evaluation -------------------------------------------------------------------


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


def find_summary(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The evaluation summary (``{"overall": ..., "per_category": ...}``) inside a checkpoint's metrics.

    Accepts the report itself, ``{"summary": ...}``, or a report nested under ``evaluation``/``eval``/``report``.

    >>> find_summary({"evaluation": {"summary": {"overall": {"n": 3}, "per_category": {}}}})["overall"]
    {'n': 3}
    >>> find_summary({"loss": 1.0}) is None
    True
    """
    if not isinstance(metrics, Mapping):
        return None
    if isinstance(metrics.get("overall"), Mapping):
        return dict(metrics)
    if isinstance(metrics.get("summary"), Mapping) and isinstance(metrics["summary"].get("overall"), Mapping):
        return dict(metrics["summary"])
    for key in ("evaluation", "eval", "report"):
        found = find_summary(metrics.get(key)) if isinstance(metrics.get(key), Mapping) else None
        if found:
            return found
    return None


def _find(metrics: Mapping[str, Any] | None, key: str) -> Any:
    """``metrics[key]``, also looked up inside a nested evaluation report."""
    if not isinstance(metrics, Mapping):
        return None
    if key in metrics:
        return metrics[key]
    for nest in ("evaluation", "eval", "report"):
        if isinstance(metrics.get(nest), Mapping) and key in metrics[nest]:
            return metrics[nest][key]
    return None


def find_gate(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The gate decision stored with the metrics (``training.gate.GateDecision.to_dict()``), if any."""
    value = _find(metrics, "gate")
    return dict(value) if isinstance(value, Mapping) else None


REPORT_PATH_KEYS = ("report_path", "report_json", "eval_report", "report_file")


def report_path(metrics: Mapping[str, Any] | None) -> str | None:
    """Where the full evaluation report (with per-question items) was written, if the metrics say.

    >>> report_path({"report_paths": {"json": "/r/eval.json", "md": "/r/eval.md"}})
    '/r/eval.json'
    """
    for key in REPORT_PATH_KEYS:
        value = _find(metrics, key)
        if isinstance(value, str) and value:
            return value
    paths = _find(metrics, "report_paths") or _find(metrics, "reports")
    if isinstance(paths, Mapping) and isinstance(paths.get("json"), str):
        return paths["json"]
    return None


EVAL_REPORT_FILE = "eval.json"
"""The cycle writes every evaluation report of a run (live, RFT, DPO) into this file beside its datasets."""


def eval_report_paths(*, session: Session, checkpoint: CheckpointInfo | None) -> list[str]:
    """Files that may hold a checkpoint's per-question evaluation items.

    The path in its metrics if recorded, else ``eval.json`` in the folder of the datasets its run
    (``metrics["run_id"]``) recorded.
    """
    if checkpoint is None:
        return []
    paths = [p for p in [report_path(checkpoint.metrics)] if p]
    run_id = _find(checkpoint.metrics, "run_id")
    if isinstance(run_id, int):
        for folder in run_folders(list_datasets_of_run(session=session, run_id=run_id)):
            candidate = str(Path(folder) / EVAL_REPORT_FILE)
            if candidate not in paths:
                paths.append(candidate)
    return paths


def read_eval_items(paths: Iterable[str | Path]) -> dict[str, list[dict[str, Any]]]:
    """Per-question items by checkpoint id, from evaluation report files (single or ``{"reports": [...]}``).

    Missing or unreadable files are skipped; the first file naming a checkpoint wins.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        reports = data.get("reports", [data]) if isinstance(data, dict) else []
        for rep in reports:
            if isinstance(rep, dict) and isinstance(rep.get("items"), list):
                out.setdefault(str(rep.get("checkpoint_id")), [i for i in rep["items"] if isinstance(i, dict)])
    return out


def evaluation_items(*, session: Session, checkpoint: CheckpointInfo | None) -> dict[str, list[dict[str, Any]]]:
    """Per-question items by checkpoint id: those stored in the metrics, then those in its report files."""
    if checkpoint is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    items = _find(checkpoint.metrics, "items")
    if isinstance(items, list):
        out[checkpoint.id] = [i for i in items if isinstance(i, dict)]
    for cid, found in read_eval_items(eval_report_paths(session=session, checkpoint=checkpoint)).items():
        out.setdefault(cid, found)
    return out


def baseline_id(checkpoint: CheckpointInfo | None) -> str | None:
    """The checkpoint a candidate was evaluated against (the live one when its run started).

    >>> from datetime import UTC
    >>> baseline_id(CheckpointInfo("c", "l", "rft", "candidate", True,
    ...     {"eval": {"vs_baseline": {"baseline_checkpoint_id": "base"}}}, "", datetime(2026, 1, 1, tzinfo=UTC)))
    'base'
    """
    if checkpoint is None:
        return None
    vs = _find(checkpoint.metrics, "vs_baseline")
    if isinstance(vs, Mapping) and vs.get("baseline_checkpoint_id"):
        return str(vs["baseline_checkpoint_id"])
    live_eval = _find(checkpoint.metrics, "live_eval")
    if isinstance(live_eval, Mapping) and live_eval.get("checkpoint_id"):
        return str(live_eval["checkpoint_id"])
    return None


def item_scores(items: Iterable[Mapping[str, Any]]) -> list[float]:
    """Critique scores of evaluation items (unscored ones skipped)."""
    return [float(i["score"]) for i in items if isinstance(i.get("score"), (int, float))]


def _rate(block: Mapping[str, Any] | None, metric: str) -> float | None:
    if not isinstance(block, Mapping):
        return None
    value = block.get(metric)
    if isinstance(value, Mapping):
        value = value.get("rate")
    return float(value) if isinstance(value, (int, float)) else None


def _ci(block: Mapping[str, Any] | None, metric: str) -> tuple[float, float] | None:
    value = block.get(metric) if isinstance(block, Mapping) else None
    ci = value.get("ci95") if isinstance(value, Mapping) else None
    return (float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None


EVAL_ROWS = [
    ("questions", "n", "count"),
    ("strict accuracy", "strict_accuracy", "pct"),
    ("flexible accuracy", "accuracy", "pct"),
    ("format followed", "format_rate", "pct"),
    ("critique mean (1-10)", "mean_score", "num"),
    ("critique pass rate (>= 7)", "pass_rate", "pct"),
]


def _fmt(value: float | None, how: str) -> str:
    if value is None:
        return "-"
    if how == "pct":
        return format_pct(value)
    if how == "count":
        return str(int(value))
    return f"{value:.2f}"


def _delta(a: float | None, b: float | None, how: str) -> str:
    if a is None or b is None:
        return ""
    d = a - b
    return f"{100 * d:+.1f} pts" if how == "pct" else f"{d:+.2f}" if how == "num" else f"{d:+.0f}"


def evaluation_table(candidate: CheckpointInfo | None, live: CheckpointInfo | None) -> Table:
    """Candidate vs live on the stored evaluation: overall figures, CIs, perplexity, then per category.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def ck(i, r): return CheckpointInfo(i, None, "rft", "candidate", None,
    ...     {"summary": {"overall": {"n": 10, "strict_accuracy": {"rate": r, "ci95": [0, 1]}}, "per_category": {}}},
    ...     "", t)
    >>> evaluation_table(ck("c", 0.3), ck("l", 0.1)).rows[1][:4]
    ['strict accuracy', '30.0%', '10.0%', '+20.0 pts']
    """
    headers = ["metric", f"candidate {candidate.id}" if candidate else "candidate", f"live {live.id}" if live else "live",
               "difference"]
    cs = find_summary(candidate.metrics) if candidate else None
    ls = find_summary(live.metrics) if live else None
    rows: list[list[Any]] = []

    def add(label: str, cb: Mapping | None, lb: Mapping | None, metric: str, how: str) -> None:
        c, lv = _rate(cb, metric), _rate(lb, metric)
        rows.append([label, _fmt(c, how), _fmt(lv, how), _delta(c, lv, how)])

    co, lo = (cs or {}).get("overall"), (ls or {}).get("overall")
    for label, metric, how in EVAL_ROWS:
        add(label, co, lo, metric, how)
    cci, lci = _ci(co, "strict_accuracy"), _ci(lo, "strict_accuracy")
    rows.append(["strict accuracy 95% CI", "-" if cci is None else f"{format_pct(cci[0])}–{format_pct(cci[1])}",
                 "-" if lci is None else f"{format_pct(lci[0])}–{format_pct(lci[1])}", ""])
    cp = _find(candidate.metrics, "perplexity") if candidate else None
    lp = _find(live.metrics, "perplexity") if live else None
    cp = cp if isinstance(cp, (int, float)) else None
    lp = lp if isinstance(lp, (int, float)) else None
    rows.append(["perplexity (general text)", _fmt(cp, "num"), _fmt(lp, "num"),
                 "" if cp is None or lp is None else f"x{cp / lp:.3f}"])
    vs = _find(candidate.metrics, "vs_baseline") if candidate else None
    if isinstance(vs, Mapping) and vs.get("mcnemar_p") is not None:
        rows.append([f"paired vs {vs.get('baseline_checkpoint_id')}",
                     f"only candidate right {vs.get('only_candidate')}", f"only baseline right {vs.get('only_baseline')}",
                     f"McNemar p = {vs['mcnemar_p']:.3g}"])
    cats = sorted(set((cs or {}).get("per_category", {})) | set((ls or {}).get("per_category", {})))
    for cat in cats:
        add(f"{cat}: strict accuracy", (cs or {}).get("per_category", {}).get(cat),
            (ls or {}).get("per_category", {}).get(cat), "strict_accuracy", "pct")
        add(f"{cat}: critique mean", (cs or {}).get("per_category", {}).get(cat),
            (ls or {}).get("per_category", {}).get(cat), "mean_score", "num")
    return Table(headers, rows)


def category_values(summary: Mapping[str, Any] | None, metric: str = "strict_accuracy") -> dict[str, float]:
    """Per-category value of one metric (categories without it skipped).

    >>> category_values({"per_category": {"a": {"strict_accuracy": {"rate": 0.5}}, "b": {"mean_score": 3.0}}})
    {'a': 0.5}
    """
    out = {}
    for cat, block in ((summary or {}).get("per_category") or {}).items():
        value = _rate(block, metric)
        if value is not None:
            out[cat] = value
    return out


@dataclass(frozen=True)
class LineagePoint:
    """Strict accuracy of one checkpoint on the lineage, with its Wilson 95% CI."""

    checkpoint_id: str
    kind: str
    status: str
    rate: float
    low: float
    high: float
    n: int


def lineage_points(chain: Sequence[CheckpointInfo], metric: str = "strict_accuracy") -> list[LineagePoint]:
    """Accuracy with CIs along a lineage (checkpoints without an evaluation skipped).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> m = {"summary": {"overall": {"n": 200, "strict_accuracy": {"rate": 0.13, "ci95": [0.09, 0.18]}}}}
    >>> lineage_points([CheckpointInfo("base", None, "base", "live", True, None, "", t),
    ...                 CheckpointInfo("r1", "base", "rft", "candidate", True, m, "", t)])
    [LineagePoint(checkpoint_id='r1', kind='rft', status='candidate', rate=0.13, low=0.09, high=0.18, n=200)]
    """
    points = []
    for c in chain:
        overall = (find_summary(c.metrics) or {}).get("overall")
        rate = _rate(overall, metric)
        if rate is None:
            continue
        ci = _ci(overall, metric) or (rate, rate)
        points.append(LineagePoint(c.id, c.kind, c.status, rate, ci[0], ci[1], int(overall.get("n") or 0)))
    return points


def side_by_side(candidate_items: Sequence[Mapping[str, Any]], live_items: Sequence[Mapping[str, Any]],
                 limit: int = 10, max_chars: int = 800) -> Table:
    """The two checkpoints' answers to the same held-out questions (matched by source + question_id).

    Questions where exactly one of them is right come first (those are what the gate weighs).

    >>> c = [{"source": "s", "question_id": 1, "question": "2+3?", "reference": "5", "answer": "5",
    ...       "strict_correct": True, "score": 9}]
    >>> l = [{"source": "s", "question_id": 1, "question": "2+3?", "reference": "5", "answer": "6",
    ...       "strict_correct": False, "score": 2}]
    >>> side_by_side(c, l).rows[0][2:]
    ['5', '✓ 9', '6', '✗ 2']
    """

    def key(it: Mapping[str, Any]) -> tuple[str, str]:
        return str(it.get("source")), str(it.get("question_id"))

    def cut(text: Any) -> str:
        text = "" if text is None else str(text)
        return text if len(text) <= max_chars else text[:max_chars] + " …"

    def verdict(it: Mapping[str, Any]) -> str:
        mark = "✓" if it.get("strict_correct") else "✗"
        return f"{mark} {it['score']}" if it.get("score") is not None else mark

    live = {key(it): it for it in live_items}
    pairs = [(c, live[key(c)]) for c in candidate_items if key(c) in live]
    pairs.sort(key=lambda p: bool(p[0].get("strict_correct")) == bool(p[1].get("strict_correct")))
    rows = [[cut(c.get("question")), cut(c.get("reference")), cut(c.get("answer")), verdict(c),
             cut(lv.get("answer")), verdict(lv)] for c, lv in pairs[:limit]]
    return Table(["question", "reference", "candidate answer", "candidate", "live answer", "live"], rows)


def gate_markdown(checkpoint: CheckpointInfo | None) -> str:
    """The candidate's gate verdict and reasons."""
    if checkpoint is None:
        return "Pick a checkpoint."
    verdict = {True: "✅ **passed** its gate", False: "❌ **failed** its gate", None: "has **no gate result**"}
    lines = [f"**{checkpoint.id}** ({checkpoint.kind}, {checkpoint.status}, parent {checkpoint.parent_id or '-'}) "
             f"{verdict[checkpoint.gate_passed]}."]
    gate = find_gate(checkpoint.metrics)
    if gate:
        lines += [f"- {reason}" for reason in gate.get("reasons", [])]
        extra = []
        if gate.get("accuracy_delta") is not None:
            extra.append(f"accuracy Δ {100 * gate['accuracy_delta']:+.1f} pts")
        if gate.get("mcnemar_p") is not None:
            extra.append(f"McNemar p = {gate['mcnemar_p']:.3g}")
        if gate.get("perplexity_ratio") is not None:
            extra.append(f"perplexity x{gate['perplexity_ratio']:.3f}")
        if extra:
            lines.append("- " + ", ".join(extra))
    if checkpoint.gate_passed is not True:
        lines.append("\nPromoting it needs **override failed gate** (recorded in the audit trail).")
    return "\n".join(lines)


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


# --- views: everything one console panel shows, read in one transaction -------------------------


@dataclass(frozen=True)
class RunView:
    """The training-runs panel."""

    runs: list[RunInfo]
    run: RunInfo | None

    def choices(self) -> list[tuple[str, int]]:
        return [(f"run {r.id} · {r.status} · {r.stage or '-'}", r.id) for r in self.runs]


def build_run_view(*, session: Session, run_id: int | None = None, limit: int = 30) -> RunView:
    """Recent runs and one of them (the newest when ``run_id`` is None) with its datasets."""
    return RunView(list_runs(session=session, limit=limit), load_run(session=session, run_id=run_id))


@dataclass(frozen=True)
class DatasetView:
    """One dataset: its row, first rows, and the critique scores of its samples."""

    dataset: DatasetInfo | None
    examples: Table
    scores: dict[str, list[float]]


def build_dataset_view(*, session: Session, dataset_id: int | None, examples: int = 5) -> DatasetView:
    """A dataset with its first rows and sample scores (the newest dataset when ``dataset_id`` is None)."""
    if dataset_id is None:
        newest = list_datasets(session=session)
        dataset = newest[0] if newest else None
    else:
        dataset = get_dataset(session=session, dataset_id=dataset_id)
    if dataset is None:
        return DatasetView(None, Table(["question", "answer"]), {})
    return DatasetView(dataset, example_rows(dataset.kind, read_jsonl_head(dataset.path, examples)),
                       dataset_scores(dataset))


@dataclass(frozen=True)
class CandidateView:
    """A candidate against the live checkpoint."""

    candidate: CheckpointInfo | None
    live: CheckpointInfo | None
    comparison_id: str | None
    """Whose per-question answers the candidate is shown against (live, else the candidate's baseline)."""
    table: Table
    categories: dict[str, dict[str, float]]
    lineage: list[LineagePoint]
    scores: dict[str, list[float]]
    answers: Table
    gate: str


def build_candidate_view(*, session: Session, checkpoint_id: str | None, answers: int = 10) -> CandidateView:
    """Evaluation table, per-category values, lineage accuracy, score histograms and side-by-side answers.

    Without ``checkpoint_id`` the newest candidate is shown.
    """
    live = live_checkpoint(session=session)
    if checkpoint_id is None:
        candidates = [c for c in list_checkpoints(session=session) if c.status == "candidate"
                      and c.kind in registry.FAMILIES["policy"]]
        candidate = candidates[0] if candidates else None
    else:
        candidate = get_checkpoint(session=session, checkpoint_id=checkpoint_id)
    items = evaluation_items(session=session, checkpoint=candidate)
    cand_items = items.get(candidate.id, []) if candidate else []
    comparison_id, other_items = None, []
    if live is not None:
        other_items = items.get(live.id) or evaluation_items(session=session, checkpoint=live).get(live.id, [])
        comparison_id = live.id if other_items else None
    if not other_items and baseline_id(candidate) in items:
        comparison_id = baseline_id(candidate)
        other_items = items[comparison_id]
    categories = {}
    for label, c in (("candidate " + candidate.id if candidate else "", candidate),
                     ("live " + live.id if live else "", live)):
        values = category_values(find_summary(c.metrics) if c else None)
        if values:
            categories[label] = values
    scores = {}
    if cand_items:
        scores[f"candidate {candidate.id}"] = item_scores(cand_items)
    if other_items:
        scores[f"{'live' if comparison_id == (live.id if live else None) else 'baseline'} {comparison_id}"] = \
            item_scores(other_items)
    chain = lineage(session=session, checkpoint_id=candidate.id) if candidate else []
    if live is not None and all(c.id != live.id for c in chain):
        chain = lineage(session=session, checkpoint_id=live.id) + chain  # show where live stands too
        chain = list({c.id: c for c in chain}.values())
    return CandidateView(candidate, live, comparison_id, evaluation_table(candidate, live), categories,
                         lineage_points(chain), scores, side_by_side(cand_items, other_items, answers),
                         gate_markdown(candidate))


@dataclass(frozen=True)
class FeedbackView:
    """Volume, thumbs per checkpoint, judge-human agreement."""

    volume: list[VolumeDay]
    thumbs: list[Any]
    agreement: list[Any]

    def thumbs_table(self) -> Table:
        return Table(["checkpoint", "ratings", "thumbs up", "rate"],
                     [[t.checkpoint_id or "?", t.ratings, t.thumbs_up, format_pct(t.rate)] for t in self.thumbs])


def build_feedback_view(*, session: Session, since: datetime | None = None) -> FeedbackView:
    """Feedback statistics since a time (all time when None)."""
    from feedback.reads import judge_human_agreement_by_day, thumbs_up_rate_by_checkpoint

    return FeedbackView(feedback_volume_by_day(session=session, since=since),
                        thumbs_up_rate_by_checkpoint(session=session, since=since),
                        judge_human_agreement_by_day(session=session, since=since))


@dataclass(frozen=True)
class PromoteView:
    """The promote / roll back panel."""

    live: CheckpointInfo | None
    choices: list[tuple[str, str]]
    promotions: Table
    rollback_to: str | None


def build_promote_view(*, session: Session) -> PromoteView:
    """Live checkpoint, promotable checkpoints, the audit trail, and where a rollback would go."""
    previous = registry.previous_live_checkpoint(session=session)
    return PromoteView(live_checkpoint(session=session), candidate_choices(list_checkpoints(session=session)),
                       promotions_table(session=session), previous.id if previous else None)
