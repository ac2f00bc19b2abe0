"""The operator console (Gradio): runs, datasets, candidates vs live, feedback, confidence; promote and roll back.

The page is mounted with ``auth_dependency=auth.operator_only``, and every handler checks the role again
against the database (``require_operator``): a Gradio endpoint can be called directly, and a demoted or
disabled operator loses access at once. Handlers take UI values, call one ``console.views.build_*`` view
(one transaction) or one action, and map the result onto UI values; plots come from ``console.plots``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import gradio as gr
import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from console import confidence, evaluation, plots, run_files, tables, views
from console.promotion import PromotionResult, promote, rollback
from feedback import reads
from feedback.db import run_in_transaction
from feedback.errors import InvalidInput, StoreUnavailable
from mathchat.settings import Settings
from serving.critique.critic import shipped_verifier
from serving.live_model import LiveModelSync
from serving.web_auth import SessionUser, WebAuth

T = TypeVar("T")
REFRESH_S = 5.0
"""How often the training-runs panel refreshes itself (seconds)."""
SWITCH_POLL_S = 5.0
"""How often the promote panel updates while a switch runs (seconds)."""
SWITCH_WAIT_FACTOR = 2.0
"""The panel follows a switch for this many server start-up timeouts (start + drain), then says it still runs."""


class NotOperator(gr.Error):
    """The request is not from a signed-in operator."""


def require_operator(auth: WebAuth, request: gr.Request | None) -> SessionUser:
    """The operator making this request, checked against the database now; refuses anyone else."""
    raw = getattr(request, "request", None)
    user = auth.user_from_request(raw) if raw is not None else None
    if user is None:
        raise NotOperator("Sign in as an operator first.")
    if not user.is_operator:
        raise NotOperator("Operators only.")
    return user


def to_frame(table: tables.Table) -> pd.DataFrame:
    """A console table as a DataFrame for gr.Dataframe."""
    return pd.DataFrame(table.rows, columns=table.headers)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class ConsoleActions:
    """The console's handlers (plain methods, so tests call them with a fake request)."""

    def __init__(self, settings: Settings, db: Engine, sync: LiveModelSync, auth: WebAuth,
                 start_cycle: Callable[[], int | None] | None = None) -> None:
        self.settings, self.db, self.sync, self.auth = settings, db, sync, auth
        self.start_cycle_fn = start_cycle

    def _read(self, work: Callable[[Session], T]) -> T:
        try:
            return run_in_transaction(self.db, work, retries=1)
        except StoreUnavailable as exc:
            raise gr.Error(str(exc)) from exc

    # --- training runs ----------------------------------------------------------------------

    def runs(self, run_id: int | None, request: gr.Request) -> tuple:
        """Runs list, the chosen (or newest) run's summary, progress, timings plot, log tail, manifest."""
        require_operator(self.auth, request)
        view = self._read(lambda s: views.build_run_view(session=s, run_id=run_id))
        run = view.run
        progress = tables.progress_table(run.progress if run else {})
        return (gr.update(choices=view.choices()), to_frame(tables.runs_table(view.runs)),
                tables.run_summary_markdown(run), to_frame(progress),
                plots.plot_stage_timings(tables.stage_timings(run.progress if run else {})),
                run_files.run_log_tail(run) if run else "", _json(tables.run_manifest(run)) if run else {})

    def start_cycle(self, request: gr.Request) -> str:
        """Launch ``mathchat cycle`` as a detached subprocess (it refuses itself if a run is active)."""
        user = require_operator(self.auth, request)
        if self.start_cycle_fn is None:
            return "Starting a cycle from the console is not available here; run `mathchat cycle`."
        pid = self.start_cycle_fn()
        if pid is None:
            return "Not started: a training run is already queued or running."
        return f"Cycle started by {user.username} (process {pid}); it appears in the list within seconds."

    # --- datasets ---------------------------------------------------------------------------

    def datasets(self, request: gr.Request) -> tuple:
        """Datasets list, total rows per kind, and the dataset picker."""
        require_operator(self.auth, request)
        rows = self._read(lambda s: reads.list_dataset_infos(session=s))
        counts = tables.counts_by_kind(rows)
        text = " · ".join(f"**{kind}**: {n} rows" for kind, n in counts.items()) or "No datasets recorded yet."
        choices = [(f"{d.id} · {d.kind} · run {d.run_id} · {d.count} rows", d.id) for d in rows]
        return text, to_frame(tables.datasets_table(rows)), gr.update(choices=choices)

    def dataset(self, dataset_id: int | None, request: gr.Request) -> tuple:
        """One dataset: score histogram of its samples, first rows, manifest."""
        require_operator(self.auth, request)
        view = self._read(lambda s: views.build_dataset_view(session=s, dataset_id=dataset_id))
        title = (f"critique scores of the samples behind dataset {view.dataset.id}" if view.dataset
                 else "critique scores")
        return (plots.plot_score_histogram(view.scores, title, self.settings.critique.pass_threshold),
                to_frame(view.examples),
                _json(view.dataset.manifest) if view.dataset else {})

    # --- candidates vs live -----------------------------------------------------------------

    def checkpoints(self, request: gr.Request) -> Any:
        """The checkpoint picker (policy checkpoints, newest first)."""
        require_operator(self.auth, request)
        rows = self._read(lambda s: reads.list_checkpoint_infos(session=s))
        return gr.update(choices=[(f"{c.id} · {c.kind} · {c.status}", c.id) for c in rows
                                  if c.kind != "critic"])

    def candidate(self, checkpoint_id: str | None, request: gr.Request) -> tuple:
        """Evaluation table, plots and side-by-side answers for a candidate against live."""
        require_operator(self.auth, request)
        view = self._read(lambda s: views.build_candidate_view(session=s, checkpoint_id=checkpoint_id or None))
        note = "" if view.comparison_id or view.candidate is None else \
            "\n\nNo per-question answers found for comparison (the evaluation report file is missing)."
        return (to_frame(view.table), view.gate + note,
                plots.plot_score_histogram(view.scores, "critique scores on the held-out set",
                                           self.settings.critique.pass_threshold),
                plots.plot_category_bars(view.categories),
                plots.plot_lineage(view.lineage), to_frame(view.answers))

    # --- feedback ---------------------------------------------------------------------------

    def feedback(self, days: float, request: gr.Request) -> tuple:
        """Volume per day, thumbs-up rate per checkpoint, judge-human agreement over the last ``days``."""
        require_operator(self.auth, request)
        since = datetime.now(UTC) - timedelta(days=float(days)) if days else None
        view = self._read(lambda s: views.build_feedback_view(session=s, since=since))
        return (plots.plot_volume(view.volume), plots.plot_thumbs_by_checkpoint(view.thumbs),
                plots.plot_agreement(view.agreement), to_frame(view.thumbs_table()))

    # --- confidence -------------------------------------------------------------------------

    def confidence(self, checkpoint_id: str | None, request: gr.Request) -> tuple:
        """Verifier checkpoints, the picked one's out-of-sample reliability plot and summary, the app's calibration."""
        require_operator(self.auth, request)
        shipped = shipped_verifier(self.settings, self.settings.critique)
        view = self._read(lambda s: confidence.build_confidence_view(
            session=s, checkpoint_id=checkpoint_id or None, critique=self.settings.critique,
            shipped_verifier_path=str(shipped.path) if shipped is not None else None))
        return (gr.update(choices=view.choices()), to_frame(view.table), view.summary,
                plots.plot_reliability(confidence.reliability_series(view.selected),
                                       confidence.reliability_title(view.selected)),
                confidence.app_calibration_markdown(view.app_calibration))

    # --- promote / roll back ----------------------------------------------------------------

    def promote_panel(self, request: gr.Request) -> tuple:
        """Status of serving vs the DB, the candidate picker, the audit trail, and the lineage of live models."""
        require_operator(self.auth, request)
        view = self._read(lambda s: views.build_promote_view(session=s))
        status = tables.sync_status_markdown(self.sync.state, view.live.id if view.live else None)
        status += f"\n\nA rollback would return to **{view.rollback_to}**." if view.rollback_to else \
            "\n\nThere is no earlier live checkpoint to roll back to."
        return status, gr.update(choices=view.choices), to_frame(view.promotions), view.chain, to_frame(view.lineage)

    def gate(self, checkpoint_id: str | None, request: gr.Request) -> str:
        """The picked candidate's gate result."""
        require_operator(self.auth, request)
        if not checkpoint_id:
            return "Pick a checkpoint."
        info = self._read(lambda s: reads.get_checkpoint_info(session=s, checkpoint_id=checkpoint_id))
        return evaluation.gate_markdown(info)

    def _switch(self, action: Callable[[], PromotionResult], verb: str) -> Iterator[str]:
        """Record the promotion, then follow its switch (performed here or by the sync loop) until it ends."""
        try:
            result = action()
        except InvalidInput as exc:
            yield f"**Not {verb}:** {exc}"
            return
        head = (f"**Done — {result.action}:** {result.from_id or '-'} → **{result.to_id}**"
                + (" (**gate overridden**, recorded)" if result.override else ""))
        status = self.sync.request_switch(result.to_id)
        deadline = time.monotonic() + SWITCH_WAIT_FACTOR * self.settings.vllm.startup_timeout_s
        while not status.finished and time.monotonic() < deadline:
            yield head + f"\n\nSwitching the server ({status.state}, serving **{status.served}** until it is ready) …"
            status = self.sync.wait_for(result.to_id, SWITCH_POLL_S)
        yield head + "\n\n" + tables.switch_status_markdown(status)

    def promote(self, checkpoint_id: str | None, override: bool, request: gr.Request) -> Iterator[str]:
        """Promote the picked checkpoint (override recorded), then switch the server and show the report."""
        user = require_operator(self.auth, request)
        if not checkpoint_id:
            yield "Pick a checkpoint to promote."
            return
        yield from self._switch(lambda: promote(self.db, checkpoint_id, by_user=user.username,
                                                override=bool(override)), "promoted")

    def rollback(self, request: gr.Request) -> Iterator[str]:
        """Roll back to the previous live checkpoint, then switch the server and show the report."""
        user = require_operator(self.auth, request)
        yield from self._switch(lambda: rollback(self.db, by_user=user.username), "rolled back")


