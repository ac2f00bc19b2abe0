"""How well the critic judges: per part and combined, with and without the reference.

Rows are ``{question, reference?, answer, is_correct?, human_score?, samples?}``. For each scorer we
report coverage (fraction scored), binary accuracy (score >= threshold vs ``is_correct``, over scored
rows), Pearson/Spearman/Kendall against ``human_score`` (scipy) and AUROC of the combined
confidence or of the part's score. For the combined critic, per condition, also what the student sees
(``metrics``): ``false_confident_<condition>`` (share of wrong answers shown with confidence >= the
verdict's ``confident_at``; ``false_confident_raw_`` counts them whatever the verdict), ``auroc_all_`` (every
labelled row ranked by its confidence, an unscored one as 0.5; ``auroc_`` ranks the scored rows only), ``ece_``,
``coverage_`` (share with a verdict, i.e. not "unverified" nor unscored) and ``scored_`` (share scored).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mathchat.settings import PASS_THRESHOLD
from serving.critique.answers import answers_equivalent, extract_answer
from serving.critique.calibration import Calibration, fit_calibration, part_features
from serving.critique.critic import MathCritic
from serving.critique.metrics import auroc, coverage, expected_calibration_error, false_confident_rate
from serving.critique.types import CritiqueResult
from serving.critique.verdict import UNVERIFIED

SCORERS = ("combined", "answer_match", "steps", "consistency", "verifier", "judge")
CONDITIONS = ("with_ref", "without_ref")


def critique_rows(critic: MathCritic, rows: Sequence[dict[str, Any]], *, progress: bool = False
                  ) -> list[dict[str, CritiqueResult | None]]:
    """Critique every row twice: with its reference (when it has one) and with none at all (no reference is
    computed from the question either, so the no-reference parts are measured on their own)."""
    from tqdm import tqdm

    bare = critic.without_computed_reference()
    out = []
    for row in tqdm(rows, disable=not progress, desc="critique"):
        samples = row.get("samples")
        reference = row.get("reference")
        with_ref = critic.critique(row["question"], row["answer"], reference, samples=samples) if reference else None
        without = bare.critique(row["question"], row["answer"], None, samples=samples)
        out.append({"with_ref": with_ref, "without_ref": without})
    return out


def _scorer_values(result: CritiqueResult, scorer: str) -> tuple[float | None, float | None]:
    """(score, ranking value) of one scorer on one result; the combined ranks by confidence."""
    if scorer == "combined":
        return (None if result.score is None else float(result.score)), result.confidence
    part = result.parts.get(scorer)
    value = None if part is None else part.score
    return value, value


def _safe(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def scorer_metrics(scores: Sequence[float], ranks: Sequence[float], labels: Sequence[bool | None],
                   humans: Sequence[float | None], n_total: int, threshold: int = PASS_THRESHOLD) -> dict[str, Any]:
    """Coverage, accuracy, correlations and AUROC of one scorer (its unscored rows already dropped).

    >>> m = scorer_metrics([9, 2, 8, 3], [0.9, 0.1, 0.8, 0.3], [True, False, True, False], [10, 1, 8, 4], 5)
    >>> m["coverage"], m["acc"], m["auroc"], m["spearman"]
    (0.8, 1.0, 1.0, 1.0)
    """
    from scipy.stats import kendalltau, pearsonr, spearmanr

    metrics: dict[str, Any] = {"n_scored": len(scores), "coverage": round(len(scores) / n_total, 4) if n_total else None}
    labelled = [(s, r, y) for s, r, y in zip(scores, ranks, labels) if y is not None]
    metrics["acc"] = _safe(sum((s >= threshold) == y for s, _, y in labelled) / len(labelled)) if labelled else None
    metrics["auroc"] = _safe(auroc([r for _, r, _ in labelled], [bool(y) for _, _, y in labelled]))
    paired = [(s, h) for s, h in zip(scores, humans) if h is not None]
    for name, fn in (("pearson", pearsonr), ("spearman", spearmanr), ("kendall", kendalltau)):
        if len(paired) >= 3 and len({s for s, _ in paired}) > 1 and len({h for _, h in paired}) > 1:
            metrics[name] = _safe(fn([s for s, _ in paired], [h for _, h in paired])[0])
        else:
            metrics[name] = None
    return metrics


def _shown(result: CritiqueResult) -> bool:
    """Whether the badge showed this result's confidence as a number (not "not verified", not unscored)."""
    return result.score is not None and result.confidence is not None and result.verdict != UNVERIFIED


