"""The critique's cost as a student meets it: through the app's own HTTP API, on a supervised vLLM server.

Two apps on one vLLM server, side by side on the same questions: ``overlapped`` (the
critique's self-consistency samples are drawn while the answer streams: the default where a GPU serves) and
``after`` (samples drawn only when the badge is asked for: the default on CPU; ``CritiqueSettings.prefetch_samples``). Each question is asked greedily in both (the same answer text), and the
badge is asked for the moment the answer ends, as the page does. Reported per app: the answer's time, the
badge's wait after the answer, and the overhead against the answer alone (the ``after`` app's answer,
with nothing running beside it): (answer + badge wait - answer alone) / answer alone. Both apps run in this
process and share its verifier, whose readings are forgotten before each critique, so the second app to judge
an answer pays for its own reading (before 2026-12-07 it did not, and the ``overlapped`` badge read ~0.01 s).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.app_client import ask, critique, signup
from bench.summary import percentile
from serving.critique.verifier import forget_open_readings


def start_apps(vllm_url: str, tmp: Path, k: int | None, max_tokens: int | None, use_judge: bool):  # noqa: ANN201
    """The two apps (``overlapped``, ``after``) on the server at ``vllm_url``, each with its own state."""
    import app as web
    from mathchat.settings import RateLimitSettings, VLLMSettings, load_settings
    from serving.local_app import ServedApp, free_port, isolated_settings

    base = load_settings().critique
    many = "100000/minute"
    limits = RateLimitSettings(storage_url="memory://", ask_per_user=many, ask_per_ip=many, critique_per_ip=many,
                               rate_per_ip=many, signup_per_ip=many, login_per_ip=many)
    apps = {}
    for name, prefetch in (("overlapped", True), ("after", False)):
        critique_settings = base.model_copy(update={
            "prefetch_samples": prefetch, "use_judge": use_judge and base.use_judge,
            **({"self_consistency_k": k} if k is not None else {}),
            **({"self_consistency_max_tokens": max_tokens} if max_tokens is not None else {})})
        state = tmp / name
        settings = isolated_settings(state, limits=limits, critique=critique_settings,
                                     vllm=VLLMSettings(url=vllm_url, logs_dir=state / "logs"))
        apps[name] = ServedApp(web.create_app(settings), free_port(), settings)
    return apps


def wait_ready(urls: list[str], timeout_s: float = 900) -> None:
    t0 = time.monotonic()
    while any(httpx.get(f"{u}/healthz").status_code != 200 for u in urls):
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit("the apps did not become ready")
        time.sleep(1)


def summarise(rows: list[dict], name: str) -> dict:
    """One app's figures over the questions both apps answered."""
    alone = sum(r["after"]["answer_s"] for r in rows)
    answer = sum(r[name]["answer_s"] for r in rows)
    badge = [r[name]["badge_s"] for r in rows]
    return {
        "answer_s": round(answer / len(rows), 3),
        "badge_after_answer_p50_s": round(percentile(badge, 0.5), 3),
        "badge_after_answer_max_s": round(max(badge), 3),
        "first_token_p50_s": round(statistics.median(r[name]["first_token_s"] for r in rows), 3),
        "overhead": round((answer + sum(badge) - alone) / alone, 3) if alone else None,
        "unverified": sum(r[name]["verdict"] == "unverified" for r in rows),
        "samples_late": sum(r[name]["samples_late"] for r in rows),
    }


def run(questions: list[str], vllm_url: str, max_tokens: int, k: int | None = None,
        samples_max_tokens: int | None = None, use_judge: bool = True, log=print) -> dict:  # noqa: ANN001
    """Ask every question in both apps (``after`` first, so its answer is the one alone), then their figures."""
    with tempfile.TemporaryDirectory(prefix="mathchat-critique-app-") as tmp:
        apps = start_apps(vllm_url, Path(tmp), k, samples_max_tokens, use_judge)
        try:
            wait_ready([a.url for a in apps.values()])
            clients = {name: httpx.Client(base_url=a.url, timeout=900) for name, a in apps.items()}
            for name, client in clients.items():
                problem = signup(client, f"critique_{name}")
                if problem:
                    raise SystemExit(f"{name}: {problem}")
            rows, errors = [], []
            for question in questions:
                row = {}
                for name in ("after", "overlapped"):
                    answer = ask(clients[name], question, temperature=0.0, max_tokens=max_tokens)
                    if not answer.ok:
                        errors.append(f"{name}: {answer.error}")
                        break
                    forget_open_readings()  # the apps share this process's verifier: no reading carried over
                    status, view, badge_s = critique(clients[name], answer.final["answer_id"])
                    if status != 200:
                        errors.append(f"{name}: critique {status}")
                        break
                    row[name] = {"answer_s": round(answer.seconds, 3), "first_token_s": round(answer.first_token_s or 0, 3),
                                 "badge_s": round(badge_s, 3), "verdict": view.get("verdict"),
                                 "samples_late": "consistency" in (view.get("skipped") or ()),
                                 "chars": len(answer.text)}
                if len(row) == 2:
                    rows.append(row)
                    log({"question": question[:60], **row})
            for client in clients.values():
                client.close()
        finally:
            for served in apps.values():
                served.stop()
                served.app.state.runtime.close()
    if not rows:
        raise SystemExit(f"no question was answered and critiqued: {errors[:3]}")
    return {"path": "app", "questions": len(rows), "errors": len(errors),
            "k": k, "overlapped": summarise(rows, "overlapped"), "after": summarise(rows, "after")}
