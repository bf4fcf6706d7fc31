"""An asyncio agent under supervision, end to end: ask, wait for the decision, run with the
approved parameters, report, and obey pause / correction / terminate.

Against the demo (`make demo`), as its INTERN `refund-intern` (sign in as `sam` to decide):

    .venv/bin/python examples/async_agent.py                      # the demo's key, localhost:3000
    .venv/bin/python examples/async_agent.py http://host:3000 sva_...   # any agent
"""

from __future__ import annotations

import asyncio
import sys

from demo_target import demo_target
from supervision_client import AsyncSupervisionClient, Blocked, NotApproved, Terminated


async def main(url: str, api_key: str) -> int:
    async with AsyncSupervisionClient(url, api_key) as client:
        try:
            decision = await client.act(
                "refund_order",
                {"order": "A-1042", "amount": 120, "currency": "EUR"},
                reason="The parcel arrived damaged.",
            )
            print(f"asked: {decision.decision} ({decision.reason})")
            run = await client.wait_for_decision(decision)
            parameters = await run.parameters()
            print("running with", parameters)
            run.on_correction = lambda text: print("supervisor says:", text)
            steps = ["check order", "refund", "notify customer"]
            for index, step in enumerate(steps):
                await run.progress(step, index, len(steps), steps=steps)
                await run.log(f"{step}: done", data={"order": parameters.get("order")})
                await asyncio.sleep(1)
            await run.complete({"refunded": parameters.get("amount")})
            print("completed")
        except Blocked as refused:
            print("not allowed:", refused.detail)
            return 1
        except NotApproved as outcome:
            print("not approved:", outcome.status, outcome.reason)
            return 1
        except Terminated as stop:
            print("stopped by the supervisor:", stop.reason)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*demo_target())))
