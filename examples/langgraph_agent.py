"""A LangGraph agent under supervision: the refund node asks the dashboard first; while a human
decides, the graph waits at an interrupt; the decision resumes it, and the node refunds what
was approved (edited or not). Corrections reach the next node as messages from the supervisor.

Against the demo (`make demo`), as its INTERN `refund-intern` (sign in as `sam` to decide):

    .venv/bin/python examples/langgraph_agent.py                       # the demo's key, :3000
    .venv/bin/python examples/langgraph_agent.py http://host:3000 sva_...   # any agent

Needs `pip install "./clients/python[langgraph]"`.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Annotated, Any

from demo_target import demo_target
from langchain_core.messages import AnyMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from supervision_client import Blocked, NotApproved, Run, SupervisionClient, Terminated
from supervision_client.langgraph import pending_decisions, resume_decided, supervised_node
from typing_extensions import TypedDict


class Ticket(TypedDict, total=False):
    order: str
    complaint: str
    refund: dict[str, Any]
    refunded: Any
    reply: str
    messages: Annotated[list[AnyMessage], add_messages]


def plan(state: Ticket) -> dict[str, Any]:
    """Where an LLM would choose the tool call; scripted here."""
    return {"refund": {"order": state["order"], "amount": 120, "currency": "EUR"}}


def build_graph(client: SupervisionClient):
    @supervised_node(
        client,
        "refund_order",
        parameters=lambda state: state["refund"],
        reason=lambda state: state["complaint"],
    )
    def refund(state: Ticket, run: Run, parameters: dict[str, Any]) -> dict[str, Any]:
        print("refunding with", parameters)
        steps = ["check order", "refund", "notify customer"]
        for index, step in enumerate(steps):
            run.progress(step, index, len(steps), steps=steps)
            run.log(f"{step}: done", data={"order": parameters.get("order")})
            time.sleep(1)
        run.complete({"refunded": parameters.get("amount")})
        return {"refunded": parameters.get("amount")}

    def reply(state: Ticket) -> dict[str, Any]:
        said = [m.content for m in state.get("messages", []) if m.name == "supervisor"]
        text = f"We refunded {state['refunded']} for order {state['order']}."
        if said:
            text += f" (Supervisor: {'; '.join(said)})"
        return {"reply": text}

    builder = StateGraph(Ticket)
    builder.add_node("plan", plan)
    builder.add_node("refund", refund)
    builder.add_node("reply", reply)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "refund")
    builder.add_edge("refund", "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=InMemorySaver())


def main(url: str, api_key: str) -> int:
    client = SupervisionClient(url, api_key)
    graph = build_graph(client)
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    ticket = {"order": "A-1042", "complaint": "The parcel arrived damaged."}
    try:
        result = graph.invoke(ticket, config)
        while waiting := pending_decisions(graph.get_state(config)):
            for pending in waiting:
                asked = pending.value
                print(
                    f"asked: {asked['supervision']} (proposal {asked['proposal_id']}, "
                    f"queue entry {asked['queue_entry_id']}): {asked['reason']}"
                )
            result = resume_decided(graph, config, client)
        print("reply:", result["reply"])
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
    sys.exit(main(*demo_target()))
