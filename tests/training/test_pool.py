"""The question pool: seed generation, stable held-out split, MathUserEval/GSM8K files."""

import json
import re
from fractions import Fraction

from training.pool import (build_held_out_set, build_seed_pool, is_held_out, load_eval_questions, logged_to_pool,
                           merge_pools, question_key, split_pool, write_mathusereval_jsonl)
from training.seed_pool import CATEGORIES, generate_seed_questions


def test_seed_questions_are_deterministic_and_distinct():
    a = generate_seed_questions(300, seed=7)
    assert a == generate_seed_questions(300, seed=7)
    assert a != generate_seed_questions(300, seed=8)
    assert len({q.question for q in a}) == 300


def test_seed_pool_covers_categories_languages_and_levels():
    qs = generate_seed_questions(600, seed=0)
    assert {q.category for q in qs} == set(CATEGORIES)
    assert {q.lang for q in qs} == {"en", "zh"}
    assert {q.level for q in qs} == {1, 2, 3, 4, 5}


def test_level_one_is_single_digit_addition_and_subtraction():
    qs = generate_seed_questions(200, seed=1, level_weights={1: 1.0})
    arith = [q for q in qs if q.category == "arithmetic"]
    assert arith and all(q.subcategory in ("addition", "subtraction") for q in arith)
    for q in arith:
        a, b = [int(t) for t in re.findall(r"\d+", q.question)]
        assert a <= 9 and b <= 9


def test_references_are_exact():
    for q in generate_seed_questions(400, seed=2):
        if q.category == "arithmetic" and q.lang == "en":
            expr = q.question.removeprefix("What is ").removesuffix("?").replace("×", "*")
            assert str(eval(expr)) == q.reference  # noqa: S307 - our own generated expression
        if q.category == "fractions":
            Fraction(q.reference)  # parses as an exact fraction in lowest terms
            assert Fraction(q.reference).denominator == int(q.reference.split("/")[1]) if "/" in q.reference else True


def test_held_out_split_is_stable_and_independent_of_pool_size():
    small = build_seed_pool(200, seed=0)
    large = build_seed_pool(800, seed=0)
    _, held_small = split_pool(small, 0.3)
    _, held_large = split_pool(large, 0.3)
    large_keys = {q.question for q in held_large}
    assert all(q.question in large_keys for q in held_small if q.question in {x.question for x in large})
    assert 0.2 < len(held_large) / len(large) < 0.4


def test_held_out_is_by_question_text_not_case_or_spacing():
    assert is_held_out("What is 2+3?", 0.5) == is_held_out("  what IS 2+3? ", 0.5)


def test_held_out_questions_never_appear_in_train_split():
    train, held = split_pool(merge_pools(build_seed_pool(500, seed=3),
                                         logged_to_pool([("What is 2+2?", "u1")])), 0.3)
    assert not {question_key(q.question) for q in train} & {question_key(q.question) for q in held}


def test_build_held_out_set_returns_exact_count_of_held_out_questions():
    held = build_held_out_set(120, seed=0, held_out_fraction=0.3)
    assert len(held) == 120 and all(is_held_out(q.question, 0.3) for q in held)


def test_logged_questions_are_deduplicated_and_keep_first_asker():
    pool = logged_to_pool([("What is 2+2?", "alice"), ("what is 2+2? ", "bob"), ("  ", "carol"), ("5*5?", "bob")])
    assert [(q.question, q.user_id) for q in pool] == [("What is 2+2?", "alice"), ("5*5?", "bob")]
    assert all(q.reference is None for q in pool)


def test_merge_keeps_seed_entry_with_reference():
    seed = build_seed_pool(5, seed=0)
    logged = logged_to_pool([(seed[0].question.upper(), "u")])
    merged = merge_pools(seed, logged)
    assert len(merged) == 5 and merged[0].reference == seed[0].reference


def test_a_corrected_logged_question_carries_its_agreed_reference():
    pool = logged_to_pool([("Ann has 3 bags of 4 pears; how many pears?", "u1"), ("5*5?", "u2")],
                          {question_key("ann has 3 bags of 4 pears; how many pears"): "12"})
    assert [(q.source, q.reference, q.subcategory) for q in pool] == [
        ("mathchat-user", "12", "corrected"), ("mathchat-user", None, "chat")]


def test_students_agreeing_never_replace_a_seed_reference():
    from training.corrections import agreed_references

    seed = build_seed_pool(5, seed=0)
    asked = seed[0].question.upper()
    wrong = "1" + str(seed[0].reference)
    decided = agreed_references([(asked, user, wrong) for user in ("u1", "u2", "u3")], confirm=lambda q, v: None)
    assert decided.references == {question_key(asked): wrong}  # the students did agree ...
    merged = merge_pools(seed, logged_to_pool([(asked, "u1")], decided.references))
    entry = next(q for q in merged if question_key(q.question) == question_key(asked))
    assert (entry.source, entry.reference) == ("mathchat-seed", seed[0].reference)  # ... and the seed still wins
    assert len(merged) == 5


def test_mathusereval_export_round_trips(tmp_path):
    qs = build_seed_pool(10, seed=0)
    path = tmp_path / "held.jsonl"
    assert write_mathusereval_jsonl(qs, path) == 10
    row = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert set(row) >= {"question_id", "source", "question", "reference", "category", "subcategory"}
    back = load_eval_questions(path)
    assert [(q.question, q.reference, q.category) for q in back] == [(q.question, q.reference, q.category) for q in qs]


def test_gsm8k_rows_are_read_with_their_final_answer(tmp_path):
    path = tmp_path / "gsm.jsonl"
    path.write_text(json.dumps({"question": "Q?", "answer": "3 * 4 = <<3*4=12>>12\n#### 1,200"}) + "\n")
    (q,) = load_eval_questions(path)
    assert q.reference == "1200" and q.category == "gsm8k"


def test_exported_held_out_set_is_the_cycles_evaluation_set():
    from training.config import PoolSettings

    pc = PoolSettings()
    _, held = split_pool(build_seed_pool(pc.seed_questions, seed=0), pc.held_out_fraction)
    assert build_held_out_set(pc.eval_questions, 0, pc.held_out_fraction) == held[:pc.eval_questions]