def verdict_metrics(results: Sequence[CritiqueResult], labels: Sequence[bool | None],
                    confident_at: float = 0.7) -> dict[str, Any]:
    """What the student sees, over the labelled results of one condition (see the module docstring)."""
    labelled = [(r, bool(y)) for r, y in zip(results, labels) if y is not None]
    confs = [r.confidence for r, _ in labelled]
    ys = [y for _, y in labelled]
    scored = [(c, y) for c, y in zip(confs, ys) if c is not None]
    return {
        "false_confident": false_confident_rate(confs, ys, [_shown(r) for r, _ in labelled], confident_at),
        "false_confident_raw": false_confident_rate(confs, ys, [True] * len(labelled), confident_at),
        "ece": _safe(expected_calibration_error([c for c, _ in scored], [y for _, y in scored])),
        # every labelled row ranked, an unscored one as undecided (0.5): critics that score more rows compare fairly
        "auroc_all": _safe(auroc([0.5 if c is None else c for c in confs], ys)),
        "coverage": coverage([r.verdict for r in results]),
        "scored": round(sum(r.score is not None for r in results) / len(results), 4) if results else None,
    }


def summarize(rows: Sequence[dict[str, Any]], results: Sequence[dict[str, CritiqueResult | None]],
              threshold: int = PASS_THRESHOLD, confident_at: float = 0.7) -> dict[str, Any]:
    """All metrics: ``{"n", "acc_with_ref", "auroc_without_ref", "false_confident_without_ref", ...,
    "parts": {scorer: {condition: {...}}}}``."""
    report: dict[str, Any] = {"n": len(rows), "parts": defaultdict(dict)}
    for condition in CONDITIONS:
        present = [(row, result[condition]) for row, result in zip(rows, results) if result[condition] is not None]
        if present:
            shown = verdict_metrics([r for _, r in present], [row.get("is_correct") for row, _ in present],
                                    confident_at)
            report.update({f"{key}_{condition}": value for key, value in shown.items()})
        for scorer in SCORERS:
            scores, ranks, labels, humans = [], [], [], []
            n_total = 0
            for row, result in zip(rows, results):
                r = result[condition]
                if r is None:
                    continue
                n_total += 1
                score, rank = _scorer_values(r, scorer)
                if score is None or rank is None:
                    continue
                scores.append(score)
                ranks.append(rank)
                labels.append(row.get("is_correct"))
                humans.append(row.get("human_score"))
            if n_total == 0:
                continue
            metrics = scorer_metrics(scores, ranks, labels, humans, n_total, threshold)
            if scorer == "combined":
                for key in ("acc", "auroc", "pearson", "spearman", "kendall"):
                    report[f"{key}_{condition}"] = metrics[key]
            else:
                report["parts"][scorer][condition] = metrics
    report["parts"] = dict(report["parts"])
    return report


def fit_from_results(rows: Sequence[dict[str, Any]], results: Sequence[dict[str, CritiqueResult | None]],
                     trained_on: dict[str, Any]) -> Calibration:
    """Refit the confidence model on these critiques (both conditions) and the rows' ``is_correct``."""
    features, labels = [], []
    for row, result in zip(rows, results):
        if row.get("is_correct") is None:
            continue
        for condition in CONDITIONS:
            r = result[condition]
            if r is not None:
                features.append(part_features(r.parts))
                labels.append(bool(row["is_correct"]))
    return fit_calibration(features, labels, trained_on=trained_on)


