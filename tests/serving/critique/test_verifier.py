"""The verifier part: a (tiny, random) verifier checkpoint loaded in process, scored, and used by MathCritic
only where there is no reference; found through the settings or the database's live verifier."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mathchat.settings import CritiqueSettings, VerdictSettings
from serving.critique.critic import MathCritic, resolve_verifier
from serving.critique.types import PartScore
from serving.critique.verdict import RIGHT, UNVERIFIED, WRONG, decide_verdict
from serving.critique.verifier import (VerifierInput, Verifier, encode_pair, is_verifier_checkpoint, open_verifier,
                                       verifier_part, write_verifier_config)

QUESTION = "Tom has 3 boxes with 12 apples each. He eats 5 apples. How many apples are left?"
ANSWER = "3 x 12 = 36 apples. 36 - 5 = 31 apples. The answer is 31."


@pytest.fixture(scope="module")
def tiny_verifier(tmp_path_factory) -> Path:
    """A random 2-layer Llama sequence classifier with the default tokenizer and a verifier.json."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from mathchat.settings import load_settings
    from serving.model_cache import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(load_settings()))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, num_labels=1,
                         pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-verifier")
    LlamaForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_verifier_config(out, VerifierInput(max_length=128, max_question_tokens=32, head="sequence_classification"))
    return out


class FixedVerifier:
    """Stands in for a Verifier: the same probability for every answer."""

    def __init__(self, p: float) -> None:
        self.p, self.checkpoint_id, self.calibration_path, self.calls = p, "fixed", None, 0

    def probabilities(self, pairs):
        self.calls += 1
        return [self.p for _ in pairs]


def test_a_checkpoint_scores_pairs_in_order_and_batches_do_not_change_scores(tiny_verifier: Path) -> None:
    verifier = Verifier(tiny_verifier, batch_size=2, dtype="float32")
    pairs = [(QUESTION, ANSWER), ("What is 2 + 3?", "The answer is 5."), (QUESTION, "The answer is 30.")]
    together = verifier.probabilities(pairs)
    alone = [Verifier(tiny_verifier, dtype="float32").probabilities([p])[0] for p in pairs]  # fresh: nothing kept
    assert together == pytest.approx(alone, abs=1e-5)
    assert all(0.0 < p < 1.0 for p in together) and is_verifier_checkpoint(tiny_verifier)


def recorded_computations(verifier: Verifier, monkeypatch) -> list[tuple[str, str]]:
    """The pairs ``verifier`` computes from now on (not served from its readings), in order."""
    computed: list[tuple[str, str]] = []
    real = verifier._compute_locked
    monkeypatch.setattr(verifier, "_compute_locked",
                        lambda pairs, logprob=True: computed.extend(pairs) or real(pairs, logprob))
    return computed


def test_a_pair_read_before_is_not_computed_again_and_the_oldest_readings_go(tiny_verifier: Path, monkeypatch) -> None:
    import serving.critique.verifier as verifier_module

    verifier = Verifier(tiny_verifier, dtype="float32")
    computed = recorded_computations(verifier, monkeypatch)
    first = verifier.probabilities([(QUESTION, ANSWER), (QUESTION, ANSWER), ("What is 2 + 3?", "5")])
    assert computed == [(QUESTION, ANSWER), ("What is 2 + 3?", "5")] and first[0] == first[1]
    again = verifier.probabilities([("What is 2 + 3?", "5"), (QUESTION, ANSWER)])
    assert again == [first[2], first[0]] and len(computed) == 2, "both were read before"
    monkeypatch.setattr(verifier_module, "READINGS_KEPT", 2)
    verifier.probabilities([(QUESTION, "The answer is 30.")])  # the least recently read, "2 + 3", goes
    verifier.probabilities([("What is 2 + 3?", "5"), (QUESTION, ANSWER)])
    assert computed[2:] == [(QUESTION, "The answer is 30."), ("What is 2 + 3?", "5")]


def test_forgotten_readings_are_computed_again(tiny_verifier: Path, monkeypatch) -> None:
    from serving.critique.verifier import forget_open_readings, open_verifier

    verifier = open_verifier(tiny_verifier, dtype="float32")
    computed = recorded_computations(verifier, monkeypatch)
    first = verifier.probabilities([(QUESTION, ANSWER)])
    forget_open_readings()  # what bench/critique_app.py does before each app's critique
    assert verifier.probabilities([(QUESTION, ANSWER)]) == pytest.approx(first, abs=1e-6)
    assert computed == [(QUESTION, ANSWER)] * 2


