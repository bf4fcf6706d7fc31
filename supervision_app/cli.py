"""Operator command line: `python -m supervision_app.cli --help`.

It calls the same services as the dashboard and the API.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from services import agents as agent_service
from services import audit as audit_service
from services import users as user_service
from services.actors import Actor
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.demo import DEMO_PASSWORD, load_demo_data, sign_in_hint
from services.errors import DomainError
from services.maintenance import database_is_reachable
from services.migrations import upgrade_database

ROOT = Path(__file__).resolve().parent.parent
CLI_ACTOR = Actor.system("cli")


def _migrate(_args: argparse.Namespace) -> int:
    upgrade_database()
    print(f"database at head: {get_settings().resolved_database_url}")
    return 0


def _create_user(args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("SUPERVISION_PASSWORD") or getpass.getpass()
    upgrade_database()
    with session_scope() as session:
        user = user_service.create_user(
            session=session,
            username=args.username,
            password=password,
            role=args.role,
            display_name=args.display_name,
            now=utcnow(),
            actor=CLI_ACTOR,
        )
    print(f"created {user.role} '{user.username}' (id {user.id})")
    return 0


def _create_agent(args: argparse.Namespace) -> int:
    upgrade_database()
    with session_scope() as session:
        supervisor_id = None
        if args.supervisor:
            supervisor_id = _user_named(session, args.supervisor, "supervisor")
        credentials = agent_service.create_agent(
            session=session,
            name=args.name,
            category=args.category,
            maturity_level=args.level,
            description=args.description,
            specialties=args.specialties,
            supervisor_id=supervisor_id,
            can_supervise=args.can_supervise,
            now=utcnow(),
            actor=CLI_ACTOR,
        )
    print(
        f"created agent '{credentials.agent.name}' "
        f"(id {credentials.agent.id}, {credentials.agent.maturity_level})"
    )
    print("API key (shown once, store it now):")
    print(credentials.api_key)
    print(f"webhook secret: {credentials.webhook_secret}")
    return 0


def _user_named(session, username: str, field: str) -> int:  # noqa: ANN001
    match = [u for u in user_service.list_users(session=session) if u.username == username]
    if not match:
        raise DomainError(f"no user named '{username}'", field=field)
    return match[0].id


def _agent_named(session, name: str) -> int:  # noqa: ANN001
    match = [a for a in agent_service.list_agents(session=session) if a.name == name]
    if not match:
        raise DomainError(f"no agent named '{name}'", field="name")
    return match[0].id


def _set_supervisor(args: argparse.Namespace) -> int:
    """Who supervises an existing agent (`none` for nobody: refused for SUPERVISED agents)."""
    with session_scope() as session:
        agent_id = _agent_named(session, args.name)
        supervisor_id = (
            None if args.supervisor == "none" else _user_named(session, args.supervisor, "user")
        )
        agent = agent_service.update_agent(
            session=session,
            agent_id=agent_id,
            supervisor_id=supervisor_id,
            now=utcnow(),
            actor=CLI_ACTOR,
        )
    print(f"agent '{agent.name}' is now supervised by {args.supervisor}")
    return 0


def _set_level(args: argparse.Namespace) -> int:
    with session_scope() as session:
        agent = agent_service.update_agent(
            session=session,
            agent_id=_agent_named(session, args.name),
            maturity_level=args.level,
            now=utcnow(),
            actor=CLI_ACTOR,
        )
    print(f"agent '{agent.name}' is now {agent.maturity_level}")
    return 0


def _load_demo(args: argparse.Namespace) -> int:
    upgrade_database()
    with session_scope() as session:
        keys = load_demo_data(session=session, now=utcnow())
    if args.keys_file:
        path = Path(args.keys_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump([k.__dict__ for k in keys], handle)
    print(
        "demo data loaded: users admin, sam, riley, vic "
        f"(password '{DEMO_PASSWORD}'); {len(keys)} agents"
    )
    return 0


def _verify(_args: argparse.Namespace) -> int:
    upgrade_database()
    with read_scope() as session:
        reachable = database_is_reachable(session=session)
        chain = audit_service.verify_audit_chain(session=session)
    print(f"database: {'ok' if reachable else 'unreachable'}")
    if chain.intact:
        print(f"audit chain: intact ({chain.checked} events, head {chain.head_hash[:16]}…)")
        return 0
    print(f"audit chain: BROKEN at event {chain.broken_at_id}: {chain.problem}")
    return 1


# Keep Reflex off the internet (each was seen reaching out without it) and on the repo's bun.
REFLEX_ENV_DEFAULTS = {
    "REFLEX_TELEMETRY_ENABLED": "false",
    "REFLEX_CHECK_LATEST_VERSION": "false",
    "NPM_CONFIG_REGISTRY": "https://registry.npmjs.org",
    "REFLEX_HTTP_CLIENT_BIND_ADDRESS": "0.0.0.0",
    "REFLEX_BUN_PATH": str(ROOT / ".tools" / "bin" / "bun"),
}


def _serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    for name, value in REFLEX_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    upgrade_database()
    simulator = None
    if args.demo:
        os.environ["DEMO_MODE"] = "1"  # the app's sign-in page lists the demo accounts
        keys_file = settings.data_dir / "demo-agent-keys.json"
        _load_demo(argparse.Namespace(keys_file=str(keys_file)))
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervision_app.demo.simulator",
                "--keys-file",
                str(keys_file),
                "--url",
                f"http://127.0.0.1:{settings.port}",
            ],
            cwd=ROOT,
        )
    with read_scope() as session:
        first_run = user_service.count_users(session=session) == 0
    print(f"\n  Agent supervision dashboard: {settings.resolved_site_url}\n", flush=True)
    if args.demo:
        print(f"  {sign_in_hint()}\n", flush=True)
    elif first_run:
        print("  First run: open the URL to create the first admin account.\n", flush=True)
    # `reflex run`, reusing the dashboard's build while its sources are unchanged.
    command = [
        sys.executable,
        "-m",
        "supervision_app.warm_start",
        "--env",
        "prod",
        "--single-port",
        "--frontend-port",
        str(settings.port),
        "--backend-host",
        args.host,
    ]
    try:
        return run_until_stopped(command)
    finally:
        if simulator is not None:
            simulator.terminate()


# Long enough for the server to close its connections and its scheduler, short enough that a
# hung shutdown does not hold the port (and the next `make demo`) for long.
STOP_GRACE_SECONDS = 15.0
# SIGHUP too: the server has its own session, so closing the terminal no longer reaches it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_until_stopped(command: list[str], *, grace: float = STOP_GRACE_SECONDS) -> int:
    """Run `command` until it exits, or until this process is stopped.

    The server gets its own session, so a signal sent to our whole process group (Ctrl+C,
    `kill -- -PGID`, a service manager) reaches only us, and we pass exactly one SIGTERM on.
    When both used to reach it, granian (Reflex's prod server) deadlocked on the second one and
    only SIGKILL stopped it. If the server is still running `grace` seconds after the SIGTERM,
    its whole process group is killed, and when it exits whatever is left of its group (the
    backend worker `reflex run` starts) is killed too, so nothing keeps the port. (A SIGKILL
    sent to our group no longer reaches the server: stop us with anything else.)

    Args:
        command: the server's command line.
        grace: seconds the server has to stop after the SIGTERM before it is killed.

    Returns:
        The server's exit status, or 0 when it was stopped on request.
    """
    server: subprocess.Popen[bytes] | None = None
    stop_requested = forwarded = killed = False

    def forward_once() -> None:
        nonlocal forwarded
        if server is not None and stop_requested and not forwarded:
            forwarded = True
            server.send_signal(signal.SIGTERM)
            signal.setitimer(signal.ITIMER_REAL, grace)

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True
        forward_once()

    def kill_server(_signum: int, _frame: FrameType | None) -> None:
        nonlocal killed
        if server is not None:
            killed = True
            _kill_process_group(server.pid)

    # Handlers first: a stop that arrives while the server starts must not orphan it.
    handlers = {sig: request_stop for sig in STOP_SIGNALS} | {signal.SIGALRM: kill_server}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        server = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        forward_once()  # a stop requested while it was starting
        status = server.wait()
        if killed:
            print(f"the server did not stop within {grace:g} s: killed it", file=sys.stderr)
        return 0 if stop_requested else status
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            _kill_process_group(server.pid)


def _kill_process_group(pgid: int) -> None:
    """SIGKILL every process left in the group, if any is."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m supervision_app.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="upgrade the database and start the app on PORT")
    serve.add_argument(
        "--demo", action="store_true", help="load demo data and run simulated agents"
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to listen on (default: HOST, else 127.0.0.1: this machine only)",
    )
    serve.set_defaults(func=_serve)

    commands.add_parser(
        "migrate", help="create or upgrade the database to the latest migration"
    ).set_defaults(func=_migrate)

    user = commands.add_parser(
        "create-user", help="create a user (password prompted, or --password)"
    )
    user.add_argument("username")
    user.add_argument("--role", default="supervisor", choices=["admin", "supervisor", "viewer"])
    user.add_argument("--display-name")
    user.add_argument(
        "--password", help="prefer the prompt or SUPERVISION_PASSWORD: arguments show in ps"
    )
    user.set_defaults(func=_create_user)

    agent = commands.add_parser("create-agent", help="register an agent and print its API key once")
    agent.add_argument("name")
    agent.add_argument("--category", required=True)
    agent.add_argument("--level", required=True, help="STUDENT, INTERN, SUPERVISED or AUTONOMOUS")
    agent.add_argument(
        "--supervisor",
        help="username of its human supervisor (needed for SUPERVISED: they watch its runs)",
    )
    agent.add_argument("--description", default="")
    agent.add_argument("--specialties", default="", help="comma-separated")
    agent.add_argument(
        "--can-supervise", action="store_true", help="may act as autonomous supervisor"
    )
    agent.set_defaults(func=_create_agent)

    level = commands.add_parser("set-level", help="change an agent's maturity level")
    level.add_argument("name")
    level.add_argument("level")
    level.set_defaults(func=_set_level)

    supervise = commands.add_parser(
        "set-supervisor", help="change who supervises an agent (a username, or none)"
    )
    supervise.add_argument("name")
    supervise.add_argument("supervisor", help="username of an active supervisor or admin, or none")
    supervise.set_defaults(func=_set_supervisor)

    demo = commands.add_parser("load-demo", help="add demo users and agents (idempotent)")
    demo.add_argument("--keys-file", help="write the demo agents' new API keys here (mode 600)")
    demo.set_defaults(func=_load_demo)

    commands.add_parser("verify", help="check the database and the audit hash chain").set_defaults(
        func=_verify
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DomainError as error:
        field = f" ({error.field})" if error.field else ""
        print(f"error{field}: {error.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
