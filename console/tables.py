"""What the operator console shows, as plain tables and text: pure functions over the read models.

No UI, no database and no files here: ``feedback.reads`` turns rows into ``RunInfo`` / ``DatasetInfo`` /
``CheckpointInfo``, ``console.run_files`` reads what the cycle left on disk, and these format both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedback.reads import CheckpointInfo, DatasetInfo, LiveChange, RunInfo
from feedback.registry import FAMILIES


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


RUN_HEADERS = ["run", "status", "trigger", "stage", "created (UTC)", "duration", "candidate", "error"]


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


def run_auto_promotion(run: RunInfo) -> str | None:
    """What the run's ``auto_promote`` step did (``training/auto_promote.py``), as text; None before it ran.

    >>> from datetime import UTC
    >>> step = {"status": "promoted", "promoted": True, "reason": "gate passed: promoted automatically",
    ...         "candidate_id": "rft-r2", "live_id": "base"}
    >>> run = RunInfo(2, "succeeded", "schedule", "auto_promote", {"auto_promote": step}, "", None, None,
    ...               datetime(2026, 1, 1, tzinfo=UTC), None, None, "rft-r2", None)
    >>> run_auto_promotion(run)
    'promoted **rft-r2** automatically (base retired): gate passed: promoted automatically'
    """
    step = (run.progress or {}).get("auto_promote")
    if not isinstance(step, Mapping):
        return None
    if step.get("promoted"):
        return (f"promoted **{step.get('candidate_id')}** automatically ({step.get('live_id') or '-'} retired): "
                f"{step.get('reason', '')}")
    return f"not promoted: {step.get('reason', '')}"


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
    start = (run.progress or {}).get("start_point")  # training/start_point.py
    if isinstance(start, Mapping) and start.get("note"):
        text += f"\n\n**Started from:** {start['note']}"
    round_stop = (run.progress or {}).get("round_stop")
    if isinstance(round_stop, Mapping) and round_stop.get("reason"):
        text += f"\n\n**Rounds:** {round_stop['reason']}"
    auto = run_auto_promotion(run)
    if auto:
        text += f"\n\n**Auto-promote:** {auto}"
    if run.error:
        text += f"\n\n**Error:** {run.error.strip().splitlines()[-1][:500]}"
    return text


DATASET_HEADERS = ["dataset", "run", "kind", "rows", "created (UTC)", "path", "sha256"]


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
    pickable = [c for c in checkpoints if c.kind in FAMILIES["policy"] and c.status != "live"]
    pickable.sort(key=lambda c: order.get(c.status, 3))
    gate = {True: "gate passed", False: "gate failed", None: "no gate"}
    return [(f"{c.id} · {c.kind} · {c.status} · {gate[c.gate_passed]}", c.id) for c in pickable]


PROMOTION_HEADERS = ["at (UTC)", "action", "from", "to", "by", "automatic", "override"]


def promotions_table(promotions: Iterable[Any]) -> Table:
    """The promotion audit trail (``feedback.registry.list_promotions``: newest first)."""
    return Table(PROMOTION_HEADERS, [[format_time(p.at), p.action, p.from_id or "", p.to_id, p.by_user,
                                      "yes" if p.automatic else "", "yes" if p.override else ""] for p in promotions])


LINEAGE_HEADERS = ["step", "live since (UTC)", "action", "from", "to", "kind", "run", "by", "automatic", "override"]


def live_chain_table(chain: Sequence[LiveChange]) -> Table:
    """The lineage of live models (``feedback.reads.load_live_chain``: oldest first), one row per change.

    >>> from datetime import UTC
    >>> t = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    >>> live_chain_table([LiveChange(1, "promote", "base", "rft-r1", "rft", "training", t, False, True, 1)]).rows
    [[1, '2026-12-04 09:00:00', 'promote', 'base', 'rft-r1', 'rft', 1, 'training', 'yes', '']]
    """
    return Table(LINEAGE_HEADERS, [
        [step, format_time(c.at), c.action, c.from_id or "", c.to_id, c.to_kind, "" if c.run_id is None else c.run_id,
         c.by_user, "yes" if c.automatic else "", "yes" if c.override else ""]
        for step, c in enumerate(chain, 1)])


def live_chain_markdown(chain: Sequence[LiveChange], last: int = 8) -> str:
    """The chain of live models in one line, the live one in bold: who or what made each one live, and from which run.

    >>> from datetime import UTC
    >>> t = datetime(2026, 12, 4, tzinfo=UTC)
    >>> chain = [LiveChange(1, "promote", "base", "rft-r1", "rft", "training", t, False, True, 1),
    ...          LiveChange(2, "promote", "rft-r1", "dpo-r2", "dpo", "olga", t, True, False, 2)]
    >>> live_chain_markdown(chain)
    'Live models: base → rft-r1 (run 1, automatic) → **dpo-r2** (run 2, olga, gate overridden)'
    >>> live_chain_markdown([])
    'No promotions yet: the first live model is still live.'
    """
    if not chain:
        return "No promotions yet: the first live model is still live."
    shown = chain[-last:]
    steps = ["…" if len(chain) > last else (shown[0].from_id or "-")]
    for i, c in enumerate(shown):
        notes = ([f"run {c.run_id}"] if c.run_id is not None else []) + ["automatic" if c.automatic else c.by_user] \
            + (["gate overridden"] if c.override else []) + (["rollback"] if c.action == "rollback" else [])
        name = f"**{c.to_id}**" if i == len(shown) - 1 else c.to_id
        steps.append(f"{name} ({', '.join(notes)})")
    return "Live models: " + " → ".join(steps)


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
