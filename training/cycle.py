"""One self-critique cycle (ChatGLM-Math): sample -> critique -> RFT -> sample -> DPO -> evaluate -> candidate.

Stages, each timed on the TrainingRun row and in ``cycle.json``:

0. ``adapt``: the previous run's gate verdict adjusts this run's settings (``training/adapt.py``: after a
   perplexity refusal, lower learning rates; after too small a gain, more questions);
   the adaptation is recorded on the run and in ``cycle.json``, and the run's config is the adapted one.
1. ``pool``: seed questions + logged student questions, split by question hash; held-out never trains. A logged
   question whose students agree on the right answer (or whose one correction the symbolic check confirms)
   carries it as its reference (``training/corrections.py``); a seed's reference is never overruled, and only
   seed questions evaluate.
2. ``sample_live``: k samples per training question from the live checkpoint, critiqued; general prompts
   answered; the live checkpoint evaluated on the held-out set (cached per checkpoint and question set).
3. ``build_rft`` / ``train_sft``: mixed-outcome passing answers (+ general rows) -> SFT in a subprocess.
4. ``sample_rft``, ``sample_rft2``, ...: round r (2..``rft_rounds``) samples and critiques the round r-1
   model on training questions no earlier round used, drawn by each level's mixed-outcome yield in the
   round before (``training/question_choice.py``); ``build_rft{r}`` / ``train_sft{r}`` fine-tune that model on
   its own passing answers. Intermediate models are evaluated only with ``eval_every_round``; the last RFT
   model always is (``eval_rft{N}``). With one round and DPO, round 1's model is sampled for DPO only.
   A round projected past the perplexity guard or the time budget is not trained (``training/round_stop.py``;
   ``progress["round_stop"]``): its questions are still sampled for DPO, which starts from the model before it.
5. ``build_dpo`` / ``train_dpo``: largest-gap pairs (+ rated student answers) -> DPO(+CE) in a subprocess,
   starting from the last RFT model trained.
6. ``eval_dpo``, ``register``: the best checkpoint (one that passed its gate first, then strict held-out
   accuracy, then critique mean) is registered as the candidate with its gate verdict; the others are
   registered ``rejected`` for lineage.
   The live checkpoint is never changed here (only by step 8, when it is on).
7. ``train_verifier`` (``train_verifier=true``): the run's reference-checked samples join the verifier rows kept
   across cycles; a verifier trained on them replaces the live verifier only when its held-out AUROC beats it
   on the same rows (``training/verifier_stage.py``). Its failure is logged; the policy candidate stands. Under
   a time budget its cost is projected from one answer's pass timed here (``deps.time_verifier_pass``): it
   runs only where it fits and is otherwise deferred (``cycle.json["verifier"]["deferred"]``), its rows kept;
   the next cycle then gives it a round's priority (``verifier_first``), so a slow machine alternates.
8. ``auto_promote`` (``TrainingSettings.auto_promote``, off by default): a candidate that passed its gate is
   promoted, recorded as automatic, so the next cycle starts from it (``training/auto_promote.py``); what
   happened, or why not, is in ``progress["auto_promote"]`` and ``cycle.json``.

A crash marks the run failed with its log; the next cycle starts again from whatever is live.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from mathchat.jsonl import read_jsonl, write_jsonl
from mathchat.settings import Settings
from serving.critique.types import Critic
from serving.engine import PolicyEngine
from training.adapt import Adaptation, adapt_config
from training.auto_promote import auto_promote_step
from training.config import CycleConfig, TrainJob
from training.cycle_deps import CycleDeps, default_deps
from training.cycle_samples import (critique_rated, questions_sampled_before, rft_pass_rule, run_folder,
                                    sample_and_critique, sample_pass_rate, samples_to_rows, with_critiques)
from training.dpo_data import pair_by_score_gap
from training.eval_report import write_reports
from training.evaluate import evaluate
from training.gate import gate, pick_best, tolerance_over_live
from training.general_data import answer_general_prompts, build_general_rows, load_general_prompts, mix_rows
from training.manifest import BuildResult, sha256_rows, write_dataset
from training.corrections import agreed_references
from training.pool import (USER_SOURCE, PoolQuestion, build_seed_pool, logged_to_pool, merge_pools, question_key,
                           select_sources, split_pool, write_mathusereval_jsonl)
from training.question_choice import choose_training_questions, later_round_questions, mixed_yield, stratum
from training.rft_data import select_rft_examples
from training.round_stop import (RestPlan, RoundTimes, plan_rest, replay_row_cap, train_stage,
                                 verifier_fits, verifier_stage_seconds)
from training.run_record import CycleBusy, RunRecorder
from training.sampling_plan import pass_rates, plan_round, samples_by_question
from training.samples import ScoredSample
from training.thumbs import ThumbsRule
from training.replay import replay_rows
from training.start_point import StartPoint, unproven_start

log = logging.getLogger(__name__)

REPLAY_FILE = "replay_rft"
"""Round 1's rows when it retrains from the base (not ``rft*``, which holds each round's own rows)."""
REPLAY_RESERVE_S = 150.0
"""Seconds kept after a retrain-from-base round 1, beyond one held-out evaluation: the server that evaluates it
starts (vLLM on 2 CPU cores: 40-90 s with a warm compile cache), and the evaluation when live's came from the cache."""

