"""Candidate vs live: reading evaluation metrics and report files, and comparing two checkpoints.

``Checkpoint.metrics`` holds an evaluation report from ``training.evaluate`` without its per-question
items (the cycle stores ``{"eval": report, "live_eval": ..., "gate": GateDecision, "run_id": ...}``; the
report itself, ``{"summary": ...}`` and ``{"evaluation"|"report": ...}`` nestings are read too). The
items -- each held-out question with both answers -- are read from the run's ``eval.json`` (found beside
the run's datasets) or from a ``report_path`` in the metrics. All pure except the two file/DB readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from console.run_files import run_folders
from console.tables import Table, format_pct
from feedback.reads import CheckpointInfo, list_run_dataset_infos


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
        for folder in run_folders(list_run_dataset_infos(session=session, run_id=run_id)):
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
    ("critique pass rate (>= the pass mark)", "pass_rate", "pct"),
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


def baseline_metrics(later: CheckpointInfo | None, checkpoint_id: str) -> dict[str, Any] | None:
    """The evaluation of ``checkpoint_id`` stored with a later checkpoint evaluated against it, if any.

    The cycle evaluates the live checkpoint once per run and keeps that report (without items) as
    ``live_eval`` in the candidate's metrics; it covers the same held-out questions as the candidate's.

    >>> from datetime import UTC
    >>> c = CheckpointInfo("c", "l", "rft", "candidate", None, {"live_eval": {"checkpoint_id": "l",
    ...     "summary": {"overall": {"n": 1}}}}, "", datetime(2026, 1, 1, tzinfo=UTC))
    >>> baseline_metrics(c, "l")["eval"]["summary"]["overall"], baseline_metrics(c, "x")
    ({'n': 1}, None)
    """
    stored = _find(later.metrics, "live_eval") if later is not None else None
    if isinstance(stored, Mapping) and stored.get("checkpoint_id") == checkpoint_id and find_summary(stored):
        return {"eval": dict(stored)}
    return None


def comparison_metrics(candidate: CheckpointInfo | None, live: CheckpointInfo | None) -> dict[str, Any] | None:
    """Live's evaluation to compare a candidate with: the one on the candidate's own question set if it was
    evaluated against live, else live's own metrics."""
    if live is None:
        return None
    return baseline_metrics(candidate, live.id) or live.metrics


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
    headers = ["metric", f"candidate {candidate.id}" if candidate else "candidate",
               f"live {live.id}" if live else "live",
               "difference"]
    cs = find_summary(candidate.metrics) if candidate else None
    live_metrics = comparison_metrics(candidate, live)
    ls = find_summary(live_metrics)
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
    lp = _find(live_metrics, "perplexity")
    cp = cp if isinstance(cp, (int, float)) else None
    lp = lp if isinstance(lp, (int, float)) else None
    rows.append(["perplexity (general text)", _fmt(cp, "num"), _fmt(lp, "num"),
                 "" if cp is None or lp is None else f"x{cp / lp:.3f}"])
    vs = _find(candidate.metrics, "vs_baseline") if candidate else None
    if isinstance(vs, Mapping) and vs.get("mcnemar_p") is not None:
        rows.append([f"paired vs {vs.get('baseline_checkpoint_id')}",
                     f"only candidate right {vs.get('only_candidate')}",
                     f"only baseline right {vs.get('only_baseline')}",
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
    """Accuracy with CIs along a lineage (checkpoints without any evaluation skipped).

    A checkpoint with no evaluation of its own (the base model) takes the one stored with a later
    checkpoint of the chain that was evaluated against it (``baseline_metrics``).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> m = {"summary": {"overall": {"n": 200, "strict_accuracy": {"rate": 0.13, "ci95": [0.09, 0.18]}}}}
    >>> lineage_points([CheckpointInfo("base", None, "base", "live", True, None, "", t),
    ...                 CheckpointInfo("r1", "base", "rft", "candidate", True, m, "", t)])
    [LineagePoint(checkpoint_id='r1', kind='rft', status='candidate', rate=0.13, low=0.09, high=0.18, n=200)]
    """
    points = []
    for i, c in enumerate(chain):
        summary = find_summary(c.metrics)
        for later in chain[i + 1:]:
            if summary is not None:
                break
            summary = find_summary(baseline_metrics(later, c.id))
        overall = (summary or {}).get("overall")
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


def gate_guard_lines(gate: Mapping[str, Any]) -> list[str]:
    """One line per guard the gate checked, failed ones first (which guard, measured against what, by how much);
    a decision stored before guards existed shows its reasons.

    >>> for line in gate_guard_lines({"guards": [
    ...         {"guard": "accuracy_margin", "passed": True, "message": "gain +0.110 meets the margin 0.020"},
    ...         {"guard": "perplexity", "passed": False, "message": "perplexity rose +6.0%, over +5.0% by 1.0 pts"}]}):
    ...     print(line)
    - ✗ **perplexity**: perplexity rose +6.0%, over +5.0% by 1.0 pts
    - ✓ accuracy_margin: gain +0.110 meets the margin 0.020
    >>> gate_guard_lines({"reasons": ["gain not significant (McNemar p=0.2 >= 0.05)"]})
    ['- gain not significant (McNemar p=0.2 >= 0.05)']
    """
    guards = [g for g in gate.get("guards") or [] if isinstance(g, Mapping)]
    if not guards:
        return [f"- {reason}" for reason in gate.get("reasons", [])]
    guards.sort(key=lambda g: bool(g.get("passed")))
    return [f"- ✓ {g.get('guard')}: {g.get('message', '')}" if g.get("passed")
            else f"- ✗ **{g.get('guard')}**: {g.get('message', '')}" for g in guards]


def gate_markdown(checkpoint: CheckpointInfo | None) -> str:
    """The candidate's gate verdict and, guard by guard, why."""
    if checkpoint is None:
        return "Pick a checkpoint."
    verdict = {True: "**passed** its gate", False: "**failed** its gate", None: "has **no gate result**"}
    lines = [f"**{checkpoint.id}** ({checkpoint.kind}, {checkpoint.status}, parent {checkpoint.parent_id or '-'}) "
             f"{verdict[checkpoint.gate_passed]}."]
    gate = find_gate(checkpoint.metrics)
    if gate:
        lines += gate_guard_lines(gate)
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
