import json

from mathchat.settings import CritiqueSettings
from serving.critique.critic import MathCritic
from serving.critique.evaluate import (critique_rows, fit_from_results, load_mathusereval, summarize,
                                       summarize_by_category)
from tests.fakes import FakeEngine

ROWS = [
    {"question": "What is 12 × 7?", "reference": "84", "answer": "12 × 7 = 84. The answer is 84.",
     "is_correct": True, "human_score": 10},
    {"question": "What is 12 × 7?", "reference": "84", "answer": "12 × 7 = 74. The answer is 74.",
     "is_correct": False, "human_score": 1},
    {"question": "What is 15 + 27?", "reference": "42", "answer": "15 + 27 = 42. The answer is 42.",
     "is_correct": True, "human_score": 9},
    {"question": "What is 15 + 27?", "reference": "42", "answer": "15 + 27 = 41. The answer is 41.",
     "is_correct": False, "human_score": 2},
]


def test_summarize_reports_each_part_and_condition():
    critic = MathCritic(CritiqueSettings(use_judge=False))
    results = critique_rows(critic, ROWS)
    report = summarize(ROWS, results)
    assert report["n"] == 4
    assert report["acc_with_ref"] == 1.0 and report["auroc_with_ref"] == 1.0
    assert report["parts"]["answer_match"]["with_ref"]["acc"] == 1.0
    assert report["parts"]["steps"]["without_ref"]["coverage"] == 1.0
    assert "answer_match" not in report["parts"] or "without_ref" not in report["parts"]["answer_match"] \
        or report["parts"]["answer_match"]["without_ref"]["n_scored"] == 0
    json.dumps(report)


def test_judge_part_is_evaluated_with_fake_engine():
    def reply(messages, sampling):
        answer = messages[0]["content"].split("[AI answer start]")[1]
        return "Looks right. [[9]]" if ("= 84." in answer or "= 42." in answer) else "Step 1 wrong. [[2]]"

    judge = FakeEngine(replies=[reply])
    critic = MathCritic(CritiqueSettings(judge_skip_when_decisive=False, judge_when_uncalibrated=True), judge=judge)
    report = summarize(ROWS, critique_rows(critic, ROWS))
    judge_metrics = report["parts"]["judge"]["with_ref"]
    assert judge_metrics["coverage"] == 1.0
    assert judge_metrics["acc"] == 1.0


def test_fit_from_results_learns_reference_weight():
    critic = MathCritic(CritiqueSettings(use_judge=False))
    rows = ROWS * 5
    cal = fit_from_results(rows, critique_rows(critic, rows), {"source": "test"})
    assert cal.coef["ref_match"] > 0


def test_mathusereval_join_and_category_summary(tmp_path):
    q = [{"question_id": 1, "source": "a", "question": "1+1=?", "reference": "2", "category": "初等数学",
          "subcategory": "calculate"},
         {"question_id": 1, "source": "b", "question": "2+2=?", "reference": "4", "category": "高等数学",
          "subcategory": "calculus"}]
    a = [{**q[1], "answer": "2 + 2 = 4. The answer is 4.", "model_id": "m"},
         {**q[0], "answer": "1 + 1 = 3. The answer is 3.", "model_id": "m"}]
    (tmp_path / "math-user-eval.jsonl").write_text("\n".join(json.dumps(r) for r in q))
    (tmp_path / "model_answer_gpt-4-1106-preview.jsonl").write_text("\n".join(json.dumps(r) for r in a))
    rows = load_mathusereval(tmp_path)
    assert [(r["source"], r["answer"][:5]) for r in rows] == [("b", "2 + 2"), ("a", "1 + 1")]
    critic = MathCritic(CritiqueSettings(use_judge=False))
    summary = summarize_by_category(rows, [critic.critique(r["question"], r["answer"], r["reference"]) for r in rows])
    assert summary["overall"]["n_scored"] == 2
    assert summary["高等数学"]["pass_rate"] == 1.0 and summary["初等数学"]["pass_rate"] == 0.0


def test_policy_answer_rows_label_real_answers_by_the_reference():
    from serving.critique.evaluate import policy_answer_rows
    from mathchat.sampling import SamplingSettings

    engine = FakeEngine(replies=["12 × 7 = 84. The answer is 84.", "15 + 27 = 41. The answer is 41."])
    rows = policy_answer_rows(engine, [ROWS[0], ROWS[2]], SamplingSettings(max_tokens=32))
    assert [r["is_correct"] for r in rows] == [True, False]
    assert all(r["source"] == "policy:fake-ckpt" and "human_score" not in r for r in rows)


def test_summarize_reports_what_the_student_sees_per_condition():
    rows = ROWS + [{"question": "Tom has 3 boxes with 12 apples each. He eats 5 apples. How many are left?",
                    "reference": "31", "answer": "12 apples x 3 = 32 apples. 32 - 5 = 27. The answer is N",
                    "is_correct": False}]
    report = summarize(rows, critique_rows(MathCritic(CritiqueSettings(use_judge=False)), rows))
    for condition in ("with_ref", "without_ref"):
        assert {f"false_confident_{condition}", f"ece_{condition}", f"auroc_{condition}", f"coverage_{condition}",
                f"scored_{condition}"} <= set(report)
    assert report["false_confident_without_ref"] == 0.0 and report["false_confident_with_ref"] == 0.0
    assert report["coverage_with_ref"] == 1.0
    assert 0.0 <= report["coverage_without_ref"] <= 1.0
