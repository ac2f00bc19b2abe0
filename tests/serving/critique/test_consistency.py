from serving.critique.consistency import cluster_answers, consistency_part, draw_samples
from mathchat.sampling import SamplingSettings
from tests.fakes import FakeEngine


def test_consistency_is_fraction_of_agreeing_samples():
    part = consistency_part("The answer is 12.", ["12", "The answer is 12.0", "13", "The answer is 1,2"])
    assert part.data["agree"] == 2
    assert part.data["fraction"] == 0.5
    assert part.score == 5.5


def test_consistency_majority_is_reported():
    part = consistency_part("The answer is 7.", ["9", "9", "9", "7"])
    assert part.data["majority"] == "9"
    assert not part.data["answer_is_majority"]
    assert part.score == 1 + 9 * 0.25


def test_consistency_unscored_without_samples_or_final():
    assert consistency_part("The answer is 7.", []).score is None


def test_cluster_answers_groups_equivalent_values():
    assert cluster_answers(["1/2", "0.5", "3"]) == [[0, 1], [2]]


def test_draw_samples_makes_one_request_with_n_k():
    engine = FakeEngine(replies=["The answer is 5.", "The answer is 6."])
    sampling = SamplingSettings(temperature=0.8, max_tokens=64)
    texts = draw_samples(engine, "What is 2+3?", k=4, sampling=sampling)
    assert len(texts) == 4
    sample_calls = [c for c in engine.calls if c[0] == "sample"]
    assert len(sample_calls) == 1
    assert sample_calls[0][2].temperature == 0.8
    assert sample_calls[0][1] == [{"role": "user", "content": "What is 2+3?"}]
