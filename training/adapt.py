"""The next cycle adapts to the last one's gate refusal instead of repeating it.

Pure: the previous run (its candidate's gate verdict and the adapted settings it ran with) and this cycle's
configured ``CycleConfig`` in; the config to run and an ``Adaptation`` saying what changed and why out. The
cycle reads the previous run from the store when it starts (``training.store_io.load_previous_run``),
records the adaptation on the run (``progress["adapt"]``, ``cycle.json``, the log) and the console's run
view shows it.

One step per refused run, taken from the settings the previous run actually used, so a second refusal
of the same kind goes further; a pass (or a run that registered no candidate) keeps those settings.
They apply while the configured settings stay the same: once the configuration changes (its hash), the
adaptation starts over from it.

- **perplexity** refused (against live, or against the base a chain started from): halve the SFT learning
  rate (and DPO's when the DPO model was the candidate). Measured: SFT at 2e-4 raised perplexity 6% where
  1e-4 did not. More general rows are no step: trained on the same math rows, the live model's own general
  answers left the drift where it was or added about 5 points (``CycleConfig``'s docstring).
- **accuracy** refused (``accuracy_margin``/``significance``) with perplexity in bounds: if the candidate
  was worse than live, the step overshot: halve the SFT learning rate; if it gained too little, sample
  1.5x the questions in every round: RFT's yield of passing answers is the bottleneck (DESIGN.md).
- a gate that lacked data (``shared_questions``, a missing perplexity) changes nothing.

Bounds: learning rates go no lower than 1/8 of the configured ones, questions no more than twice the
configured numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.config import CycleConfig
from training.gate import failed_guards
from training.manifest import config_hash

LR_FACTOR, LR_FLOOR = 0.5, 1 / 8
"""Each learning-rate step halves it; never below 1/8 of the configured rate."""
QUESTIONS_FACTOR, QUESTIONS_CAP = 1.5, 2.0
"""Each questions step samples 1.5x as many; never more than twice the configured number."""


@dataclass(frozen=True)
class PreviousRun:
    """What the adaptation needs from the last finished run."""

    run_id: int
    verdict: dict[str, Any] | None
    """Its candidate's gate decision (``GateDecision.to_dict()``); None when it registered no candidate."""
    stage: str | None = None
    """Which of its models was the candidate (``rft``, ``rft3``, ``dpo``)."""
    overrides: dict[str, float] = field(default_factory=dict)
    """The adapted settings it ran with (dotted field -> value)."""
    base_sha: str | None = None
    """Hash of its configured (unadapted) settings."""
    verifier_deferred: bool = False
    """Whether its verifier stage did not fit its time budget (``training/round_stop.py``): this run's comes first."""
    candidate_id: str | None = None
    """Its candidate checkpoint (None: it registered none)."""
    candidate_path: str | None = None
    candidate_status: str | None = None
    """The candidate's status now (``candidate`` until an operator or a promotion changes it)."""
    candidate_lineage: tuple[str, ...] = ()
    """The candidate's ancestors, its parent first (``training/start_point.py`` looks for live among them)."""
    sft_seconds_per_row: float | None = None
    """Its RFT fine-tunes' seconds per row (``training.round_stop.sft_seconds_per_row``): caps a replay in time."""


@dataclass(frozen=True)
class Adaptation:
    """What this cycle changed relative to its configured settings, and why."""

    note: str
    from_run: int | None = None
    failed_guards: list[str] = field(default_factory=list)
    overrides: dict[str, float] = field(default_factory=dict)
    """Every adapted setting this run uses (dotted field -> value); the next run starts from these."""
    changes: list[dict[str, Any]] = field(default_factory=list)
    """This run's steps: ``{"setting", "from", "to", "why"}``."""
    base_sha: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def get_setting(config: CycleConfig, path: str) -> Any:
    """A (dotted) field of the config.

    >>> get_setting(CycleConfig(), "sft.learning_rate")
    6e-05
    """
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def with_settings(config: CycleConfig, values: dict[str, Any]) -> CycleConfig:
    """The config with (dotted) fields replaced, validated.

    >>> with_settings(CycleConfig(), {"sft.learning_rate": 1e-4, "questions": 10}).sft.learning_rate
    0.0001
    """
    data = config.model_dump()
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    return CycleConfig.model_validate(data)


