"""A control long-poll is woken by a publish from any thread, even when the app's event loop
is not the first one this process ran (the app restarted in the same process)."""

from __future__ import annotations

import asyncio
import threading

from supervision_app.api.live import ExecutionHub


def _wait_while_another_thread_publishes(hub: ExecutionHub, execution_id: int) -> bool:
    async def scenario() -> bool:
        waiting = asyncio.create_task(hub.wait(execution_id, timeout=30))
        await asyncio.sleep(0)  # the waiter is registered
        threading.Thread(target=hub.publish, args=(execution_id,)).start()
        return await waiting

    return asyncio.run(scenario())


def test_a_publish_from_another_thread_wakes_the_waiter_at_once():
    assert _wait_while_another_thread_publishes(ExecutionHub(), 7) is True


def test_after_the_first_loop_stopped_the_next_one_is_woken_too():
    hub = ExecutionHub()
    assert _wait_while_another_thread_publishes(hub, 7) is True  # the first loop, now closed
    assert _wait_while_another_thread_publishes(hub, 7) is True
