"""Per-process cache of agents' API keys, resolved to their agent: every request an agent
makes carries its key, and looking it up (a read transaction and a SELECT) was a third of an
action's server time.

Only enabled agents are kept; an unknown key or a disabled agent is looked up every time.
Any committed change to an agent row (level, supervisor, key rotation, disabling) clears the
cache: at once for changes made by this process, and on PostgreSQL as soon as the change
relay hears another process's commit (`services.change_relay`). The TTL bounds what is missed
while the relay reconnects (it then announces everything, which clears the cache too).
"""

from __future__ import annotations

from services.agents import AgentRead, authenticate_agent
from services.changes import AGENT_ROWS_CHANGED, EVERYTHING, on_committed_changes
from services.db import read_scope
from services.security import token_hash
from services.token_cache import TokenCache

TTL_S = 10.0

agent_keys: TokenCache[AgentRead] = TokenCache(TTL_S)


def cached_agent(api_key: str) -> AgentRead | None:
    """The enabled agent owning `api_key` if this process resolved it lately (no I/O)."""
    return agent_keys.get(token_hash(api_key))


def resolve_agent(api_key: str) -> AgentRead:
    """The agent owning `api_key`, read from the database and kept; AuthenticationFailed for
    an unknown key, AgentDisabled for a disabled agent (neither is kept)."""
    generation = agent_keys.generation()
    with read_scope() as session:
        agent = authenticate_agent(session=session, api_key=api_key)
    agent_keys.put(token_hash(api_key), agent, generation)
    return agent


def _forget_after_agent_changes(topics: frozenset[str]) -> None:
    if AGENT_ROWS_CHANGED in topics or EVERYTHING in topics:
        agent_keys.clear()


on_committed_changes(_forget_after_agent_changes)
