"""pair_by_score_gap on hand-made lists: thresholds, gaps, thumbs and their contradiction, caps."""

from dataclasses import replace

from mathchat.settings import VerdictSettings
from training.dpo_data import pair_by_score_gap
from training.pool import question_key
from training.samples import PassRule, ScoredSample
from training.thumbs import ThumbsRule


def s(qid, answer, score, *, rating=None, verified=None, user=None, question=None, finish="stop"):
    return ScoredSample(qid, question or f"question {qid}?", answer, score, verified=verified, rating=rating,
                        user_id=user, finish_reason=finish)


def pair(result):
    assert len(result.rows) == 1
    row = result.rows[0]
    return row["chosen"][0]["content"], row["rejected"][0]["content"]


def test_pairs_the_largest_score_gap():
    samples = [s("q", "The answer is 5.", 8), s("q", "Clearly the answer is 5.", 10),
               s("q", "The answer is 4.", 4), s("q", "The answer is 9.", 1)]
    assert pair(pair_by_score_gap(samples)) == ("Clearly the answer is 5.", "The answer is 9.")


def test_among_equal_top_scores_the_shortest_is_chosen():
    long = "First I add the numbers carefully, one column at a time. The answer is 5."
    samples = [s("q", long, 10), s("q", "2 + 3 = 5. The answer is 5.", 10), s("q", "The answer is 5 or so.", 9),
               s("q", "The answer is 9.", 1)]
    for seed in range(5):
        assert pair(pair_by_score_gap(samples, seed=seed))[0] == "2 + 3 = 5. The answer is 5."


def test_thresholds_require_chosen_at_least_7_and_rejected_at_most_4():
    assert pair_by_score_gap([s("q", "The answer is 5.", 6), s("q", "The answer is 1.", 1)]).rows == []
    assert pair_by_score_gap([s("q", "The answer is 5.", 9), s("q", "The answer is 1.", 5)]).rows == []
    assert len(pair_by_score_gap([s("q", "The answer is 5.", 7), s("q", "The answer is 1.", 4)]).rows) == 1
    counts = pair_by_score_gap([s("q", "The answer is 5.", 6), s("r", "The answer is 1.", 9)]).counts
    assert counts["questions_without_chosen"] == 1 and counts["questions_without_rejected"] == 1


def test_an_unchecked_chosen_answer_needs_the_confidence_unless_a_thumbs_up_vouches_for_it():
    def c(answer, score, confidence, rating=None, verified=None):
        return ScoredSample("q", "question q?", answer, score, verified=verified, rating=rating, confidence=confidence)

    unsure = [c("The answer is 5.", 9, 0.55), c("The answer is 1.", 1, 0.05)]
    assert len(pair_by_score_gap(unsure).rows) == 1
    strict = pair_by_score_gap(unsure, min_confidence_unchecked=0.8)
    assert strict.rows == [] and strict.counts["questions_without_chosen"] == 1
    assert strict.filters["min_confidence_unchecked"] == 0.8
    sure = [c("The answer is 5.", 9, 0.55), c("The answer is 6.", 9, 0.85), c("The answer is 1.", 1, 0.05)]
    assert pair(pair_by_score_gap(sure, min_confidence_unchecked=0.8))[0] == "The answer is 6."
    vouched = [c("The answer is 5.", 9, 0.55, rating=1), c("The answer is 1.", 1, 0.05)]
    assert pair(pair_by_score_gap(vouched, min_confidence_unchecked=0.8))[0] == "The answer is 5."
    checked = [c("The answer is 5.", 9, 0.3, verified=True), c("The answer is 1.", 1, 0.05, verified=False)]
    assert pair(pair_by_score_gap(checked, min_confidence_unchecked=0.8))[0] == "The answer is 5."


def test_thumbs_up_may_serve_as_chosen_and_thumbs_down_as_rejected():
    samples = [s("q", "The answer is 5.", None, rating=1), s("q", "The answer is 6.", None, rating=-1)]
    assert pair(pair_by_score_gap(samples)) == ("The answer is 5.", "The answer is 6.")
    assert pair_by_score_gap(samples, use_ratings=False).rows == []


def test_thumbs_up_failed_by_reference_check_is_never_chosen():
    samples = [s("q", "The answer is 6.", 1, rating=1, verified=False), s("q", "The answer is 7.", 2)]
    result = pair_by_score_gap(samples)
    assert result.rows == []
    assert result.counts["ratings_contradicted"] == 1


def test_thumbs_up_failed_by_reference_never_chosen_even_with_high_score():
    samples = [s("q", "The answer is 6.", 8, rating=1, verified=False), s("q", "The answer is 7.", 1)]
    assert pair_by_score_gap(samples).rows == []


def test_thumbs_down_on_verified_correct_answer_is_not_rejected():
    samples = [s("q", "The answer is 5.", 9, rating=-1, verified=True), s("q", "Well, the answer is 5.", 10)]
    assert pair_by_score_gap(samples).rows == []
    samples.append(s("q", "The answer is 3.", 2, verified=False))
    assert pair(pair_by_score_gap(samples)) == ("Well, the answer is 5.", "The answer is 3.")


