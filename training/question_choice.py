"""Which training questions each RFT round samples: a category spread first, then by measured yield.

RFT learns only from questions whose samples both pass and fail ("mixed"). How often a question is mixed
depends mostly on its difficulty level, and the first round measures that for free: on the default
model, levels 1-3 were mixed 23-38% of the time and levels 4-5 8%. So each later round draws its questions
in proportion to each level's smoothed yield in the round before instead of uniformly. Everything here is pure.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from training.pool import USER_SOURCE, PoolQuestion
from training.samples import PassRule, ScoredSample

Stratum = int | str
LOGGED = "logged"
"""The stratum of logged student questions (they carry no level)."""


def stratum(q: PoolQuestion) -> Stratum:
    """A question's yield group: its difficulty level, or ``logged``.

    >>> stratum(PoolQuestion("q", "s", "Q", "1", "c", "", level=3)), stratum(PoolQuestion("q", "s", "Q", None, "c", ""))
    (3, 'logged')
    """
    return q.level if q.level is not None else LOGGED


def choose_training_questions(train: Sequence[PoolQuestion], n: int, seed: int,
                              sampled_before: Mapping[str, int] | None = None) -> list[PoolQuestion]:
    """Logged questions first, then seed questions spread evenly over categories (round-robin, seeded).

    ``sampled_before`` (question id -> how many earlier cycles sampled it): within each group the questions
    sampled fewer times come first, a stable sort, so a chain of cycles reaches questions its model has not
    trained on before relearning the last cycle's (every cycle draws the same seeded order).

    >>> qs = [PoolQuestion(f"q{i}", "s", f"Q{i}", "1", "ab"[i % 2], "") for i in range(10)]
    >>> [q.category for q in choose_training_questions(qs, 4, seed=0)]
    ['a', 'b', 'a', 'b']
    >>> first = [q.question_id for q in choose_training_questions(qs, 10, seed=0)]
    >>> again = choose_training_questions(qs, 10, seed=0, sampled_before=dict.fromkeys(first[:4], 1))
    >>> [q.question_id for q in again] == first[4:] + first[:4]
    True
    """
    rng = random.Random(seed)
    logged = [q for q in train if q.reference is None or q.source == USER_SOURCE]  # corrected ones stay first
    seeded = [q for q in train if q.reference is not None and q.source != USER_SOURCE]
    by_cat: dict[str, list[PoolQuestion]] = {}
    for q in seeded:
        by_cat.setdefault(q.category, []).append(q)
    for group in by_cat.values():
        rng.shuffle(group)
    order: list[PoolQuestion] = []
    cats = sorted(by_cat)
    while any(by_cat.values()):
        for c in cats:
            if by_cat[c]:
                order.append(by_cat[c].pop())
    times = sampled_before or {}
    return sorted(logged, key=lambda q: times.get(q.question_id, 0))[:n] + \
        sorted(order, key=lambda q: times.get(q.question_id, 0))[:max(0, n - len(logged))]


def mixed_yield(questions: Sequence[PoolQuestion], samples: Sequence[ScoredSample],
                rule: PassRule = PassRule()) -> dict[Stratum, tuple[int, int]]:
    """Per stratum: (mixed questions by ``rule``, questions with counted samples).

    >>> qs = [PoolQuestion("a", "s", "A", "1", "c", "", level=1), PoolQuestion("b", "s", "B", "1", "c", "", level=1)]
    >>> mixed_yield(qs, [ScoredSample("a", "A", "x", 9), ScoredSample("a", "A", "y", 2), ScoredSample("b", "B", "z", 2)])
    {1: (1, 2)}
    """
    by_q: dict[str, list[ScoredSample]] = defaultdict(list)
    for s in samples:
        by_q[s.question_id].append(s)
    out: dict[Stratum, list[int]] = defaultdict(lambda: [0, 0])
    for q in questions:
        passed, counted = rule.counts(by_q.get(q.question_id, ()))
        if not counted:
            continue
        out[stratum(q)][0] += 0 < passed < counted
        out[stratum(q)][1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def yield_weights(yields: Mapping[Stratum, tuple[int, int]]) -> tuple[dict[Stratum, float], float]:
    """Smoothed mixed rate per stratum, (mixed + 1) / (seen + 2), and the pooled rate for unseen strata.

    >>> yield_weights({1: (3, 8), 5: (0, 8)})
    ({1: 0.4, 5: 0.1}, 0.2222222222222222)
    """
    weights = {k: (m + 1) / (t + 2) for k, (m, t) in yields.items()}
    mixed, seen = sum(m for m, _ in yields.values()), sum(t for _, t in yields.values())
    return weights, (mixed + 1) / (seen + 2)


def later_round_questions(ordered: Sequence[PoolQuestion], used: Collection[str], n: int, seed: int,
                          yields: Mapping[Stratum, tuple[int, int]] | None = None,
                          stale: Collection[str] = ()) -> list[PoolQuestion]:
    """``n`` questions for a later RFT round: ones no earlier round used (ids in ``used``) first, topped up
    with a seeded draw from the used ones when the pool runs short. Of the unused ones, those no earlier cycle
    sampled come before the ``stale`` ones (ids an earlier cycle sampled).

    With ``yields`` (the previous round's ``mixed_yield``) the fresh questions are a seeded weighted draw
    without replacement, each weighted by its stratum's smoothed yield, kept in ``ordered``'s order;
    without, the next ``n`` in order.

    >>> qs = [PoolQuestion(f"q{i}", "s", f"Q{i}", "1", "a", "") for i in range(5)]
    >>> [q.question_id for q in later_round_questions(qs, {"q0", "q1", "q2"}, 2, seed=0)]
    ['q3', 'q4']
    >>> len(later_round_questions(qs, {"q0", "q1", "q2"}, 4, seed=0)), len({q.question_id for q in later_round_questions(qs, {"q0", "q1", "q2"}, 4, 0)})
    (4, 4)
    >>> [q.question_id for q in later_round_questions(qs, {"q0"}, 3, seed=0, stale={"q1", "q2"})]
    ['q1', 'q3', 'q4']
    """
    rng = random.Random(seed)
    rest = [q for q in ordered if q.question_id not in used]
    new = [q for q in rest if q.question_id not in stale]
    fresh = _draw(new, n, rng, yields)
    if len(fresh) < n:
        picked = {q.question_id for q in fresh}
        fresh += _draw([q for q in rest if q.question_id not in picked], n - len(fresh), rng, yields)
        index = {q.question_id: i for i, q in enumerate(ordered)}
        fresh.sort(key=lambda q: index[q.question_id])
    if len(fresh) < n:
        first = [q for q in ordered if q.question_id in used]
        fresh += rng.sample(first, min(n - len(fresh), len(first)))
    return fresh


def _draw(rest: Sequence[PoolQuestion], n: int, rng: random.Random,
          yields: Mapping[Stratum, tuple[int, int]] | None) -> list[PoolQuestion]:
    """``n`` of ``rest`` in its order: a weighted draw by stratum yield when there are more than ``n``, else all."""
    if yields and len(rest) > n:
        weights, unseen = yield_weights(yields)
        # Efraimidis-Spirakis: the n largest u^(1/w) are a weighted sample without replacement
        keys = [rng.random() ** (1.0 / weights.get(stratum(q), unseen)) for q in rest]
        picked = sorted(sorted(range(len(rest)), key=keys.__getitem__, reverse=True)[:n])
        return [rest[i] for i in picked]
    return list(rest[:n])
