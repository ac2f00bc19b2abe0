"""Best-of-N: the verifier's pick against greedy and majority vote, on a scripted engine."""

from __future__ import annotations

import itertools

from tests.fakes import FakeEngine
from training.best_of_n import best_of_n_summary, evaluate_best_of_n, majority_pick, pick_by_verifier
from training.config import CycleConfig
from training.pool import PoolQuestion


class TrustsSeven:
    """A verifier that believes answers ending in 7."""

    checkpoint_id = "v"

    def probabilities(self, pairs):
        return [0.9 if a.endswith("7.") else 0.1 for _, a in pairs]


def test_the_verifier_pick_finds_the_right_sample_greedy_and_majority_miss() -> None:
    counter = itertools.count()

    def reply(messages, sampling):  # greedy and 3 of 4 samples say 8; one says 7
        return "The answer is 7." if sampling.temperature > 0 and next(counter) % 4 == 3 else "The answer is 8."

    questions = [PoolQuestion(f"q{i}", "s", f"What is 3 + {4 + 0 * i}?", "7", "c", "") for i in range(5)]
    report = evaluate_best_of_n(FakeEngine([reply]), TrustsSeven(), questions, n=4, sampling=CycleConfig().sampling,
                                system=None)
    summary = report["best_of_n"]
    assert summary["questions"] == 5 and summary["n"] == 4
    assert summary["greedy"]["rate"] == 0.0 and summary["majority"]["rate"] == 0.0
    assert summary["verifier"]["rate"] == 1.0 and summary["oracle"]["rate"] == 1.0
    assert summary["verifier"]["ci95"][0] > 0.4 and summary["verifier_vs_greedy"]["only_verifier"] == 5
    assert len(report["items"][0]["verifier_p"]) == 4


def test_pickers_break_ties_towards_the_first_sample() -> None:
    assert pick_by_verifier([0.5, 0.5]) == 0
    assert majority_pick(["no idea", "The answer is 3.", "The answer is 4."]) == 1


def test_summary_of_no_questions_is_empty_not_an_error() -> None:
    summary = best_of_n_summary([])
    assert summary["questions"] == 0 and summary["greedy"]["rate"] is None


def test_the_critic_pick_uses_the_step_check_and_the_weighted_vote_sums_trust() -> None:
    from serving.critique.calibration import Calibration
    from training.best_of_n import critic_confidences, pick_by_weighted_vote

    calibration = Calibration(coef={"steps_wrong": -4.0, "cons_fraction": 1.0}, intercept=1.0)
    answers = ["3 + 4 = 8. The answer is 8.", "3 + 4 = 8. The answer is 8.", "3 + 4 = 7. The answer is 7."]
    confidences = critic_confidences("What is 3 + 4?", answers, [0.5, 0.5, 0.5], calibration)
    assert confidences[2] > 0.5 > confidences[0] == confidences[1]  # a shown slip outweighs the majority
    assert max(range(3), key=confidences.__getitem__) == 2
    assert pick_by_weighted_vote(answers, [0.3, 0.3, 0.5]) == 0 and pick_by_weighted_vote(answers, confidences) == 2


def test_with_greedy_the_greedy_answer_is_one_of_the_n_candidates() -> None:
    def reply(messages, sampling):
        return "3 + 4 = 7. The answer is 7." if sampling.temperature == 0 else "3 + 4 = 8. The answer is 8."

    questions = [PoolQuestion("q", "s", "What is 3 + 4?", "7", "c", "")]
    report = evaluate_best_of_n(FakeEngine([reply]), TrustsSeven(), questions, n=4, sampling=CycleConfig().sampling,
                                system=None, with_greedy=True)
    item = report["items"][0]
    assert len(item["answers"]) == 4 and item["samples_correct"] == [True, False, False, False]
    assert report["best_of_n"]["critic"]["rate"] == 1.0 and report["with_greedy"] is True
