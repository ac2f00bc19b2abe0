"""Everything one console panel shows, read in one transaction: the functions the handlers call.

Each ``build_*_view`` takes a session and returns a frozen dataclass of plain values (tables, plot data,
text) built from ``feedback.reads``, ``console.run_files``, ``console.tables`` and ``console.evaluation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from feedback import registry
from console.run_files import dataset_scores, read_jsonl_head
from console.tables import (Table, candidate_choices, example_rows, format_pct, live_chain_markdown, live_chain_table,
                            promotions_table)
from feedback.reads import (
    CheckpointInfo,
    DatasetInfo,
    RunInfo,
    VolumeDay,
    feedback_volume_by_day,
    get_checkpoint_info,
    get_dataset_info,
    get_live_checkpoint_info,
    judge_human_agreement_by_day,
    list_checkpoint_infos,
    list_dataset_infos,
    list_run_infos,
    load_lineage,
    load_live_chain,
    load_run_info,
    thumbs_up_rate_by_checkpoint,
)
from console.evaluation import (
    LineagePoint,
    baseline_id,
    category_values,
    comparison_metrics,
    evaluation_items,
    evaluation_table,
    find_summary,
    gate_markdown,
    item_scores,
    lineage_points,
    side_by_side,
)


@dataclass(frozen=True)
class RunView:
    """The training-runs panel."""

    runs: list[RunInfo]
    run: RunInfo | None

    def choices(self) -> list[tuple[str, int]]:
        return [(f"run {r.id} · {r.status} · {r.stage or '-'}", r.id) for r in self.runs]


def build_run_view(*, session: Session, run_id: int | None = None, limit: int = 30) -> RunView:
    """Recent runs and one of them (the newest when ``run_id`` is None) with its datasets."""
    return RunView(list_run_infos(session=session, limit=limit), load_run_info(session=session, run_id=run_id))


@dataclass(frozen=True)
class DatasetView:
    """One dataset: its row, first rows, and the critique scores of its samples."""

    dataset: DatasetInfo | None
    examples: Table
    scores: dict[str, list[float]]


def build_dataset_view(*, session: Session, dataset_id: int | None, examples: int = 5) -> DatasetView:
    """A dataset with its first rows and sample scores (the newest dataset when ``dataset_id`` is None)."""
    if dataset_id is None:
        newest = list_dataset_infos(session=session)
        dataset = newest[0] if newest else None
    else:
        dataset = get_dataset_info(session=session, dataset_id=dataset_id)
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
    live = get_live_checkpoint_info(session=session)
    if checkpoint_id is None:
        candidates = [c for c in list_checkpoint_infos(session=session) if c.status == "candidate"
                      and c.kind in registry.FAMILIES["policy"]]
        candidate = candidates[0] if candidates else None
    else:
        candidate = get_checkpoint_info(session=session, checkpoint_id=checkpoint_id)
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
    for label, metrics in ((f"candidate {candidate.id}" if candidate else "", candidate.metrics if candidate else None),
                           (f"live {live.id}" if live else "", comparison_metrics(candidate, live))):
        values = category_values(find_summary(metrics))
        if values:
            categories[label] = values
    scores = {}
    if cand_items:
        scores[f"candidate {candidate.id}"] = item_scores(cand_items)
    if other_items:
        scores[f"{'live' if comparison_id == (live.id if live else None) else 'baseline'} {comparison_id}"] = \
            item_scores(other_items)
    chain = load_lineage(session=session, checkpoint_id=candidate.id) if candidate else []
    if live is not None and all(c.id != live.id for c in chain):
        chain = load_lineage(session=session, checkpoint_id=live.id) + chain  # show where live stands too
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
    chain: str
    """The lineage of live policy models in one line (``console.tables.live_chain_markdown``)."""
    lineage: Table
    """The same, one row per change: when, by whom, automatic or not, the run that produced each model."""


def build_promote_view(*, session: Session) -> PromoteView:
    """Live checkpoint, promotable checkpoints, the audit trail, where a rollback would go, and the live lineage."""
    previous = registry.previous_live_checkpoint(session=session)
    chain = load_live_chain(session=session, family="policy")
    return PromoteView(get_live_checkpoint_info(session=session), candidate_choices(list_checkpoint_infos(session=session)),
                       promotions_table(registry.list_promotions(session=session, limit=30)), previous.id if previous else None,
                       live_chain_markdown(chain), live_chain_table(chain))
