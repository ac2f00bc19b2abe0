"""Round-2 question choice: the yield per level from round 1's samples, and the draw it weights."""

from collections import Counter

from training.pool import USER_SOURCE, PoolQuestion, logged_to_pool, question_key
from training.question_choice import choose_training_questions, later_round_questions, mixed_yield, yield_weights
from training.samples import ScoredSample


def q(i, level):
    return PoolQuestion(f"q{i}", "s", f"Q{i}", "1", "c", "", level=level)


def test_mixed_yield_counts_only_questions_with_both_outcomes_per_level():
    qs = [q(0, 1), q(1, 1), q(2, 5), q(3, 5)]
    samples = [ScoredSample("q0", "Q0", "a", 9), ScoredSample("q0", "Q0", "b", 3),    # mixed
               ScoredSample("q1", "Q1", "a", 9), ScoredSample("q1", "Q1", "b", 7),    # all pass
               ScoredSample("q2", "Q2", "a", 2), ScoredSample("q2", "Q2", "b", None),  # all (scored) fail
               ScoredSample("q3", "Q3", "a", None)]                                   # nothing scored: unseen
    assert mixed_yield(qs, samples) == {1: (1, 2), 5: (0, 1)}


def test_unseen_strata_get_the_pooled_rate():
    weights, unseen = yield_weights({1: (5, 10), 2: (0, 10)})
    assert weights == {1: 0.5, 2: 1 / 12} and unseen == 6 / 22


def test_round_two_draws_more_from_high_yield_levels_and_never_repeats():
    used = [q(i, 1 + i % 5) for i in range(50)]
    rest = [q(100 + i, 1 + i % 5) for i in range(500)]  # 100 per level
    yields = {1: (40, 50), 2: (30, 50), 3: (20, 50), 4: (1, 50), 5: (0, 50)}
    ids = {x.question_id for x in used}
    picked = later_round_questions(used + rest, ids, 100, seed=0, yields=yields)
    assert len({x.question_id for x in picked}) == 100 and not {x.question_id for x in used} & {x.question_id for x in picked}
    by_level = Counter(x.level for x in picked)
    assert by_level[1] > by_level[3] > by_level[4] + by_level[5]
    assert [x.question_id for x in picked] == sorted((x.question_id for x in picked), key=lambda s: int(s[1:]))
    assert picked == later_round_questions(used + rest, ids, 100, seed=0, yields=yields)  # seeded


def test_without_yields_or_with_a_short_pool_round_two_takes_what_is_there():
    ordered = [q(i, 1) for i in range(10)]
    assert later_round_questions(ordered, {q.question_id for q in ordered[:4]}, 3, seed=0) == ordered[4:7]
    topped = later_round_questions(ordered, {q.question_id for q in ordered[:8]}, 5, seed=0, yields={1: (1, 2)})
    assert topped[:2] == ordered[8:] and len({x.question_id for x in topped}) == 5


def test_questions_used_by_any_earlier_round_are_not_fresh():
    ordered = [q(i, 1) for i in range(10)]
    used = {"q0", "q1", "q5"}  # round 2's weighted draw is not a prefix of the order
    assert [x.question_id for x in later_round_questions(ordered, used, 4, seed=0)] == ["q2", "q3", "q4", "q6"]


def test_a_corrected_logged_question_is_still_chosen_first():
    seeds = [PoolQuestion(f"s{i}", "mathchat-seed", f"Seed {i}", "1", "ab"[i % 2], "", level=1) for i in range(6)]
    logged = logged_to_pool([("Ann has 3 bags of 4 pears; how many?", "u1"), ("Why is 0.999... = 1?", "u2")],
                            {question_key("Ann has 3 bags of 4 pears; how many?"): "12"})
    chosen = choose_training_questions(seeds + logged, 2, seed=0)
    assert [q.source for q in chosen] == [USER_SOURCE, USER_SOURCE]


def test_questions_earlier_cycles_sampled_come_after_new_ones_in_both_groups():
    seeds = [PoolQuestion(f"s{i}", "mathchat-seed", f"Seed {i}", "1", "ab"[i % 2], "", level=1) for i in range(8)]
    logged = logged_to_pool([("old question from a student", "u1"), ("new question from a student", "u2")], {})
    first = choose_training_questions(seeds + logged, 10, seed=0)
    before = {first[0].question_id: 1, first[2].question_id: 2, first[3].question_id: 1}
    again = choose_training_questions(seeds + logged, 10, seed=0, sampled_before=before)
    assert [q.source for q in again[:2]] == [USER_SOURCE, USER_SOURCE]  # logged questions still come first
    assert again[0] == first[1] and again[1] == first[0]
    assert again[2:] == [q for q in first[2:] if q.question_id not in before] + [first[3], first[2]]
    assert len(choose_training_questions(seeds + logged, 3, seed=0, sampled_before=before)) == 3


def test_a_later_round_draws_from_questions_no_earlier_cycle_sampled_while_there_are_enough():
    ordered = [q(i, 1 + i % 2) for i in range(40)]
    stale = {x.question_id for x in ordered[10:30]}
    picked = later_round_questions(ordered, {"q0"}, 15, seed=0, yields={1: (3, 10), 2: (1, 10)}, stale=stale)
    assert len(picked) == 15 and not {x.question_id for x in picked} & (stale | {"q0"})
    short = later_round_questions(ordered, {"q0"}, 25, seed=0, yields={1: (3, 10), 2: (1, 10)}, stale=stale)
    ids = [x.question_id for x in short]
    assert len(set(ids)) == 25 and {x.question_id for x in ordered[1:10] + ordered[30:]} <= set(ids)
    assert ids == sorted(ids, key=lambda s: int(s[1:]))  # in the pool's order