def step_setting(path: str, current: Any, configured: Any) -> Any:
    """The next value of one adapted setting, within its bound.

    >>> step_setting("sft.learning_rate", 2e-5, 1.5e-4)
    1.875e-05
    >>> step_setting("questions", 192, 192), step_setting("questions", 384, 192)
    (288, 384)
    """
    if path.endswith("learning_rate"):
        return max(current * LR_FACTOR, configured * LR_FLOOR)
    return min(int(round(current * QUESTIONS_FACTOR)), int(configured * QUESTIONS_CAP))


def _plan(verdict: dict[str, Any], stage: str | None) -> tuple[list[str], str]:
    """Which settings to step for a refusal, and why."""
    failed = failed_guards(verdict)
    guards = {g.get("guard"): g for g in verdict.get("guards") or []}
    drift = next((g for g in ("perplexity", "base_perplexity") if g in failed), "perplexity")
    ppl = guards.get(drift, {})
    rose = ppl.get("value") is not None if guards else any("perplexity rose" in r for r in verdict.get("reasons", []))
    if drift in failed and rose:
        rise = f" ({ppl['value']:+.1%} > {ppl['limit']:+.1%})" if ppl.get("value") is not None else ""
        paths = ["sft.learning_rate"] + (["dpo.learning_rate"] if stage == "dpo" else [])
        over = " over the base" if drift == "base_perplexity" else ""
        return paths, f"perplexity refused{over}{rise}"
    if {"accuracy_margin", "significance"} & set(failed):
        delta = verdict.get("accuracy_delta")
        if delta is not None and delta < 0:
            return ["sft.learning_rate"], f"accuracy refused: the candidate lost {-delta:.3f} against live"
        gain = "" if delta is None else f" ({delta:+.3f})"
        return ["questions", "dpo_questions"], f"accuracy refused: the gain{gain} was too small or not significant"
    return [], ""


def adapt_config(previous: PreviousRun | None, config: CycleConfig) -> tuple[CycleConfig, Adaptation]:
    """This cycle's config after the previous run's verdict, and the adaptation made.

    >>> refused = {"promotable": False, "guards": [
    ...     {"guard": "perplexity", "passed": False, "value": 0.08, "limit": 0.05}]}
    >>> cfg, adaptation = adapt_config(PreviousRun(7, refused, "rft3"), CycleConfig())
    >>> cfg.sft.learning_rate
    3e-05
    >>> print(adaptation.note)
    run 7: perplexity refused (+8.0% > +5.0%): sft.learning_rate 6e-05 -> 3e-05
    >>> adapt_config(None, CycleConfig())[1].note
    'no previous run: configured settings'
    """
    base_sha = config_hash(config)
    if previous is None:
        return config, Adaptation("no previous run: configured settings", base_sha=base_sha)
    carried = dict(previous.overrides) if previous.base_sha == base_sha else {}
    reset = bool(previous.overrides) and not carried
    try:
        effective = with_settings(config, carried)
    except (KeyError, ValueError):  # a setting that no longer exists or validates
        carried, reset, effective = {}, True, config
    prefix = f"run {previous.run_id}: "
    if reset:
        prefix += "configuration changed, earlier adaptation dropped; "
    if previous.verdict is None:
        return effective, Adaptation(prefix + ("no candidate; keeping its settings" if carried
                                               else "no candidate; configured settings"),
                                     previous.run_id, [], carried, [], base_sha)
    failed = failed_guards(previous.verdict)
    if previous.verdict.get("promotable"):
        note = "candidate passed its gate; " + ("keeping its settings" if carried else "configured settings")
        return effective, Adaptation(prefix + note, previous.run_id, failed, carried, [], base_sha)
    paths, why = _plan(previous.verdict, previous.stage)
    if not paths:
        note = f"gate refused ({', '.join(failed) or 'no guard named'}) for lack of data; nothing to adapt"
        return effective, Adaptation(prefix + note, previous.run_id, failed, carried, [], base_sha)
    changes, overrides = [], dict(carried)
    for path in paths:
        current, configured = get_setting(effective, path), get_setting(config, path)
        new = step_setting(path, current, configured)
        if new != current:
            overrides[path] = new
            changes.append({"setting": path, "from": current, "to": new, "why": why})
    if not changes:
        note = f"{why}; {', '.join(paths)} already at their limits, nothing left to adapt"
        return effective, Adaptation(prefix + note, previous.run_id, failed, carried, [], base_sha)
    steps = ", ".join(f"{c['setting']} {c['from']:g} -> {c['to']:g}" for c in changes)
    return (with_settings(config, overrides),
            Adaptation(f"{prefix}{why}: {steps}", previous.run_id, failed, overrides, changes, base_sha))

