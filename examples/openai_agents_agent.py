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
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage, function_tool
from agents.testing import assistant_message, function_call
from supervision_client import AsyncSupervisionClient, Terminated
from supervision_client.openai_agents import supervise

REQUEST = "Order A-1042 arrived damaged. Please refund the customer 120 EUR."


@function_tool
async def refund_order(order: str, amount: float, currency: str) -> str:
    """Refund an amount of an order to the customer's card."""
    print(f"tool: refunding {amount:.2f} {currency} on {order}")
    await asyncio.sleep(1)  # the payment provider
    return f"Refunded {amount:.2f} {currency} on order {order}."


class ScriptedModel(Model):
    """Stands in for an LLM: asks for the refund, then reports what the tool answered."""

    def __init__(self) -> None:
        self._turn = 0

    async def get_response(self, system_instructions, input, *args: Any, **kwargs: Any):
        self._turn += 1
        if self._turn == 1:
            output = [
                assistant_message("The parcel arrived damaged: I refund the 120 EUR it cost."),
                function_call(
                    "refund_order",
                    {"order": "A-1042", "amount": 120, "currency": "EUR"},
                    call_id=f"call-{uuid.uuid4().hex}",
                ),
            ]
        else:
            told = [i["output"] for i in input if i.get("type") == "function_call_output"]
            output = [assistant_message(f"Tool said: {told[-1]}")]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any):
        raise NotImplementedError("the scripted model does not stream")


async def main(url: str, api_key: str) -> int:
    real_model = bool(os.environ.get("OPENAI_API_KEY"))
    agent = Agent(
        name="refund-agent",
        instructions="You handle refunds for damaged parcels. Use refund_order, then report.",
        model=os.environ.get("OPENAI_MODEL", "gpt-4.1-mini") if real_model else ScriptedModel(),
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


def demo_key(name: str = "refund-intern") -> str:
    """The demo agent's key, which `make demo` writes into its data folder."""
    keys = Path(os.environ.get("DATA_DIR", "data")) / "demo-agent-keys.json"
    return next(k["api_key"] for k in json.loads(keys.read_text()) if k["name"] == name)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("supervision_client").setLevel(logging.INFO)
    url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:3000"
    sys.exit(asyncio.run(main(url, sys.argv[2] if len(sys.argv) > 2 else demo_key())))