def test_concurrent_calls_load_once_and_agree(tiny_verifier: Path) -> None:
    verifier = Verifier(tiny_verifier, dtype="float32")
    results: list[float] = []
    threads = [threading.Thread(target=lambda: results.append(verifier.probabilities([(QUESTION, ANSWER)])[0]))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and max(results) - min(results) < 1e-6


def test_critics_share_one_open_verifier_per_checkpoint_until_its_folder_changes(tiny_verifier: Path,
                                                                                 tmp_path: Path) -> None:
    import shutil

    first = open_verifier(tiny_verifier, checkpoint_id="v1", dtype="float32", num_threads=1)
    assert open_verifier(tiny_verifier, checkpoint_id="v1", dtype="float32", num_threads=1) is first
    assert open_verifier(tiny_verifier, checkpoint_id="v1", dtype="float32", num_threads=2) is not first
    copy = shutil.copytree(tiny_verifier, tmp_path / "copy")
    reopened = open_verifier(copy, checkpoint_id="v1", dtype="float32", num_threads=1)
    assert reopened is not first and reopened.checkpoint_id == "v1"
    write_verifier_config(copy, VerifierInput(max_length=96, max_question_tokens=32, head="sequence_classification"))
    changed = open_verifier(copy, checkpoint_id="v1", dtype="float32", num_threads=1)
    assert changed is not reopened and changed.spec.max_length == 96, "a rewritten folder is read again"
    with pytest.raises(OSError):
        open_verifier(tmp_path / "missing")


def test_long_answers_keep_their_end(tiny_verifier: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_verifier))
    spec = VerifierInput(max_length=40, max_question_tokens=8)
    ids = encode_pair(tokenizer, QUESTION, "blah " * 200 + "The answer is 31.", spec)
    assert len(ids) == 40 and tokenizer.decode(ids).endswith("The answer is 31.")


def test_the_critic_uses_the_verifier_only_without_a_reference(tiny_verifier: Path) -> None:
    critic = MathCritic(CritiqueSettings(use_judge=False, self_consistency_k=0, compute_reference=False,
                                         verifier_path=tiny_verifier, verifier_dtype="float32"))
    critic = MathCritic(critic.settings, verifier=resolve_verifier(critic.settings))
    without = critic.critique(QUESTION, ANSWER)
    assert without.parts["verifier"].score is not None and 0.0 < without.parts["verifier"].data["p"] < 1.0
    assert "Verifier: trained verifier" in without.explanation
    assert "verifier" not in critic.critique(QUESTION, ANSWER, "31").parts


def test_a_broken_verifier_leaves_its_part_unscored() -> None:
    class Broken(FixedVerifier):
        def probabilities(self, pairs):
            raise RuntimeError("no weights")

    part = verifier_part(Broken(0.5), QUESTION, ANSWER)
    assert part.score is None and "unavailable" in part.detail


def test_the_live_verifier_in_the_database_is_found(tiny_verifier: Path, tmp_path: Path) -> None:
    from feedback.db import make_engine, run_in_transaction, upgrade_db
    from feedback.registry import register_checkpoint

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_db(url)
    db = make_engine(url)
    try:
        assert resolve_verifier(CritiqueSettings(), db) is None
        run_in_transaction(db, lambda s: register_checkpoint(session=s, checkpoint_id="verifier-a",
                                                             path=str(tiny_verifier), kind="verifier", status="live"))
        found = resolve_verifier(CritiqueSettings(), db)
        assert found is not None and found.checkpoint_id == "verifier-a"
        assert resolve_verifier(CritiqueSettings(use_verifier=False), db) is None
    finally:
        db.dispose()


