import json

import pytest

from serving.critique.calibration import (DEFAULT_PATH, FEATURES, fit_calibration, load_calibration, part_features,
                                          save_calibration)
from serving.critique.types import PartScore


def _rows():
    feats, labels = [], []
    for i in range(40):
        right = i % 2 == 0
        parts = {"answer_match": PartScore("answer_match", 10.0 if right else 1.0, data={"has_final": True}),
                 "steps": PartScore("steps", 10.0 if right else 2.0,
                                    data={"wrong": [] if right else [{"early": True}], "final_tainted": not right,
                                          "first_wrong_early": not right, "has_final": True})}
        feats.append(part_features(parts))
        labels.append(right)
    return feats, labels


def test_fit_separates_right_from_wrong():
    feats, labels = _rows()
    cal = fit_calibration(feats, labels, trained_on={"source": "test"})
    right = {"answer_match": PartScore("answer_match", 10.0), "steps": PartScore("steps", 10.0, data={"wrong": []})}
    wrong = {"answer_match": PartScore("answer_match", 1.0),
             "steps": PartScore("steps", 2.0, data={"wrong": [{"early": True}], "final_tainted": True})}
    assert cal.predict(right) > 0.8 > 0.2 > cal.predict(wrong)


def test_save_load_roundtrip_keeps_version(tmp_path):
    feats, labels = _rows()
    cal = fit_calibration(feats, labels)
    path = tmp_path / "cal.json"
    save_calibration(cal, path)
    loaded = load_calibration(path)
    assert loaded.version == cal.version
    assert json.loads(path.read_text())["features"] == list(FEATURES)


def test_load_refuses_edited_coefficients(tmp_path):
    feats, labels = _rows()
    path = tmp_path / "cal.json"
    save_calibration(fit_calibration(feats, labels), path)
    data = json.loads(path.read_text())
    data["coef"]["ref_match"] += 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError):
        load_calibration(path)


def test_shipped_default_loads_and_gives_judge_no_weight_without_judge_data():
    cal = load_calibration(DEFAULT_PATH)
    assert cal.version.startswith("cal-")
    if not cal.trained_on.get("judge"):
        assert cal.coef["judge_score"] == 0.0


def test_missing_parts_have_zero_features_and_presence_flags():
    feats = part_features({})
    assert all(v == 0.0 for v in feats.values())
    feats = part_features({"judge": PartScore("judge", 10.0)})
    assert feats["judge_present"] == 1.0 and feats["judge_score"] == 1.0
