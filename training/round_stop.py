"""What the cycle still does after each RFT round: train another round, run DPO, or neither.

Pure: what the cycle has measured so far in, a ``RestPlan`` out; the cycle records it on the run
(``result["rounds"][r]["plan"]``, ``progress["round_stop"]``, the log) and the console's run view shows it.

- **drift**: each round moves general-text perplexity further from live. The next round is projected to add at
  least what the last one added; when that lands past the gate's perplexity guard the round could not be
  promoted, so it is not trained (its questions' samples still feed DPO, which then starts from the last model
  that stayed within the guard). Measured with the shipped recipe, 2026-12-03: fp32 rounds 2 -> 3 went
  +4.4% -> +12.6%, bf16 +3.2% -> +5.8%; both round-3 models were refused.
- **time**: with a budget, each step is projected from the last round's parts (a round: its sampling, 1.3 of its
  training and an evaluation; DPO: sampling, 0.75 of a training and an evaluation) and the verifier stage from
  its row counts and the seconds one answer's whole pass takes, timed on this machine (``verifier_stage_seconds``).
  Priority: another RFT round (a round gave several points), then the verifier stage (its rows are kept when it is
  deferred, so a later cycle trains on them), then DPO (a point or two). DPO is dropped first; a round that does
  not fit even without DPO is not started; the verifier stage runs only where it fits (``verifier_fits``, decided
  when the cycle reaches it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import count, takewhile
from typing import Any

ROUND_TRAIN_GROWTH = 1.3
"""A round's training seconds per the last round's: a later round trains on more rows, as its model passes more
often (fp32 cycles, 2026-12-03: 155 -> 213 s on AVX-512, 240 -> 309 s on AVX2)."""
DPO_TRAIN_SHARE = 0.75
"""DPO training seconds per RFT training second (118 s / 155 s in a full fp32 cycle, AVX-512, 2026-12-03)."""
VERIFIER_FIXED_S = 30.0
"""Seconds of the verifier stage that do not grow with its rows: three model loads, the probe and calibration fits
(2-core AVX2 EPYC, fp32, 2026-12-06: 464 s for the rows below at 0.48 s a whole pass)."""


@dataclass(frozen=True)
class RoundTimes:
    """Seconds the last round's parts took, the basis of the time projection."""

    sampling_s: float
    """Drawing and critiquing its samples (not the evaluation), scaled to the next round's question count."""
    training_s: float
    """Its fine-tune."""
    eval_s: float
    """One held-out evaluation (0 when none was measured yet)."""


@dataclass(frozen=True)
class RestPlan:
    """What the cycle does next: another RFT round or not, DPO or not, and why."""

    train_round: bool
    run_dpo: bool
    reason: str = ""
    """Empty when nothing was dropped."""
    projected_ppl_ratio: float | None = None
    """The next round's perplexity / live's, extrapolated (None: not measured)."""
    projected_finish_s: float | None = None
    """Seconds since the cycle began at which it would end with this plan (None: no budget)."""

    def to_dict(self) -> dict:
        return asdict(self)


def project_perplexity(ratios: Sequence[float]) -> float | None:
    """The next round's perplexity ratio: the last one plus at least the last round's increase (live = 1.0).

    >>> round(project_perplexity([1.02, 1.044]), 3)
    1.068
    >>> project_perplexity([1.03]), project_perplexity([])
    (1.06, None)
    >>> project_perplexity([1.04, 1.03])  # a round that lowered it projects no further fall
    1.03
    """
    if not ratios:
        return None
    return ratios[-1] + max(0.0, _last_increase(ratios))


def _last_increase(ratios: Sequence[float]) -> float:
    """What the last round added to the perplexity ratio (the one before it, or live's 1.0)."""
    return ratios[-1] - (ratios[-2] if len(ratios) > 1 else 1.0)


def step_seconds(last: RoundTimes) -> dict[str, float]:
    """Projected seconds of each remaining policy step, from the last round's.

    >>> step_seconds(RoundTimes(200, 300, 60))
    {'round': 650.0, 'dpo': 485.0}
    """
    return {"round": float(last.sampling_s + ROUND_TRAIN_GROWTH * last.training_s + last.eval_s),
            "dpo": float(last.sampling_s + DPO_TRAIN_SHARE * last.training_s + last.eval_s)}


def verifier_stage_seconds(pass_s: float, *, train_rows: int, held_out_rows: int, support_rows: int,
                           probe_share: float) -> float:
    """Projected seconds of the verifier stage (``training/verifier.py``): whole passes of the policy for the
    support's rows and for the held-out rows the new verifier scores (their support check needs the answer's
    log-probability); passes through the probe's layers only (``probe_share`` of the model) for the train rows'
    features and for the verifier in use, whose logit alone the gate compares; plus ``VERIFIER_FIXED_S``.
    ``pass_s``: one answer's whole pass, timed on this machine.

    Measured, 2-core AVX2 EPYC, fp32, 2 threads, 800 train / 400 held-out / 256 support rows of one cycle: 464 s;
    this gives 30 + 0.48 * (656 + 0.2 * 1200) = 460 s.

    >>> verifier_stage_seconds(0.48, train_rows=800, held_out_rows=400, support_rows=256, probe_share=0.2)
    460.1
    """
    return round(VERIFIER_FIXED_S + pass_s * (support_rows + held_out_rows
                                              + probe_share * (train_rows + held_out_rows)), 1)


