"""How much a student's thumbs is worth beside the critic: Bayes with the thumbs' measured reliability.

Students rate carelessly at times (a thumbs-up on a wrong answer), and a training set built on such a thumbs
teaches the error. Where the critic is sure (a reference check, or a badge that says "likely right" / "likely
wrong"), a thumbs against it is overruled. Where the critic is unsure, a thumbs is evidence, worth as much as
the students' thumbs are reliable, and it counts only where, with it, the answer is as clearly right (or wrong)
as a badge's verdict. That reliability is measured on the same ratings: how often a thumbs agrees with a
reference check or a confident critic. The critic's own errors there make the estimate lower, never higher (a
conservative bias), and a Beta prior keeps a handful of ratings from deciding it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from mathchat.settings import VerdictSettings

PRIOR_AGREE = 8.0
PRIOR_DISAGREE = 2.0
"""Beta prior on the thumbs' reliability: mean 0.8, worth ten ratings (a class that rates one time in five
carelessly, before any rating is seen)."""
MIN_RELIABILITY, MAX_RELIABILITY = 0.5, 0.99
"""A thumbs never counts against its direction (0.5: no information) and never counts as proof (0.99)."""


def reliability(agreements: Iterable[bool], prior: tuple[float, float] = (PRIOR_AGREE, PRIOR_DISAGREE)) -> float:
    """Posterior mean P(a thumbs is right) from whether each judged thumbs agreed with the truth as far as it is
    known, clamped to ``[MIN_RELIABILITY, MAX_RELIABILITY]``.

    >>> reliability([]), reliability([True] * 90), reliability([True] * 500), round(reliability([True] * 70 + [False] * 30), 3)
    (0.8, 0.98, 0.99, 0.709)
    >>> reliability([False] * 50)
    0.5
    """
    agree = disagree = 0
    for a in agreements:
        agree += bool(a)
        disagree += not a
    a, b = prior
    mean = (agree + a) / (agree + disagree + a + b)
    return min(MAX_RELIABILITY, max(MIN_RELIABILITY, mean))


def with_thumbs(confidence: float, liked: bool, thumbs_reliability: float) -> float:
    """P(right) after one thumbs of the given reliability, from the critic's calibrated ``confidence``
    (the thumbs as independent evidence with likelihood ratio r / (1 - r)).

    >>> round(with_thumbs(0.5, True, 0.8), 3), round(with_thumbs(0.5, False, 0.8), 3), with_thumbs(0.4, True, 0.5)
    (0.8, 0.2, 0.4)
    """
    c = min(max(confidence, 1e-6), 1 - 1e-6)
    r = min(max(thumbs_reliability, MIN_RELIABILITY), MAX_RELIABILITY)
    ratio = r / (1 - r) if liked else (1 - r) / r
    odds = c / (1 - c) * ratio
    return odds / (1 + odds)


class RatedAnswer(Protocol):
    """What a thumbs is weighed against (``training.samples.ScoredSample`` is one)."""

    @property
    def rating(self) -> int | None: ...  # +1 up, -1 down
    @property
    def verified(self) -> bool | None: ...  # a reference check's verdict
    @property
    def confidence(self) -> float | None: ...  # the critic's calibrated P(right)


@dataclass(frozen=True)
class ThumbsRule:
    """When a student's thumbs counts: never against a sure critic, and where the critic is unsure only if,
    weighed by the thumbs' ``reliability``, it moves the answer past the badge's bounds (``verdict``).

    >>> up = lambda c: Rated(1, None, c)
    >>> honest, careless = ThumbsRule(reliability=0.95), ThumbsRule(reliability=0.75)
    >>> honest.contradicted(up(0.2)), honest.counts(up(0.2)), honest.counts(up(0.35)), careless.counts(up(0.35))
    (True, False, True, False)
    >>> careless.counts(up(0.5)), careless.counts(Rated(-1, None, 0.5)), careless.counts(Rated(1, True, None))
    (True, True, True)
    """

    verdict: VerdictSettings = field(default_factory=VerdictSettings)
    reliability: float = PRIOR_AGREE / (PRIOR_AGREE + PRIOR_DISAGREE)

    @classmethod
    def fitted(cls, answers: Iterable[RatedAnswer], verdict: VerdictSettings | None = None) -> ThumbsRule:
        """The rule with the reliability these ratings show where the truth is known as far as the critic knows it.

        >>> careless = [Rated(1, None, 0.1)] * 30 + [Rated(1, None, 0.9)] * 70
        >>> round(ThumbsRule.fitted(careless).reliability, 3), ThumbsRule.fitted([Rated(None, None, 0.9)]).reliability
        (0.709, 0.8)
        """
        rule = cls(verdict or VerdictSettings())
        judged = [(a.rating > 0) == truth for a in answers
                  if a.rating is not None and (truth := rule.known_truth(a)) is not None]
        return cls(rule.verdict, reliability(judged))

    def known_truth(self, a: RatedAnswer) -> bool | None:
        """Right or wrong as a reference check or a confident badge says; None where the critic is unsure."""
        if a.verified is not None:
            return a.verified
        if a.confidence is None:
            return None
        if a.confidence >= self.verdict.confident_at:
            return True
        return False if a.confidence <= self.verdict.doubtful_below else None

    def contradicted(self, a: RatedAnswer) -> bool:
        """A reference check or a confident badge says the opposite of the thumbs."""
        truth = self.known_truth(a)
        return a.rating is not None and truth is not None and (a.rating > 0) != truth

    def weighed(self, a: RatedAnswer) -> float | None:
        """The critic's confidence with an uncontradicted thumbs folded in (``with_thumbs``); the confidence as it
        is where there is no thumbs or the critic overrules it."""
        if a.confidence is None or a.rating is None or self.contradicted(a):
            return a.confidence
        return with_thumbs(a.confidence, a.rating > 0, self.reliability)

    def counts(self, a: RatedAnswer) -> bool:
        """Whether the thumbs stands in for the critic: uncontradicted, and where the critic is unsure, decisive
        once weighed (P(right) with it at least ``confident_at`` for an up, at most ``doubtful_below`` for a down).
        With no confidence at all (an answer nobody critiqued) an uncontradicted thumbs counts."""
        if a.rating is None or self.contradicted(a):
            return False
        p = self.weighed(a)
        if a.verified is not None or p is None:
            return True
        return p >= self.verdict.confident_at if a.rating > 0 else p <= self.verdict.doubtful_below


@dataclass(frozen=True)
class Rated:
    """A bare rated answer (doctests and callers without a ScoredSample)."""

    rating: int | None
    verified: bool | None
    confidence: float | None
