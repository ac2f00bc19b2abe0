"""All configuration, in one place: nested pydantic settings read from MATHCHAT_* environment variables.

Nested fields use a double underscore, e.g. ``MATHCHAT_SERVER__PORT=7861`` or
``MATHCHAT_CRITIQUE__JUDGE_URL=http://judge:8000/v1``. Building settings never does I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mathchat.sampling import SamplingSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".state"
PASS_THRESHOLD = 7
"""The paper's pass mark: a critique score at or above it passes. The default of ``critique.pass_threshold``,
which every floor reads (the app's badge, the cycle, evaluation, exports, the console); pure helpers take it
as a parameter defaulting to this."""


class ModelSettings(BaseModel):
    """Which policy model to serve."""

    path: str | None = None
    """HF folder or hub id; None means the embedded SmolLM2-135M-Instruct default."""
    cache_dir: Path = REPO_ROOT / ".cache" / "models"
    """Where the embedded default is converted to an HF folder (once)."""
    checkpoints_dir: Path = REPO_ROOT / ".state" / "checkpoints"
    """Where training writes candidate checkpoints."""
    allow_hub: bool = False
    """Whether a hub id may be downloaded; off by default (HF_HUB_OFFLINE=1)."""
    dtype: str = "auto"
    """Weights dtype for serving (vLLM --dtype, transformers): auto = bf16 on GPUs and AVX-512 CPUs, fp32 on
    other CPUs, where bf16 is emulated and several times slower (mathchat/hardware.py)."""


class VLLMSettings(BaseModel):
    """The vLLM OpenAI-compatible server: supervised locally or external."""

    url: str | None = None
    """External vLLM base URL (e.g. http://gpu-host:8000); None means start and supervise one here."""
    host: str = "127.0.0.1"
    """Bind address of a supervised server."""
    port: int = 8011
    """First port for supervised servers (blue/green uses the next ones too)."""
    startup_timeout_s: float = 600.0
    """Seconds to wait for a supervised server to become ready."""
    kv_cache_gib: int = 2
    """VLLM_CPU_KVCACHE_SPACE on CPU machines (GiB)."""
    gpu_memory_utilization: float = 0.85
    """Fraction of GPU memory vLLM may use on GPU machines."""
    tensor_parallel_size: int = 1
    """GPUs per server (production)."""
    max_model_len: int = 2048
    """Context length (tokens)."""
    enforce_eager: bool = False
    """Skip graph compilation: faster start, slower decode."""
    cpu_cores: str = "auto"
    """CPU machines: which cores a supervised server computes on (VLLM_CPU_OMP_THREADS_BIND, unless that is set
    in the environment). ``auto`` is vLLM's own choice, every core but the last, which stays free for the HTTP
    front end and the app; ``all`` is every core this process may use (the training cycle's private server,
    whose only client waits on it: 20-25% faster on 2 cores); or a list like ``0,2-3``. A blue/green switch
    always starts the green server on the upper half of the cores."""
    bridge: Literal["auto", "on", "off"] = "auto"
    """Whether the app answers with an in-process transformers copy of the live model while its vLLM server
    starts (``serving.startup_bridge``): ``auto`` is on where no GPU is seen (a CPU server takes a minute or
    more to start; the model loads in seconds), off on GPUs, where a second copy would compete for memory."""
    weight_reload: bool = False
    """Start servers in vLLM's dev mode (VLLM_SERVER_DEV_MODE=1) so a checkpoint's weights can be swapped into
    a running server in about a second instead of starting a new one (the training cycle's private server).
    Dev mode also opens vLLM's other dev endpoints, so it is refused unless the server binds to loopback."""
    extra_args: list[str] = Field(default_factory=list)
    """Further command-line arguments for the vLLM server."""
    restart_backoff_s: float = 2.0
    """Seconds to wait before restarting a crashed server."""
    logs_dir: Path = REPO_ROOT / ".state" / "logs"
    """Where each server's stdout/stderr is kept."""
    request_timeout_s: float = 300.0
    """Per-request HTTP timeout (seconds)."""


class ServerSettings(BaseModel):
    """The web app."""

    host: str = "127.0.0.1"
    """Bind address of the web app."""
    port: int = 7860
    """Port of the web app."""
    backend: Literal["vllm", "transformers"] = "vllm"
    """Policy engine: vLLM (default) or in-process transformers."""
    secret_key: str | None = None
    """Signs session cookies; None generates one per state dir (kept in .state/secret_key)."""
    max_question_chars: int = 4000
    """Longest accepted question (characters)."""
    max_body_bytes: int = 2 * 2**20
    """Largest request body any route accepts (bytes); Gradio sends the visible chat with every question."""
    max_upload_bytes: int = 2**20
    """Largest file Gradio's upload route accepts (bytes); the pages take no files."""
    allow_signup: bool = True
    """Whether students may create their own accounts."""
    replica_id: str | None = None
    """Name of this app replica, stamped on the answers it streams so a restart fails only its own
    interrupted ones; None means ``host:port``."""
    stale_streaming_s: float = 900.0
    """An answer still 'streaming' this long after it began is taken as interrupted, whichever replica
    streamed it (seconds; longer than any answer takes)."""
    cookie_secure: bool = False
    """Set the Secure flag on cookies (behind HTTPS)."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Other origins (``https://host[:port]``) whose pages may send state-changing requests with the session
    cookie (CSRF check and CORS); the app's own origin needs no entry."""


class RateLimitSettings(BaseModel):
    """Request limits (``serving/rate_limit.py``), in limits notation: "N/second|minute|hour|day", several joined
    by ';'. Per-IP limits are generous because a class behind one school NAT shares an address; behind a proxy,
    run uvicorn with proxy headers so the client address is the student's."""

    storage_url: str = "memory://"
    """Where counts live: memory:// (this process only, lost on restart) or redis://host:6379/0 (shared by all
    replicas, kept across restarts)."""
    key_prefix: str = "mathchat"
    """Prefix of every key this app writes in that storage."""
    ask_per_user: str = "20/minute"
    """Questions one user may send (limits notation)."""
    ask_per_ip: str = "300/minute"
    """Questions from one client address (limits notation)."""
    critique_per_user: str = "40/minute"
    """Answer checks (critiques, each up to k policy samples) one user may request (limits notation)."""
    critique_per_ip: str = "600/minute"
    """Answer checks from one client address (limits notation)."""
    rate_per_user: str = "60/minute"
    """Ratings and comments one user may send (limits notation)."""
    rate_per_ip: str = "600/minute"
    """Ratings and comments from one client address (limits notation)."""
    login_per_account: str = "10/minute;50/hour"
    """Sign-in attempts on one username, right or wrong (limits notation)."""
    login_per_ip: str = "60/minute"
    """Sign-in attempts from one client address (limits notation)."""
    signup_per_ip: str = "30/minute;200/hour"
    """Accounts created from one client address (limits notation)."""
    hash_concurrency: int = Field(2, ge=1)
    """Password hashes (argon2, ~50 ms of a core and 64 MiB each) computed at once per process (count)."""
    hash_wait_s: float = Field(10.0, gt=0.0)
    """How long a sign-in waits for a free hashing slot before it is told to retry (seconds)."""


def replica_name(server: "ServerSettings") -> str:
    """This replica's name: ``server.replica_id``, else ``host:port`` (stable across its restarts)."""
    import socket

    return server.replica_id or f"{socket.gethostname()}:{server.port}"


class VerdictSettings(BaseModel):
    """When the badge may say "likely right" / "likely wrong", and when it must say "not verified" instead."""

    confident_at: float = Field(0.7, ge=0.5, le=1.0)
    """Calibrated P(correct) at or above which a corroborated answer is shown as likely right (probability)."""
    doubtful_below: float = Field(0.3, ge=0.0, le=0.5)
    """Calibrated P(correct) at or below which an answer with some evidence is shown as likely wrong (probability);
    between the two bounds the answer is unverified."""
    min_checked_steps: int = Field(2, ge=1)
    """Checked arithmetic steps that, without a reference, corroborate a confident answer (count)."""
    min_consistency_k: int = Field(3, ge=1)
    """Self-consistency samples needed before their agreement corroborates an answer (count)."""
    consistency_agree_at: float = Field(0.75, ge=0.0, le=1.0)
    """Share of those samples that must reach the answer's final result to corroborate it (fraction)."""
    verifier_agree_at: float = Field(0.9, ge=0.5, le=1.0)
    """Trained-verifier P(correct) at or above which it corroborates a confident answer (probability)."""
    verifier_doubt_below: float = Field(0.1, ge=0.0, le=0.5)
    """Trained-verifier P(correct) at or below which it counts as evidence that an answer is wrong (probability)."""


class CritiqueSettings(BaseModel):
    """Math-Critique: how answers are judged."""

    pass_threshold: int = Field(PASS_THRESHOLD, ge=1, le=10)
    """Critique score at or above which an answer passes."""
    use_judge: bool = True
    """Ask a judge LLM for an explanation and score."""
    prefetch_samples: bool | None = None
    """Draw the self-consistency samples while the answer streams, so the badge is ready soon after the
    answer ends. None (auto): on where this machine has a GPU (the server batches the samples with the stream
    at little cost), off on CPU: measured through the app's API (bench/critique.py, 10 questions, 2-core
    AVX-512, 2026-12-03) the samples beside the stream made the answer itself 1.5x slower (2.84 s against
    1.89 s alone) and the total wait 114% over the answer alone, against 61% when drawn after it. Set true
    for an external GPU server."""
    samples_deadline_s: float | None = Field(2.5, gt=0.0)
    """Seconds after the app's critique starts (the page asks for the badge the moment the answer ends) past which
    it no longer waits for its self-consistency samples, drawn beside the stream or after the answer. Past it the
    critique decides without them and says so ("the samples were not ready in time"; without other corroboration
    the badge reads "Not verified"), so the badge comes within about this long on any machine. On a 2-core AVX2
    CPU (fp32, 2026-12-07, ``bench/critique.py``) an answer the verifier left undecided waited 8.6 s for samples
    drawn after it and 5.3 s for samples drawn beside the stream; with a 2 s wait counted from the request for
    samples, 2.7 s and 3.1 s. None: wait as long as a model request may take (``VLLMSettings.request_timeout_s``).
    Only the app waits this way; the cycle and ``critique-eval`` draw their samples in full."""
    judge_url: str | None = None
    """OpenAI-compatible base URL of a judge model; None means the local policy server."""
    judge_model: str | None = None
    """Model name at judge_url; None means whatever is served."""
    judge_max_tokens: int = 160
    """Judge output budget (tokens)."""
    judge_retries: int = 1
    """Extra judge attempts when its output has no parseable score."""
    self_consistency_k: int = 4
    """Policy samples drawn to check an answer when there is no reference."""
    self_consistency_temperature: float = 0.8
    """Temperature of those samples."""
    self_consistency_top_k: int = Field(20, ge=0)
    """Top-k of those samples (0: no cut). With top-k 20 and no nucleus cut (``self_consistency_top_p`` 1.0)
    instead of the chat's top-p 0.95, vLLM on CPU need not sort the whole vocabulary every step: the critique's
    overhead through the app's API fell from 82% to 61% of the answer's time (bench/critique.py, samples drawn
    after the answer, 2026-12-03). The training cycle samples the same way (CycleConfig.sampling)."""
    self_consistency_top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus cut of those samples (1.0: none)."""
    self_consistency_max_tokens: int = 256
    """Output budget of each self-consistency sample (tokens); kept short so critique stays cheap."""
    self_consistency_skip_confidence: float = Field(0.85, ge=0.5, le=1.0)
    """Skip drawing samples when the other parts already give P(correct) >= this or <= 1 - this (probability; 1.0 = always sample)."""
    judge_skip_when_decisive: bool = True
    """Skip the judge call when the symbolic parts already decide (reference checked, or a wrong step feeds the final answer)."""
    judge_when_uncalibrated: bool = False
    """Call the judge even when the calibration gives its score no weight (its text then only adds to the explanation)."""
    verifier_path: Path | None = None
    """A trained verifier checkpoint folder (P(correct) without a reference, ``serving/critique/verifier.py``); None
    = the live verifier registered in the database, if any."""
    use_verifier: bool = True
    """Score answers without a reference with the verifier when one is configured or live."""
    use_default_verifier: bool = True
    """Where no verifier is configured or live and the policy is the embedded default, use the shipped one
    (``serving/critique/default_verifier.py``), so the first chat's answers are already checked by it."""
    verifier_dtype: str = "auto"
    """Weights dtype of the in-process verifier (auto: bf16 where native, else fp32)."""
    verifier_threads: int | None = Field(1, ge=1)
    """torch threads of the in-process verifier's forward pass (None: the process's). One: it shares the machine
    with the vLLM server; beside a busy server on 2 cores, 2 threads took 6.9 s an answer against 0.56 s for one
    (2-core Xeon with AMX, 2026-12-05)."""
    verifier_refresh_s: float = Field(30.0, ge=0.0)
    """How often (seconds, at most) the app's critic looks up the live verifier in the database and switches to a
    newer one, with its calibration, without a restart (0: every critique; only without ``verifier_path``)."""
    calibration_path: Path | None = None
    """Calibration file (JSON); None uses the shipped default."""
    compute_reference: bool = True
    """When a question is plain arithmetic ("What is 25 + 17?"), compute its value with sympy and judge against it."""
    verdict: VerdictSettings = Field(default_factory=VerdictSettings)
    """The thresholds of the student-facing verdict (right / wrong / unverified)."""
    symbolic_timeout_s: float = Field(2.0, gt=0.0)
    """Longest one sympy/math-verify check may run in its worker process before it is killed and its part left
    unchecked (seconds)."""
    symbolic_workers: int = Field(2, ge=1)
    """Worker processes for sympy/math-verify checks (count)."""
    symbolic_memory_mib: int = Field(2048, ge=256)
    """Address-space cap of each symbolic worker process (MiB)."""


class DatabaseSettings(BaseModel):
    """Where feedback, runs and checkpoints live."""

    url: str = f"sqlite:///{REPO_ROOT / '.state' / 'mathchat.db'}"
    """SQLAlchemy URL: SQLite by default, postgresql+psycopg://... in production."""
    busy_timeout_ms: int = 5000
    """SQLite busy timeout (milliseconds)."""
    write_retries: int = 3
    """Retries of a write that hit a locked/unavailable database."""
    connect_timeout_s: float = 5.0
    """PostgreSQL: give up a connection attempt to a server that does not answer after this long (seconds)."""


class TrainingSettings(BaseModel):
    """The self-critique loop."""

    workdir: Path = REPO_ROOT / ".state" / "runs"
    """Where each cycle writes data, manifests, checkpoints and logs."""
    schedule_minutes: int = 24 * 60
    """Interval between scheduled cycles (minutes)."""
    misfire_grace_s: int = 3600
    """How late a scheduled cycle may still start (seconds)."""
    seed: int = 0
    """Seed for sampling and data splits."""
    cycle_config: Path | None = None
    """JSON file of CycleConfig fields (training/config.py) used by `mathchat cycle` and the scheduler; None = defaults."""
    scheduler_in_app: bool = True
    """Run the cycle scheduler inside the web app (one node); set false and run `mathchat scheduler` once instead
    when several app replicas share a database."""
    auto_promote: bool = False
    """Promote a cycle's candidate as soon as it passes its gate (recorded as automatic), so cycle n+1 starts from
    cycle n's model. Off by default: an operator normally reviews the gate before students see a new model."""


class Settings(BaseSettings):
    """The one settings object."""

    model_config = SettingsConfigDict(env_prefix="MATHCHAT_", env_nested_delimiter="__", extra="ignore")

    state_dir: Path = REPO_ROOT / ".state"
    """Runtime state (DB, logs, checkpoints)."""
    model: ModelSettings = ModelSettings()
    vllm: VLLMSettings = VLLMSettings()
    server: ServerSettings = ServerSettings()
    limits: RateLimitSettings = RateLimitSettings()
    sampling: SamplingSettings = SamplingSettings()
    critique: CritiqueSettings = CritiqueSettings()
    database: DatabaseSettings = DatabaseSettings()
    training: TrainingSettings = TrainingSettings()

    @model_validator(mode="after")
    def _follow_state_dir(self) -> "Settings":
        """Paths left at their defaults move with ``state_dir`` (so MATHCHAT_STATE_DIR relocates all state)."""
        state = Path(self.state_dir)
        if state == DEFAULT_STATE_DIR:
            return self

        def rebase(path: Path) -> Path:
            path = Path(path)
            return state / path.relative_to(DEFAULT_STATE_DIR) if path.is_relative_to(DEFAULT_STATE_DIR) else path

        self.vllm.logs_dir = rebase(self.vllm.logs_dir)
        self.model.checkpoints_dir = rebase(self.model.checkpoints_dir)
        self.training.workdir = rebase(self.training.workdir)
        if self.database.url == DatabaseSettings().url:
            self.database.url = f"sqlite:///{state / 'mathchat.db'}"
        return self


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides on top (for tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
