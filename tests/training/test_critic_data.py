from serving.critique.parse import parse_score
from training.critic_data import balance_by_band, build_critic_rows

Q = "What is 37 + 48?"


def item(answer, **kw):
    return {"question": Q, "answer": answer, "reference": "85", **kw}


def test_reference_verified_rows_name_the_wrong_step_and_score():
    result = build_critic_rows([item("37 + 48 = 104. The answer is 104.")])
    completion = result.rows[0]["completion"][0]["content"]
    assert "`37 + 48 = 104`" in completion and "85" in completion
    assert parse_score(completion) in (1, 2)
    assert result.rows[0]["prompt"][0]["role"] == "user"
    assert "[AI answer start]" in result.rows[0]["prompt"][0]["content"]


def test_each_item_gives_a_with_and_a_without_reference_prompt():
    rows = build_critic_rows([item("37 + 48 = 85. The answer is 85.")]).rows
    assert len(rows) == 2
    assert "[Reference answer start]" in rows[0]["prompt"][0]["content"]
    assert "[Reference answer start]" not in rows[1]["prompt"][0]["content"]
    assert parse_score(rows[0]["completion"][0]["content"]) == 10


def test_student_rating_kept_only_when_reference_agrees():
    agree = item("37 + 48 = 85. The answer is 85.", source="student", is_correct=True)
    disagree = item("37 + 48 = 84. The answer is 84.", source="student", is_correct=True)
    unverified = {"question": Q, "answer": "The answer is 85.", "source": "student", "is_correct": True}
    result = build_critic_rows([agree, disagree, unverified], with_and_without_reference=False)
    assert len(result.rows) == 1
    assert result.dropped["student label contradicts the reference check"] == 1
    assert result.dropped["student rating without a reference check"] == 1


def test_operator_score_wins_over_the_reference_check():
    labelled = item("37 + 48 = 85. The answer is 85.", source="operator", human_score=6)
    rows = build_critic_rows([labelled], with_and_without_reference=False).rows
    assert parse_score(rows[0]["completion"][0]["content"]) == 6


def test_chinese_question_gets_chinese_explanation():
    zh = {"question": "计算 37 + 48。", "answer": "37 + 48 = 104。答案是 104。", "reference": "85"}
    completion = build_critic_rows([zh]).rows[0]["completion"][0]["content"]
    assert "错误" in completion


def test_balance_by_band_caps_each_band():
    items = [item("37 + 48 = 85. The answer is 85.")] * 5 + [item("37 + 48 = 104. The answer is 104.")] * 2
    rows = build_critic_rows(items, with_and_without_reference=False).rows
    kept = balance_by_band(rows, per_band=2, seed=0)
    scores = sorted(parse_score(r["completion"][0]["content"]) for r in kept)
    assert len(kept) == 4 and scores.count(10) == 2