# --- pure helpers --------------------------------------------------------------------------------


class Cycle:
    """One run of the loop; ``run()`` returns the result dict also written to ``cycle.json``."""

    def __init__(self, settings: Settings, cfg: CycleConfig, *, db, deps: CycleDeps, trigger: str = "manual"):
        self.settings, self.cfg, self.db, self.deps, self.trigger = settings, cfg, db, deps, trigger
        self.result: dict[str, Any] = {"config": cfg.model_dump(mode="json"), "stages": {}}
        self.pass_mark = settings.critique.pass_threshold
        self.last_eval_s = self.last_sampling_s = 0.0  # the latest evaluation and round sampling (round_stop)
        self.last_sampled_questions = 0
        self.base: dict[str, str] = {}
        self.base_ppl: float | None = None  # the chain's base model, measured once live is no longer it
        self.verifier_first = False  # the last run deferred its verifier stage: it comes before a round now
        self.previous = None  # the last succeeded run (training.adapt.PreviousRun)
        self.start: StartPoint | None = None  # the unproven candidate this run continues from; None: live

    # small helpers
    def _eval(self, engine: PolicyEngine, path: str, questions: Sequence[PoolQuestion], critic: Critic | None,
              stage: str, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
        ec = self.cfg.eval
        began = time.monotonic()
        report = evaluate(engine, questions, system=self.cfg.system_prompt, max_tokens=ec.max_tokens,
                          concurrency=ec.concurrency, critic=critic if ec.use_critic else None, model_path=path,
                          perplexity=self.deps.perplexity(path), baseline=baseline, pass_mark=self.pass_mark,
                          on_progress=lambda d, t: self.rec.progress(stage, done=d, total=t))
        self.last_eval_s = time.monotonic() - began
        return report

    def _sample(self, engine: PolicyEngine, critic: Critic, questions: Sequence[PoolQuestion], *, k: int, seed: int,
                desc: str, stage: str) -> list[ScoredSample]:
        """``sample_and_critique`` for a round, timed for the round-stop projection."""
        began = time.monotonic()
        samples = sample_and_critique(engine, critic, questions, self.cfg, k=k, seed=seed, desc=desc,
                                      on_progress=self._progress_cb(stage), pass_mark=self.pass_mark)
        self.last_sampling_s = time.monotonic() - began
        self.last_sampled_questions = len({s.question_id for s in samples})
        return samples

    def _plan_rest(self, r: int, reports: dict[str, dict[str, Any]], live_report: dict[str, Any],
                   last_round: int, next_questions: int) -> RestPlan:
        """Whether round ``r`` is trained and DPO runs (``training/round_stop.py``), from what was measured."""
        cfg = self.cfg
        names = [_round_name(i) for i in range(1, last_round + 1)]
        live_ppl = live_report.get("perplexity")
        ratios = [reports[n]["perplexity"] / live_ppl for n in names
                  if live_ppl and n in reports and reports[n].get("perplexity")]
        if len(ratios) == len(names) and self.start and self.start.ppl_ratio and not cfg.retrain_from_base:
            # round 1 fine-tuned the unproven candidate: it added only its own drift to that one's
            ratios, names = [self.start.ppl_ratio, *ratios], ["start", *names]
        scale = next_questions / self.last_sampled_questions if self.last_sampled_questions else 1.0
        times = RoundTimes(self.last_sampling_s * scale,
                           self.rec.timings.get(train_stage(last_round), 0.0), self.last_eval_s)
        return plan_rest(round_no=r, another_round=r <= cfg.rft_rounds,
                         ppl_ratios=ratios if len(ratios) == len(names) else [],
                         ppl_tolerance=tolerance_over_live(cfg.eval.ppl_tolerance, live_ppl, self.base_ppl,
                                                           cfg.eval.base_ppl_tolerance),
                         stop_on_drift=cfg.stop_rounds_on_drift,
                         elapsed_s=time.monotonic() - self.started, last=times, budget_s=cfg.time_budget_s,
                         run_dpo=cfg.run_dpo, verifier_s=self._verifier_projection() or 0.0,
                         verifier_first=self.verifier_first)

    @cached_property
    def verifier_pass_timing(self) -> tuple[float, float] | None:
        """(seconds of one answer's whole verifier pass, probe-only share) on this machine, timed once a run on 24
        of the live model's samples (``deps.time_verifier_pass``; the first batch warms up) where a time budget
        needs it; None when it could not be timed."""
        if not self.cfg.train_verifier or self.cfg.time_budget_s is None:
            return None
        timing = None
        try:
            rows = read_jsonl(Path(self.result["run_dir"]) / "samples_live.jsonl")[:24]
            timing = self.deps.time_verifier_pass(self.result["live"]["path"],
                                                  [(r["question"], r["answer"]) for r in rows])
        except Exception:  # noqa: BLE001 - without it the verifier stage runs unprojected, as it always did
            log.exception("could not time the verifier's pass")
        self.rec.log(f"verifier pass timed (seconds an answer, probe share): {timing}")
        return timing

    def _verifier_projection(self, counts: dict[str, int] | None = None) -> float | None:
        """The verifier stage's projected seconds: for ``counts`` (train, held_out, support rows), else for the
        settings' caps (None: not timed)."""
        timing = self.verifier_pass_timing
        if timing is None:
            return None
        vc = self.cfg.verifier
        counts = counts or {"train": vc.max_rows or 800, "held_out": vc.max_held_out or 400,
                            "support": vc.support_rows}
        return verifier_stage_seconds(timing[0], train_rows=counts["train"], held_out_rows=counts["held_out"],
                                      support_rows=counts["support"], probe_share=timing[1])

    def _eval_live(self, engine: PolicyEngine, live: dict[str, Any], eval_set: Sequence[PoolQuestion],
                   cache_path: Path, critic: Critic | None = None) -> dict[str, Any]:
        """Live's held-out evaluation on ``engine`` (serving live), kept in the cache for the runs after."""
        report = self._eval(engine, live["path"], eval_set, critic or self.deps.make_critic(engine), "sample_live")
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(report, ensure_ascii=False, default=str))
        return report

    def _cached_live_eval(self, live_id: str, questions: Sequence[PoolQuestion]) -> tuple[Path, dict | None]:
        key = sha256_rows([[q.source, q.question_id, q.question] for q in questions] + [self.cfg.system_prompt,
                                                                                         self.cfg.eval.max_tokens])
        path = Path(self.settings.training.workdir) / "eval_cache" / f"{live_id}-{key[:16]}.json"
        if path.is_file():
            return path, json.loads(path.read_text(encoding="utf-8"))
        return path, None

    def _progress_cb(self, stage: str) -> Callable[[int, int], None]:
        return lambda done, total: self.rec.progress(stage, done=done, total=total)

    def run(self) -> dict[str, Any]:
        from feedback.db import run_in_transaction
        from feedback.registry import ensure_live_checkpoint
        from serving.model_cache import base_checkpoint_id
        from training.store_io import load_logged_questions, load_rated_samples

        cfg, adaptation = self._adapt(run_in_transaction)
        settings = self.settings
        workroot = Path(settings.training.workdir)
        workroot.mkdir(parents=True, exist_ok=True)
        self.rec = RunRecorder.start(self.db, trigger=self.trigger, config=cfg.model_dump(mode="json"),
                                     log_path=None)
        self.rec.progress("adapt", force=True, status="done", **adaptation.to_dict())
        self.rec.log(f"adaptation: {adaptation.note}")
        if self.verifier_first:
            self.rec.log("the last run deferred its verifier stage: this one gives it priority over another RFT round")
        run_id = self.rec.run_id
        run_dir = run_folder(workroot, run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.result.update(run_id=run_id, run_dir=str(run_dir))
        self.started = time.monotonic()
        try:
            self.base = {"id": base_checkpoint_id(settings), "path": self.deps.base_model_path()}
            live = run_in_transaction(self.db, lambda s: _live_info(ensure_live_checkpoint(
                session=s, base_id=self.base["id"], base_path=self.base["path"], by_user="training",
                config={"source": settings.model.path or "embedded-default"})))
            self.result["live"] = live
            self.rec.log(f"live checkpoint {live['id']} at {live['path']}")
            start = self._start_from(live)
            candidate = self._run_stages(run_dir, live, start, run_in_transaction, load_logged_questions,
                                         load_rated_samples)
            if cfg.train_verifier:
                self.result["verifier"] = self._train_verifier(run_dir, live)
            self.result["auto_promoted"] = auto_promote_step(self.db, candidate and candidate["id"], live["id"],
                                                             self.settings.training.auto_promote, self.rec)
            self.result["total_seconds"] = round(time.monotonic() - self.started, 1)
            self.result["stages"] = dict(self.rec.timings)
            self.result["candidate"] = candidate
            (run_dir / "cycle.json").write_text(json.dumps(self.result, indent=2, ensure_ascii=False, default=str))
            self.rec.finish(ok=True, candidate_id=candidate["id"] if candidate else None)
            return self.result
        except BaseException as exc:
            err = "".join(traceback.format_exception(exc))[-8000:]
            self.result.update(error=err, stages=dict(self.rec.timings),
                               total_seconds=round(time.monotonic() - self.started, 1))
            (run_dir / "cycle.json").write_text(json.dumps(self.result, indent=2, ensure_ascii=False, default=str))
            try:
                self.rec.log(f"FAILED: {exc!r}")
                self.rec.finish(ok=False, error=err)
            except Exception:  # the DB itself may be the failure; the original error matters more
                log.exception("could not mark run %s failed", run_id)
            raise
        finally:
            self.deps.close()

    def _train_verifier(self, run_dir: Path, live: dict[str, Any]) -> dict[str, Any]:
        """The ``train_verifier`` stage (``training/verifier_stage.py``); if it fails, the policy candidate stands."""
        from serving.critique.critic import shipped_verifier
        from training.store_io import VERIFIER_DEFERRED
        from training.verifier_stage import run_verifier_stage

        try:
            with self.rec.stage("train_verifier"):
                shipped = shipped_verifier(self.settings, self.settings.critique)
                out = run_verifier_stage(db=self.db, cfg=self.cfg, workdir=Path(self.settings.training.workdir),
                                          checkpoints_dir=Path(self.settings.model.checkpoints_dir), run_dir=run_dir,
                                          run_id=self.rec.run_id, live=live, train=self.deps.train, log=self.rec.log,
                                          shipped=None if shipped is None else {"id": shipped.checkpoint_id,
                                                                                "path": str(shipped.path)},
                                          fits=lambda counts: verifier_fits(time.monotonic() - self.started,
                                                                            self._verifier_projection(counts),
                                                                            self.cfg.time_budget_s),
                                          started_from=self.start.id if self.start else None)
            if "deferred" in out:  # the next run gives the stage a round's priority (round_stop.plan_rest)
                self.rec.progress(VERIFIER_DEFERRED, force=True, status="done", reason=out["deferred"])
            return out
        except Exception as exc:  # noqa: BLE001 - the verifier is an extra; the policy's cycle result holds
            log.exception("train_verifier failed")
            self.rec.log(f"train_verifier failed: {exc!r}; the policy candidate stands")
            return {"error": repr(exc)}

    def _adapt(self, run_in_transaction) -> tuple[CycleConfig, Adaptation]:
        """This run's config after the previous run's gate verdict (``training/adapt.py``)."""
        from training.store_io import load_previous_run

        previous = run_in_transaction(self.db, lambda s: load_previous_run(session=s), read_only=True)
        if self.cfg.adapt:
            cfg, adaptation = adapt_config(previous, self.cfg)
        else:
            cfg, adaptation = self.cfg, Adaptation("adaptation off (adapt=false): configured settings")
        self.cfg = cfg
        self.verifier_first = bool(previous and previous.verifier_deferred and cfg.train_verifier)
        self.previous = previous
        self.result.update(config=cfg.model_dump(mode="json"), adaptation=adaptation.to_dict(),
                           verifier_first=self.verifier_first)
        return cfg, adaptation

    def _start_from(self, live: dict[str, Any]) -> dict[str, Any]:
        """The model this run samples and trains from: live, or the last run's candidate that gained too little to
        prove (``training/start_point.py``; ``CycleConfig.continue_unproven``)."""
        start, note = unproven_start(self.previous, live["id"]) if self.cfg.continue_unproven else (None, "")
        if start is not None and not Path(start.path).exists():
            start, note = None, f"{note}; but its folder {start.path} is gone: starting from live"
        if note:
            self.rec.log(note)
            self.rec.progress("start_point", force=True, status="done", note=note,
                              **({"id": start.id, "accuracy_delta": start.accuracy_delta} if start else {}))
        self.start = start
        self.result["start"] = start.to_dict() if start else None
        return {"id": start.id, "path": start.path} if start else live

    def _run_stages(self, run_dir: Path, live: dict[str, Any], start: dict[str, Any], run_in_transaction,
                    load_logged_questions, load_rated_samples) -> dict[str, Any] | None:
        cfg, rec = self.cfg, self.rec
        pc = cfg.pool

        with rec.stage("pool"):
            from serving.critique.question_solver import solve_question
            from training.store_io import load_corrections

            logged, corrections = run_in_transaction(self.db, lambda s: (
                load_logged_questions(session=s, limit=pc.logged_questions), load_corrections(session=s)),
                read_only=True)
            logged_keys = {question_key(text) for text, _ in logged}
            decided = agreed_references([c for c in corrections if question_key(c[0]) in logged_keys],
                                        min_agree=pc.correction_min_agree)
            seed_pool = build_seed_pool(pc.seed_questions, cfg.seed, level_weights=pc.level_weights,
                                        zh_fraction=pc.zh_fraction)
            pool = merge_pools(seed_pool, logged_to_pool(logged, decided.references))
            train_pool, held_out = split_pool(pool, pc.held_out_fraction)
            train_pool = select_sources(train_pool, pc.train_from)
            eval_set = [q for q in held_out if q.reference is not None and q.source != USER_SOURCE][:pc.eval_questions]
            held_keys = {question_key(q.question) for q in held_out}
            sampled = questions_sampled_before(Path(self.settings.training.workdir), before_run=self.rec.run_id)
            sampled_before = {q.question_id: sampled[key] for q in train_pool if (key := question_key(q.question))
                              in sampled}
            ordered = choose_training_questions(train_pool, len(train_pool), cfg.seed, sampled_before)
            questions = ordered[:cfg.questions]
            write_mathusereval_jsonl(eval_set, run_dir / "held_out.jsonl")
            write_mathusereval_jsonl(questions, run_dir / "train_questions.jsonl")
            self.result["pool"] = {"seed": len(seed_pool), "logged": len(logged), "train": len(train_pool),
                                   "held_out": len(held_out), "eval": len(eval_set), "sampled": len(questions),
                                   "sampled_before": len(sampled_before),
                                   "new_in_round_1": sum(q.question_id not in sampled_before for q in questions),
                                   "logged_with_reference": sum(q.source == USER_SOURCE and q.reference is not None
                                                                for q in pool),
                                   "logged_computable": sum(q.source == USER_SOURCE and q.reference is None
                                                            and solve_question(q.question) is not None
                                                            for q in pool),
                                   "corrections": decided.counts.to_dict()}
            rec.log(f"pool {self.result['pool']}")

        with rec.stage("sample_live"):
            cache_path, live_report = self._cached_live_eval(live["id"], eval_set)
            from_live = start["id"] == live["id"]
            if live_report is None and not from_live:  # the gate's baseline is live, whatever this run starts from
                with self.deps.open_engine(live["path"], live["id"], True) as engine:
                    live_report = self._eval_live(engine, live, eval_set, cache_path)
            with self.deps.open_engine(start["path"], start["id"], from_live) as engine:
                critic = self.deps.make_critic(engine)
                live_samples = self._sample(engine, critic, questions, k=cfg.k, seed=cfg.seed,
                                            desc="sample live" if from_live else f"sample {start['id']}",
                                            stage="sample_live")
                prompts = load_general_prompts()[:cfg.general_prompts] if cfg.rft.general_ratio > 0 else []
                answered = answer_general_prompts(engine, prompts, cfg.general_sampling, n=cfg.general_samples,
                                                  concurrency=cfg.sample_concurrency) if prompts else []
                if live_report is None:
                    live_report = self._eval_live(engine, live, eval_set, cache_path, critic)
                else:
                    rec.log(f"live evaluation reused from {cache_path}")
                if live["id"] != self.base["id"]:  # the base's own live evaluation, where a cycle made one
                    base_report = self._cached_live_eval(self.base["id"], eval_set)[1] or {}
                    self.base_ppl = base_report.get("perplexity") or self.deps.perplexity(self.base["path"])
                    self.result["base_perplexity"] = self.base_ppl
                rated: list[ScoredSample] = []
                if cfg.rft.use_thumbs:  # students' rated answers to the questions just sampled, as their siblings
                    stored = run_in_transaction(self.db, lambda session: load_rated_samples(
                        session=session, system=cfg.system_prompt, pass_mark=self.pass_mark), read_only=True)
                    rated = critique_rated(critic, stored, questions, live_samples, system=cfg.system_prompt,
                                           pass_mark=self.pass_mark)
            write_jsonl(samples_to_rows(live_samples), run_dir / "samples_live.jsonl")
            if rated:
                write_jsonl(samples_to_rows(rated), run_dir / "samples_rated.jsonl")
            self.result["live_samples"] = {"n": len(live_samples), "pass_rate": sample_pass_rate(live_samples, self.pass_mark)}

        general = build_general_rows(answered)
        with rec.stage("build_rft"):
            rft, rft_manifest = self._build_rft(list(live_samples) + rated, general, held_keys, run_dir, "rft",
                                                "samples_live", extra_counts={"rated_answers": len(rated)})
            self.result["rft_data"] = rft_manifest["counts"]
        if len(rft.rows) < cfg.min_rft_rows:
            rec.log(f"only {len(rft.rows)} RFT rows (< {cfg.min_rft_rows}); no training this cycle")
            self.result["skipped"] = "too few RFT rows"
            return None

        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
        trained: dict[str, dict[str, Any]] = {}  # name -> {id, kind, path, parent, manifest}, parents first

        def train(name: str, kind: str, data: str, manifest: dict[str, Any], start: dict[str, Any],
                  rft_round: int | None = None, weights: dict[str, Any] | None = None) -> dict:
            """Fine-tune ``weights`` (default: ``start``, the checkpoint it descends from) on ``data``."""
            ckpt_id = f"{name}-r{self.rec.run_id}-{stamp}"
            job = TrainJob(kind="dpo" if kind == "dpo" else "sft", data_path=run_dir / f"{data}.jsonl",
                           model_path=(weights or start)["path"],
                           output_dir=Path(self.settings.model.checkpoints_dir) / ckpt_id, sft=cfg.sft, dpo=cfg.dpo,
                           metadata={"checkpoint_id": ckpt_id, "parent": start["id"], "data_manifest": manifest,
                                     "run_id": self.rec.run_id, "weights_from": (weights or start)["id"]})
            path = str(self.deps.train(job, run_dir / f"job_{name}.json", run_dir / f"train_{name}.log"))
            if rft_round is not None:  # rows beside the stage's seconds: the next run's replay cap (round_stop)
                rec.progress(train_stage(rft_round), force=True, rows=manifest.get("rows"))
            trained[name] = {"id": ckpt_id, "kind": kind, "path": path, "parent": start["id"], "manifest": manifest,
                             "round": rft_round}
            return trained[name]

        data, weights = "rft", None
        if cfg.retrain_from_base and start["id"] != self.base["id"]:
            with rec.stage("build_replay"):
                rft_manifest = self._build_replay(start, held_keys, run_dir)
            data, weights = REPLAY_FILE, self.base
        with rec.stage(train_stage(1)):
            rft_ck = train("rft", "rft", data, rft_manifest, start, rft_round=1, weights=weights)

        reports: dict[str, dict[str, Any]] = {}
        model = rft_ck
        used = {s.question_id for s in live_samples}  # questions a stopped round never sent stay fresh
        prev_questions, prev_samples = list(questions), list(live_samples)
        last_samples: list[ScoredSample] = []
        self.result["rounds"] = {}
        # round r (2..N) samples the round r-1 model on new questions and fine-tunes it on its own passing
        # answers; DPO pairs come from the last samples drawn. With one round and DPO, round 1's model is
        # sampled for DPO only.
        run_dpo = cfg.run_dpo  # each round's plan may drop it to fit the time budget
        for r in range(2, max(cfg.rft_rounds, 2 if cfg.run_dpo else 1) + 1):
            final_sampling = r > cfg.rft_rounds
            rule = rft_pass_rule(cfg, ThumbsRule(self.settings.critique.verdict))
            yields = mixed_yield(prev_questions, prev_samples, rule)
            plan = plan_round(pass_rates(samples_by_question(prev_samples), rule), cfg.stop_at_mixed or 0,
                              available=sum(q.question_id not in used for q in ordered),
                              max_questions=2 * cfg.dpo_questions) if cfg.plan_by_yield else None
            round_questions = later_round_questions(ordered, used, plan.questions if plan else cfg.dpo_questions,
                                                    cfg.seed + r - 1, yields if cfg.later_rounds_by_yield else None,
                                                    stale=sampled_before)
            fresh = {q.question_id for q in round_questions} - used
            info = {"questions": len(round_questions), "new": len(fresh),
                    "previous_yield": {str(k): list(v) for k, v in sorted(yields.items(), key=str)},
                    "levels": {str(k): n for k, n in sorted(Counter(stratum(q) for q in round_questions).items(),
                                                            key=str)},
                    "plan": plan.__dict__ if plan else None}
            used |= {q.question_id for q in round_questions}
            write_mathusereval_jsonl(round_questions, run_dir / f"train_questions_round{r}.jsonl")
            self.result["rounds"][str(r)] = info
            rec.log(f"round {r}: previous model's mixed yield by level {info['previous_yield']}; "
                    f"sampling {info['levels']}")
            sample_stage = f"sample_{_round_name(r - 1)}"
            with rec.stage(sample_stage):
                with self.deps.open_engine(model["path"], model["id"], False) as engine:
                    critic = self.deps.make_critic(engine)
                    if final_sampling or cfg.eval_every_round:
                        reports[_round_name(model["round"])] = self._eval(engine, model["path"], eval_set, critic,
                                                                       sample_stage, baseline=live_report)
                    rest = self._plan_rest(r, reports, live_report, model["round"], len(round_questions))
                    info["rest"] = rest.to_dict()
                    run_dpo = rest.run_dpo
                    if rest.reason:
                        rec.log(rest.reason)
                        self.result.setdefault("rest_plan", []).append(rest.reason)
                        rec.progress("round_stop", force=True, status="done", **rest.to_dict())
                    if not rest.train_round:
                        final_sampling = True
                    if final_sampling and not run_dpo:
                        break
                    last_samples = self._sample(engine, critic, round_questions, k=plan.k if plan else cfg.dpo_k,
                                                seed=cfg.seed + r - 1, desc=f"sample {model['kind']} r{r - 1}",
                                                stage=sample_stage)
            used -= fresh - {s.question_id for s in last_samples}
            name = f"samples_{_round_name(r - 1)}"
            write_jsonl(samples_to_rows(last_samples), run_dir / f"{name}.jsonl")
            info["samples"] = {"n": len(last_samples), "pass_rate": sample_pass_rate(last_samples, self.pass_mark)}
            if r == 2:
                self.result["rft_samples"] = info["samples"]
            if final_sampling:
                break
            rname = _round_name(r)
            with rec.stage(f"build_{rname}"):
                built, built_manifest = self._build_rft(last_samples, general, held_keys, run_dir, rname, name)
                self.result[f"{rname}_data"] = built_manifest["counts"]
            if len(built.rows) < cfg.min_rft_rows:
                rec.log(f"only {len(built.rows)} round-{r} RFT rows (< {cfg.min_rft_rows}); rounds from {r} on skipped")
                break
            with rec.stage(train_stage(r)):
                model = train(rname, "rft", rname, built_manifest, model, rft_round=r)
            prev_questions, prev_samples = round_questions, last_samples
        if _round_name(model["round"]) not in reports:  # the last RFT model is always evaluated
            stage = f"eval_{_round_name(model['round'])}"
            with rec.stage(stage):
                reports[_round_name(model["round"])] = self._eval_checkpoint(model, eval_set, stage, live_report)

        if run_dpo:
            with rec.stage("build_dpo"):
                dc = cfg.dpo_data
                stored = run_in_transaction(self.db, lambda s: load_rated_samples(session=s,
                                                                                  system=cfg.system_prompt,
                                                                                  pass_mark=self.pass_mark),
                                            read_only=True)
                rated = with_critiques(stored, rated)  # the thumbs meet round 1's critique of the same answers
                dpo = pair_by_score_gap(list(last_samples) + rated, chosen_min=dc.chosen_min,
                                        rejected_max=dc.rejected_max, use_ratings=dc.use_ratings,
                                        require_stated_answer=dc.require_stated_answer,
                                        max_per_user=dc.max_per_user, exclude_questions=held_keys,
                                        min_confidence_unchecked=dc.min_confidence_unchecked,
                                        verdict=self.settings.critique.verdict, seed=cfg.seed)
                dpo.counts["rated_answers"] = len(rated)
                dpo_manifest = write_dataset("dpo", dpo, run_dir, config=dc,
                                             inputs={"samples_rft": sha256_rows(samples_to_rows(last_samples))})
                self._record_dataset("dpo", dpo_manifest)
                self.result["dpo_data"] = dpo_manifest["counts"]
            if len(dpo.rows) >= cfg.min_dpo_pairs:
                with rec.stage("train_dpo"):
                    dpo_ck = train("dpo", "dpo", "dpo", dpo_manifest, model)
                with rec.stage("eval_dpo"):
                    reports["dpo"] = self._eval_checkpoint(dpo_ck, eval_set, "eval_dpo", live_report)
            else:
                rec.log(f"only {len(dpo.rows)} DPO pairs (< {cfg.min_dpo_pairs}); DPO skipped")

        with rec.stage("register"):
            ec = cfg.eval
            decisions = {name: gate(rep, live_report, ec.margin, ec.ppl_tolerance,
                                    require_significant=ec.require_significant, base_perplexity=self.base_ppl,
                                    base_ppl_tolerance=ec.base_ppl_tolerance) for name, rep in reports.items()}
            for name, rep in reports.items():
                rep["gate"] = decisions[name].to_dict()
            best = pick_best(reports, {name: d.promotable for name, d in decisions.items()})
            write_reports([live_report, *reports.values()], run_dir / "eval")
            summary = {name: _report_summary(rep) for name, rep in reports.items()}
            summary["live"] = _report_summary(live_report)
            self.result["eval"] = summary
            chosen = trained[best]
            candidate = {"id": chosen["id"], "kind": chosen["kind"], "stage": best, "path": chosen["path"],
                         "gate": decisions[best].to_dict(), "parent": chosen["parent"]}

            def register(session) -> None:
                from feedback.registry import register_checkpoint

                for name, ck in trained.items():  # parents first, so lineage foreign keys hold
                    is_best = name == best
                    decision = decisions[name].to_dict() if name in decisions else None
                    metrics = {"eval": summary.get(name), "live_eval": summary["live"], "gate": decision,
                               "run_id": self.rec.run_id, "stage": name}
                    if name not in reports:
                        metrics["note"] = f"intermediate checkpoint (RFT round {ck['round']}), not evaluated"
                    register_checkpoint(session=session, checkpoint_id=ck["id"], path=ck["path"], kind=ck["kind"],
                                        parent_id=ck["parent"], status="candidate" if is_best else "rejected",
                                        gate_passed=decision["promotable"] if decision else None, metrics=metrics,
                                        manifest=ck["manifest"], config=cfg.model_dump(mode="json"))

            run_in_transaction(self.db, register)
            rec.log(f"candidate {candidate['id']} ({best}); gate: {'; '.join(decisions[best].reasons)}")
            return candidate

    def _build_rft(self, samples: Sequence[ScoredSample], general: BuildResult, held_keys: set[str], run_dir: Path,
                   name: str, source: str, extra_counts: dict[str, int] | None = None
                   ) -> tuple[BuildResult, dict[str, Any]]:
        """RFT rows from critiqued samples, mixed with general rows; writes and records the dataset."""
        cfg, rc = self.cfg, self.cfg.rft
        rft = select_rft_examples(samples, rc.min_score, max_per_question=rc.max_per_question,
                                  max_per_user=rc.max_per_user, similarity=rc.similarity,
                                  require_stated_answer=rc.require_stated_answer, exclude_questions=held_keys,
                                  min_confidence_unchecked=rc.min_confidence_unchecked,
                                  verdict=self.settings.critique.verdict, seed=cfg.seed)
        rft.counts.update(extra_counts or {})
        mixed = mix_rows(rft.rows, general.rows, rc.general_ratio, cfg.seed)
        mixed.counts = {**rft.counts, **{f"general_{k}": v for k, v in general.counts.items()}, **mixed.counts}
        mixed.filters = {**rft.filters, **mixed.filters}
        manifest = write_dataset(name, mixed, run_dir, config=rc, inputs={source: sha256_rows(samples_to_rows(samples))})
        self._record_dataset("rft", manifest)
        self.rec.log(f"{name} rows {len(rft.rows)} (+{mixed.counts['general_rows']} general)")
        return rft, manifest

    def _build_replay(self, start: dict[str, Any], held_keys: set[str], run_dir: Path) -> dict[str, Any]:
        """Round 1's rows when it retrains from the base: this cycle's plus the start lineage's (``training/replay.py``)."""
        from feedback.db import run_in_transaction
        from training.store_io import lineage_training_files

        files = run_in_transaction(self.db, lambda s: lineage_training_files(session=s, checkpoint_id=start["id"]),
                                   read_only=True)
        earlier = []
        for path in files:
            try:
                earlier.append(read_jsonl(Path(path)))
            except (OSError, ValueError) as exc:
                self.rec.log(f"replay: could not read {path} ({exc!r}); its rows are left out")
        current = read_jsonl(run_dir / "rft.jsonl")
        cap, why = replay_row_cap(elapsed_s=time.monotonic() - self.started, budget_s=self.cfg.time_budget_s,
                                  seconds_per_row=self.previous.sft_seconds_per_row if self.previous else None,
                                  reserve_s=self.last_eval_s + REPLAY_RESERVE_S, this_cycle_rows=len(current),
                                  max_rows=self.cfg.replay_max_rows)
        built = replay_rows(current, earlier, held_keys, cap)
        if why and built.counts["over_cap"]:
            self.rec.log(why)
            self.result.setdefault("rest_plan", []).append(why)
        manifest = write_dataset(REPLAY_FILE, built, run_dir, inputs={"files": ",".join(files)})
        self._record_dataset("rft", manifest)
        self.result["replay_data"] = built.counts
        self.rec.log(f"round 1 retrains the base {self.base['id']} on {built.counts['rows']} rows: {built.counts}")
        return manifest

    def _eval_checkpoint(self, ck: dict[str, Any], eval_set: Sequence[PoolQuestion], stage: str,
                         live_report: dict[str, Any]) -> dict[str, Any]:
        with self.deps.open_engine(ck["path"], ck["id"], False) as engine:
            return self._eval(engine, ck["path"], eval_set, self.deps.make_critic(engine), stage,
                              baseline=live_report)

    def _record_dataset(self, kind: str, manifest: dict[str, Any]) -> None:
        from feedback.db import run_in_transaction
        from feedback.registry import record_dataset

        run_in_transaction(self.db, lambda s: record_dataset(
            session=s, kind=kind, path=manifest["path"], count=manifest["rows"], content_hash=manifest["sha256"],
            manifest=manifest, run_id=self.rec.run_id))


def _round_name(r: int) -> str:
    """Checkpoint/stage name of RFT round ``r``: rft, rft2, rft3, ...

    >>> _round_name(1), _round_name(3)
    ('rft', 'rft3')
    """
    return "rft" if r == 1 else f"rft{r}"


def _live_info(checkpoint) -> dict[str, Any]:
    return {"id": checkpoint.id, "path": checkpoint.path, "kind": checkpoint.kind}


def _report_summary(report: dict[str, Any]) -> dict[str, Any]:
    """A report without its per-question items (what goes into the DB row)."""
    return {k: v for k, v in report.items() if k != "items"}


def run_cycle(settings: Settings, cfg: CycleConfig, *, trigger: str = "manual", deps: CycleDeps | None = None,
              db=None) -> dict[str, Any]:
    """Run one cycle against the app's database; raises CycleBusy if another run is active."""
    from feedback.db import make_engine, upgrade_db

    owns_db = db is None
    if db is None:
        upgrade_db(settings.database.url)
        db = make_engine(settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms)
    try:
        return Cycle(settings, cfg, db=db, deps=deps or default_deps(settings, cfg), trigger=trigger).run()
    finally:
        if owns_db:
            db.dispose()


__all__ = ["Cycle", "CycleBusy", "CycleDeps", "default_deps", "pick_best", "run_cycle"]
