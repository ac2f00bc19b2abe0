"""select_rft_examples on hand-made sample lists: one test per filter."""

from training.pool import question_key
from training.rft_data import select_rft_examples
from training.samples import ScoredSample


def s(qid, answer, score, user=None, question=None, finish="stop"):
    return ScoredSample(qid, question or f"question {qid}?", answer, score, user_id=user, finish_reason=finish)


def completions(result):
    return sorted(r["completion"][0]["content"] for r in result.rows)


def test_keeps_only_questions_with_mixed_outcomes():
    samples = [s("mixed", "The answer is 5.", 9), s("mixed", "The answer is 6.", 2),
               s("allpass", "The answer is 7.", 9), s("allpass", "So the answer is 7.", 8),
               s("allfail", "The answer is 1.", 1), s("allfail", "The answer is 2.", 2)]
    result = select_rft_examples(samples)
    assert completions(result) == ["The answer is 5."]
    assert result.counts["questions_mixed"] == 1
    assert result.counts["questions_all_pass"] == 1
    assert result.counts["questions_all_fail"] == 1


def test_all_pass_questions_kept_when_mixed_not_required():
    samples = [s("allpass", "The answer is 7.", 9), s("allpass", "It is 3 + 4. The answer is 7.", 8)]
    assert len(select_rft_examples(samples, require_mixed=False).rows) == 2


def test_min_score_threshold_is_inclusive():
    samples = [s("q", "The answer is 5.", 7), s("q", "Adding, the answer is 5.", 6), s("q", "The answer is 9.", 1)]
    assert completions(select_rft_examples(samples, min_score=7)) == ["The answer is 5."]
    assert len(select_rft_examples(samples, min_score=6).rows) == 2


def test_unchecked_answers_need_the_confidence_as_well_as_the_score():
    """A logged question has no reference: a passing score at a coin's confidence is not a right answer to train
    on, while an answer a reference checked is judged by its score alone."""
    def c(qid, answer, score, confidence, verified=None):
        return ScoredSample(qid, f"question {qid}?", answer, score, verified=verified, confidence=confidence,
                            user_id="u1" if verified is None else None)

    samples = [c("sure", "The answer is 5.", 10, 0.93), c("sure", "The answer is 6.", 2, 0.05),
               c("unsure", "The answer is 8.", 9, 0.55), c("unsure", "The answer is 3.", 2, 0.1),
               c("seed", "The answer is 4.", 9, 0.4, verified=True), c("seed", "The answer is 1.", 1, 0.3, verified=False)]
    strict = select_rft_examples(samples, min_confidence_unchecked=0.8)
    assert completions(strict) == ["The answer is 4.", "The answer is 5."]
    assert strict.counts["unchecked_below_confidence"] == 1 and strict.counts["questions_all_fail"] == 1
    assert strict.filters["min_confidence_unchecked"] == 0.8
    assert completions(select_rft_examples(samples)) == ["The answer is 4.", "The answer is 5.", "The answer is 8."]


def test_a_thumbs_up_vouches_for_an_unsure_answer_only_as_far_as_the_class_thumbs_are_reliable():
    """Where the critic is unsure (0.45), a careful class's thumbs-up lets the answer in; a class whose thumbs
    often contradict a sure critic does not, and its record is in the counts."""
    unsure = [ScoredSample("q", "question q?", "The answer is 8.", 9, rating=1, confidence=0.45, user_id="u1"),
              ScoredSample("q", "question q?", "The answer is 3.", 2, confidence=0.05)]

    def record(agree, disagree):  # rated answers to other questions, where the critic is sure they are right
        return [ScoredSample(f"r{i}", f"question r{i}?", "The answer is 1.", 9, rating=1 if i < agree else -1,
                             confidence=0.95) for i in range(agree + disagree)]

    careful = select_rft_examples(unsure + record(20, 0), min_confidence_unchecked=0.8)
    assert completions(careful) == ["The answer is 8."]
    careless = select_rft_examples(unsure + record(12, 8), min_confidence_unchecked=0.8)
    assert careless.rows == [] and careless.counts["thumbs_reliability_permille"] == 667


def test_unscored_and_truncated_samples_are_dropped():
    samples = [s("q", "The answer is 5.", None), s("q", "Long... The answer is 5.", 9, finish="length"),
               s("q", "The answer is 4.", 2)]
    result = select_rft_examples(samples)
    assert result.rows == []
    assert result.counts["after_scored"] == 2 and result.counts["after_not_truncated"] == 1


