"""Rejective fine-tuning data: keep the passing answers of questions the policy sometimes gets wrong.

ChatGLM-Math's RFT (arXiv 2404.02893 §3.2): k samples per question, keep questions with both right and
wrong samples, keep their answers scoring >= 7, dedupe, SFT on them. Pure: lists in, rows + counts out.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection, Sequence

from mathchat.settings import PASS_THRESHOLD, VerdictSettings
from training.formats import SFTRow
from training.manifest import BuildResult
from training.pool import question_key
from training.samples import PassRule, ScoredSample, passes
from training.thumbs import ThumbsRule
from training.text_similarity import dedupe_texts, states_answer


def select_rft_examples(
    samples: Sequence[ScoredSample],
    min_score: int = PASS_THRESHOLD,
    *,
    max_per_question: int = 2,
    max_per_user: int = 20,
    similarity: float = 0.9,
    require_mixed: bool = True,
    require_stated_answer: bool = True,
    exclude_questions: Collection[str] = (),
    min_confidence_unchecked: float | None = None,
    verdict: VerdictSettings | None = None,
    seed: int = 0,
) -> BuildResult:
    """SFT rows from critiqued samples.

    Filters, in order (each counted): drop unscored and truncated samples and held-out questions
    (``exclude_questions`` holds ``question_key`` values); keep questions with mixed outcomes
    (some passing, some not), unless ``require_mixed`` is off; keep passing answers (``samples.passes``: the
    score reaches ``min_score`` and, where no reference checked the answer, the confidence reaches
    ``min_confidence_unchecked``);
    drop near-duplicates within a question (normalised text, then ``similarity`` ratio); keep the best
    ``max_per_question`` per question, highest score first, then shortest (with ``require_stated_answer``,
    only answers that state their final answer explicitly, e.g. "The answer is N", are kept: training on
    them teaches the format); at most ``max_per_user`` rows per asking user (seed questions have no user
    and are uncapped).

    >>> s = [ScoredSample("q1", "2+3?", "The answer is 5.", 9), ScoredSample("q1", "2+3?", "The answer is 6.", 2)]
    >>> [r["completion"][0]["content"] for r in select_rft_examples(s).rows]
    ['The answer is 5.']
    """
    rng = random.Random(seed)
    excluded = set(exclude_questions)
    counts: dict[str, int] = {"samples_in": len(samples)}
    usable = [s for s in samples if s.score is not None]
    counts["after_scored"] = len(usable)
    usable = [s for s in usable if s.finish_reason != "length"]
    counts["after_not_truncated"] = len(usable)
    usable = [s for s in usable if question_key(s.question) not in excluded]
    counts["after_held_out_excluded"] = len(usable)

    by_q: dict[str, list[ScoredSample]] = defaultdict(list)
    for s in usable:
        by_q[s.question_id].append(s)
    counts["questions_in"] = len(by_q)

    kept_by_q: dict[str, list[ScoredSample]] = {}
    n_all_pass = n_all_fail = n_unsure = 0
    thumbs = ThumbsRule.fitted(usable, verdict)  # a thumbs-up vouches where, weighed, it is decisive
    counts["thumbs_reliability_permille"] = round(1000 * thumbs.reliability)
    rule = PassRule(min_score, min_confidence_unchecked, thumbs)  # the sampler's stop tally counts mixed questions by it
    for qid, group in by_q.items():
        passing = [s for s in group if rule.passes(s)]
        n_unsure += sum(passes(s, min_score) for s in group) - len(passing)
        if not passing:
            n_all_fail += 1
            continue
        if require_mixed and len(passing) == len(group):
            n_all_pass += 1
            continue
        kept_by_q[qid] = passing
    counts["unchecked_below_confidence"] = n_unsure
    counts["questions_all_fail"] = n_all_fail
    counts["questions_all_pass"] = n_all_pass
    counts["questions_mixed"] = len(kept_by_q)
    counts["passing_answers"] = sum(len(v) for v in kept_by_q.values())
    if require_stated_answer:
        kept_by_q = {q: [s for s in v if states_answer(s.answer)] for q, v in kept_by_q.items()}
        kept_by_q = {q: v for q, v in kept_by_q.items() if v}
    counts["after_stated_answer"] = sum(len(v) for v in kept_by_q.values())

    deduped: dict[str, list[ScoredSample]] = {}
    for qid, group in kept_by_q.items():
        rng.shuffle(group)
        # best first; among equal scores the shortest (concise answers leave fewer places to slip, and
        # cost less to sample and train on); remaining ties in seeded order
        group.sort(key=lambda s: (-s.score, len(s.answer)))  # type: ignore[operator]
        keep = dedupe_texts([s.answer for s in group], similarity)
        deduped[qid] = [group[i] for i in keep]
    counts["after_dedupe"] = sum(len(v) for v in deduped.values())

    capped = [s for qid in sorted(deduped) for s in deduped[qid][:max_per_question]]
    counts["after_question_cap"] = len(capped)

    rng.shuffle(capped)
    per_user: dict[str, int] = defaultdict(int)
    final: list[ScoredSample] = []
    for s in capped:
        if s.user_id is not None:
            if per_user[s.user_id] >= max_per_user:
                continue
            per_user[s.user_id] += 1
        final.append(s)
    counts["after_user_cap"] = len(final)
    # where the rows came from: logged student questions (pool ids "user-..."), the seed pool, and rows whose
    # question had a student's thumbs on the chosen answer
    counts["rows_from_logs"] = sum(s.question_id.startswith("user-") for s in final)
    counts["rows_from_seed"] = len(final) - counts["rows_from_logs"]
    counts["rows_with_thumbs"] = sum(s.rating is not None for s in final)

    rows: list[SFTRow] = [
        {"prompt": s.prompt(), "completion": [{"role": "assistant", "content": s.answer}]} for s in final
    ]
    filters = {"min_score": min_score, "max_per_question": max_per_question, "max_per_user": max_per_user,
               "similarity": similarity, "require_mixed": require_mixed,
               "require_stated_answer": require_stated_answer, "seed": seed,
               "excluded_questions": len(excluded), "min_confidence_unchecked": min_confidence_unchecked}
    return BuildResult(rows=rows, counts=counts, filters=filters)
