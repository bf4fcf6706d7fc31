"""The shell's live data: sidebar counts and my presence, and the tab's activity heartbeat."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import reflex as rx

from services import inbox, presence
from services.changes import EVERYTHING, change_marker, topic_kind, touches
from services.clock import utcnow
from services.config import get_settings
from services.dispatch import dispatch_supervisor_work
from services.errors import DomainError
from services.policy import liveness_policy, presence_rules
from supervision_app.api.live import change_feed
from supervision_app.components.timefmt import clock_time
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone


def _minutes_text(minutes: int) -> str:
    if minutes % 60:
        return f"{minutes} minutes"
    return "1 hour" if minutes == 60 else f"{minutes // 60} hours"


TAKE_ACTIVITY = (
    "(() => { const active = !!window.__svActive && document.visibilityState === 'visible';"
    " window.__svActive = false; return active; })()"
)

FOLLOW_CHECK_S = 10.0  # a follower looks at least this often whether its tab is still there
TAB_GONE_AFTER_S = 15.0  # no tick for this long: the tab is closed or gone
TIMER = "timer"  # what the page's timer sends to `tick` (anything else is pushed topics)
MAX_PUSHED_TOPICS = 64  # more than this at once: the page hears "*" (reload everything)
# What the sidebar counts and my presence badge show (see inbox.sidebar_counts).
COUNT_TOPICS = frozenset({"proposal", "queue_entry", "execution", "presence", "agent"})

Interests = Callable[[dict[str, str]], set[str]]


@dataclass(frozen=True)
class LiveRoute:
    """How a page follows changes: the topics it shows, the event that reloads it (given
    the topics when it takes them), and the least time between two reloads."""

    interests: Interests
    reload: Callable[[str], rx.event.EventSpec]
    min_gap_s: float


LIVE_ROUTES: dict[str, LiveRoute] = {}


def route_key(path: str) -> str:
    """Reflex names the root route "index"; everywhere else we call it "/"."""
    stripped = path.strip("/")
    return "/" if stripped in ("", "index") else f"/{stripped}"


def reload_on_change(
    route: str,
    handler: rx.event.EventHandler,
    interests: Interests,
    *,
    min_gap_s: float = 1.0,
    takes_topics: bool = False,
) -> None:
    """Reload the page at `route` when a change it shows (`interests(params)`) is committed."""

    def reload(topics: str) -> rx.event.EventSpec:
        return handler(topics) if takes_topics else handler()

    LIVE_ROUTES[route_key(route)] = LiveRoute(interests, reload, min_gap_s)


def pushed_text(topics: frozenset[str], interests: frozenset[str] | set[str] = frozenset()) -> str:
    """The topics as the page hands them back to `tick` ("*" when there are too many). A
    topic the page shows by its exact name goes as it is; others only by their kind, so a
    tab is not told which of other people's objects moved."""
    if EVERYTHING in topics:
        return EVERYTHING
    sent = {t if t in interests else topic_kind(t) for t in topics}
    if len(sent) > MAX_PUSHED_TOPICS:
        return EVERYTHING
    return ",".join(sorted(sent))


def title_script(needs_you: int) -> str:
    """Puts the "Needs you" count in front of the tab's title, as the sidebar shows it."""
    prefix = f"({needs_you}) " if needs_you else ""
    return f"document.title = {json.dumps(prefix)} + document.title.replace(/^\\(\\d+\\) /, '')"


