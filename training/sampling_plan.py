"""How much a round samples: stop once it has enough mixed-outcome questions; size k and the question count
by the yield measured in the round before. Everything here is pure.

RFT learns only from "mixed" questions (some of a question's samples pass the critique, some fail): a
question whose k samples all fail teaches nothing, and one whose samples all pass is already known. A
round's data is therefore set by how many mixed questions it finds, not by how many it samples, and
sampling is the cycle's longest stage (25 of 59 min on a 2-core AVX2 machine, issue 18). So:

- ``MixedTally`` counts mixed questions (``training.samples.PassRule``, the rule RFT keeps rows by) as their
  samples are critiqued, and the sampler stops submitting
  questions once ``reached``: the questions after that point would only add sampling time.
- ``plan_round`` picks, from the previous round's per-question pass rates, the ``k`` that gives the most
  expected RFT rows per sample and the number of questions that should reach the target (with a margin;
  the tally stops the round early if the target comes sooner).

Pass rates are modelled as independent Bernoulli draws per question, each question at its own smoothed
rate ``(passes + 0.5) / (samples + 1)`` (Jeffreys' prior), so a question seen 0/4 still may pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from training.samples import PassRule, ScoredSample

DEFAULT_KS = (2, 3, 4, 6, 8)
"""Samples per question ``plan_round`` chooses from."""


@dataclass
class MixedTally:
    """Mixed questions seen so far in a round (``PassRule.is_mixed``), fed one question's samples at a time.

    >>> def group(*scores): return [ScoredSample("q", "?", str(i), v) for i, v in enumerate(scores)]
    >>> t = MixedTally(target=2)
    >>> t.add(group(9, 1)); t.add(group(1, 1)); t.reached
    False
    >>> t.add(group(3, 8)); (t.mixed, t.seen, t.reached)
    (2, 3, True)
    >>> MixedTally(target=None).reached
    False
    """

    target: int | None
    """Mixed questions that are enough (None: never enough, the round samples every question)."""
    rule: PassRule = field(default_factory=PassRule)
    mixed: int = 0
    seen: int = 0

    def add(self, samples: Iterable[ScoredSample]) -> None:
        self.seen += 1
        self.mixed += self.rule.is_mixed(samples)

    @property
    def reached(self) -> bool:
        return self.target is not None and self.mixed >= self.target


def pass_rates(groups: Iterable[Sequence[ScoredSample]], rule: PassRule = PassRule()) -> list[float]:
    """Each question's smoothed pass rate by ``rule``, ``(passes + 0.5) / (counted + 1)``; questions with no
    counted sample are skipped.

    >>> def group(*scores): return [ScoredSample("q", "?", str(i), v) for i, v in enumerate(scores)]
    >>> pass_rates([group(9, 2, 2, 2), group(1, 1, 1, 1), group(None)])
    [0.3, 0.1]
    """
    out = []
    for group in groups:
        passed, counted = rule.counts(group)
        if counted:
            out.append((passed + 0.5) / (counted + 1))
    return out


def samples_by_question(samples: Iterable[ScoredSample]) -> list[list[ScoredSample]]:
    """Each question's samples, questions in first-seen order.

    >>> groups = samples_by_question([ScoredSample("a", "A", "x", 9), ScoredSample("b", "B", "y", 2), ScoredSample("a", "A", "z", 1)])
    >>> [[s.score for s in g] for g in groups]
    [[9, 1], [2]]
    """
    out: dict[str, list[ScoredSample]] = {}
    for s in samples:
        out.setdefault(s.question_id, []).append(s)
    return list(out.values())


def mixed_probability(p: float, k: int) -> float:
    """Chance that k samples of a question passing with probability p are mixed: 1 - p^k - (1-p)^k.

    >>> round(mixed_probability(0.5, 2), 3), round(mixed_probability(0.1, 4), 3)
    (0.5, 0.344)
    """
    return 1.0 - p ** k - (1.0 - p) ** k


def expected_rows(p: float, k: int, max_per_question: int = 2) -> float:
    """Expected RFT rows from one question: its passing samples when it is mixed, at most ``max_per_question``
    (``select_rft_examples``' cap; near-duplicates would lower it further).

    >>> round(expected_rows(0.5, 2), 3), round(expected_rows(0.1, 4), 3)
    (0.5, 0.396)
    """
    return sum(math.comb(k, j) * p ** j * (1 - p) ** (k - j) * min(j, max_per_question) for j in range(1, k))


@dataclass(frozen=True)
class RoundPlan:
    """What a round samples: ``questions`` questions, ``k`` samples each, and what that should yield."""

    k: int
    questions: int
    expected_mixed: float
    """Mixed questions the plan expects from ``questions`` questions (before the tally stops it)."""
    rows_per_sample: float
    """Expected RFT rows per sample drawn at this k (the efficiency the choice maximised)."""


def plan_round(rates: Sequence[float], target_mixed: int, *, available: int, ks: Sequence[int] = DEFAULT_KS,
               max_per_question: int = 2, margin: float = 1.25, min_questions: int = 16,
               max_questions: int | None = None) -> RoundPlan | None:
    """The k and question count expected to give ``target_mixed`` mixed questions at the least sampling cost.

    ``rates`` are the previous round's per-question pass rates (``pass_rates``); a question drawn now is
    modelled as one of them at random. For each k the questions needed are ``margin * target / mean mixed
    probability``, clipped to ``[min_questions, min(available, max_questions)]``; among the ks whose need fits
    (or, when none does, the ones that find the most mixed questions), the one with the most expected rows
    per sample wins, ties going to the smaller k. None without rates.

    >>> plan_round([0.3] * 20 + [0.05] * 20, target_mixed=40, available=500)
    RoundPlan(k=3, questions=130, expected_mixed=50.2, rows_per_sample=0.161)
    >>> plan_round([0.3] * 20 + [0.05] * 20, target_mixed=40, available=100).k  # too few questions for k = 3 or 4
    6
    """
    if not rates or target_mixed <= 0:
        return None
    cap = min(available, max_questions) if max_questions is not None else available
    plans = []
    for k in sorted(set(ks)):
        mixed = sum(mixed_probability(p, k) for p in rates) / len(rates)
        rows = sum(expected_rows(p, k, max_per_question) for p in rates) / len(rates)
        if mixed <= 0:
            continue
        need = math.ceil(margin * target_mixed / mixed)
        n = max(min_questions, min(need, cap))
        plans.append((need <= cap, RoundPlan(k=k, questions=min(n, cap), expected_mixed=round(mixed * min(n, cap), 1),
                                             rows_per_sample=round(rows / k, 3))))
    if not plans:
        return None
    fitting = [p for ok, p in plans if ok]
    if fitting:
        return max(fitting, key=lambda p: (p.rows_per_sample, -p.k))
    return max((p for _, p in plans), key=lambda p: (p.expected_mixed, p.rows_per_sample, -p.k))
