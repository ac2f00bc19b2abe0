"""Refit the shipped part calibration (``serving/critique/calibration_default.json``) on the loop's labelled answers.

The default is what the critic uses before any verifier is live (a fresh install). It used to be fitted mostly
on template answers from the project's own generator, which the step checker was written against: on the
policy's real answers it showed 7.2% of wrong answers as likely right (with samples; 15% without). Here it is
fitted on real answers instead: ``VerifierRow``s of one cycle (the policy's samples of seed questions from
several checkpoints, labelled by their exact references, with the no-reference parts' features), the train
split only, in the three conditions the critic meets (``training.verifier.calibration_rows``: no reference
with and without self-consistency samples, and with the reference). The held-out split is reported.

    python -m training.default_calibration serving/critique/data/cycle_rows_smollm2_20261202.jsonl.gz \
        [--out serving/critique/calibration_default.json]

The last line printed is one JSON object (the held-out figures of the old and the new calibration).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mathchat.jsonl import read_jsonl
from serving.critique.calibration import DEFAULT_PATH, FEATURES, Calibration, fit_calibration, load_calibration
from serving.critique.calibration import save_calibration
from serving.critique.metrics import auroc, expected_calibration_error
from training.formats import VerifierRow
from training.other_writers import HELD_OUT_SETS, load_other_writer_rows, other_writer_rows
from training.verifier import calibration_rows

CONFIDENT_AT = 0.7
"""The confidence from which the badge reads "likely right" (a wrong answer above it is a false-confident one)."""


def read_rows(path: Path) -> list[VerifierRow]:
    """VerifierRows from a JSONL file, gzipped when its name ends in .gz, their step features as today's step
    check gives them (``with_current_step_features``)."""
    return with_current_step_features(read_jsonl(path))


def with_current_step_features(rows: Sequence[VerifierRow]) -> list[VerifierRow]:
    """The rows with their step-check features recomputed by today's checker (the recorded ones are what the
    checker of the day they were drawn saw); the other features (self-consistency) as recorded.

    >>> row = {"question": "Tom has 3 boxes of 12.", "answer": "3 * 12 = 36. The answer is 36.",
    ...        "features": {"cons_present": 1.0, "steps_wrong": 1.0}}
    >>> with_current_step_features([row])[0]["features"]
    {'cons_present': 1.0, 'has_final': 1.0, 'steps_checked': 1.0}
    """
    from serving.critique.calibration import STEP_FEATURES, part_features
    from serving.critique.steps import check_steps_part

    out = []
    for row in rows:
        steps = part_features({"steps": check_steps_part(row["answer"], row["question"])})
        kept = {k: v for k, v in row["features"].items() if k not in STEP_FEATURES}
        out.append({**row, "features": kept | {k: steps[k] for k in STEP_FEATURES if steps[k]}})
    return out


def no_reference_features(row: VerifierRow, with_samples: bool) -> dict[str, float]:
    """What the critic sees without a reference (and no verifier): the row's recorded parts, the
    self-consistency features dropped when the app drew no samples.

    >>> f = no_reference_features({"features": {"cons_present": 1.0, "cons_fraction": 0.5, "has_final": 1.0}}, False)
    >>> f["cons_present"], f["has_final"], f["ref_checked"]
    (0.0, 1.0, 0.0)
    """
    feats = dict.fromkeys(FEATURES, 0.0) | {k: float(v) for k, v in row["features"].items() if k in FEATURES}
    if not with_samples:
        feats["cons_present"] = feats["cons_fraction"] = 0.0
    return feats


def held_out_figures(calibration: Calibration, rows: Sequence[VerifierRow]) -> dict[str, Any]:
    """AUROC, ECE and the false-confident share of a calibration on labelled rows, with and without samples.

    >>> cal = Calibration(coef={"cons_fraction": 6.0}, intercept=0.0)
    >>> rows = [{"label": True, "features": {"cons_present": 1.0, "cons_fraction": 0.5}},
    ...         {"label": False, "features": {"cons_present": 1.0, "cons_fraction": -0.5}}]
    >>> held_out_figures(cal, rows)["with_samples"]["auroc"], held_out_figures(cal, rows)["with_samples"]["false_confident"]
    (1.0, 0.0)
    """
    labels = [bool(r["label"]) for r in rows]
    out: dict[str, Any] = {"n": len(rows), "right": sum(labels)}
    for name, with_samples in (("with_samples", True), ("without_samples", False)):
        ps = [calibration.predict_features(no_reference_features(r, with_samples)) for r in rows]
        wrong = [p for p, y in zip(ps, labels) if not y]
        right = [p for p, y in zip(ps, labels) if y]
        value = auroc(ps, labels)
        ece = expected_calibration_error(ps, labels)
        out[name] = {"auroc": None if value is None else round(value, 4),
                     "ece": None if ece is None else round(ece, 4),
                     "false_confident": round(sum(p >= CONFIDENT_AT for p in wrong) / max(1, len(wrong)), 4),
                     "right_shown_confident": round(sum(p >= CONFIDENT_AT for p in right) / max(1, len(right)), 4)}
    return out


def fit_default(rows: Sequence[VerifierRow], source: str, others: Sequence[VerifierRow] = ()) -> Calibration:
    """The part calibration (no verifier) fitted on the train split of labelled rows and on ``others`` (answers
    other writers wrote, ``training.other_writers``)."""
    train = [r for r in rows if r["split"] == "train"]
    feats, labels = calibration_rows([*train, *others], None)
    return fit_calibration(feats, labels, trained_on={
        "source": source, "rows": len(train), "right": sum(bool(r["label"]) for r in train),
        "other_writer_rows": len(others),
        "checkpoints": sorted({str(r.get("checkpoint")) for r in train}),
        "conditions": "no-ref +/- consistency, with-ref (training.verifier.calibration_rows)", "judge": False,
        "fitted_by": "python -m training.default_calibration"})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", type=Path, help="VerifierRows JSONL (.gz allowed)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the new calibration (default: only report)")
    args = parser.parse_args(argv)
    rows = read_rows(args.rows)
    held = [r for r in rows if r["split"] == "held_out"]
    old = load_calibration(DEFAULT_PATH)
    new = fit_default(rows, source=f"{args.rows.name}: SmolLM2-135M-Instruct samples of seed questions (one cycle, "
                                   "three checkpoints, T=0.6), labelled by their exact references",
                      others=load_other_writer_rows())
    held_out_sets = {name: other_writer_rows(list(read_jsonl(path))) for name, path in HELD_OUT_SETS.items()}

    def figures(cal: Calibration) -> dict[str, Any]:
        """The held-out policy answers' figures, and each other writers' set without samples."""
        others = {f"other_writers_{name}": held_out_figures(cal, rows_)["without_samples"]
                  for name, rows_ in held_out_sets.items()}
        return {"version": cal.version, **held_out_figures(cal, held), **others}

    if args.out is not None:
        save_calibration(new, args.out)
    result = {"rows": str(args.rows), "held_out": len(held), "old": figures(old), "new": figures(new),
              "written": str(args.out) if args.out else None}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
