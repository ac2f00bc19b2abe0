"""A class at once: N simulated students on loopback ask questions and rate answers through the app's HTTP API,
then the database is checked: every question, answer and rating present exactly once.

By default it starts the app itself (temp state dir, real supervised vLLM, or the running vLLM server at
`--vllm-url`); `--url` targets a running app (then `--db-url` must name its database). Bounded: each student
asks `--questions` questions, and the whole run stops after `--max-seconds`. The last line printed is one JSON
object.

    python bench/load.py [--students 50] [--questions 2] [--max-tokens 64] [--vllm-url URL]
    python bench/load.py --replicas 2 --database-url postgresql+psycopg://... --redis-url redis://127.0.0.1:6379/0 \
        --user-limit 5 [--fake-engine]

``--replicas N`` starts N apps on one database (and one Redis for the limits), students alternate between them,
each replica runs a LeaderScheduler, and the JSON reports how many lead (must be 1) and whether a per-user limit
held across the replicas.
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

from bench.app_client import ask, is_loopback, signup  # noqa: E402
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


def run_student(urls: list[str], index: int, questions: int, max_tokens: int, deadline: float,
                seed: int) -> StudentLog:
    """Sign up on one replica, then send each question (and its ratings) to the next replica in turn."""
    rng = random.Random(seed + index)
    log = StudentLog(f"load{index:03d}_{seed}")
    replicas = [urls[(index + k) % len(urls)] for k in range(len(urls))]
    with httpx.Client(base_url=replicas[0], timeout=600) as client:
        problem = signup(client, log.name, "load-test-pw-1")
        if problem:
            log.errors.append(problem)
            return log
        conversation = None
        for _ in range(questions):
            if time.monotonic() > deadline:
                break
            text = rng.choice(QUESTIONS).format(a=rng.randint(10, 99), b=rng.randint(10, 99))
            client.base_url = httpx.URL(replicas[len(log.asked) % len(replicas)])
            answer = ask(client, text, conversation, temperature=0.0, max_tokens=max_tokens)
            if answer.status_code != 200:
                log.errors.append(f"ask {answer.status_code}: {answer.error}")
                log.asked.append((text, None, None))
                continue
            final = answer.final
            log.latencies.append(answer.seconds)
            if not answer.ok:
                log.errors.append(answer.error or "no final line")
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


def probe_user_limit(urls: list[str], limit: int, seed: int) -> bool:
    """One student sends limit + 1 questions, alternating replicas: exactly the last must be refused (429)."""
    with httpx.Client(timeout=600) as client:
        r = client.post(f"{urls[0]}/signup", data={"username": f"greedy_{seed}", "password": "load-test-pw-1"})
        client.cookies.set("mathchat_session", r.headers["set-cookie"].split(";")[0].split("=", 1)[1])
        codes = [client.post(f"{urls[i % len(urls)]}/api/chat/ask", json={"question": f"What is {i} + 1?",
                                                                          "max_tokens": 16}).status_code
                 for i in range(limit + 1)]
    return codes == [200] * limit + [429]


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
    parser.add_argument("--replicas", type=int, default=1, help="app replicas started here on one database")
    parser.add_argument("--database-url", default=None, help="their database (e.g. PostgreSQL); default a temp SQLite")
    parser.add_argument("--redis-url", default=None, help="rate-limit storage shared by the replicas (redis://...)")
    parser.add_argument("--fake-engine", action="store_true",
                        help="answer with tests/fakes.py's scripted engine: measures the app, DB and limits, not vLLM")
    parser.add_argument("--user-limit", type=int, default=0,
                        help="also check a per-user limit of N questions/minute across the replicas")
    args = parser.parse_args(argv)
    if args.url and not is_loopback(args.url):
        parser.error("load tests target loopback only")

    served: list = []
    leaders: list = []
    tmp = tempfile.TemporaryDirectory()
    prefix = f"mathchat-load-{args.seed}-{random.randrange(1 << 30)}"
    if args.url is None:
        import secrets as secrets_mod

        import app as web
        from mathchat.settings import DatabaseSettings, RateLimitSettings, ServerSettings, VLLMSettings
        from serving.local_app import ServedApp, free_port, isolated_settings
        from training.scheduler import LeaderScheduler

        engine = None
        if args.fake_engine:
            from tests.fakes import FakeEngine

            engine = FakeEngine(["First 30 + 40 = 70, and 70 + 15 = 85. The answer is 85."])
        secret = secrets_mod.token_urlsafe(32)  # replicas share the cookie key, as a load balancer needs
        many = args.user_limit or 1000
        limits = RateLimitSettings(storage_url=args.redis_url or "memory://", key_prefix=prefix,
                                   ask_per_user=f"{many}/minute", ask_per_ip="100000/minute",
                                   critique_per_ip="100000/minute", rate_per_ip="100000/minute",
                                   signup_per_ip="100000/minute", login_per_ip="100000/minute")
        for i in range(args.replicas):
            state = Path(tmp.name) / f"replica{i}"
            overrides = {"limits": limits,
                         "server": ServerSettings(secret_key=secret, replica_id=f"load-replica-{i}"),
                         "vllm": VLLMSettings(url=args.vllm_url, port=free_port(), logs_dir=state / "logs")}
            if args.database_url or i > 0:
                overrides["database"] = DatabaseSettings(url=args.database_url or served[0].settings.database.url)
            settings = isolated_settings(state, **overrides)
            served.append(ServedApp(web.create_app(settings, engine=engine), free_port(), settings))
            leaders.append(LeaderScheduler(settings, retry_s=1.0))
            leaders[-1].start()
        urls, db_url = [a.url for a in served], served[0].settings.database.url
        t0 = time.monotonic()
        while any(httpx.get(f"{u}/healthz").status_code != 200 for u in urls):
            if time.monotonic() - t0 > 900:
                raise SystemExit("vLLM did not become ready")
            time.sleep(2)
        print(f"{len(urls)} replica(s) ready after {time.monotonic() - t0:.0f}s", flush=True)
    else:
        urls, db_url = [args.url], args.db_url
    deadline = time.monotonic() + args.max_seconds
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.students) as pool:
        logs = list(pool.map(lambda i: run_student(urls, i, args.questions, args.max_tokens, deadline, args.seed),
                             range(args.students)))
    wall = time.monotonic() - t0
    latencies = sorted(x for log in logs for x in log.latencies)
    errors = [e for log in logs for e in log.errors]
    lost = check_db(db_url, logs) if db_url else -1
    limit_ok = probe_user_limit(urls, args.user_limit, args.seed) if args.user_limit else None
    n_leaders = sum(leader.is_leader for leader in leaders)
    for e in errors[:10]:
        print("error:", e)
    for leader in leaders:
        leader.shutdown()
    for app in served:
        app.stop()
        app.app.state.runtime.close()
    if args.redis_url:  # the run's own keys only
        import redis

        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    tmp.cleanup()
    print(json.dumps({
        "students": args.students,
        "questions": sum(len(log.asked) for log in logs),
        "ratings": sum(len(log.rated) for log in logs),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2) if latencies else None,
        "errors": len(errors),
        "lost": lost,
        "replicas": len(urls),
        "scheduler_leaders": n_leaders if leaders else None,
        "per_user_limit_enforced": limit_ok,
        "wall_s": round(wall, 1),
    }))


if __name__ == "__main__":
    main()
