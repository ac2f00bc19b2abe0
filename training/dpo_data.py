"""DPO pairs: per question, the chosen/rejected answers with the largest critique-score gap.

ChatGLM-Math's DPO stage (arXiv 2404.02893 §3.3) pairs the best and worst critiqued answers from the
post-RFT model. Student thumbs may stand in for the critic (up -> chosen, down -> rejected) where the critic
is unsure, but a rating is ignored whenever the critic contradicts it: a reference-verified critique (a thumbs-up
on an answer the reference check failed is never chosen, a thumbs-down on a verified-correct answer never
rejected), or, without a reference, a confident calibrated verdict (a thumbs-up on an answer the badge shows as
likely wrong, a thumbs-down on one it shows as likely right). Without that second rule one careless thumbs-up made
a wrong answer the chosen one of its question's pair, whatever the critic had found (``bench/learning.py
--careless``: 20% of the students' ratings flipped cost 2.4-4.0 points of held-out accuracy after three cycles).
Where the critic is unsure, a thumbs counts only if, weighed by how often these students' thumbs agree with a sure
critic (``training.thumbs``), it is decisive: a careful class's thumbs count almost everywhere there, a careless
class's only where they lean the critic's way.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace

from mathchat.settings import PASS_THRESHOLD, VerdictSettings
from training.formats import PreferenceRow
from training.manifest import BuildResult
from training.pool import question_key
from training.samples import ScoredSample, confident_enough
from training.thumbs import ThumbsRule
from training.text_similarity import normalize_answer_text, states_answer


CHOSEN_MIN = PASS_THRESHOLD
"""A chosen answer scores at least this (the paper's pass mark)."""
REJECTED_MAX = 4
"""A rejected answer scores at most this (our choice: a clear failure, DESIGN.md)."""


def effective_score(s: ScoredSample, chosen_min: int, rejected_max: int,
                    thumbs: ThumbsRule = ThumbsRule()) -> float | None:
    """The score a sample pairs with, after applying its rating where ``thumbs`` says it counts.

    >>> effective_score(ScoredSample("q", "?", "a", 5, rating=1), 7, 4)
    7
    >>> effective_score(ScoredSample("q", "?", "a", 5, verified=False, rating=1), 7, 4)
    5
    """
    score: float | None = s.score
    if s.rating is None or not thumbs.counts(s):
        return score
    if s.rating > 0:
        return max(score, chosen_min) if score is not None else chosen_min
    return min(score, rejected_max) if score is not None else rejected_max


def can_be_chosen(s: ScoredSample, value: float | None, chosen_min: int,
                  min_confidence_unchecked: float | None = None, thumbs: ThumbsRule = ThumbsRule()) -> bool:
    """Chosen needs a high effective score, never a failed reference check, and where neither a reference nor a
    thumbs-up vouches for it, the confidence (``samples.confident_enough``)."""
    return value is not None and value >= chosen_min and s.verified is not False \
        and confident_enough(s, min_confidence_unchecked, thumbs)


def can_be_rejected(s: ScoredSample, value: float | None, rejected_max: int) -> bool:
    """Rejected needs a low effective score and never a passed reference check."""
    return value is not None and value <= rejected_max and s.verified is not True


def pair_by_score_gap(
    samples: Sequence[ScoredSample],
    *,
    chosen_min: int = CHOSEN_MIN,
    rejected_max: int = REJECTED_MAX,
    use_ratings: bool = True,
    require_stated_answer: bool = True,
    max_per_user: int | None = 20,
    exclude_questions: Collection[str] = (),
    min_confidence_unchecked: float | None = None,
    verdict: VerdictSettings | None = None,
    seed: int = 0,
) -> BuildResult:
    """At most one PreferenceRow per question: its highest- vs lowest-scoring eligible answers (the shortest
    of the equally high ones as chosen).

    Filters (each counted): unscored/unrated samples and truncated chosen answers are unusable,
    held-out questions excluded; a question needs an eligible chosen (>= ``chosen_min``) and rejected
    (<= ``rejected_max``) answer with different text (with ``require_stated_answer`` a chosen answer must
    state its final answer explicitly; where no reference checked it and no thumbs-up vouches for it, its
    confidence must reach ``min_confidence_unchecked``); a thumbs stands in for the score only where
    ``training.thumbs.ThumbsRule`` says it counts, with the badge's ``verdict`` and the reliability these samples'
    thumbs show;
    at most ``max_per_user`` pairs per asking user (None: no cap).

    >>> s = [ScoredSample("q1", "2+3?", "The answer is 5.", 9), ScoredSample("q1", "2+3?", "The answer is 7.", 1),
    ...      ScoredSample("q1", "2+3?", "The answer is 6.", 3)]
    >>> row = pair_by_score_gap(s).rows[0]
    >>> row["chosen"][0]["content"], row["rejected"][0]["content"]
    ('The answer is 5.', 'The answer is 7.')
    """
    rng = random.Random(seed)
    excluded = set(exclude_questions)
    counts: dict[str, int] = {"samples_in": len(samples)}
    pool = [s for s in samples if question_key(s.question) not in excluded]
    counts["after_held_out_excluded"] = len(pool)
    if not use_ratings:
        pool = [replace(s, rating=None) for s in pool]
    thumbs = ThumbsRule.fitted(pool, verdict)
    counts["ratings_used"] = sum(1 for s in pool if thumbs.counts(s))
    counts["ratings_contradicted"] = sum(1 for s in pool if thumbs.contradicted(s))
    counts["ratings_too_weak"] = sum(1 for s in pool if s.rating is not None) - counts["ratings_used"] \
        - counts["ratings_contradicted"]
    counts["thumbs_reliability_permille"] = round(1000 * thumbs.reliability)

    by_q: dict[str, list[ScoredSample]] = defaultdict(list)
    for s in pool:
        by_q[s.question_id].append(s)
    counts["questions_in"] = len(by_q)

    pairs: list[tuple[ScoredSample, ScoredSample, float]] = []
    no_chosen = no_rejected = same_text = 0
    for qid in sorted(by_q):
        group = list(by_q[qid])
        rng.shuffle(group)  # seeded tie-breaking
        scored = [(s, effective_score(s, chosen_min, rejected_max, thumbs)) for s in group]
        chosen = [(s, v) for s, v in scored if can_be_chosen(s, v, chosen_min, min_confidence_unchecked, thumbs)
                  and s.finish_reason != "length"
                  and (not require_stated_answer or states_answer(s.answer))]
        rejected = [(s, v) for s, v in scored if can_be_rejected(s, v, rejected_max)]
        if not chosen:
            no_chosen += 1
            continue
        if not rejected:
            no_rejected += 1
            continue
        # highest score; among equal scores the shortest, as RFT keeps (a short correct answer is the
        # behaviour to prefer; remaining ties in seeded order)
        best = min(chosen, key=lambda sv: (-sv[1], len(sv[0].answer)))
        worst_candidates = [sv for sv in sorted(rejected, key=lambda sv: sv[1])
                            if normalize_answer_text(sv[0].answer) != normalize_answer_text(best[0].answer)]
        if not worst_candidates:
            same_text += 1
            continue
        worst = worst_candidates[0]
        pairs.append((best[0], worst[0], best[1] - worst[1]))  # type: ignore[operator]
    counts["questions_without_chosen"] = no_chosen
    counts["questions_without_rejected"] = no_rejected
    counts["questions_same_text"] = same_text
    counts["pairs"] = len(pairs)

    rng.shuffle(pairs)
    per_user: dict[str, int] = defaultdict(int)
    final = []
    for chosen_s, rejected_s, gap in pairs:
        if chosen_s.user_id is not None and max_per_user is not None:
            if per_user[chosen_s.user_id] >= max_per_user:
                continue
            per_user[chosen_s.user_id] += 1
        final.append((chosen_s, rejected_s, gap))
    counts["after_user_cap"] = len(final)

    rows: list[PreferenceRow] = [
        {"prompt": c.prompt(), "chosen": [{"role": "assistant", "content": c.answer}],
         "rejected": [{"role": "assistant", "content": r.answer}]}
        for c, r, _ in final
    ]
    filters = {"chosen_min": chosen_min, "rejected_max": rejected_max, "use_ratings": use_ratings, "require_stated_answer": require_stated_answer,
               "max_per_user": max_per_user, "seed": seed, "excluded_questions": len(excluded),
               "min_confidence_unchecked": min_confidence_unchecked,
               "mean_gap": round(sum(g for *_, g in final) / len(final), 3) if final else None}
    return BuildResult(rows=rows, counts=counts, filters=filters)