def format_report(report: dict[str, Any]) -> str:
    """A readable table of the summary."""
    lines = [f"n = {report['n']}"]
    header = f"{'scorer':<14}{'condition':<13}{'cover':>7}{'acc':>7}{'auroc':>7}{'pearson':>9}{'spearman':>9}{'kendall':>9}"
    lines.append(header)

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    for condition in CONDITIONS:
        if f"acc_{condition}" in report:
            lines.append(f"{'combined':<14}{condition:<13}" + "".join(
                f"{fmt(report.get(f'{k}_{condition}')):>{w}}" for k, w in
                (("scored", 7), ("acc", 7), ("auroc", 7), ("pearson", 9), ("spearman", 9), ("kendall", 9))))
            lines.append(f"{'  shown':<14}{condition:<13}verdict coverage {fmt(report.get(f'coverage_{condition}'))}"
                         f"  false-confident {fmt(report.get(f'false_confident_{condition}'))}"
                         f" (raw {fmt(report.get(f'false_confident_raw_{condition}'))})"
                         f"  ECE {fmt(report.get(f'ece_{condition}'))}"
                         f"  AUROC over all rows {fmt(report.get(f'auroc_all_{condition}'))}")
        for scorer, by_condition in report["parts"].items():
            m = by_condition.get(condition)
            if m:
                lines.append(f"{scorer:<14}{condition:<13}" + "".join(
                    f"{fmt(m.get(k)):>{w}}" for k, w in
                    (("coverage", 7), ("acc", 7), ("auroc", 7), ("pearson", 9), ("spearman", 9), ("kendall", 9))))
    return "\n".join(lines)


def load_mathusereval(directory: Path, answers_file: str = "model_answer_gpt-4-1106-preview.jsonl"
                      ) -> list[dict[str, Any]]:
    """MathUserEval questions joined with a model's answers on (question_id, source); read in place."""
    questions = {}
    with (directory / "math-user-eval.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                questions[(row["question_id"], row["source"])] = row
    joined = []
    with (directory / answers_file).open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            answer = json.loads(line)
            question = questions.get((answer["question_id"], answer["source"]))
            if question is not None:
                joined.append({**question, "answer": answer["answer"], "model_id": answer.get("model_id")})
    return joined


def summarize_by_category(rows: Iterable[dict[str, Any]], results: Sequence[CritiqueResult],
                          threshold: int = PASS_THRESHOLD) -> dict[str, Any]:
    """Mean score and pass rate (score >= threshold), overall and per category, as the paper reports."""
    groups: dict[str, list[int]] = defaultdict(list)
    unscored: dict[str, int] = defaultdict(int)
    for row, result in zip(rows, results):
        for key in ("overall", row.get("category", "?")):
            if result.score is None:
                unscored[key] += 1
            else:
                groups[key].append(result.score)
    out = {}
    for key in sorted(set(groups) | set(unscored), key=lambda k: (k != "overall", k)):
        scores = groups.get(key, [])
        out[key] = {"n_scored": len(scores), "unscored": unscored.get(key, 0),
                    "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
                    "pass_rate": round(sum(s >= threshold for s in scores) / len(scores), 4) if scores else None}
    return out


def policy_answer_rows(engine: Any, rows: Sequence[dict[str, Any]], sampling: Any, *, batch: int = 16,
                       progress: bool = False) -> list[dict[str, Any]]:
    """Real policy answers to the rows' questions, labelled by the exact checker against the reference
    (``is_correct``; no ``human_score``): the data a calibration for that policy should be fitted on."""
    from tqdm import tqdm

    out = []
    for start in tqdm(range(0, len(rows), batch), disable=not progress, desc="answers"):
        chunk = rows[start:start + batch]
        conversations = [[{"role": "user", "content": r["question"]}] for r in chunk]
        if hasattr(engine, "sample_many"):
            texts = [samples[0].text for samples in engine.sample_many(conversations, sampling)]
        else:
            texts = [engine.sample(c, sampling, n=1)[0].text for c in conversations]
        for row, text in zip(chunk, texts):
            out.append({"id": f"{row.get('id', len(out))}-policy", "question": row["question"],
                        "reference": row["reference"], "answer": text,
                        "is_correct": answers_equivalent(extract_answer(text), row["reference"]),
                        "kind": "policy", "language": row.get("language"),
                        "source": f"policy:{getattr(engine, 'checkpoint_id', '?')}"})
    return out