def test_near_duplicate_answers_are_dropped():
    samples = [s("q", "2 + 3 = 5. The answer is 5.", 9), s("q", "2 + 3 = 5.  the answer is 5.", 9),
               s("q", "2 + 3 = 5, The answer is 5.", 9), s("q", "Count up from 2: 3, 4, 5. The answer is 5.", 8),
               s("q", "The answer is 6.", 1)]
    result = select_rft_examples(samples, max_per_question=10)
    assert len(result.rows) == 2
    assert result.counts["passing_answers"] == 4 and result.counts["after_dedupe"] == 2


def test_per_question_cap_keeps_the_best_scores():
    samples = [s("q", "First way. The answer is 5.", 7), s("q", "Second, different way: the answer is 5.", 10),
               s("q", "Third approach entirely; 5 it is. The answer is 5.", 9), s("q", "The answer is 1.", 1)]
    result = select_rft_examples(samples, max_per_question=2, similarity=0.99)
    assert completions(result) == sorted(["Second, different way: the answer is 5.",
                                          "Third approach entirely; 5 it is. The answer is 5."])


def test_per_user_cap_limits_one_users_rows():
    samples = []
    for i in range(6):
        samples += [s(f"u{i}", f"The answer is {i}.", 9, user="alice"), s(f"u{i}", "The answer is 99.", 1, user="alice")]
    samples += [s("b", "The answer is 3.", 9, user="bob"), s("b", "The answer is 4.", 1, user="bob")]
    samples += [s("seed", "The answer is 8.", 9), s("seed", "The answer is 2.", 1)]
    result = select_rft_examples(samples, max_per_user=2)
    assert len(result.rows) == 4  # 2 alice + 1 bob + 1 seed (no user: uncapped)
    assert result.counts["after_question_cap"] == 8


def test_held_out_questions_never_enter_training():
    samples = [s("h", "The answer is 5.", 9, question="What is 2+3?"), s("h", "The answer is 6.", 1, question="What is 2+3?"),
               s("t", "The answer is 4.", 9, question="What is 2+2?"), s("t", "The answer is 1.", 1, question="What is 2+2?")]
    result = select_rft_examples(samples, exclude_questions={question_key("what is 2+3?")})
    assert completions(result) == ["The answer is 4."]
    assert all("2+3" not in r["prompt"][-1]["content"] for r in result.rows)


def test_answers_without_a_stated_final_answer_are_dropped():
    samples = [s("q", "2 + 3 = 5", 9), s("q", "2 + 3 = 5. The answer is 5.", 9), s("q", "The answer is 6.", 1)]
    assert completions(select_rft_examples(samples)) == ["2 + 3 = 5. The answer is 5."]
    assert len(select_rft_examples(samples, require_stated_answer=False).rows) == 2


def test_rows_carry_the_system_prompt_and_question():
    samples = [ScoredSample("q", "What is 2+3?", "The answer is 5.", 9, system="SYS"),
               ScoredSample("q", "What is 2+3?", "The answer is 6.", 1, system="SYS")]
    row = select_rft_examples(samples).rows[0]
    assert row["prompt"] == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "What is 2+3?"}]
    assert row["completion"] == [{"role": "assistant", "content": "The answer is 5."}]


def test_same_seed_gives_same_rows():
    samples = [s(f"q{i}", f"Answer {j}. The answer is {i}.", 9 if j % 2 else 2) for i in range(10) for j in range(4)]
    assert select_rft_examples(samples, seed=3).rows == select_rft_examples(samples, seed=3).rows


def test_per_question_cap_prefers_the_shortest_among_equal_scores():
    long = "First I think about it. Then I add the numbers: 2 + 3 = 5. Therefore the answer is 5."
    samples = [s("q", long, 10), s("q", "2 + 3 = 5. The answer is 5.", 10), s("q", "The answer is 5 (2 + 3 = 5).", 9),
               s("q", "The answer is 6.", 1)]
    kept = completions(select_rft_examples(samples, max_per_question=2, similarity=1.01))
    assert kept == ["2 + 3 = 5. The answer is 5.", long]  # score first, then length: the 9 loses to both 10s
    assert completions(select_rft_examples(samples, max_per_question=1)) == ["2 + 3 = 5. The answer is 5."]