def test_a_confident_verifier_corroborates_and_a_doubting_one_is_evidence_of_wrong() -> None:
    plain = PartScore("steps", None, data={"has_final": True})
    sure = {"steps": plain, "verifier": PartScore("verifier", 9.6, data={"p": 0.96})}
    doubt = {"steps": plain, "verifier": PartScore("verifier", 1.2, data={"p": 0.02})}
    settings = VerdictSettings()
    assert decide_verdict(sure, 0.8, True, settings).name == RIGHT
    assert decide_verdict(sure | {"verifier": PartScore("verifier", 8.2, data={"p": 0.8})}, 0.8, True,
                          settings).name == UNVERIFIED
    assert decide_verdict(doubt, 0.1, False, settings).name == WRONG
    assert decide_verdict({"steps": plain}, 0.1, False, settings).name == UNVERIFIED


def test_the_two_browser_trial_answers_are_never_likely_right_even_with_a_sure_verifier() -> None:
    pencils = ("A shop sells pencils at 3 for $1.20. How much do 10 pencils cost?",
               "Let's find the cost by adding 10 to the original total of 3. This is 12. Then 10 * 3 = 30 pencils, "
               "this is 10 * 3 = 30 dollars. So we add (30 + 10 = 30 cents). So the answer is 30 cents.")
    apples = (QUESTION, "12 apples x 3 = 36 apples\n12 apples x 3 = 32 apples\n12 - 12 = 0 apples left.\n"
                        "The answer is N")
    critic = MathCritic(CritiqueSettings(use_judge=False, self_consistency_k=0), verifier=FixedVerifier(0.99))
    for question, answer in (pencils, apples):
        assert critic.critique(question, answer).verdict != RIGHT


def test_the_app_critic_follows_a_newly_live_verifier_without_a_restart(tiny_verifier: Path, tmp_path: Path) -> None:
    """The cycle's gate makes a new verifier live in the database; the running critic switches to it (and to the
    calibration saved beside it) on its next critique, and keeps it when the store cannot be read."""
    import shutil

    from feedback.db import make_engine, run_in_transaction, upgrade_db
    from feedback.registry import record_promotion, register_checkpoint
    from serving.critique.calibration import Calibration, save_calibration
    from serving.critique.verifier import CALIBRATION_FILE

    newer = tmp_path / "verifier-b"
    shutil.copytree(tiny_verifier, newer)
    own = Calibration(coef={"verifier_logit": 1.0, "verifier_present": 0.5}, intercept=-0.25,
                      trained_on={"source": "test"})
    save_calibration(own, newer / CALIBRATION_FILE)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_db(url)
    db = make_engine(url)
    try:
        run_in_transaction(db, lambda s: register_checkpoint(session=s, checkpoint_id="verifier-a",
                                                             path=str(tiny_verifier), kind="verifier", status="live"))
        settings = CritiqueSettings(use_judge=False, self_consistency_k=0, compute_reference=False,
                                    verifier_dtype="float32", verifier_refresh_s=0.0)
        critic = MathCritic(settings, verifier=resolve_verifier(settings, db), db=db)
        first = critic.critique(QUESTION, ANSWER)
        assert critic.verifier.checkpoint_id == "verifier-a" and first.calibration_version != own.version

        def promote_b(s) -> None:
            register_checkpoint(session=s, checkpoint_id="verifier-b", path=str(newer), kind="verifier",
                                parent_id="verifier-a", status="candidate", gate_passed=True)
            record_promotion(session=s, to_id="verifier-b", by_user="training", evaluation={})

        run_in_transaction(db, promote_b)
        second = critic.critique(QUESTION, ANSWER)
        assert critic.verifier.checkpoint_id == "verifier-b"
        assert second.calibration_version == own.version and second.parts["verifier"].score is not None
        assert critic.refresh_verifier(force=True) is False  # nothing new
    finally:
        db.dispose()
    broken = MathCritic(settings, verifier=critic.verifier, db=make_engine(f"sqlite:///{tmp_path / 'nope' / 'x.db'}"))
    assert broken.refresh_verifier(force=True) is False and broken.verifier.checkpoint_id == "verifier-b"


def test_a_configured_verifier_path_is_never_replaced(tiny_verifier: Path) -> None:
    settings = CritiqueSettings(use_judge=False, self_consistency_k=0, verifier_path=tiny_verifier,
                                verifier_dtype="float32", verifier_refresh_s=0.0)
    critic = MathCritic(settings, verifier=resolve_verifier(settings), db=object())
    assert critic.refresh_verifier(force=True) is False


def test_torch_threads_are_set_for_the_block_and_restored() -> None:
    import torch

    from serving.critique.verifier import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