def verifier_fits(elapsed_s: float, projected_s: float | None, budget_s: float | None) -> tuple[bool, str]:
    """Whether the verifier stage runs now, and why not (its rows are kept either way).

    >>> verifier_fits(1500, 460, 1800)
    (False, 'verifier stage deferred: it would end the cycle at 1960 s, past its 1800 s budget (its rows are kept for a later cycle)')
    >>> verifier_fits(1200, 460, 1800), verifier_fits(1500, None, 1800), verifier_fits(1500, 460, None)
    ((True, ''), (True, ''), (True, ''))
    """
    if budget_s is None or projected_s is None or elapsed_s + projected_s <= budget_s:
        return True, ""
    return False, (f"verifier stage deferred: it would end the cycle at {elapsed_s + projected_s:.0f} s, past its "
                   f"{budget_s:.0f} s budget (its rows are kept for a later cycle)")


def train_stage(r: int) -> str:
    """The training stage of RFT round ``r`` (its key in ``TrainingRun.progress``): train_sft, train_sft2, ..."""
    return "train_sft" if r == 1 else f"train_sft{r}"


def sft_seconds_per_row(progress: dict[str, Any] | None) -> float | None:
    """Seconds an RFT round's fine-tune took per row it trained on, over a run's rounds (their stages' ``seconds``
    and ``rows`` in ``TrainingRun.progress``); None when the run recorded none. Model loading and saving are in
    it, so it overstates large sets a little: a safe basis for a cap.

    >>> sft_seconds_per_row({"train_sft": {"seconds": 300.0, "rows": 150}, "train_sft2": {"seconds": 200.0, "rows": 100},
    ...                      "train_dpo": {"seconds": 99.0, "rows": 5}, "sample_live": {"seconds": 700.0}})
    2.0
    >>> sft_seconds_per_row({"train_sft": {"seconds": 300.0}}), sft_seconds_per_row(None)
    (None, None)
    """
    progress = progress or {}
    rounds = (progress[name] for name in takewhile(progress.__contains__, map(train_stage, count(1))))  # in order
    done = [v for v in rounds if isinstance(v, dict) and v.get("seconds") and v.get("rows")]
    if not done:
        return None
    return round(sum(v["seconds"] for v in done) / sum(v["rows"] for v in done), 3)


def replay_row_cap(*, elapsed_s: float, budget_s: float | None, seconds_per_row: float | None, reserve_s: float,
                   this_cycle_rows: int, max_rows: int | None) -> tuple[int | None, str]:
    """Rows at most in a retrain-from-base round 1 (``training/replay.py``) so that its training and ``reserve_s``
    after it (round 1's evaluation) end within the budget, and why it was capped; this cycle's rows always fit.

    >>> replay_row_cap(elapsed_s=900, budget_s=1800, seconds_per_row=1.5, reserve_s=150, this_cycle_rows=120,
    ...                max_rows=2000)
    (500, "round 1 replays at most 500 rows: at 1.5 s a row (the last run's fine-tune), more would end its evaluation past the 1800 s budget")
    >>> replay_row_cap(elapsed_s=1700, budget_s=1800, seconds_per_row=1.5, reserve_s=150, this_cycle_rows=120,
    ...                max_rows=2000)[0]
    120
    >>> replay_row_cap(elapsed_s=900, budget_s=1800, seconds_per_row=None, reserve_s=150, this_cycle_rows=120, max_rows=2000)
    (2000, '')
    >>> replay_row_cap(elapsed_s=100, budget_s=1800, seconds_per_row=0.1, reserve_s=150, this_cycle_rows=120, max_rows=2000)
    (2000, '')
    """
    if budget_s is None or not seconds_per_row:
        return max_rows, ""
    fit = max(this_cycle_rows, int((budget_s - elapsed_s - reserve_s) / seconds_per_row))
    if max_rows is not None and fit >= max_rows:
        return max_rows, ""
    return fit, (f"round 1 replays at most {fit} rows: at {seconds_per_row:g} s a row (the last run's fine-tune), "
                 f"more would end its evaluation past the {budget_s:.0f} s budget")


