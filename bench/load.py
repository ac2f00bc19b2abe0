"""A class at once: N simulated students on loopback ask questions and rate answers through the app's HTTP API,
then the database is checked: every question, answer and rating present exactly once.

By default it starts the app itself (temp state dir, real supervised vLLM, or the running vLLM server at
`--vllm-url`); `--url` targets a running app (then `--db-url` must name its database). Bounded: each student
asks `--questions` questions, and the whole run stops after `--max-seconds`. The last line printed is one JSON
object.

    python bench/load.py [--students 50] [--questions 2] [--max-tokens 64] [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

QUESTIONS = ["What is {a} + {b}?", "What is {a} - {b}?", "Compute {a} times 3.", "Is {a} even or odd?",
             "What is half of {b}?"]


@dataclass
class StudentLog:
    """What one simulated student did and saw."""

    name: str
    asked: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # (text, q_id, a_id)
    rated: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_student(url: str, index: int, questions: int, max_tokens: int, deadline: float, seed: int) -> StudentLog:
    rng = random.Random(seed + index)
    log = StudentLog(f"load{index:03d}_{seed}")
    with httpx.Client(base_url=url, timeout=600) as client:
        r = client.post("/signup", data={"username": log.name, "password": "load-test-pw-1"})
        if r.status_code != 303 or "set-cookie" not in r.headers:
            log.errors.append(f"signup {r.status_code}")
            return log
        client.cookies.set("mathchat_session", r.headers["set-cookie"].split(";")[0].split("=", 1)[1])
        conversation = None
        for _ in range(questions):
            if time.monotonic() > deadline:
                break
            text = rng.choice(QUESTIONS).format(a=rng.randint(10, 99), b=rng.randint(10, 99))
            t0 = time.monotonic()
            final = None
            try:
                with client.stream("POST", "/api/chat/ask", json={"question": text, "conversation_id": conversation,
                                                                   "temperature": 0.0, "max_tokens": max_tokens}) as resp:
                    if resp.status_code != 200:
                        log.errors.append(f"ask {resp.status_code}: {resp.read()[:120]!r}")
                        log.asked.append((text, None, None))
                        continue
                    for line in resp.iter_lines():
                        if line:
                            update = json.loads(line)
                            if update["done"]:
                                final = update
            except httpx.HTTPError as exc:
                log.errors.append(f"ask transport: {exc!r}")
                log.asked.append((text, None, None))
                continue
            log.latencies.append(time.monotonic() - t0)
            if final is None or final["status"] != "ok":
                log.errors.append(f"answer {final and final['status']}: {final and final['error']}")
            log.asked.append((text, final and final["question_id"], final and final["answer_id"]))
            if final is None:
                continue
            conversation = final["conversation_id"]
            liked = rng.random() < 0.5
            body = {"answer_id": final["answer_id"], "liked": liked, "reason": None if liked else "wrong answer"}
            for _ in range(2):  # a double click: the second must change nothing
                r = client.post("/api/chat/rate", json=body)
                if r.status_code != 200:
                    log.errors.append(f"rate {r.status_code}: {r.text[:120]}")
            log.rated.append(final["answer_id"])
    return log


def check_db(db_url: str, logs: list[StudentLog]) -> int:
    """Count what is missing or duplicated in the DB compared with what the students did."""
    from feedback.db import make_engine, session_scope
    from feedback.models import Message, Rating, User

    lost = 0
    with session_scope(make_engine(db_url)) as s:
        for log in logs:
            user = s.scalars(select(User).where(User.username == log.name)).first()
            if user is None:
                lost += len(log.asked)
                continue
            for text, q_id, a_id in log.asked:
                n_q = s.scalar(select(func.count()).select_from(Message).where(
                    Message.role == "user", Message.content == text, Message.id == q_id)) if q_id else 0
                n_a = s.scalar(select(func.count()).select_from(Message).where(
                    Message.id == a_id, Message.role == "assistant", Message.parent_id == q_id,
                    Message.status == "ok")) if a_id else 0
                lost += (n_q != 1) + (n_a != 1)
            for a_id in log.rated:
                n_r = s.scalar(select(func.count()).select_from(Rating).where(
                    Rating.message_id == a_id, Rating.user_id == user.id))
                lost += n_r != 1
    return lost


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--questions", type=int, default=2, help="questions per student")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=1500)
    parser.add_argument("--url", default=None, help="a running app (loopback only)")
    parser.add_argument("--db-url", default=None, help="its database URL (with --url)")
    parser.add_argument("--vllm-url", default=None,
                        help="the app started here uses this running vLLM server instead of supervising one")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        parser.error("load tests target loopback only")

    served = None
    tmp = tempfile.TemporaryDirectory()
    if args.url is None:
        import app as web
        from mathchat.settings import RateLimitSettings, VLLMSettings
        from serving.local_app import ServedApp, free_port, isolated_settings

        state = Path(tmp.name)
        settings = isolated_settings(state, limits=RateLimitSettings(ask_per_user="1000/minute", ask_per_ip="100000/minute",
                                                                     critique_per_ip="100000/minute",
                                                                     rate_per_ip="100000/minute",
                                                                     signup_per_ip="100000/minute"),
                                     vllm=VLLMSettings(url=args.vllm_url, port=free_port(), logs_dir=state / "logs"))
        served = ServedApp(web.create_app(settings), free_port(), settings)
        url, db_url = served.url, settings.database.url
        t0 = time.monotonic()
        while httpx.get(f"{url}/healthz").status_code != 200:
            if time.monotonic() - t0 > 900:
                raise SystemExit("vLLM did not become ready")
            time.sleep(2)
        print(f"app ready at {url} after {time.monotonic() - t0:.0f}s", flush=True)
    else:
        url, db_url = args.url, args.db_url
    deadline = time.monotonic() + args.max_seconds
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.students) as pool:
        logs = list(pool.map(lambda i: run_student(url, i, args.questions, args.max_tokens, deadline, args.seed),
                             range(args.students)))
    wall = time.monotonic() - t0
    latencies = sorted(x for log in logs for x in log.latencies)
    errors = [e for log in logs for e in log.errors]
    lost = check_db(db_url, logs) if db_url else -1
    for e in errors[:10]:
        print("error:", e)
    if served is not None:
        served.stop()
        served.app.state.runtime.close()
    tmp.cleanup()
    print(json.dumps({
        "students": args.students,
        "questions": sum(len(log.asked) for log in logs),
        "ratings": sum(len(log.rated) for log in logs),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2) if latencies else None,
        "errors": len(errors),
        "lost": lost,
        "wall_s": round(wall, 1),
    }))


if __name__ == "__main__":
    main()
