"""Students' corrections -> question references: the right final answer a thumbs-down carried becomes the
reference of its question when several students agree on it, or when the critic's symbolic check confirms it.

A question with a reference trains like a seed question with an exact answer. One student alone never sets
one without that check, and no correction ever overrules a verified (seed) reference: ``merge_pools`` keeps
the seed's entry. Everything here is pure; ``training.store_io.load_corrections`` reads the rows, which
look like ``("What is 37 + 48?", "12", "85")``: (question text, user id, value), oldest change first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from serving.critique.answers import answers_equivalent, extract_reference
from serving.critique.question_solver import solve_question
from training.pool import question_key

Correction = tuple[str, str, str]
"""(question text, user id, the value the student says is right)."""
Confirmer = Callable[[str, str], bool | None]
"""(question, value) -> True (shown right), False (shown wrong) or None (nothing can tell)."""


def confirm_arithmetic(question: str, value: str) -> bool | None:
    """The symbolic check: a question that computes itself (one arithmetic expression or linear equation,
    ``solve_question``) has an exact value to compare with.

    >>> confirm_arithmetic("What is 37 + 48?", "85"), confirm_arithmetic("What is 37 + 48?", "84")
    (True, False)
    >>> confirm_arithmetic("Tom has 3 apples and buys 4 more. How many now?", "7") is None
    True
    """
    exact = solve_question(question)
    return None if exact is None else answers_equivalent(value, exact)


@dataclass(frozen=True)
class CorrectionCounts:
    """What the decision did, for the cycle's manifest; ``questions`` is the sum of the five outcomes."""

    questions: int = 0
    """Questions with at least one usable correction."""
    agreed: int = 0
    """References set because enough students agreed (and nothing refuted them)."""
    confirmed: int = 0
    """References set because the symbolic check confirmed a student's value."""
    conflicts: int = 0
    """Students disagree and no group wins: no reference."""
    refuted: int = 0
    """Every value given was shown wrong by the symbolic check: no reference."""
    waiting: int = 0
    """Too few students agree yet: no reference."""
    unusable: int = 0
    """Votes dropped because they are not a checkable value (prose, too long)."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class AgreedReferences:
    """question_key -> reference, and how the corrections were decided."""

    references: dict[str, str]
    counts: CorrectionCounts


def current_votes(corrections: Iterable[Correction]) -> tuple[dict[str, tuple[str, dict[str, str]]], int]:
    """(question key -> (question text, {user id: checkable value}), unusable votes): one vote per student per
    question, the later row winning (the same question asked twice counts once).

    >>> votes, unusable = current_votes([("What is 2+3?", "a", "6"), ("what is 2+3", "a", "5"),
    ...                                  ("What is 2+3?", "b", "I think it's five, but unsure about it all")])
    >>> list(votes.values()), unusable
    ([('What is 2+3?', {'a': '5'})], 1)
    """
    votes: dict[str, tuple[str, dict[str, str]]] = {}
    unusable = 0
    for question, user_id, value in corrections:
        checkable = extract_reference(value)
        if checkable is None:
            unusable += 1
            continue
        votes.setdefault(question_key(question), (question, {}))[1][user_id] = checkable
    return votes, unusable


def group_equivalent(votes: dict[str, str]) -> list[tuple[str, list[str]]]:
    """{user id: value} -> [(value, user ids)], one group per mathematical value, largest first (ties: first seen);
    each group is named by its first value.

    >>> group_equivalent({"a": "1,000", "b": "7", "c": "1000"})
    [('1,000', ['a', 'c']), ('7', ['b'])]
    """
    groups: list[tuple[str, list[str]]] = []
    for user_id, value in votes.items():
        for name, users in groups:
            if answers_equivalent(value, name):
                users.append(user_id)
                break
        else:
            groups.append((value, [user_id]))
    return sorted(groups, key=lambda g: -len(g[1]))


def decide_reference(question: str, groups: list[tuple[str, list[str]]], *, min_agree: int,
                     confirm: Confirmer) -> tuple[str | None, str]:
    """(reference or None, outcome) for one question's groups: a confirmed value wins; otherwise the largest
    group not shown wrong, when it has ``min_agree`` students and strictly more than any other such group.

    >>> never = lambda q, v: None
    >>> decide_reference("Q", [("5", ["a", "b"]), ("6", ["c"])], min_agree=2, confirm=never)
    ('5', 'agreed')
    >>> decide_reference("Q", [("5", ["a", "b"]), ("6", ["c", "d"])], min_agree=2, confirm=never)
    (None, 'conflicts')
    >>> decide_reference("Q", [("5", ["a"])], min_agree=2, confirm=never)
    (None, 'waiting')
    >>> decide_reference("What is 2 + 3?", [("6", ["a", "b"]), ("5", ["c"])], min_agree=2, confirm=confirm_arithmetic)
    ('5', 'confirmed')
    """
    verdicts = [confirm(question, value) for value, _ in groups]
    for (value, _), verdict in zip(groups, verdicts):
        if verdict is True:
            return value, "confirmed"
    standing = [g for g, verdict in zip(groups, verdicts) if verdict is not False]
    if not standing:
        return None, "refuted"
    (value, users), rest = standing[0], standing[1:]
    if len(users) >= min_agree and all(len(users) > len(other) for _, other in rest):
        return value, "agreed"
    return None, "conflicts" if rest else "waiting"


def agreed_references(corrections: Iterable[Correction], *, min_agree: int = 2,
                      confirm: Confirmer | None = None) -> AgreedReferences:
    """The references students' corrections settle, keyed by ``question_key``, with the counts.

    ``confirm`` defaults to ``confirm_arithmetic``; pass ``lambda q, v: None`` to decide by agreement only.

    >>> rows = [("What is 6 x 7 apples?", "1", "42"), ("What is 6 x 7 apples?", "2", "42.0"),
    ...         ("What is 9+10?", "1", "21")]
    >>> result = agreed_references(rows)
    >>> list(result.references.values()), result.counts.agreed, result.counts.refuted
    (['42'], 1, 1)
    """
    if min_agree < 1:
        raise ValueError("min_agree must be at least 1")
    check = confirm or confirm_arithmetic
    votes, unusable = current_votes(corrections)
    references: dict[str, str] = {}
    outcomes = {"agreed": 0, "confirmed": 0, "conflicts": 0, "refuted": 0, "waiting": 0}
    for key, (question, by_user) in votes.items():
        reference, outcome = decide_reference(question, group_equivalent(by_user), min_agree=min_agree,
                                              confirm=check)
        outcomes[outcome] += 1
        if reference is not None:
            references[key] = reference
    return AgreedReferences(references, CorrectionCounts(questions=len(votes), unusable=unusable, **outcomes))
