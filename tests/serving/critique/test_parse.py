from serving.critique.parse import parse_score


def test_parse_score_accepts_single_closing_bracket():
    assert parse_score("The steps are fine. [[9]") == 9


def test_parse_score_reads_chinese_label():
    assert parse_score("解析：最终答案正确。评分：[[7]]") == 7


def test_parse_score_reads_out_of_ten():
    assert parse_score("Score: 8/10") == 8


def test_parse_score_reads_ten():
    assert parse_score("All right. [[10]]") == 10


def test_parse_score_rejects_out_of_range():
    assert parse_score("[[11]]") is None
    assert parse_score("[[0]]") is None


def test_parse_score_last_score_wins():
    assert parse_score("At first [[3]] but after checking again [[8]]") == 8


def test_parse_score_prefers_bracket_form_over_prose_numbers():
    assert parse_score("Score: 10/10 is what the answer asks for, but step 1 is wrong. [[2]]") == 2


def test_parse_score_none_without_score():
    assert parse_score("The answer looks plausible.") is None
    assert parse_score("") is None
    assert parse_score(None) is None