class NavState(rx.State):
    needs_you: int = 0
    pending_proposals: int = 0
    queued_entries: int = 0
    active_runs: int = 0
    my_state: str = "offline"
    my_available: bool = False  # may watch work now ("Run now" is on)
    my_override: str = ""
    my_override_until: str = ""
    connected: bool = False
    last_update: str = ""  # when this tab last heard from the server (ISO, UTC)
    _marker: str = ""
    _marker_checked: float = 0.0
    _tab_token: str = ""
    _last_tick: float = 0.0
    _following: bool = False
    _title_stale: bool = False

    async def _after_change(self, update: presence.PresenceUpdate, user) -> None:  # noqa: ANN001
        """Committed first, then: start work waiting for a returning supervisor, show the state."""
        if update.became_available:
            await data.run_blocking(lambda: dispatch_supervisor_work(user.id))
        await self._refresh(user)

    async def _refresh(self, user) -> None:  # noqa: ANN001
        rules = presence_rules()

        def fetch(session):  # noqa: ANN001, ANN202
            counts = inbox.sidebar_counts(
                session=session,
                user_id=user.id,
                is_admin=user.is_admin,
                now=utcnow(),
                all_runs=user.sees_the_team,
            )
            mine = presence.get_presence(
                session=session, user_id=user.id, now=utcnow(), rules=rules
            )
            waiting = inbox.needs_you(
                session=session, caller=user, now=utcnow(), liveness=liveness_policy()
            )
            return counts, mine, len(waiting)

        counts, mine, needs_you = await data.read(fetch)
        self.pending_proposals, self.queued_entries, self.active_runs = counts
        if needs_you != self.needs_you:
            self.needs_you = needs_you
            self._title_stale = True
        self.my_state = str(mine.state)
        self.my_available = presence.is_available_state(mine.state, rules)
        self.my_override = str(mine.override_state or "")
        self.my_override_until = (
            f"until {clock_time(mine.override_expires_at, utcnow(), viewer_zone(self))}"
            if mine.override_expires_at
            else ""
        )

    def _live_route(self) -> tuple[LiveRoute | None, set[str]]:
        live = LIVE_ROUTES.get(route_key(self.router.page.path))
        if live is None:
            return None, set()
        return live, live.interests(dict(self.router.page.params))

    async def _changed(self, topics: frozenset[str]) -> list:
        """Refresh the counts and reload the page as far as `topics` touch what they show."""
        auth = await self.get_state(AuthState)
        if not auth.user_id:
            return []
        live, interests = self._live_route()
        if touches(topics, COUNT_TOPICS):
            user = await auth.current_user()
            if user is None:
                return []
            await self._refresh(user)
        events = []
        if live is not None and touches(topics, interests):
            events.append(live.reload(pushed_text(topics, interests)))
        if self._title_stale:
            self._title_stale = False
            events.append(rx.call_script(title_script(self.needs_you)))
        return events

    async def _unheard_changes(self) -> frozenset[str]:
        """EVERYTHING when the change marker moved since this tab last looked and no check
        was made for `live_safety_net_s`: changes no push announced (another process on
        SQLite, the command line)."""
        if time.monotonic() - self._marker_checked < get_settings().live_safety_net_s:
            return frozenset()
        self._marker_checked = time.monotonic()
        marker = await data.read(lambda session: change_marker(session=session))
        if marker == self._marker:
            return frozenset()
        self._marker = marker
        return frozenset({EVERYTHING})

    @rx.event
    async def page_loaded(self):
        """After each page's own load (also after a reconnect, which loads the page again):
        fresh counts and title, the marker as of now, and this tab's follower running."""
        self._marker_checked = 0.0
        await self._unheard_changes()  # the baseline: what the page just loaded includes it
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        await self._refresh(user)
        self._title_stale = False
        return [rx.call_script(title_script(self.needs_you)), *self._keep_following()]

    def _keep_following(self) -> list:
        self.connected = True
        self.last_update = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        self._last_tick = time.monotonic()
        return [] if self._following else [NavState.follow_changes]

    @rx.event
    async def tick(self, pushed: str = TIMER):
        """From the page's timer (every few seconds: keeps this tab's follower going and now
        and then looks for changes nobody announced), or pushed by the follower with the
        topics that changed. A follower that had stopped (a hidden tab's timers slow down)
        missed pushes: its page and counts are refreshed as it restarts."""
        restarting = not self._following
        follow = self._keep_following()
        if pushed != TIMER:
            topics = frozenset(pushed.split(","))
        elif restarting:
            topics = frozenset({EVERYTHING})
        else:
            topics = await self._unheard_changes()
        events = await self._changed(topics) if topics else []
        return [*events, *follow]

    @rx.event(background=True)
    async def follow_changes(self):
        """Push to this tab the changes it shows as soon as they are committed (change_feed).
        The push is a tick the page sends back (through a script's callback), so it carries
        the page's own route, as every page's load needs. A page reloads at most once per
        its `min_gap_s`. Ends once the tab stops ticking (closed or gone)."""
        async with self:
            if self._following:
                return
            self._following = True
        try:
            version, last_push = change_feed.version, 0.0
            while True:
                woken = await change_feed.wait_after(version, timeout=FOLLOW_CHECK_S)
                async with self:
                    if time.monotonic() - self._last_tick > TAB_GONE_AFTER_S:
                        return
                    live, interests = self._live_route()
                if woken == version:
                    continue
                wait = last_push + (live.min_gap_s if live else 1.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # changes meanwhile join this push
                topics, version = change_feed.since(version), change_feed.version
                if touches(topics, interests) or touches(topics, COUNT_TOPICS):
                    last_push = time.monotonic()
                    yield rx.call_script(
                        json.dumps(pushed_text(topics, interests)), callback=NavState.tick
                    )
        finally:
            async with self:
                self._following = False

    @rx.event
    async def activity(self, active: bool):
        """Every heartbeat interval: if the person was active in this visible tab, say so."""
        if not active:
            return
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        rules, token = presence_rules(), self._tab_token

        def open_tab(session):  # noqa: ANN001, ANN202
            opened, _ = presence.open_tab(
                session=session, user_id=user.id, now=utcnow(), user_agent="dashboard"
            )
            return opened

        def beat(tab_token: str) -> presence.PresenceUpdate:
            return presence.record_activity(
                user_id=user.id, tab_token=tab_token, now=utcnow(), rules=rules
            )

        if not token:
            token = await data.write(open_tab)
        try:
            update = await data.run_blocking(lambda: beat(token))
        except DomainError:  # this tab's session ended (silent too long): open a new one
            token = await data.write(open_tab)
            update = await data.run_blocking(lambda: beat(token))
        if token != self._tab_token:
            self._tab_token = token
            # The page keeps its tab's token so that closing it can end the session (beacon).
            yield rx.call_script(f"window.__svTab = {json.dumps(token)}")
        if update.changed:
            await self._after_change(update, user)

    @rx.event
    async def set_override(self, state: str, minutes: int = 0):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        expires = utcnow() + timedelta(minutes=minutes) if minutes else None
        try:
            update = await data.write(
                lambda session: presence.set_override(
                    session=session,
                    user_id=user.id,
                    state=state,
                    expires_at=expires,
                    now=utcnow(),
                    rules=presence_rules(),
                )
            )
        except DomainError as error:
            return rx.toast.error(data.sentence(error.message))
        await self._after_change(update, user)
        until = f" for {_minutes_text(minutes)}" if minutes else ""
        return rx.toast.info(f"You appear {state}{until}.")

    @rx.event
    async def clear_override(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        update = await data.write(
            lambda session: presence.clear_override(
                session=session, user_id=user.id, now=utcnow(), rules=presence_rules()
            )
        )
        await self._after_change(update, user)
        return rx.toast.info("Presence follows your activity again.")
