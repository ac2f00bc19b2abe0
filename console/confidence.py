"""The console's Confidence tab: is the confidence the student sees honest?

Verifier checkpoints with what their evaluation measured on held-out labelled answers
(``training/verifier.py``: ``metrics["held_out"]`` for the raw verifier, ``metrics["confidence"]`` for the
out-of-sample reliability of the raw probability and of the calibrated confidence, cross-fitted by question),
one checkpoint's reliability bins for the plot, and the calibration the app's critic uses.

Reads the database through ``feedback.registry`` and the calibration file through
``serving.critique.calibration``; returns plain values (no UI, no plotting). Checkpoints registered before the
confidence report existed show "-" where it would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from console.tables import Table, format_pct, format_time
from feedback import registry
from feedback.reads import CheckpointInfo, list_checkpoint_infos
from mathchat.settings import CritiqueSettings

VERIFIER_HEADERS = ["verifier", "created (UTC)", "live", "held-out n (right)", "AUROC", "calibrated AUROC",
                    "ECE verifier", "ECE calibrated", "false-confident (calibrated)", "calibration", "gate"]
SERIES = {"verifier": "verifier probability", "calibrated": "calibrated confidence (the student's badge)"}
"""Report key -> plot label, in drawing order."""


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width confidence bin: its edges, count, mean confidence, observed right-rate and its 95% CI."""

    lo: float
    hi: float
    n: int
    confidence: float | None = None
    rate: float | None = None
    low: float | None = None
    high: float | None = None


def parse_bins(report: Mapping[str, Any] | None) -> list[ReliabilityBin]:
    """The bins of one ``training.confidence_report`` report ([] when there is none).

    >>> parse_bins({"bins": [{"lo": 0.0, "hi": 0.1, "n": 2, "confidence": 0.05, "rate": 0.5, "ci": [0.09, 0.91]},
    ...                      {"lo": 0.1, "hi": 0.2, "n": 0, "confidence": None, "rate": None, "ci": None}]})[0]
    ReliabilityBin(lo=0.0, hi=0.1, n=2, confidence=0.05, rate=0.5, low=0.09, high=0.91)
    >>> parse_bins(None)
    []
    """
    out = []
    for b in (report or {}).get("bins") or []:
        ci = b.get("ci") or (None, None)
        out.append(ReliabilityBin(float(b["lo"]), float(b["hi"]), int(b["n"]), b.get("confidence"), b.get("rate"),
                                  ci[0], ci[1]))
    return out


def list_verifiers(*, session: Session, limit: int = 100) -> list[CheckpointInfo]:
    """Verifier checkpoints, newest first."""
    return list_checkpoint_infos(session=session, kind="verifier", limit=limit)