def default_cycle_launcher(settings: Settings) -> Callable[[], int | None]:
    """Starts ``mathchat cycle --trigger manual`` detached (training.scheduler.launch_cycle)."""

    def launch() -> int | None:
        from training.scheduler import launch_cycle

        return launch_cycle(extra_args=["--trigger", "manual"], log_dir=str(settings.training.workdir))

    return launch


def build_console(settings: Settings, db: Engine, sync: LiveModelSync, auth: WebAuth,
                  actions: ConsoleActions | None = None) -> gr.Blocks:
    """The operator page; every event goes through a role-checked ConsoleActions method."""
    act = actions or ConsoleActions(settings, db, sync, auth, start_cycle=default_cycle_launcher(settings))
    with gr.Blocks(title="mathchat · operator") as console:
        gr.Markdown("# mathchat operator console\n[Chat](/chat/) · [Sign out](/logout)")
        with gr.Tabs():
            with gr.Tab("Training runs"):
                with gr.Row():
                    run_pick = gr.Dropdown(label="Run (empty: newest)", choices=[], value=None, scale=3,
                                           allow_custom_value=True)
                    auto = gr.Checkbox(label=f"Refresh every {REFRESH_S:.0f} s", value=True, scale=1)
                    start = gr.Button("Start a cycle now", scale=1)
                start_msg = gr.Markdown()
                run_summary = gr.Markdown()
                progress = gr.Dataframe(label="Progress per stage", interactive=False)
                timings = gr.Plot(label="Stage timings")
                log_box = gr.Textbox(label="Log (tail)", lines=14, max_lines=30, autoscroll=True)
                manifest = gr.JSON(label="Data manifest")
                runs_table = gr.Dataframe(label="Recent runs", interactive=False)
                timer = gr.Timer(REFRESH_S)
                run_outputs = [run_pick, runs_table, run_summary, progress, timings, log_box, manifest]
                timer.tick(act.runs, [run_pick], run_outputs, show_progress="hidden", api_name="runs_tick")
                run_pick.change(act.runs, [run_pick], run_outputs, api_name="runs")
                auto.change(lambda on: gr.Timer(active=bool(on)), [auto], [timer], api_visibility="private")
                start.click(act.start_cycle, None, [start_msg], api_name="start_cycle")
            with gr.Tab("Datasets") as datasets_tab:
                counts = gr.Markdown()
                dataset_pick = gr.Dropdown(label="Dataset (empty: newest)", choices=[], value=None,
                                           allow_custom_value=True)
                hist = gr.Plot(label="Critique scores of the samples")
                examples = gr.Dataframe(label="First rows", interactive=False, wrap=True)
                ds_manifest = gr.JSON(label="Manifest")
                datasets_table = gr.Dataframe(label="All datasets", interactive=False)
                datasets_tab.select(act.datasets, None, [counts, datasets_table, dataset_pick], api_name="datasets")
                datasets_tab.select(act.dataset, [dataset_pick], [hist, examples, ds_manifest],
                                    api_visibility="private")
                dataset_pick.change(act.dataset, [dataset_pick], [hist, examples, ds_manifest], api_name="dataset")
            with gr.Tab("Candidates vs live") as cand_tab:
                cand_pick = gr.Dropdown(label="Checkpoint (empty: newest candidate)", choices=[], value=None,
                                        allow_custom_value=True)
                eval_table = gr.Dataframe(label="Evaluation: candidate vs live", interactive=False)
                cand_gate = gr.Markdown()
                with gr.Row():
                    score_hist = gr.Plot(label="Critique-score histogram")
                    cat_bars = gr.Plot(label="Per category")
                lineage_plot = gr.Plot(label="Accuracy along the lineage")
                answers = gr.Dataframe(label="Same held-out questions, side by side", interactive=False, wrap=True,
                                       column_widths=["20%", "8%", "28%", "8%", "28%", "8%"])
                cand_outputs = [eval_table, cand_gate, score_hist, cat_bars, lineage_plot, answers]
                cand_tab.select(act.checkpoints, None, [cand_pick], api_name="checkpoints")
                cand_tab.select(act.candidate, [cand_pick], cand_outputs, api_visibility="private")
                cand_pick.change(act.candidate, [cand_pick], cand_outputs, api_name="candidate")
            with gr.Tab("Feedback") as fb_tab:
                days = gr.Slider(1, 365, value=30, step=1, label="Last N days")
                volume = gr.Plot(label="Volume per day", elem_id="mc-feedback-volume")
                with gr.Row():
                    thumbs = gr.Plot(label="Thumbs-up rate per checkpoint")
                    agreement = gr.Plot(label="Judge–human agreement")
                thumbs_table = gr.Dataframe(label="Thumbs per checkpoint", interactive=False)
                fb_outputs = [volume, thumbs, agreement, thumbs_table]
                fb_tab.select(act.feedback, [days], fb_outputs, api_name="feedback")
                days.release(act.feedback, [days], fb_outputs, api_visibility="private")
            with gr.Tab("Confidence") as conf_tab:
                conf_pick = gr.Dropdown(label="Verifier checkpoint (empty: live, else newest)", choices=[],
                                        value=None, allow_custom_value=True)
                conf_summary = gr.Markdown()
                reliability = gr.Plot(label="Reliability on held-out answers (out of sample)")
                app_calibration = gr.Markdown()
                conf_table = gr.Dataframe(label="Verifier checkpoints", interactive=False)
                conf_outputs = [conf_pick, conf_table, conf_summary, reliability, app_calibration]
                conf_tab.select(act.confidence, [conf_pick], conf_outputs, api_name="confidence")
                conf_pick.change(act.confidence, [conf_pick], conf_outputs, api_visibility="private")
            with gr.Tab("Promote / roll back") as promote_tab:
                sync_status = gr.Markdown()
                promote_pick = gr.Dropdown(label="Checkpoint to promote", choices=[], value=None,
                                           allow_custom_value=True)
                gate_box = gr.Markdown()
                override = gr.Checkbox(label="Override failed gate (recorded in the audit trail)", value=False)
                with gr.Row():
                    promote_btn = gr.Button("Promote", variant="primary")
                    rollback_btn = gr.Button("Roll back", variant="stop")
                action_result = gr.Markdown()
                promotions = gr.Dataframe(label="Promotion audit trail", interactive=False)
                chain = gr.Markdown()
                lineage = gr.Dataframe(label="Lineage of live models (oldest first)", interactive=False)
                panel_outputs = [sync_status, promote_pick, promotions, chain, lineage]
                promote_tab.select(act.promote_panel, None, panel_outputs, api_name="promote_panel")
                promote_pick.change(act.gate, [promote_pick], [gate_box], api_name="gate")
                promote_btn.click(act.promote, [promote_pick, override], [action_result], api_name="promote",
                                  concurrency_id="switch", concurrency_limit=1).then(
                    act.promote_panel, None, panel_outputs, api_visibility="private")
                rollback_btn.click(act.rollback, None, [action_result], api_name="rollback",
                                   concurrency_id="switch", concurrency_limit=1).then(
                    act.promote_panel, None, panel_outputs, api_visibility="private")
        console.load(act.runs, [run_pick], run_outputs, api_visibility="private")
    return console
