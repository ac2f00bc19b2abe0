"""The console plots render to PNG and draw one bar/point per datum."""

from __future__ import annotations

from datetime import date

import pytest
from matplotlib.patches import Rectangle

from feedback.reads import AgreementDay, CheckpointThumbs
from console import plots
from feedback.reads import VolumeDay
from console.evaluation import LineagePoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def bars(fig) -> list[Rectangle]:  # noqa: ANN001
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def test_score_histogram_has_ten_bars_per_group_with_the_counts() -> None:
    fig = plots.plot_score_histogram({"candidate": [9, 9, 2, 7.4], "live": [1, 10]})
    assert plots.figure_png(fig).startswith(PNG_MAGIC)
    heights = [b.get_height() for b in bars(fig)]
    assert len(heights) == 20
    assert heights[:10] == [0, 1, 0, 0, 0, 0, 1, 0, 2, 0]  # 7.4 rounds to 7
    assert heights[10:] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_score_histogram_leaves_out_empty_groups() -> None:
    assert len(bars(plots.plot_score_histogram({"a": [5], "b": []}))) == 10


def test_category_bars_draw_one_bar_per_checkpoint_and_present_category() -> None:
    fig = plots.plot_category_bars({"cand": {"add": 0.5, "sub": 0.25}, "live": {"add": 0.4}})
    assert sorted(b.get_height() for b in bars(fig)) == [0.25, 0.4, 0.5]
    assert plots.figure_png(fig).startswith(PNG_MAGIC)


def test_lineage_plots_one_point_per_checkpoint_with_error_bars() -> None:
    points = [LineagePoint("base", "base", "retired", 0.04, 0.02, 0.077, 200),
              LineagePoint("rft1", "rft", "live", 0.13, 0.09, 0.184, 200),
              LineagePoint("rft2", "rft", "candidate", 0.21, 0.159, 0.272, 200)]
    fig = plots.plot_lineage(points)
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == [0.04, 0.13, 0.21]
    assert len(fig.axes[0].collections) >= 1  # the error bars
    assert plots.figure_png(fig).startswith(PNG_MAGIC)


def test_feedback_plots_draw_per_day_and_per_checkpoint() -> None:
    days = [VolumeDay(date(2026, 11, 24), 5, 5, 2, 1), VolumeDay(date(2026, 11, 25), 3, 3, 3, 3)]
    volume = plots.plot_volume(days)
    assert [b.get_height() for b in bars(volume)] == [5, 3, 2, 3]
    thumbs = plots.plot_thumbs_by_checkpoint([CheckpointThumbs("base", 10, 4), CheckpointThumbs("rft", 4, 3)])
    assert [b.get_height() for b in bars(thumbs)] == [0.4, 0.75]
    agreement = plots.plot_agreement([AgreementDay(date(2026, 11, 24), 4, 3), AgreementDay(date(2026, 11, 25), 2, 2)])
    assert list(agreement.axes[0].lines[0].get_ydata()) == [0.75, 1.0]
    for fig in (volume, thumbs, agreement):
        assert plots.figure_png(fig).startswith(PNG_MAGIC)


def test_stage_timings_draw_one_bar_per_timed_stage() -> None:
    fig = plots.plot_stage_timings([("pool", 1.5, "done"), ("sample_live", 30.0, "running")])
    assert sorted(b.get_width() for b in bars(fig)) == [1.5, 30.0]


@pytest.mark.parametrize("draw", [
    lambda: plots.plot_score_histogram({}), lambda: plots.plot_category_bars({}), lambda: plots.plot_lineage([]),
    lambda: plots.plot_volume([]), lambda: plots.plot_thumbs_by_checkpoint([]), lambda: plots.plot_agreement([]),
    lambda: plots.plot_stage_timings([]),
])
def test_empty_data_renders_a_no_data_note(draw) -> None:  # noqa: ANN001
    fig = draw()
    assert bars(fig) == [] and [t.get_text() for t in fig.axes[0].texts] == ["no data yet"]
    assert plots.figure_png(fig).startswith(PNG_MAGIC)


def test_reliability_plot_draws_a_point_per_filled_bin_and_a_bar_per_bin() -> None:
    from console.confidence import ReliabilityBin

    bins = [ReliabilityBin(i / 10, (i + 1) / 10, 0) for i in range(10)]
    bins[1] = ReliabilityBin(0.1, 0.2, 8, 0.15, 0.125, 0.02, 0.47)
    bins[5] = ReliabilityBin(0.5, 0.6, 4, 0.55, 0.5, 0.15, 0.85)
    bins[9] = ReliabilityBin(0.9, 1.0, 3, 0.95, 1.0, 0.44, 1.0)
    fig = plots.plot_reliability({"calibrated": bins, "empty": [ReliabilityBin(0.0, 0.1, 0)]}, "ECE 0.07")
    top, bottom = fig.axes
    diagonal, line = top.lines[0], top.lines[1]
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    assert list(line.get_xdata()) == [0.15, 0.55, 0.95] and list(line.get_ydata()) == [0.125, 0.5, 1.0]
    assert len(top.containers) == 1  # one error-bar series: the empty one draws nothing
    assert [b.get_height() for b in bottom.patches] == [0, 8, 0, 0, 0, 4, 0, 0, 0, 3]
    assert top.get_title() == "ECE 0.07"
    assert plots.figure_png(fig).startswith(PNG_MAGIC)


def test_reliability_plot_without_bins_says_no_data_yet() -> None:
    fig = plots.plot_reliability({})
    assert [t.get_text() for t in fig.axes[0].texts] == ["no data yet"]
    assert plots.figure_png(plots.plot_reliability({"a": []})).startswith(PNG_MAGIC)
