"""An OpenAI Agents SDK agent under supervision: its tool call asks the dashboard first, runs
with the parameters a supervisor approved (perhaps edited), and obeys pause / correction /
terminate (`supervision_client.openai_agents`).

Against the demo (`make demo`), as its INTERN `refund-intern` (sign in as `sam` to decide):

    .venv/bin/python examples/openai_agents_agent.py                      # the demo, localhost:3000
    .venv/bin/python examples/openai_agents_agent.py http://host:3000 sva_...   # any agent

Without OPENAI_API_KEY the model is scripted (no LLM needed): it asks for one refund, then
repeats what the tool (or the supervisor) told it. With OPENAI_API_KEY a real model decides
(OPENAI_MODEL, default gpt-4.1-mini).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from typing import Any

from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from demo_target import demo_target
from supervision_client import AsyncSupervisionClient, Terminated
from supervision_client.openai_agents import supervise

REQUEST = "Order A-1042 arrived damaged. Please refund the customer 120 EUR."


@function_tool
async def refund_order(order: str, amount: float, currency: str) -> str:
    """Refund an amount of an order to the customer's card."""
    print(f"tool: refunding {amount:.2f} {currency} on {order}")
    await asyncio.sleep(1)  # the payment provider
    return f"Refunded {amount:.2f} {currency} on order {order}."


def scripted_model() -> ScriptedModel:
    """Stands in for an LLM (the SDK's scripted model): asks for the refund, then reports what
    the tool (or the supervisor) answered."""

    def report(call: ModelCall) -> list[Any]:
        told = [i["output"] for i in call.input if i.get("type") == "function_call_output"]
        return [assistant_message(f"Tool said: {told[-1]}")]

    ask = [
        assistant_message("The parcel arrived damaged: I refund the 120 EUR it cost."),
        function_call(
            "refund_order",
            {"order": "A-1042", "amount": 120, "currency": "EUR"},
            call_id=f"call-{uuid.uuid4().hex}",
        ),
    ]
    return ScriptedModel([ask, ModelStep.respond(report)])


async def main(url: str, api_key: str) -> int:
    real_model = bool(os.environ.get("OPENAI_API_KEY"))
    agent = Agent(
        name="refund-agent",
        instructions="You handle refunds for damaged parcels. Use refund_order, then report.",
        model=os.environ.get("OPENAI_MODEL", "gpt-4.1-mini") if real_model else scripted_model(),
        tools=[refund_order],
    )
    async with AsyncSupervisionClient(url, api_key) as client:
        try:
            result = await Runner.run(
                supervise(agent, client),
                REQUEST,
                run_config=RunConfig(tracing_disabled=not real_model),
            )
        except Terminated as stop:
            print("stopped by the supervisor:", stop.reason)
            return 1
    print("agent:", result.final_output)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("supervision_client").setLevel(logging.INFO)
    sys.exit(asyncio.run(main(*demo_target())))
