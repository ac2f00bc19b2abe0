"""A critiqued policy sample: the one record the RFT and DPO builders read.

Built from a live sample (cycle) or a logged answer with its critique and rating (store); the builders
never see sessions, engines or critics, only these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mathchat.settings import PASS_THRESHOLD
from serving.critique.types import CritiqueResult
from serving.policy_prompt import POLICY_SYSTEM_PROMPT as DEFAULT_SYSTEM_PROMPT
from training.formats import ChatMessage
from training.thumbs import ThumbsRule


@dataclass(frozen=True)
class ScoredSample:
    """One answer to one question, with its critique score and (optional) student rating."""

    question_id: str
    question: str
    answer: str
    score: int | None
    """Critique score 1-10; None means the critic could not score it (never used for training)."""
    verified: bool | None = None
    """Verdict of a reference-verified critique (answer checked against a trusted reference); None if unchecked."""
    rating: int | None = None
    """Student thumbs: +1 up, -1 down, None unrated."""
    user_id: str | None = None
    """Who asked the question (None for seed questions); per-user caps use it."""
    system: str | None = DEFAULT_SYSTEM_PROMPT
    """System prompt the answer was sampled under (training reuses it)."""
    sample_id: str | None = None
    finish_reason: str | None = None
    """'length' marks a truncated answer."""
    confidence: float | None = None
    """The critique's calibrated P(right), where it computed one."""

    def prompt(self) -> list[ChatMessage]:
        """The conversational prompt the answer continues."""
        msgs: list[ChatMessage] = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.question}]


def confident_enough(s: ScoredSample, min_confidence_unchecked: float | None, thumbs: ThumbsRule = ThumbsRule()) -> bool:
    """Whether a sample may be trained on as right: a reference checked it, or its calibrated confidence reaches
    ``min_confidence_unchecked`` (None: no such requirement), with a student's thumbs-up folded in as ``thumbs``
    weighs it (nothing against a confident "likely wrong"; elsewhere as much as the students' thumbs are
    reliable), or, on an answer nobody critiqued, a thumbs-up alone. Where no reference checked it, a student's
    thumbs-down vetoes it whatever the confidence.

    Without a reference the score passes at confidence 0.5, a coin's odds on a question the policy usually
    gets wrong (``RFTDataSettings.min_confidence_unchecked`` has the measurement).

    >>> confident_enough(ScoredSample("q", "?", "a", 9, confidence=0.62), 0.8)
    False
    >>> confident_enough(ScoredSample("q", "?", "a", 9, verified=True), 0.8), confident_enough(ScoredSample("q", "?", "a", 9, rating=1), 0.8)
    (True, True)
    >>> confident_enough(ScoredSample("q", "?", "a", 9), 0.8), confident_enough(ScoredSample("q", "?", "a", 9), None)
    (False, True)
    >>> confident_enough(ScoredSample("q", "?", "a", 9, confidence=0.95, rating=-1), 0.8)
    False
    >>> confident_enough(ScoredSample("q", "?", "a", 9, confidence=0.2, rating=1), 0.8)
    False
    """
    if min_confidence_unchecked is None or s.verified is not None:
        return True
    if s.rating is not None and s.rating < 0:
        return False
    if s.rating is not None and s.confidence is None:
        return True  # nobody critiqued it: the student's word is all there is
    confidence = thumbs.weighed(s)  # a thumbs-up against a confident "likely wrong" adds nothing
    return confidence is not None and confidence >= min_confidence_unchecked


def passes(s: ScoredSample, min_score: int, min_confidence_unchecked: float | None = None,
           thumbs: ThumbsRule = ThumbsRule()) -> bool:
    """Whether a sample counts as a right answer to train on: its score reaches ``min_score`` and it is
    ``confident_enough``.

    >>> passes(ScoredSample("q", "?", "a", 9, confidence=0.62), 7), passes(ScoredSample("q", "?", "a", 9, confidence=0.62), 7, 0.8)
    (True, False)
    >>> passes(ScoredSample("q", "?", "a", 3, confidence=0.9), 7, 0.8)
    False
    """
    return s.score is not None and s.score >= min_score and confident_enough(s, min_confidence_unchecked, thumbs)


@dataclass(frozen=True)
class PassRule:
    """What counts as a right answer to train on, in one place: the RFT builder keeps the passing samples of
    mixed questions by it, and the sampler's stop tally, the round plan's pass rates and the per-level yield
    count by it too, so a round does not stop on questions that only pass by a score no confidence backs.

    Unscored and truncated samples are not counted (RFT never trains on them).

    >>> rule = PassRule(7, 0.8)
    >>> group = [ScoredSample("q", "?", "a", 9, confidence=0.62), ScoredSample("q", "?", "b", 2, confidence=0.1)]
    >>> rule.counts(group), rule.is_mixed(group), PassRule(7).is_mixed(group)
    ((0, 2), False, True)
    >>> rule.counts(group + [ScoredSample("q", "?", "c", 9, verified=True), ScoredSample("q", "?", "d", None)])
    (1, 3)
    """

    min_score: int = PASS_THRESHOLD
    min_confidence_unchecked: float | None = None
    thumbs: ThumbsRule = field(default_factory=ThumbsRule, repr=False, compare=False)
    """When a thumbs-up vouches for an answer."""

    def passes(self, s: ScoredSample) -> bool:
        return passes(s, self.min_score, self.min_confidence_unchecked, self.thumbs)

    @staticmethod
    def counted(s: ScoredSample) -> bool:
        """Whether a sample counts at all: scored and not truncated."""
        return s.score is not None and s.finish_reason != "length"

    def counts(self, group: Iterable[ScoredSample]) -> tuple[int, int]:
        """(passing, counted) samples of one question."""
        got = [s for s in group if self.counted(s)]
        return sum(1 for s in got if self.passes(s)), len(got)

    def is_mixed(self, group: Iterable[ScoredSample]) -> bool:
        """Some counted samples pass and some do not: a question RFT learns from."""
        passed, counted = self.counts(group)
        return 0 < passed < counted


def verified_from_critique(result: CritiqueResult, pass_mark: int = PASS_THRESHOLD) -> bool | None:
    """True/False when the critique checked the final answer against a reference, else None.

    The symbolic ``answer_match`` part decides when it scored (passing at ``pass_mark``); otherwise a
    reference-backed pass/fail.
    """
    if not result.has_reference:
        return None
    part = result.parts.get("answer_match")
    if part is not None and part.score is not None:
        return part.score >= pass_mark
    return result.passed


def scored_sample(question_id: str, question: str, answer: str, result: CritiqueResult, *,
                  user_id: str | None = None, rating: int | None = None, system: str | None = DEFAULT_SYSTEM_PROMPT,
                  sample_id: str | None = None, finish_reason: str | None = None,
                  pass_mark: int = PASS_THRESHOLD) -> ScoredSample:
    """A ScoredSample from a critique result (``pass_mark``: the settings' ``critique.pass_threshold``)."""
    return ScoredSample(question_id=question_id, question=question, answer=answer, score=result.score,
                        verified=verified_from_critique(result, pass_mark), rating=rating, user_id=user_id, system=system,
                        sample_id=sample_id, finish_reason=finish_reason, confidence=result.confidence)
