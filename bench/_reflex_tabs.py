"""Dashboard tabs without a browser: Reflex 0.10.1's websocket protocol, driven from Python.

Each `DashboardTab` opens the socket the compiled frontend opens (`reflex_base/.templates/web/
utils/state.js`, `connect()`/`createSocket()`), with the browser's sign-in cookie, hydrates the
page, and then sends state events and times the server's answers.

The protocol, as Reflex 0.10.1 speaks it:

- Socket.IO v5 / Engine.IO v4 over the websocket transport only (the server refuses polling),
  engine path ``/_event`` and namespace ``/_event`` (both from ``constants.Endpoint.EVENT``).
  The URL's query string carries the tab's token, ``?token=<uuid4>``: the browser makes a
  random UUID and keeps it in ``sessionStorage["token"]``. The server links token -> sid; if the
  token is already connected elsewhere (a duplicated tab) it invents another and sends it in a
  ``new_token`` message.
- HTTP headers of the websocket handshake become ``router.headers`` for every event of the
  connection: the browser sends ``Cookie`` (the app's HttpOnly sign-in cookie), ``Origin``
  (checked against ``cors_allowed_origins``) and ``Sec-WebSocket-Protocol: <reflex version>``
  (only a log warning on mismatch).
- The first event rides in the Socket.IO CONNECT packet's auth payload, so hydration starts
  without a round trip: ``{"event": <event>, "state_schema": <hash>}``, the event being
  ``{"name": "reflex___state____state.hydrate_and_load", "payload": {}, "router_data":
  {"pathname": "/", "asPath": "/"}}``. The browser adds ``payload.hashes`` (hashes of the
  compiled initial state, so only differing vars come back) and ``state_schema`` (a mismatch
  makes the server send ``state_mismatch``); both are optional and omitted here, so the
  hydrate answer is the full state (~6 kB) instead of a diff.
- Every later event is the Socket.IO event ``"event"`` with a JSON object (not a string: a
  string is accepted but logged as a warning): ``{"name": "<full state name>.<handler>",
  "payload": {<kwargs>}, "router_data": {"pathname": ..., "asPath": ..., ["query": {...}]}}``.
  The server adds headers, client ip, sid and token itself.
- Answers are Socket.IO events ``"event"`` with a serialized ``StateUpdate``: ``{"delta":
  {<full state name>: {<var>_rx_state_: value}}}`` or ``{"events": [{"name": "_call_script",
  "payload": {...}, "router_data": {}}]}`` (frontend-only events, names starting with ``_``);
  each field appears only when non-empty. Since Reflex 0.9 there is **no** ``final`` flag and
  nothing marks the end of an event: a handler emits one message per state change/yield (the
  dashboard's ``NavState.activity`` emits three: the auth delta, a ``_call_script``, the nav
  delta), or none at all when nothing changed.
- Events of one token run one at a time, in arrival order (background handlers excepted). So
  the end of an event is observed with a barrier: right after it, this module sends
  ``reflex___state____state.set_is_hydrated(value=True)``, whose answer is always exactly
  ``{"delta": {"reflex___state____state": {"is_hydrated_rx_state_": true}}}`` (assigning a var
  always dirties it). When that arrives, every message of the event before it has arrived.
  The barrier costs the server one small locked event per send.
- The browser does not wait for answers before sending the next event (its queue is
  fire-and-forget since 0.9), so `run_tabs_detailed` sends on a fixed schedule (open loop): a slow
  server shows up as latency, not as fewer beats.

Needs python-socketio with aiohttp (both already in the app's virtualenv: reflex depends on
python-socketio; python-socketio's asyncio client uses aiohttp for websockets).

Limits: the barrier cannot see the end of a background (``background=True``) handler, and an
event whose own answer is exactly the barrier's delta would be mistaken for it. Server CPU
with Reflex's default DISK state manager grows with the number of files in the app's
``.states/`` directory (one per touched substate per tab, kept for the token expiry), so
start servers for measurements with an empty ``.states/``.

Used by bench/presence.py: ``run_tabs_detailed(url, cookies, rate_hz, duration_s)`` (one tab
per sign-in cookie), or by hand: ``DashboardTab()`` / ``await tab.connect(url,
"supervision_session=svu_...")`` / ``await tab.send(activity_handler_name(), {"active":
True})`` / ``await tab.close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
import socketio.exceptions

EVENT_PATH = "/_event"  # engine.io path and socket.io namespace (constants.Endpoint.EVENT)
SOCKET_EVENT = "event"  # constants.SocketEvent.EVENT: both directions
ROOT_STATE = "reflex___state____state"  # rx.State.get_full_name()
HYDRATE_AND_LOAD = f"{ROOT_STATE}.hydrate_and_load"
BARRIER_EVENT = f"{ROOT_STATE}.set_is_hydrated"
IS_HYDRATED_VAR = "is_hydrated_rx_state_"
BARRIER_DELTA = {ROOT_STATE: {IS_HYDRATED_VAR: True}}

Update = dict[str, Any]


def handler_full_name(handler: Any) -> str:
    """The wire name of an `rx.event` handler, e.g. ``NavState.activity`` ->
    ``reflex___state____state.supervision_app___states___nav____nav_state.activity``."""
    from reflex_base.utils.format import format_event_handler

    return format_event_handler(handler)


def activity_handler_name(app_root: str | None = None) -> str:
    """The dashboard's heartbeat handler, computed from the app's class. Imports the app's
    state module (from `app_root`, the checkout, if it is not importable already), so run
    with the app's settings in the environment."""
    if app_root is not None and app_root not in sys.path:
        sys.path.insert(0, app_root)
    from supervision_app.states.nav import NavState

    return handler_full_name(NavState.activity)