def test_without_a_reference_a_confident_critic_overrules_a_careless_thumb():
    def c(answer, score, confidence, rating=None):
        return ScoredSample("q", "question q?", answer, score, rating=rating, confidence=confidence)

    # a thumbs-up on an answer the badge shows as likely wrong: not chosen, not vouched for
    careless_up = [c("The answer is 6.", 2, 0.08, rating=1), c("The answer is 7.", 1, 0.05)]
    result = pair_by_score_gap(careless_up)
    assert result.rows == [] and result.counts["ratings_contradicted"] == 1
    # a thumbs-down on one it shows as likely right: not rejected
    careless_down = [c("The answer is 5.", 9, 0.9, rating=-1), c("Well, the answer is 5.", 9, 0.85)]
    assert pair_by_score_gap(careless_down).rows == []
    # where the critic is unsure, the thumbs decide
    unsure = [c("The answer is 5.", 6, 0.5, rating=1), c("The answer is 8.", 5, 0.45, rating=-1)]
    assert pair(pair_by_score_gap(unsure)) == ("The answer is 5.", "The answer is 8.")


def test_the_configured_badge_thresholds_decide_which_thumbs_are_overruled():
    """An operator who moves the badge's bounds (``critique.verdict``) moves where a thumbs is overruled with them:
    the student's badge and the training data agree on what "likely wrong" meant."""
    up = ScoredSample("q", "question q?", "The answer is 6.", 5, rating=1, confidence=0.28)
    down = ScoredSample("q", "question q?", "The answer is 3.", 2, confidence=0.05)
    samples = [up, down]
    assert pair_by_score_gap(samples).rows == []  # 0.28 <= 0.3: the default badge said "likely wrong"
    narrow = VerdictSettings(doubtful_below=0.2, confident_at=0.6)
    result = pair_by_score_gap(samples, verdict=narrow)
    assert pair(result) == ("The answer is 6.", "The answer is 3.") and result.counts["ratings_contradicted"] == 0
    thumbs = ThumbsRule(narrow)
    assert not PassRule(7, 0.6).passes(replace(up, score=9)) and PassRule(7, 0.6, thumbs).passes(replace(up, score=9))


def _judged(agree: int, disagree: int) -> list[ScoredSample]:
    """Rated answers to other questions where the critic is sure (they pair with nothing): the thumbs' record."""
    return [ScoredSample(f"r{i}", f"question r{i}?", "The answer is 1.", 9, rating=1 if i < agree else -1,
                         confidence=0.9) for i in range(agree + disagree)]


def test_a_thumbs_where_the_critic_is_unsure_weighs_as_much_as_the_class_thumbs_agree_with_a_sure_critic():
    unsure = [ScoredSample("q", "question q?", "The answer is 6.", 6, rating=1, confidence=0.4),
              ScoredSample("q", "question q?", "The answer is 3.", 2, confidence=0.05)]
    careful = pair_by_score_gap(unsure + _judged(20, 0))
    assert pair(careful) == ("The answer is 6.", "The answer is 3.")
    assert careful.counts["thumbs_reliability_permille"] == 933
    careless = pair_by_score_gap(unsure + _judged(14, 6))  # 6 of 20 thumbs against a sure critic
    assert careless.rows == [] and careless.counts["ratings_too_weak"] == 1
    assert careless.counts["ratings_contradicted"] == 6


def test_uncontradicted_thumbs_up_lifts_a_middling_score_to_chosen():
    samples = [s("q", "The answer is 5.", 5, rating=1, verified=True), s("q", "The answer is 2.", 1)]
    assert pair(pair_by_score_gap(samples)) == ("The answer is 5.", "The answer is 2.")


def test_identical_chosen_and_rejected_text_is_not_a_pair():
    samples = [s("q", "The answer is 5.", 9), s("q", "the answer is  5.", None, rating=-1)]
    result = pair_by_score_gap(samples)
    assert result.rows == [] and result.counts["questions_same_text"] == 1


def test_truncated_answers_are_never_chosen():
    samples = [s("q", "... The answer is 5.", 9, finish="length"), s("q", "The answer is 1.", 1)]
    assert pair_by_score_gap(samples).rows == []


def test_per_user_cap():
    samples = []
    for i in range(5):
        samples += [s(f"a{i}", "The answer is 1.", 9, user="alice"), s(f"a{i}", "The answer is 2.", 1, user="alice")]
    samples += [s("b", "The answer is 1.", 9, user="bob"), s("b", "The answer is 2.", 1, user="bob")]
    assert len(pair_by_score_gap(samples, max_per_user=2).rows) == 3


def test_held_out_questions_are_excluded():
    samples = [s("h", "The answer is 5.", 9, question="What is 2+3?"), s("h", "The answer is 1.", 1, question="What is 2+3?")]
    assert pair_by_score_gap(samples, exclude_questions={question_key("What is 2+3?")}).rows == []
    assert len(pair_by_score_gap(samples).rows) == 1


def test_one_pair_per_question():
    samples = [s("q", f"Way {i}: the answer is 5.", 9) for i in range(3)] + [s("q", f"The answer is {i}.", 1) for i in range(3)]
    assert len(pair_by_score_gap(samples).rows) == 1
