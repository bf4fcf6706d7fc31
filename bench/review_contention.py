"""Does a slow AI review hold anyone up? Heartbeat and action latency while 5 s reviews run.

The app's API runs with LLM_MODEL pointing at a stand-in model server on loopback (an
OpenAI-compatible /v1/chat/completions that answers after REVIEW_S seconds), so each review
goes the real way: an INTERN's action whose supervisor is away → the review pool → LiteLLM → HTTP.
Proposals arrive faster than reviews finish (the pool of 4 is always full; the rest wait).
Meanwhile this process measures
- `heartbeat`: a presence beat's database write, as the dashboard's beats that may change a
  state make it (services.presence.write_activity in its own transaction; beats that only
  move a timestamp are kept in memory and flushed the same way each second), from this second
  process against the same SQLite database: it waits if a review holds the writer lock;
- `action`: an AUTONOMOUS agent's POST /api/v1/actions over HTTP, in the app's process.
Each is measured with no review in flight, then with reviews in flight all the time.

Prints JSON lines: {"metric": "heartbeat_during_reviews", "phase": "idle"|"reviewing", …}.
Before the reviews moved out of the transaction, each heartbeat and action in the second
phase waited up to the model's whole answer time.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import from the repository root, never from bench/ (bench/queue.py would shadow `queue`).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import httpx  # noqa: E402

from bench.common import ApiServer, emit, percentiles, use_temp_data_dir  # noqa: E402

use_temp_data_dir()

from sqlmodel import col, select  # noqa: E402

from models import Proposal  # noqa: E402
from services import presence  # noqa: E402
from services.actors import Actor  # noqa: E402
from services.agents import create_agent  # noqa: E402
from services.clock import utcnow  # noqa: E402
from services.db import read_scope, session_scope  # noqa: E402
from services.migrations import upgrade_database  # noqa: E402
from services.policy import presence_rules  # noqa: E402
from services.users import create_user  # noqa: E402

REVIEW_S = 5.0
PHASE_S = 15.0
PROPOSALS_PER_S = 4.0  # 20 reviews' worth arriving every 5 s: more than the review pool runs
SAMPLE_EVERY_S = 0.05
VERDICT = {
    "decision": "escalate",
    "confidence": 0.5,
    "risk": "medium",
    "reasons": ["bench: a stand-in model that always escalates"],
    "suggested_modifications": None,
}


class StandInModel:
    """An OpenAI-compatible chat endpoint that takes REVIEW_S to answer."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.answered = 0
        lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    model.in_flight += 1
                    model.most_in_flight = max(model.most_in_flight, model.in_flight)
                time.sleep(REVIEW_S)
                body = json.dumps(
                    {
                        "id": "bench",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": "bench-model",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": json.dumps(VERDICT)},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with lock:
                    model.in_flight -= 1
                    model.answered += 1

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


def _setup() -> tuple[int, str, str, str]:
    upgrade_database()
    now = utcnow()
    with session_scope() as session:
        away = create_user(
            session=session,
            username="away-supervisor",
            password="bench password",
            role="supervisor",
            now=now,
            actor=Actor.system(),
        )
        watcher = create_user(
            session=session,
            username="dashboard-user",
            password="bench password",
            role="supervisor",
            now=now,
            actor=Actor.system(),
        )
        token, _ = presence.open_tab(session=session, user_id=watcher.id, now=now)
        intern = create_agent(
            session=session,
            name="bench-intern",
            category="bench",
            maturity_level="INTERN",
            supervisor_id=away.id,
            now=now,
            actor=Actor.system(),
        )
        create_agent(
            session=session,
            name="bench-reviewer",
            category="bench",
            maturity_level="AUTONOMOUS",
            can_supervise=True,
            now=now,
            actor=Actor.system(),
        )
        worker = create_agent(
            session=session,
            name="bench-worker",
            category="bench",
            maturity_level="AUTONOMOUS",
            now=now,
            actor=Actor.system(),
        )
    return watcher.id, token, intern.api_key, worker.api_key


def _measure(server: ApiServer, watcher: int, token: str, worker_key: str, phase: str) -> None:
    heartbeats: list[float] = []
    actions: list[float] = []
    headers = {"Authorization": f"Bearer {worker_key}"}
    rules = presence_rules()
    deadline = time.monotonic() + PHASE_S
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            with session_scope() as session:
                presence.write_activity(
                    session=session, user_id=watcher, tab_token=token, now=utcnow(), rules=rules
                )
            heartbeats.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            response = client.post("/api/v1/actions", json={"action": "list_reports"})
            actions.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
            time.sleep(SAMPLE_EVERY_S)
    emit(metric="heartbeat_during_reviews", phase=phase, **percentiles(heartbeats))
    emit(metric="action_during_reviews", phase=phase, **percentiles(actions))


def main() -> None:
    watcher, token, intern_key, worker_key = _setup()
    model = StandInModel()
    server = ApiServer(
        workers_env={
            "LLM_MODEL": "openai/bench-model",
            "OPENAI_API_BASE": model.url,
            "OPENAI_API_KEY": "bench",
            "LLM_TIMEOUT_S": str(REVIEW_S * 4),
        }
    )
    stop = threading.Event()

    def propose() -> None:
        """New INTERN proposals faster than the reviews finish: the review pool is always
        full and proposals wait their turn."""
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {intern_key}"}, timeout=30
        ) as client:
            while not stop.is_set():
                client.post("/api/v1/actions", json={"action": "rename_report"})
                stop.wait(1.0 / PROPOSALS_PER_S)

    try:
        _measure(server, watcher, token, worker_key, "idle")
        proposer = threading.Thread(target=propose, daemon=True)
        proposer.start()
        time.sleep(REVIEW_S)  # until reviews overlap
        _measure(server, watcher, token, worker_key, "reviewing")
        stop.set()
        proposer.join(5)
        time.sleep(REVIEW_S + 1)
        with read_scope() as session:
            reviews = session.exec(
                select(Proposal.review).where(col(Proposal.review).is_not(None))
            ).all()
        reviews = [review for review in reviews if review]  # JSON null is not a review
        reviewed = len(reviews)
        errors = sorted({(r.get("error") or "")[:120] for r in reviews} - {""})
        emit(
            metric="reviews_during_bench",
            review_s=REVIEW_S,
            proposals_per_s=PROPOSALS_PER_S,
            model_calls=model.answered,
            most_in_flight=model.most_in_flight,
            proposals_reviewed=reviewed,
            review_errors=errors,
        )
    finally:
        stop.set()
        server.stop()


if __name__ == "__main__":
    main()
