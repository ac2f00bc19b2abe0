"""Labelled answers that other writers wrote, which every calibration fit takes in beside the policy's own.

The part calibration turns the critic's evidence into the student's confidence. Fitted on the policy's answers
alone, it can only weigh the flaws that policy makes: the 135M default almost never answers in the wrong unit or
rounds an intermediate value (4 of 1,504 committed answers), so those signs got next to no weight, and on a
capable writer's answers, where they are the usual trace of a wrong answer, the confidence ignored them. A small
hand-written set in capable models' styles (``serving/critique/data/capable_styles_64.jsonl``, 32 right and 32
wrong) joins every fit (the shipped default calibration, the shipped verifier's, and each cycle's), as the critic
meets those answers: no reference and no samples, and with the reference. Set B (``capable_styles_b_80.jsonl``)
and set C (``capable_styles_c_100.jsonl``) never join a fit: they measure whether this generalises.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from pathlib import Path

from mathchat.jsonl import read_jsonl
from serving.critique.calibration import STEP_FEATURES, part_features
from serving.critique.steps import check_steps_part
from training.formats import VerifierRow

OTHER_WRITERS_PATH = Path(__file__).resolve().parents[1] / "serving" / "critique" / "data" / "capable_styles_64.jsonl"
"""The set every fit takes in (set A)."""
SET_B_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_b_80.jsonl")
"""Set B: 40 other problems, written apart from set A and from the checks; no fit ever takes it in."""
SET_C_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_c_100.jsonl")
"""Set C: 50 more problems by another writer who never saw the checks or sets A and B; no fit takes it in, and
its answers were not read while the checks were written (it measures them)."""
SET_D_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_d_100.jsonl")
"""Set D: 50 more problems by a fourth writer who saw neither the checks nor the other sets (2026-12-07); its wrong
answers were not read, its right ones only where the step reader misread them (the fixes of that day)."""
SET_E_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_e_100.jsonl")
"""Set E: 50 more problems by a fifth writer, asked for the styles and the error mix of 2023-24 open chat models
(2026-12-07); measured as it came, then its right answers read where the step reader misread them."""
SET_F_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_f_100.jsonl")
"""Set F: 50 more by a sixth writer (small instruction-tuned models, GPT-3.5, GSM8K's format, Python code, LaTeX;
2026-12-07), measured as it came, then its right answers read where the step reader misread them."""
SET_G_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_g_100.jsonl")
"""Set G: 50 more by a seventh writer (WizardMath, Llama-3, Mistral, Qwen-Math styles; 2026-12-07), measured as it
came after the fixes from sets E and F, then its right answers read where misread."""
SET_H_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_h_100.jsonl")
"""Set H: 50 more by an eighth writer (GSM8K-test-like problems; Llama-2, Mistral, Gemma, GPT-4 styles; 2026-12-08),
measured as it came after the fixes from sets E to G, then its right answers read where misread."""
SET_I_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_i_100.jsonl")
"""Set I: 50 more by a ninth writer (2024-25 frontier assistants: Claude, GPT-4o, Gemini, Llama-3.1 styles;
2026-12-08), measured as it came, then one misread right answer read ("3⅓")."""
SET_J_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_j_100.jsonl")
"""Set J: 50 more by a tenth writer (MetaMath, DeepSeek-Math, Phi-3, words for operations, markdown tables, Python;
2026-12-08), measured as it came and after the mends from sets E to I, then its misread right answers read."""
SET_K_PATH = OTHER_WRITERS_PATH.with_name("capable_styles_k_100.jsonl")
"""Set K: 50 more by an eleventh writer (ChatGPT, Qwen2.5-Math, Gemma, Mistral, o1-mini, Claude-3 styles;
2026-12-08). No answer of it has been read: it measures the next reading mends, as it did those of 2026-12-08."""
HELD_OUT_SETS = {"b": SET_B_PATH, "c": SET_C_PATH, "d": SET_D_PATH, "e": SET_E_PATH, "f": SET_F_PATH,
                 "g": SET_G_PATH, "h": SET_H_PATH, "i": SET_I_PATH, "j": SET_J_PATH, "k": SET_K_PATH}
"""The other writers' sets no fit takes in, by name: what a calibration is measured on."""


def other_writer_rows(rows: Sequence[dict]) -> list[VerifierRow]:
    """Critique-eval rows (question, answer, is_correct) as VerifierRows with today's step features.

    >>> rows = other_writer_rows([{"id": "a", "question": "Tom has 3 boxes of 12 apples. How many apples?",
    ...                            "answer": "3 * 12 = 36. The answer is 36.", "is_correct": True}])
    >>> rows[0]["label"], rows[0]["source"], rows[0]["features"]["steps_checked"]
    (True, 'other_writers', 1.0)
    """
    out: list[VerifierRow] = []
    for r in rows:
        steps = part_features({"steps": check_steps_part(r["answer"], r["question"])})
        out.append({"id": f"other-{r['id']}", "question_id": f"other-{r['id'].rsplit('-', 1)[0]}",
                    "question": r["question"], "answer": r["answer"], "label": bool(r["is_correct"]),
                    "split": "other_writers", "checkpoint": None, "temperature": None, "source": "other_writers",
                    "sample_id": None, "finish_reason": "stop", "run_id": None,
                    "features": {k: steps[k] for k in STEP_FEATURES if steps[k]}})
    return out


def load_other_writer_rows(path: Path = OTHER_WRITERS_PATH) -> list[VerifierRow]:
    """The shipped set A, ready for a fit: read and step-checked once per process (a verifier training asks
    twice, for its writer check and for its calibration); each call gets its own copy."""
    return copy.deepcopy(list(_checked_rows(path)))


@functools.cache
def _checked_rows(path: Path) -> tuple[VerifierRow, ...]:
    return tuple(other_writer_rows(list(read_jsonl(path))))
