"""The paper's four score bands, the pass rule and the labels the UI shows."""

from __future__ import annotations

from dataclasses import dataclass

from mathchat.settings import PASS_THRESHOLD


@dataclass(frozen=True)
class Band:
    """A range of 1-10 scores with one meaning."""

    name: str
    low: int
    high: int
    label: str
    label_zh: str


BANDS: tuple[Band, ...] = (
    Band("wrong_early", 1, 2, "Wrong answer; the error comes early", "答案错误，错误出现在前面的步骤"),
    Band("wrong_late", 3, 5, "Wrong answer; the first half is right", "答案错误，前半部分正确"),
    Band("right_flawed", 6, 8, "Right answer, but some steps are wrong", "答案正确，但部分步骤有误"),
    Band("all_right", 9, 10, "Answer and all steps right", "答案和步骤全部正确"),
)


def band_of(score: int | None) -> Band | None:
    """The band a score falls in; None for an unscored answer.

    >>> band_of(2).name, band_of(3).name, band_of(8).name, band_of(10).name
    ('wrong_early', 'wrong_late', 'right_flawed', 'all_right')
    >>> band_of(None) is None, band_of(11) is None
    (True, True)
    """
    if score is None:
        return None
    for band in BANDS:
        if band.low <= score <= band.high:
            return band
    return None


def is_pass(score: int | None, threshold: int = PASS_THRESHOLD) -> bool | None:
    """Whether a score passes; None when unscored (not "failed").

    >>> is_pass(7), is_pass(6), is_pass(None), is_pass(6, threshold=6)
    (True, False, None, True)
    """
    if score is None:
        return None
    return score >= threshold


def band_label(score: int | None, language: str = "en") -> str:
    """What the UI shows next to a score.

    >>> band_label(9)
    'Answer and all steps right'
    >>> band_label(None)
    'Not scored'
    """
    band = band_of(score)
    if band is None:
        return "未评分" if language == "zh" else "Not scored"
    return band.label_zh if language == "zh" else band.label