def plan_rest(*, round_no: int, another_round: bool, ppl_ratios: Sequence[float], ppl_tolerance: float,
              stop_on_drift: bool, elapsed_s: float, last: RoundTimes | None, budget_s: float | None,
              run_dpo: bool, verifier_s: float = 0.0, verifier_first: bool = False) -> RestPlan:
    """Whether to train RFT round ``round_no`` (``another_round``: the config asks for it) and to run DPO.

    ``ppl_ratios`` are the evaluated RFT models' perplexity / live's, round 1 first. ``verifier_s``: the verifier
    stage's projected seconds (0: none). It never stops a round, which comes first, but DPO runs only where the
    verifier stage still fits after it; with ``verifier_first`` (the last run deferred it) it comes before the
    round, so a machine too slow for both does them in turn instead of never training a verifier.

    >>> plan = lambda **kw: plan_rest(**{**dict(round_no=3, another_round=True, ppl_ratios=[1.01, 1.02],
    ...     ppl_tolerance=0.05, stop_on_drift=True, elapsed_s=1000, last=RoundTimes(200, 300, 60), budget_s=None,
    ...     run_dpo=True, verifier_s=105), **kw})
    >>> plan(ppl_ratios=[1.02, 1.044]).reason
    'round 3 not trained: round 2 is at +4.4% perplexity and added +2.4 points, so round 3 is projected at +6.8% (guard +5.0%)'
    >>> p = plan(budget_s=1800); (p.train_round, p.run_dpo, p.projected_finish_s), p.reason
    ((True, False, 1755.0), 'DPO dropped: with it the cycle would end at 2240 s, past its 1800 s budget')
    >>> p = plan(budget_s=1600); (p.train_round, p.run_dpo, p.projected_finish_s), p.reason
    ((False, True, 1590.0), 'round 3 not trained: the cycle would end at 1650 s, past its 1600 s budget')
    >>> plan(budget_s=1500).reason.split("; ")[1]
    'DPO dropped: the cycle would end at 1590 s, past its 1500 s budget'
    >>> plan(budget_s=1200).run_dpo, plan(budget_s=2300).reason, plan(another_round=False, budget_s=1600).run_dpo
    (False, '', True)
    >>> p = plan(budget_s=1700, verifier_s=600); (p.train_round, p.run_dpo, p.projected_finish_s)  # the round first
    (True, False, 1650.0)
    >>> p.reason
    'DPO dropped; the verifier stage would end the cycle at 2250 s, past its 1700 s budget, so it will be deferred unless the round ends sooner than projected'
    >>> p = plan(budget_s=1700, verifier_s=600, verifier_first=True); (p.train_round, p.run_dpo, p.projected_finish_s)
    (False, False, 1600.0)
    >>> p.reason
    'round 3 not trained: with the verifier stage, deferred by the last run and first in this one, the cycle would end at 2250 s, past its 1700 s budget; DPO dropped: the cycle would end at 2085 s, past its 1700 s budget'
    """
    projected = project_perplexity(ppl_ratios)
    reasons: list[str] = []
    train = another_round
    if train and stop_on_drift and projected is not None and projected > 1.0 + ppl_tolerance:
        reasons.append(f"round {round_no} not trained: round {round_no - 1} is at {ppl_ratios[-1] - 1:+.1%} "
                       f"perplexity and added {100 * _last_increase(ppl_ratios):+.1f} points, so round {round_no} "
                       f"is projected at {projected - 1:+.1%} "
                       f"(guard {ppl_tolerance:+.1%})")
        train = False
    if budget_s is None or last is None:
        return RestPlan(train, run_dpo, "; ".join(reasons), projected, None)

    cost = step_seconds(last)

    def finish(with_round: bool, with_dpo: bool, with_verifier: bool = True) -> float:
        return round(elapsed_s + cost["round"] * with_round + cost["dpo"] * with_dpo + verifier_s * with_verifier, 1)

    dpo = run_dpo
    if train and finish(True, dpo) > budget_s:
        if dpo and finish(True, False) <= budget_s:
            reasons.append(f"DPO dropped: with it the cycle would end at {finish(True, True):.0f} s, past its "
                           f"{budget_s:.0f} s budget")
            dpo = False
        elif finish(True, False, False) <= budget_s:  # the round fits; the verifier stage after it does not
            if verifier_first:
                reasons.append(f"round {round_no} not trained: with the verifier stage, deferred by the last run "
                               f"and first in this one, the cycle would end at {finish(True, False):.0f} s, past "
                               f"its {budget_s:.0f} s budget")
                train = False
            else:  # the round comes before the verifier stage and DPO
                reasons.append(("DPO dropped; " if dpo else "") + f"the verifier stage would end the cycle at "
                               f"{finish(True, False):.0f} s, past its {budget_s:.0f} s budget, so it will be "
                               f"deferred unless the round ends sooner than projected")
                dpo = False
        else:
            reasons.append(f"round {round_no} not trained: the cycle would end at {finish(True, False, False):.0f} s"
                           f", past its {budget_s:.0f} s budget")
            train = False
    if dpo and not train and finish(False, True) > budget_s:
        reasons.append(f"DPO dropped: the cycle would end at {finish(False, True):.0f} s, past its "
                       f"{budget_s:.0f} s budget")
        dpo = False
    verifier_runs = finish(train, dpo) <= budget_s
    return RestPlan(train, dpo, "; ".join(reasons), projected, finish(train, dpo, verifier_runs))
