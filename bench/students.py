"""Simulated students: they use the real app through its HTTP API as students would, and know the truth.

A student signs up, asks questions in their own words (varied openings, lower case, typos, a follow-up
now and then, some off-topic chat), and rates answers: honestly most of the time (thumbs up exactly when
the final answer is right), with a configurable share of careless ratings (the thumb flipped). An honest
thumbs-down sometimes carries the right final answer as a correction. The student knows each question's
true answer (it comes from the seed generator); the app and the training cycle never see it, so a bench
can use it to measure what the loop selected.

Everything that decides what a student types or clicks is a pure function of (text, truth, profile, rng),
tested without an app; ``run_student`` is the one function that talks HTTP (loopback only).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import httpx

from bench.app_client import ask, is_loopback, login, signup
from serving.critique.answers import answers_equivalent, extract_answer
from training.pool import is_held_out
from training.seed_pool import generate_seed_questions

OPENINGS = ("{q}", "Can you help me with this? {q}", "hey, {lower}", "{q} Please explain.", "Homework question: {q}",
            "I don't get this one. {q}", "{q} thx", "quick question: {lower}")
OFF_TOPIC = ("hi!", "thanks!", "what's your name?", "tell me a joke", "are you a robot?")
FOLLOW_UPS = ("Can you explain the last step?", "Are you sure?", "Why is that?", "Can you check it again?")


@dataclass(frozen=True)
class StudentProfile:
    """How one student behaves; the shares are probabilities per question."""

    name: str
    careless: float = 0.0
    """Ratings whose thumb is flipped (up on a wrong answer, down on a right one)."""
    correction_rate: float = 0.5
    """Honest thumbs-down that also give the right final answer."""
    typo_rate: float = 0.1
    """Words (of 4+ letters) with two letters swapped."""
    follow_up_rate: float = 0.15
    off_topic_rate: float = 0.1


@dataclass(frozen=True)
class Rating:
    """What the student clicks for one answer."""

    liked: bool
    reason: str | None = None
    correction: str | None = None


def add_typos(text: str, rate: float, rng: random.Random) -> str:
    """Swap two inner letters in some words; numbers and symbols are never touched (the maths stays the same).

    >>> add_typos("How many apples are left?", 1.0, random.Random(0)) != "How many apples are left?"
    True
    >>> add_typos("What is 37 + 48?", 1.0, random.Random(0)).split()[2:]
    ['37', '+', '48?']
    """
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) >= 4 and word.isalpha() and rng.random() < rate:
            j = rng.randrange(1, len(word) - 2)
            words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2:]
    return " ".join(words)


def phrase(question: str, profile: StudentProfile, rng: random.Random) -> str:
    """The question in this student's words (Chinese questions keep their text; typos only in Latin words).

    >>> phrase("What is 2 + 3?", StudentProfile("a", typo_rate=0.0), random.Random(1)) in [
    ...     o.format(q="What is 2 + 3?", lower="what is 2 + 3?") for o in OPENINGS]
    True
    """
    if not question.isascii():
        return question
    opening = rng.choice(OPENINGS)
    return add_typos(opening.format(q=question, lower=question[:1].lower() + question[1:]), profile.typo_rate, rng)


def rate_answer(answer: str, truth: str, profile: StudentProfile, rng: random.Random) -> Rating:
    """Thumbs up exactly when the final answer is right, flipped with the careless share; an honest
    thumbs-down may carry the truth (a careless one never does: the student did not look).

    >>> honest = StudentProfile("h", correction_rate=1.0)
    >>> rate_answer("3 + 4 = 7. The answer is 7.", "7", honest, random.Random(0))
    Rating(liked=True, reason=None, correction=None)
    >>> rate_answer("The answer is 8.", "7", honest, random.Random(0))
    Rating(liked=False, reason='wrong answer', correction='7')
    >>> rate_answer("The answer is 7.", "7", StudentProfile("c", careless=1.0), random.Random(0)).liked
    False
    """
    right = answers_equivalent(extract_answer(answer), truth)
    if rng.random() < profile.careless:
        return Rating(liked=not right, reason=None if not right else "wrong answer")
    if right:
        return Rating(liked=True)
    return Rating(liked=False, reason="wrong answer", correction=truth if rng.random() < profile.correction_rate else None)


@dataclass(frozen=True)
class StudentQuestion:
    """A question a student may ask, with the answer only the student knows."""

    question: str
    truth: str


def student_questions(n: int, seed: int, held_out_fraction: float, lang: str | None = "en") -> list[StudentQuestion]:
    """``n`` seed-generator questions for students that are never in the held-out split the cycle evaluates on.

    >>> qs = student_questions(5, seed=3, held_out_fraction=0.3)
    >>> len(qs), any(is_held_out(q.question, 0.3) for q in qs)
    (5, False)
    """
    out: list[StudentQuestion] = []
    drawn = generate_seed_questions(4 * n + 20, seed)
    for q in drawn:
        if (lang is None or q.lang == lang) and not is_held_out(q.question, held_out_fraction):
            out.append(StudentQuestion(q.question, q.reference))
        if len(out) == n:
            break
    return out


@dataclass
class Asked:
    """One rated question: what the student meant, typed, got and clicked."""

    question: str
    typed: str
    truth: str
    answer_id: int
    answer: str
    right: bool
    rating: Rating
    checkpoint_id: str | None = None
    """The model that answered (the app's final stream line)."""


@dataclass
class StudentLog:
    name: str
    asked: list[Asked] = field(default_factory=list)
    chats: int = 0
    """Messages sent in all (questions, follow-ups and off-topic)."""
    errors: list[str] = field(default_factory=list)


def run_student(url: str, profile: StudentProfile, questions: list[StudentQuestion], *, seed: int,
                max_tokens: int = 200, deadline: float | None = None, password: str = "sim-student-pw-1") -> StudentLog:
    """One student's session on the app at ``url``: sign up (or log in again), ask, rate, sometimes chat."""
    if not is_loopback(url):
        raise ValueError("simulated students use loopback apps only")
    rng = random.Random(f"{profile.name}:{seed}")
    log = StudentLog(profile.name)
    with httpx.Client(base_url=url, timeout=900) as client:
        problem = signup(client, profile.name, password)
        if problem and (again := login(client, profile.name, password)):  # a returning student signs in
            log.errors.append(f"{problem}; {again}")
            return log
        conversation = None
        for item in questions:
            if deadline is not None and time.monotonic() > deadline:
                break
            if rng.random() < profile.off_topic_rate:
                chat = ask(client, rng.choice(OFF_TOPIC), conversation, max_tokens=64)
                log.chats += 1
                conversation = (chat.final or {}).get("conversation_id", conversation)
            typed = phrase(item.question, profile, rng)
            answer = ask(client, typed, None, max_tokens=max_tokens)  # a new chat per question, as most students do
            log.chats += 1
            if not answer.ok:
                log.errors.append(answer.error or f"ask {answer.status_code}")
                continue
            conversation = answer.final["conversation_id"]
            rating = rate_answer(answer.text, item.truth, profile, rng)
            body = {"answer_id": answer.final["answer_id"], "liked": rating.liked, "reason": rating.reason,
                    "correction": rating.correction}
            r = client.post("/api/chat/rate", json=body)
            if r.status_code != 200:
                log.errors.append(f"rate {r.status_code}: {r.text[:120]}")
                continue
            log.asked.append(Asked(item.question, typed, item.truth, answer.final["answer_id"], answer.text,
                                   answers_equivalent(extract_answer(answer.text), item.truth), rating,
                                   answer.final.get("checkpoint_id")))
            if rng.random() < profile.follow_up_rate:
                ask(client, rng.choice(FOLLOW_UPS), conversation, max_tokens=64)
                log.chats += 1
    return log


def class_of(n: int, careless: float = 0.0, prefix: str = "sim") -> list[StudentProfile]:
    """``n`` students; a ``careless`` share of them rate carelessly (every rating flipped at that rate).

    >>> [p.careless for p in class_of(4, careless=0.2)]
    [0.2, 0.2, 0.2, 0.2]
    """
    return [StudentProfile(f"{prefix}{i:03d}", careless=careless) for i in range(n)]
