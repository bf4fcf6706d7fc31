"""Simulated agents for `make demo`: they act through the real HTTP API with the agent client.

Each demo agent runs in its own thread and behaves as its level allows: the STUDENT is refused,
INTERNs propose and wait for a decision, SUPERVISED agents run while their supervisor watches
(or wait in the queue), AUTONOMOUS agents run and report. Runs honour pause, corrections and
terminate. Stop it with Ctrl-C (it stops with `make demo`).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
from typing import Any

import httpx

from supervision_app.client import (
    Blocked,
    NotApproved,
    Run,
    SupervisionClient,
    SupervisionError,
    Terminated,
)

logger = logging.getLogger("simulator")

ACTIONS: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "support": [
        ("summarize_tickets", {"queue": "billing", "since_hours": 24}, "daily digest for the team"),
        ("refund_payment", {"order": "A-1042", "amount_eur": 39.9}, "item arrived broken"),
        (
            "send_email",
            {"to": "customer@example.com", "template": "apology"},
            "follow up on complaint",
        ),
        ("tag_tickets", {"tag": "shipping", "count": 12}, "group similar tickets"),
    ],
    "data": [
        ("list_reports", {"month": "2026-10"}, "find last month's reports"),
        ("build_report", {"month": "2026-10", "format": "chart"}, "monthly KPIs"),
        ("update_table", {"table": "customers", "rows": 120}, "nightly sync"),
        ("delete_rows", {"table": "staging", "older_than_days": 30}, "free space"),
    ],
}
STEPS = ["fetch data", "analyse", "draft result", "publish"]


def perform(run: Run, agent: str, action: str, stop: threading.Event) -> None:
    """Play one run: progress through named steps, log lines, one output, then complete."""
    run.on_correction = lambda text: run.log(f"applying correction: {text}", level="warning")
    try:
        for index, step in enumerate(STEPS):
            if stop.is_set():
                run.fail("simulator stopped")
                return
            run.progress(step, index, len(STEPS), steps=STEPS)
            for line in range(random.randint(3, 8)):
                level = random.choices(["debug", "info", "warning"], weights=[2, 6, 1])[0]
                run.log(f"{agent}: {step} — item {line + 1}", level=level, data={"item": line + 1})
                time.sleep(random.uniform(0.4, 1.5))
        if "report" in action:
            run.output(
                "chart",
                {
                    "type": "line",
                    "x": ["W1", "W2", "W3", "W4"],
                    "series": {"revenue": [12, 15, 11, 18]},
                },
                title="Weekly revenue",
            )
        elif "tickets" in action:
            run.output(
                "table",
                {
                    "columns": ["ticket", "topic"],
                    "rows": [[101, "refund"], [102, "shipping"], [103, "login"]],
                },
                title="Tickets",
            )
        else:
            run.output("text", f"{action} finished without problems.", title="Summary")
        run.complete({"action": action, "ok": True})
    except Terminated as stopped:
        logger.info(
            "%s: run %s terminated by supervisor: %s", agent, run.execution_id, stopped.reason
        )


def agent_loop(url: str, name: str, level: str, key: str, stop: threading.Event) -> None:
    client = SupervisionClient(url, key)
    category = client.me()["agent"]["category"]
    while not stop.is_set():
        action, parameters, reason = random.choice(ACTIONS.get(category, ACTIONS["data"]))
        try:
            decision = client.act(action, parameters, reason=reason, priority=random.randint(0, 3))
            logger.info("%s (%s) asked to %s: %s", name, level, action, decision.decision)
            if decision.decision == "approved_to_run":
                perform(client.run(decision.execution_id), name, action, stop)
            else:
                run = client.wait_for_decision(decision, timeout=600, poll=3)
                perform(run, name, action, stop)
        except Blocked as refused:
            logger.info("%s (%s) was refused: %s", name, level, refused.detail)
        except (NotApproved, TimeoutError) as outcome:
            logger.info("%s: %s", name, outcome)
        except (SupervisionError, httpx.HTTPError) as error:
            logger.warning("%s: %s", name, error)
        stop.wait(random.uniform(15, 45) if level != "STUDENT" else 90)


def wait_for_app(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        stop.wait(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--keys-file", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simulator %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with open(args.keys_file) as handle:
        agents = json.load(handle)
    stop = threading.Event()
    wait_for_app(args.url, stop)
    threads = [
        threading.Thread(
            target=agent_loop,
            args=(args.url, a["name"], a["level"], a["api_key"], stop),
            daemon=True,
        )
        for a in agents
    ]
    for thread in threads:
        thread.start()
        time.sleep(1)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
