"""Confidence = calibrated P(answer correct) from the part scores: a logistic regression kept as small JSON.

The judge gets no trust by default: its weight is whatever the fit on labelled data gives it (zero when
the labelled data had no judge, as in the shipped default). Refit with
``mathchat critique-eval FILE --fit-calibration OUT.json`` (with a judge configured) to let it count.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.critique.types import PartScore

FORMAT_VERSION = 1
DEFAULT_PATH = Path(__file__).parent / "calibration_default.json"
FEATURES: tuple[str, ...] = (
    "ref_checked", "ref_match", "has_final", "steps_checked", "steps_wrong", "steps_tainted", "steps_early",
    "steps_ungrounded", "steps_unsupported", "cons_present", "cons_fraction", "judge_present", "judge_score",
    "verifier_present", "verifier_logit", "steps_unused", "steps_misfit",
)
STEP_FEATURES: tuple[str, ...] = ("has_final",) + tuple(f for f in FEATURES if f.startswith("steps_"))
"""The features the step check alone decides (recomputed when the checker changes)."""
_LOGIT_CLIP = 8.0


def part_features(parts: Mapping[str, PartScore]) -> dict[str, float]:
    """The model's inputs: each part's evidence, with a presence flag where a part may be missing.

    >>> f = part_features({"answer_match": PartScore("answer_match", 1.0, data={"has_final": True})})
    >>> f["ref_checked"], f["ref_match"], f["judge_present"]
    (1.0, -1.0, 0.0)
    >>> part_features({"verifier": PartScore("verifier", 8.2, data={"p": 0.8})})["verifier_logit"]
    1.3862943611198908
    """
    feats = dict.fromkeys(FEATURES, 0.0)
    match = parts.get("answer_match")
    if match is not None and match.score is not None:
        feats["ref_checked"] = 1.0
        feats["ref_match"] = 1.0 if match.score >= 5.5 else -1.0
    steps = parts.get("steps")
    if steps is not None:
        feats["has_final"] = 1.0 if steps.data.get("has_final") else 0.0
        if steps.score is not None:
            feats["steps_checked"] = 1.0
            feats["steps_wrong"] = float(bool(steps.data.get("wrong")))
            feats["steps_tainted"] = float(bool(steps.data.get("final_tainted")))
            feats["steps_early"] = float(bool(steps.data.get("first_wrong_early")))
            feats["steps_ungrounded"] = float(bool(steps.data.get("ungrounded")))
            feats["steps_unsupported"] = float(not steps.data.get("final_supported", True))
            feats["steps_unused"] = float(bool(steps.data.get("unused")))  # a given number the work never uses
            feats["steps_misfit"] = float(bool(steps.data.get("misfit")))  # the answer may not fit the question
    if match is not None and match.data.get("has_final"):
        feats["has_final"] = 1.0
    cons = parts.get("consistency")
    if cons is not None and cons.score is not None:
        feats["cons_present"] = 1.0
        feats["cons_fraction"] = float(cons.data.get("fraction", (cons.score - 1) / 9)) - 0.5
    judge = parts.get("judge")
    if judge is not None and judge.score is not None:
        feats["judge_present"] = 1.0
        feats["judge_score"] = (judge.score - 5.5) / 4.5
    verifier = parts.get("verifier")
    if verifier is not None and verifier.score is not None:
        p = min(max(float(verifier.data.get("p", (verifier.score - 1) / 9)), 1e-6), 1 - 1e-6)
        feats["verifier_present"] = 1.0
        feats["verifier_logit"] = max(-_LOGIT_CLIP, min(_LOGIT_CLIP, math.log(p / (1 - p))))
    return feats


@dataclass(frozen=True)
class Calibration:
    """Logistic-regression weights over FEATURES, with a version hash of its contents."""

    coef: dict[str, float]
    intercept: float
    trained_on: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        payload = json.dumps({"coef": {k: round(v, 6) for k, v in sorted(self.coef.items())},
                              "intercept": round(self.intercept, 6)}, sort_keys=True)
        return "cal-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    @property
    def trusts_judge(self) -> bool:
        """Whether the judge's score moves the confidence at all (it does not in a fit without judge data)."""
        return abs(self.coef.get("judge_score", 0.0)) > 1e-9 or abs(self.coef.get("judge_present", 0.0)) > 1e-9

    def predict(self, parts: Mapping[str, PartScore]) -> float:
        """Calibrated probability that the answer is right."""
        return self.predict_features(part_features(parts))

    def predict_features(self, feats: Mapping[str, float]) -> float:
        """The same from a feature row (as ``part_features`` builds it; the held-out evaluation has rows, not parts).

        >>> Calibration(coef={"ref_match": 2.0}, intercept=0.0).predict_features({"ref_match": 1.0})
        0.8807970779778823
        """
        z = self.intercept + sum(self.coef.get(name, 0.0) * value for name, value in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "version": self.version, "features": list(FEATURES),
                "coef": self.coef, "intercept": self.intercept, "trained_on": self.trained_on}


UNCALIBRATED = Calibration(coef={"ref_match": 3.0, "steps_tainted": -2.0, "steps_wrong": -1.0,
                                 "cons_fraction": 3.0}, intercept=0.0, trained_on={"source": "hand-set fallback"})
"""Used only when no calibration file can be read; its version says so in every result."""


def fit_calibration(feature_rows: Sequence[Mapping[str, float]], labels: Sequence[bool], *,
                    trained_on: dict[str, Any] | None = None, c: float = 1.0) -> Calibration:
    """Fit the logistic regression (scikit-learn) on part features and correctness labels."""
    from sklearn.linear_model import LogisticRegression

    x = [[row[name] for name in FEATURES] for row in feature_rows]
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(x, [int(bool(y)) for y in labels])
    coef = {name: round(float(w), 6) for name, w in zip(FEATURES, model.coef_[0])}
    return Calibration(coef=coef, intercept=round(float(model.intercept_[0]), 6),
                       trained_on={"n": len(labels), **(trained_on or {})})


def save_calibration(calibration: Calibration, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_calibration(path: Path | None = None) -> Calibration:
    """Read a calibration file (the shipped default when path is None); refuse a tampered/unknown one."""
    data = json.loads((path or DEFAULT_PATH).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"calibration format {data.get('format')} is not {FORMAT_VERSION}")
    calibration = Calibration(coef={k: float(v) for k, v in data["coef"].items()},
                              intercept=float(data["intercept"]), trained_on=data.get("trained_on", {}))
    if data.get("version") and data["version"] != calibration.version:
        raise ValueError(f"calibration version {data['version']} does not match its contents")
    return calibration