def reflex_version() -> str | None:
    """What the frontend offers as websocket subprotocol (``reflexEnvironment.version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reflex")
    except PackageNotFoundError:
        return None


def router_data(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """``router_data`` as the frontend's ``withRouterData`` fills it for a page."""
    data: dict[str, Any] = {"pathname": path, "asPath": path}
    if query:
        from urllib.parse import urlencode

        data["asPath"] = f"{path}?{urlencode(query)}"
        data["query"] = dict(query)
    return data


@dataclass
class SendResult:
    """Timing of one sent event (milliseconds from the emit)."""

    first_ms: float | None  # first message that arrived while this event was the oldest pending
    done_ms: float  # the barrier's answer: the event and everything it emitted has arrived
    updates: list[Update] = field(default_factory=list)  # the event's messages, if kept


@dataclass
class _Pending:
    started: float
    future: asyncio.Future[SendResult]
    keep: bool
    first: float | None = None
    updates: list[Update] = field(default_factory=list)


class DashboardTab:
    """One browser tab of a Reflex app: one socket, one client token, one page."""

    def __init__(
        self,
        *,
        path: str = "/",
        token: str | None = None,
        http_session: aiohttp.ClientSession | None = None,
        user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) reflex-tabs/1.0",
        timeout_s: float = 30.0,
        keep_state: bool = True,
    ) -> None:
        """`http_session`: share one aiohttp session between many tabs (give it a connector
        with ``limit=0`` and a ``DummyCookieJar``); by default each tab makes its own.
        `keep_state`: merge every delta into `state`, as the frontend's reducers do."""
        self.path = path
        self.token = token or str(uuid.uuid4())
        self.timeout_s = timeout_s
        self.keep_state = keep_state
        self.state: dict[str, dict[str, Any]] = {}
        self.hydrated = asyncio.Event()
        self.messages = 0
        self._user_agent = user_agent
        self._router_data = router_data(path)
        self._pending: deque[_Pending] = deque()
        self._http_session = http_session
        self.sio: socketio.AsyncClient | None = None

    async def connect(
        self,
        base_url: str,
        cookie: str,
        *,
        state_schema: str | None = None,
        wait_hydrated: bool = True,
    ) -> None:
        """Open the socket with the sign-in `cookie` (``name=value``, as the browser's Cookie
        header carries it) and hydrate the page; returns when the page is hydrated (the
        server set ``is_hydrated`` after the page's on_load handlers)."""
        base_url = base_url.rstrip("/")
        boot = {"name": HYDRATE_AND_LOAD, "payload": {}, "router_data": self._router_data}
        auth: dict[str, Any] = {"event": boot}
        if state_schema is not None:
            auth["state_schema"] = state_schema
        # The handshake's headers go through aiohttp's websocket options, not `connect(headers=)`:
        # python-engineio moves a Cookie given there into the aiohttp session's cookie jar,
        # which tabs sharing a session would share (or, with a DummyCookieJar, drop).
        headers = {"Origin": base_url, "User-Agent": self._user_agent}
        if cookie:
            headers["Cookie"] = cookie
        ws_options: dict[str, Any] = {"headers": headers}
        if version := reflex_version():
            ws_options["protocols"] = [version]  # Sec-WebSocket-Protocol, as the frontend
        options: dict[str, Any] = {"websocket_extra_options": ws_options}
        if self._http_session is not None:
            options["http_session"] = self._http_session
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False, **options)
        self.sio.on(SOCKET_EVENT, self._on_update, namespace=EVENT_PATH)
        self.sio.on("new_token", self._on_new_token, namespace=EVENT_PATH)
        self.sio.on("disconnect", self._on_disconnect, namespace=EVENT_PATH)
        await self.sio.connect(
            f"{base_url}?token={self.token}",
            auth=auth,
            transports=["websocket"],
            namespaces=[EVENT_PATH],
            socketio_path=EVENT_PATH,
            wait_timeout=self.timeout_s,
        )
        if wait_hydrated:
            await asyncio.wait_for(self.hydrated.wait(), self.timeout_s)

    def var(self, name: str) -> Any:
        """The value of var `name` (as sent, e.g. ``is_signed_in_rx_state_``) in whichever
        state holds it, or None (needs `keep_state`)."""
        for values in self.state.values():
            if name in values:
                return values[name]
        return None

    def _socket(self) -> socketio.AsyncClient:
        if self.sio is None:
            raise ConnectionError("tab not connected")
        return self.sio

    async def emit(
        self, name: str, payload: dict[str, Any] | None = None, *, keep_updates: bool = False
    ) -> asyncio.Future[SendResult]:
        """Send event `name` and its barrier now; the returned future resolves when the event
        is done. Several may be outstanding (they are answered in order)."""
        pending = _Pending(
            started=time.perf_counter(),
            future=asyncio.get_running_loop().create_future(),
            keep=keep_updates,
        )
        self._pending.append(pending)
        event = {"name": name, "payload": payload or {}, "router_data": self._router_data}
        barrier = {
            "name": BARRIER_EVENT,
            "payload": {"value": True},
            "router_data": self._router_data,
        }
        try:
            # Both only queue packets for the websocket writer, in this order.
            await self._socket().emit(SOCKET_EVENT, event, namespace=EVENT_PATH)
            await self._socket().emit(SOCKET_EVENT, barrier, namespace=EVENT_PATH)
        except Exception as error:  # noqa: BLE001 - handed to whoever awaits the future
            with contextlib.suppress(ValueError):
                self._pending.remove(pending)
            if not pending.future.done():
                pending.future.set_exception(error)
        return pending.future

    async def send(
        self, name: str, payload: dict[str, Any] | None = None, *, keep_updates: bool = False
    ) -> SendResult:
        """Send event `name` with `payload` (the handler's keyword arguments) and return when
        the server has finished it and all its messages have arrived."""
        answer = await self.emit(name, payload, keep_updates=keep_updates)
        return await asyncio.wait_for(answer, self.timeout_s)

    async def fire(self, name: str, payload: dict[str, Any] | None = None) -> None:
        """Send an event without a barrier and without tracking (load without measurement;
        its answers still arrive and are merged, but attributed to nothing)."""
        event = {"name": name, "payload": payload or {}, "router_data": self._router_data}
        await self._socket().emit(SOCKET_EVENT, event, namespace=EVENT_PATH)

    async def close(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()
        self._fail_pending(ConnectionError("tab closed"))

    async def _on_update(self, update: Update) -> None:
        now = time.perf_counter()
        self.messages += 1
        delta = update.get("delta")
        if delta and self.keep_state:
            for state_name, values in delta.items():
                self.state.setdefault(state_name, {}).update(values)
        if not self.hydrated.is_set():
            if delta and delta.get(ROOT_STATE, {}).get(IS_HYDRATED_VAR) is True:
                self.hydrated.set()
            return
        if not self._pending:
            return  # a push nobody asked for (another tab's change, a background task)
        pending = self._pending[0]
        if delta == BARRIER_DELTA and not update.get("events"):
            self._pending.popleft()
            if not pending.future.done():
                pending.future.set_result(
                    SendResult(
                        first_ms=_ms(pending.first, pending.started),
                        done_ms=(now - pending.started) * 1000,
                        updates=pending.updates,
                    )
                )
            return
        if pending.first is None:
            pending.first = now
        if pending.keep:
            pending.updates.append(update)

    async def _on_new_token(self, new_token: str) -> None:
        self.token = new_token

    async def _on_disconnect(self, *_reason: Any) -> None:
        self._fail_pending(ConnectionError("socket disconnected"))

    def _fail_pending(self, error: Exception) -> None:
        while self._pending:
            pending = self._pending.popleft()
            if not pending.future.done():
                pending.future.set_exception(error)


def _ms(at: float | None, started: float) -> float | None:
    return None if at is None else (at - started) * 1000


def shared_http_session() -> aiohttp.ClientSession:
    """One aiohttp session for many tabs: no connection limit (each tab holds one websocket),
    no shared cookie jar (each tab sends its own Cookie header)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
    )


@dataclass
class TabsRun:
    """What `run_tabs_detailed` measured (latencies in ms, from emit to the event's end)."""

    steady_ms: list[float]  # every beat but each tab's first
    first_beat_ms: list[float]  # each tab's first beat (the dashboard opens a presence session)
    first_message_ms: list[float]  # steady beats: emit -> first message of the answer
    beats_sent: int
    errors: int
    connect_s: float  # connecting and hydrating all tabs
    max_send_lag_ms: float  # how late the client sent its most delayed beat (client saturation)
    messages: int


async def run_tabs_detailed(
    base_url: str,
    cookies: Sequence[str],
    rate_hz: float,
    duration_s: float,
    *,
    handler: str | None = None,
    payload: dict[str, Any] | None = None,
    path: str = "/",
    connect_concurrency: int = 20,
    signed_in_var: str | None = "is_signed_in_rx_state_",
    on_started: Callable[[], None] | None = None,
    warm_up_s: float = 0.0,
) -> TabsRun:
    """One tab per cookie; after all have hydrated, each sends `handler(**payload)` (default
    ``NavState.activity(active=True)``) `rate_hz` times a second for `duration_s`, starting at
    a random phase, on a fixed schedule; then waits for outstanding answers and closes.
    `signed_in_var`: a var every tab must hold as true once hydrated (the dashboard's
    ``AuthState.is_signed_in``), or None; a tab without it raises (a bad cookie would
    otherwise measure the signed-out path). `on_started` is called when the beats start
    (e.g. to snapshot server CPU) — after `warm_up_s`, whose beats are not measured (each
    tab's first beat is reported apart either way); `beats_sent` counts the measured ones."""
    name = handler or activity_handler_name()
    body = {"active": True} if payload is None else payload
    interval = 1.0 / rate_hz
    http = shared_http_session()
    tabs = [DashboardTab(path=path, http_session=http) for _ in cookies]
    gate = asyncio.Semaphore(connect_concurrency)

    async def open_tab(tab: DashboardTab, cookie: str) -> None:
        async with gate:
            await tab.connect(base_url, cookie)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(open_tab(t, c) for t, c in zip(tabs, cookies, strict=True)))
        connect_s = time.perf_counter() - started
        if signed_in_var is not None:
            outside = [i for i, tab in enumerate(tabs) if tab.var(signed_in_var) is not True]
            if outside:
                msg = f"{len(outside)} tabs not signed in ({signed_in_var}), e.g. #{outside[0]}"
                raise RuntimeError(msg)
        measured_from = time.perf_counter() + warm_up_s
        if on_started is not None:
            asyncio.get_running_loop().call_later(warm_up_s, on_started)
        steady: list[float] = []
        joins: list[float] = []
        firsts: list[float] = []
        counters = {"beats": 0, "errors": 0}
        lag = [0.0]

        async def beat(tab: DashboardTab) -> None:
            begin = time.perf_counter() + random.random() * interval
            end = begin + warm_up_s + duration_s
            answers: list[tuple[float, asyncio.Future[SendResult]]] = []
            k = 0
            while (due := begin + k * interval) < end:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                lag[0] = max(lag[0], (time.perf_counter() - due) * 1000)
                answers.append((due, await tab.emit(name, body)))
                if due >= measured_from:
                    counters["beats"] += 1
                k += 1
            for i, (due, answer) in enumerate(answers):
                try:
                    result = await asyncio.wait_for(answer, tab.timeout_s)
                except (TimeoutError, ConnectionError, socketio.exceptions.SocketIOError):
                    counters["errors"] += 1
                    continue
                if i == 0:
                    joins.append(result.done_ms)
                    continue
                if due < measured_from:
                    continue  # warming up
                steady.append(result.done_ms)
                if result.first_ms is not None:
                    firsts.append(result.first_ms)

        await asyncio.gather(*(beat(tab) for tab in tabs))
        return TabsRun(
            steady_ms=steady,
            first_beat_ms=joins,
            first_message_ms=firsts,
            beats_sent=counters["beats"],
            errors=counters["errors"],
            connect_s=connect_s,
            max_send_lag_ms=lag[0],
            messages=sum(tab.messages for tab in tabs),
        )
    finally:
        await asyncio.gather(*(tab.close() for tab in tabs), return_exceptions=True)
        await http.close()


class ProcessTreeCpu:
    """CPU seconds (user+system) used by a process and its descendants since creation."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self._start = self._total()

    def _total(self) -> float:
        import psutil

        total = 0.0
        for proc in [self._root, *self._root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def seconds(self) -> float:
        return self._total() - self._start