def _num(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _confidence(c: CheckpointInfo) -> dict[str, Any]:
    return (c.metrics or {}).get("confidence") or {}


def verifier_row(c: CheckpointInfo) -> list[Any]:
    """One verifier's table row.

    >>> from datetime import UTC, datetime
    >>> m = {"held_out": {"n": 785, "right": 67, "auroc": 0.781}, "gate": "no verifier in use",
    ...      "calibration_version": "cal-0123456789ab",
    ...      "confidence": {"verifier": {"ece": 0.2}, "calibrated": {"auroc": 0.79, "ece": 0.031, "false_confident": 0.02}}}
    >>> verifier_row(CheckpointInfo("v1", "p", "verifier", "live", True, m, "/v1", datetime(2026, 1, 2, tzinfo=UTC)))
    ['v1', '2026-01-02 00:00:00', 'yes', '785 (67)', '0.781', '0.790', '0.200', '0.031', '2.0%', 'cal-0123456789ab', 'no verifier in use']
    """
    metrics = c.metrics or {}
    held = metrics.get("held_out") or {}
    report = _confidence(c)
    calibrated, raw = report.get("calibrated") or {}, report.get("verifier") or {}
    n = f"{held['n']} ({held.get('right', '?')})" if held.get("n") is not None else "-"
    return [c.id, format_time(c.created_at), "yes" if c.status == "live" else c.status, n,
            _num(held.get("auroc", metrics.get("held_out_auroc"))), _num(calibrated.get("auroc")),
            _num(raw.get("ece")), _num(calibrated.get("ece")), format_pct(calibrated.get("false_confident")),
            metrics.get("calibration_version") or "-", metrics.get("gate") or ""]


def verifier_table(checkpoints: Sequence[CheckpointInfo]) -> Table:
    """All verifier checkpoints, one row each."""
    return Table(VERIFIER_HEADERS, [verifier_row(c) for c in checkpoints])


def pick_verifier(checkpoints: Sequence[CheckpointInfo], checkpoint_id: str | None) -> CheckpointInfo | None:
    """The asked-for verifier; without one, the live one, else the newest.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> cps = [CheckpointInfo(i, None, "verifier", s, None, None, "", t) for i, s in (("new", "rejected"), ("old", "live"))]
    >>> pick_verifier(cps, None).id, pick_verifier(cps[:1], None).id, pick_verifier(cps, "new").id, pick_verifier([], None)
    ('old', 'new', 'new', None)
    """
    if checkpoint_id is not None:
        return next((c for c in checkpoints if c.id == checkpoint_id), None)
    return next((c for c in checkpoints if c.status == "live"), checkpoints[0] if checkpoints else None)


def reliability_series(c: CheckpointInfo | None) -> dict[str, list[ReliabilityBin]]:
    """Plot label -> bins of the raw verifier probability and of the calibrated confidence (reports present)."""
    report = _confidence(c) if c is not None else {}
    series = {label: parse_bins(report.get(key)) for key, label in SERIES.items()}
    return {label: bins for label, bins in series.items() if bins}


def reliability_title(c: CheckpointInfo | None) -> str:
    """The plot's title, with both ECEs."""
    if c is None:
        return "reliability (held-out, out of sample)"
    report = _confidence(c)
    return (f"reliability of {c.id}: ECE calibrated {_num((report.get('calibrated') or {}).get('ece'))}, "
            f"verifier {_num((report.get('verifier') or {}).get('ece'))}")


def confidence_summary_markdown(c: CheckpointInfo | None) -> str:
    """What the selected verifier's evaluation measured, in words and a small table."""
    if c is None:
        return "No verifier checkpoint yet: the cycle's `train_verifier` stage registers one."
    metrics = c.metrics or {}
    held = metrics.get("held_out") or {}
    head = (f"**{c.id}** ({'live' if c.status == 'live' else c.status}) · held-out "
            f"{held.get('n', '?')} answers ({held.get('right', '?')} right) · gate: {metrics.get('gate') or '-'}")
    report = _confidence(c)
    if not report:
        return head + "\n\nNo out-of-sample confidence report: this verifier was evaluated before it was recorded."
    at = (report.get("calibrated") or {}).get("confident_at", 0.7)
    lines = [head, "",
             f"Measured {report.get('split', 'by question')} over {report.get('folds', '?')} folds "
             f"({report.get('condition', '')}): each answer's calibrated confidence comes from a fit that never saw "
             "its question.", "",
             f"| | n | AUROC | ECE | wrong answers shown at ≥ {at:.0%} |", "|---|---|---|---|---|"]
    for key, label in SERIES.items():
        r = report.get(key) or {}
        lines.append(f"| {label} | {r.get('n', '-')} | {_num(r.get('auroc'))} | {_num(r.get('ece'))} | "
                     f"{format_pct(r.get('false_confident'))} |")
    if report.get("calibrated_in_sample_ece") is not None:
        lines += ["", f"ECE of the final fit on the same rows it was fitted on (optimistic): "
                      f"{_num(report['calibrated_in_sample_ece'])}. Calibration "
                      f"`{metrics.get('calibration_version') or '-'}`."]
    return "\n".join(lines)


# --- the app's calibration ----------------------------------------------------------------------


@dataclass(frozen=True)
class AppCalibration:
    """The calibration the app's critic loads, and why that one."""

    version: str
    source: str
    path: str | None
    trained_on: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def app_calibration_path(critique: CritiqueSettings, live_verifier_path: str | None,
                         shipped_verifier_path: str | None = None) -> tuple[Path | None, str]:
    """The file ``MathCritic`` would load (None: the shipped default) and where it comes from: the configured
    ``critique.calibration_path``, else the verifier's own (configured, else live, else the shipped default
    verifier's) when it has one.

    >>> app_calibration_path(CritiqueSettings(), None)
    (None, 'the shipped default (no verifier in use)')
    >>> app_calibration_path(CritiqueSettings(calibration_path="/c.json"), "/v")
    (PosixPath('/c.json'), 'settings: critique.calibration_path')
    """
    from serving.critique.verifier import CALIBRATION_FILE

    if critique.calibration_path is not None:
        return Path(critique.calibration_path), "settings: critique.calibration_path"
    folder = critique.verifier_path or live_verifier_path or shipped_verifier_path
    if not critique.use_verifier or folder is None:
        return None, "the shipped default (no verifier in use)"
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None, f"the shipped default (verifier {folder} has no {CALIBRATION_FILE})"
    which = "configured" if critique.verifier_path else "live" if live_verifier_path else "shipped default"
    return path, f"the {which} verifier's own ({folder})"


def load_app_calibration(critique: CritiqueSettings, live_verifier_path: str | None,
                         shipped_verifier_path: str | None = None) -> AppCalibration:
    """Read the app's calibration as the critic does; an unreadable file means the hand-set fallback."""
    from serving.critique.calibration import DEFAULT_PATH, UNCALIBRATED, load_calibration

    path, source = app_calibration_path(critique, live_verifier_path, shipped_verifier_path)
    try:
        calibration = load_calibration(path)
    except (OSError, ValueError, KeyError) as error:
        return AppCalibration(UNCALIBRATED.version, f"{source}: unreadable, so the hand-set fallback",
                              str(path), UNCALIBRATED.trained_on, str(error))
    return AppCalibration(calibration.version, source, str(path or DEFAULT_PATH), calibration.trained_on)


def app_calibration_markdown(cal: AppCalibration) -> str:
    """The app's calibration in words.

    >>> print(app_calibration_markdown(AppCalibration("cal-1", "settings", "/c.json", {"n": 3, "source": "x"})))
    **The app's calibration:** `cal-1` — settings (`/c.json`)
    <BLANKLINE>
    Trained on: n: 3 · source: x
    <BLANKLINE>
    The running critic looks up the live verifier at most every critique.verifier_refresh_s seconds (30 by default) and switches to it with its calibration, without a restart.
    """
    trained = " · ".join(f"{k}: {v}" for k, v in cal.trained_on.items()) or "-"
    lines = [f"**The app's calibration:** `{cal.version}` — {cal.source} (`{cal.path}`)", f"Trained on: {trained}"]
    if cal.error:
        lines.append(f"**Error:** {cal.error}")
    lines.append("The running critic looks up the live verifier at most every critique.verifier_refresh_s seconds (30 by default) and switches to it with its calibration, without a restart.")
    return "\n\n".join(lines)


# --- the view -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfidenceView:
    """The Confidence tab."""

    verifiers: list[CheckpointInfo]
    selected: CheckpointInfo | None
    table: Table
    summary: str
    app_calibration: AppCalibration

    def choices(self) -> list[tuple[str, str]]:
        return [(f"{c.id} · {c.status}", c.id) for c in self.verifiers]


def build_confidence_view(*, session: Session, checkpoint_id: str | None,
                          critique: CritiqueSettings | None = None,
                          shipped_verifier_path: str | None = None) -> ConfidenceView:
    """Verifier checkpoints, the selected one (default: live, else newest) and the app's calibration
    (``shipped_verifier_path``: the shipped default verifier's folder where the critic would use it)."""
    verifiers = list_verifiers(session=session)
    selected = pick_verifier(verifiers, checkpoint_id)
    live = registry.get_live_checkpoint(session=session, family="verifier")
    return ConfidenceView(verifiers, selected, verifier_table(verifiers), confidence_summary_markdown(selected),
                          load_app_calibration(critique or CritiqueSettings(), live.path if live else None,
                                               shipped_verifier_path))
