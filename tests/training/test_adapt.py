"""The next cycle's settings after the previous run's gate verdict (pure, on hand-written verdicts)."""

import pytest

from training.adapt import PreviousRun, adapt_config
from training.config import CycleConfig, RFTDataSettings, SFTTrainSettings
from training.manifest import config_hash

CFG = CycleConfig(rft=RFTDataSettings(general_ratio=0.25), sft=SFTTrainSettings(learning_rate=1.5e-4))
"""Explicit rates (not the defaults), so the expected steps below stay readable when the shipped recipe moves."""
SHA = config_hash(CFG)


def guard(name: str, passed: bool, value: float | None, limit: float) -> dict:
    return {"guard": name, "passed": passed, "value": value, "limit": limit}


def verdict(*guards: dict, delta: float | None = 0.1) -> dict:
    return {"promotable": all(g["passed"] for g in guards), "accuracy_delta": delta, "guards": list(guards),
            "reasons": []}


PPL_REFUSED = verdict(guard("accuracy_margin", True, 0.1, 0.02), guard("perplexity", False, 0.08, 0.05))
SMALL_GAIN = verdict(guard("accuracy_margin", False, 0.01, 0.02), guard("significance", False, 0.4, 0.05),
                     guard("perplexity", True, 0.01, 0.05), delta=0.01)
PASSED = verdict(guard("accuracy_margin", True, 0.1, 0.02), guard("perplexity", True, 0.01, 0.05))


def test_perplexity_refusal_halves_the_sft_rate_and_leaves_the_general_rows():
    cfg, adaptation = adapt_config(PreviousRun(3, PPL_REFUSED, "rft3"), CFG)
    assert cfg.sft.learning_rate == pytest.approx(7.5e-5) and cfg.rft == CFG.rft
    assert cfg.dpo.learning_rate == CFG.dpo.learning_rate and cfg.questions == CFG.questions
    assert adaptation.failed_guards == ["perplexity"] and adaptation.from_run == 3
    assert [c["setting"] for c in adaptation.changes] == ["sft.learning_rate"]
    assert "perplexity refused (+8.0% > +5.0%)" in adaptation.note and adaptation.base_sha == SHA


def test_a_refusal_for_drift_from_the_chains_base_adapts_as_a_perplexity_refusal():
    refused = verdict(guard("accuracy_margin", True, 0.1, 0.02), guard("perplexity", True, 0.03, 0.05),
                      guard("base_perplexity", False, 0.07, 0.05))
    cfg, adaptation = adapt_config(PreviousRun(3, refused, "rft2"), CFG)
    assert cfg.sft.learning_rate == pytest.approx(7.5e-5)
    assert adaptation.failed_guards == ["base_perplexity"]
    assert "perplexity refused over the base (+7.0% > +5.0%)" in adaptation.note


def test_perplexity_refusal_of_a_dpo_candidate_also_halves_the_dpo_rate():
    cfg, _ = adapt_config(PreviousRun(3, PPL_REFUSED, "dpo"), CFG)
    assert cfg.dpo.learning_rate == pytest.approx(5e-6)


def test_a_second_refusal_steps_on_from_the_settings_the_previous_run_used():
    _, first = adapt_config(PreviousRun(3, PPL_REFUSED, "rft3"), CFG)
    cfg, second = adapt_config(PreviousRun(4, PPL_REFUSED, "rft3", first.overrides, first.base_sha), CFG)
    assert cfg.sft.learning_rate == pytest.approx(3.75e-5)
    assert second.changes[0]["from"] == pytest.approx(7.5e-5)


def test_steps_stop_at_their_bounds():
    overrides = {"sft.learning_rate": CFG.sft.learning_rate / 8}
    cfg, adaptation = adapt_config(PreviousRun(9, PPL_REFUSED, "rft3", overrides, SHA), CFG)
    assert cfg.sft.learning_rate == pytest.approx(CFG.sft.learning_rate / 8)
    assert adaptation.changes == [] and "already at their limits" in adaptation.note
    assert adaptation.overrides == overrides  # still carried


def test_too_small_a_gain_samples_more_questions():
    cfg, adaptation = adapt_config(PreviousRun(5, SMALL_GAIN, "rft3"), CFG)
    assert (cfg.questions, cfg.dpo_questions) == (288, 168)
    assert cfg.sft.learning_rate == CFG.sft.learning_rate
    assert adaptation.failed_guards == ["accuracy_margin", "significance"] and "gain (+0.010)" in adaptation.note
    capped, _ = adapt_config(PreviousRun(6, SMALL_GAIN, "rft3", {"questions": 384, "dpo_questions": 224}, SHA), CFG)
    assert (capped.questions, capped.dpo_questions) == (384, 224)


def test_a_candidate_worse_than_live_lowers_the_sft_rate():
    worse = verdict(guard("accuracy_margin", False, -0.03, 0.02), guard("perplexity", True, 0.0, 0.05), delta=-0.03)
    cfg, adaptation = adapt_config(PreviousRun(5, worse, "rft3"), CFG)
    assert cfg.sft.learning_rate == pytest.approx(7.5e-5) and cfg.questions == CFG.questions
    assert "lost 0.030" in adaptation.note


def test_a_pass_keeps_the_adapted_settings():
    cfg, adaptation = adapt_config(PreviousRun(7, PASSED, "rft3", {"sft.learning_rate": 7.5e-5}, SHA), CFG)
    assert cfg.sft.learning_rate == 7.5e-5 and adaptation.changes == []
    assert adaptation.overrides == {"sft.learning_rate": 7.5e-5} and "passed its gate; keeping" in adaptation.note


def test_a_changed_configuration_drops_the_earlier_adaptation():
    configured = CFG.model_copy(update={"sft": SFTTrainSettings(learning_rate=1e-4)})
    cfg, adaptation = adapt_config(PreviousRun(7, PASSED, "rft3", {"sft.learning_rate": 7.5e-5}, SHA), configured)
    assert cfg.sft.learning_rate == 1e-4 and adaptation.overrides == {}
    assert "configuration changed" in adaptation.note


def test_a_gate_without_data_changes_nothing():
    missing = verdict(guard("accuracy_margin", True, 0.1, 0.02), guard("perplexity", False, None, 0.05))
    cfg, adaptation = adapt_config(PreviousRun(8, missing, "rft"), CFG)
    assert cfg == CFG and adaptation.changes == [] and "lack of data" in adaptation.note


def test_a_run_without_candidate_keeps_its_settings():
    cfg, adaptation = adapt_config(PreviousRun(8, None, None, {"rft.general_ratio": 0.5}, SHA), CFG)
    assert cfg.rft == RFTDataSettings(general_ratio=0.5) and "no candidate" in adaptation.note


def test_verdicts_stored_before_guards_are_read_from_their_reasons():
    legacy = {"promotable": False, "accuracy_delta": 0.1,
              "reasons": ["general-text perplexity rose +8.4% (> 5%)"]}
    cfg, _ = adapt_config(PreviousRun(2, legacy, "rft3"), CFG)
    assert cfg.sft.learning_rate == pytest.approx(7.5e-5)
