import pytest

from serving.critique.bands import BANDS, band_label, band_of, is_pass


@pytest.mark.parametrize("score,name", [(1, "wrong_early"), (2, "wrong_early"), (3, "wrong_late"), (5, "wrong_late"),
                                        (6, "right_flawed"), (8, "right_flawed"), (9, "all_right"), (10, "all_right")])
def test_band_of_maps_every_score_to_its_band(score, name):
    assert band_of(score).name == name


def test_bands_cover_one_to_ten_without_overlap():
    covered = [s for band in BANDS for s in range(band.low, band.high + 1)]
    assert covered == list(range(1, 11))


def test_is_pass_uses_threshold_seven_by_default():
    assert is_pass(7) is True
    assert is_pass(6) is False
    assert is_pass(5, threshold=5) is True


def test_unscored_is_neither_pass_nor_band():
    assert is_pass(None) is None
    assert band_of(None) is None
    assert band_label(None) == "Not scored"


def test_band_label_has_chinese():
    assert band_label(10, "zh") == "答案和步骤全部正确"
