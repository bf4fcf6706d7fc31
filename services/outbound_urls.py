"""Where the server may send a request for an agent: callback URLs checked against the
addresses they resolve to.

An agent chooses its callback URL, and the server then POSTs to it: left unchecked, an agent
could make the server reach what only the server can reach (its own loopback, the private
network, a cloud's metadata service). So a URL is refused when any address its host resolves
to is loopback, private, link-local, multicast, reserved or unspecified, unless an admin
allowed that host or network (CALLBACK_ALLOWED_HOSTS, for receivers on the same machine or
network). It is checked when registered and again at every delivery, and the delivery
connects to the very address that was checked, so a name that resolves elsewhere the second
time (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from services.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to; socket.getaddrinfo in production.
Resolver = Callable[[str, int], list[str]]


class OutboundRefused(Exception):
    """The URL may not be called: the message says why."""


@dataclass(frozen=True)
class CallbackTargets:
    """Hosts and networks an admin allowed besides the public internet."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> CallbackTargets:
        """`receiver.lan, 10.1.2.0/24, 127.0.0.1` → names and networks."""
        hosts, networks = set(), []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """Where a checked request goes: the URL with the checked address in place of the host,
    the Host header and the TLS server name the original URL asked for."""

    url: str
    host_header: str
    tls_server_name: str | None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


LOOKUP_TIMEOUT_S = 5.0
# Lookups at registration run here with a deadline: a slow name server (the agent may run
# its own) cannot hold the web server's threads. A hung lookup is abandoned, not waited for.
_lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback-check-dns")


def bounded_resolver(host: str, port: int) -> list[str]:
    """system_resolver, given up after LOOKUP_TIMEOUT_S (OSError: treated as no answer)."""
    future = _lookups.submit(system_resolver, host, port)
    try:
        return future.result(timeout=LOOKUP_TIMEOUT_S)
    except FutureTimeout:
        future.cancel()
        raise OSError(f"no answer from the name server within {LOOKUP_TIMEOUT_S:g} s") from None


# Ranges older Pythons' ipaddress does not flag, and tunnels that can wrap an inside
# address (6to4 2002::/16 carries an IPv4 address in it).
_ALSO_REFUSED = tuple(
    ipaddress.ip_network(network)
    for network in ("2002::/16", "fec0::/10", "192.88.99.0/24", "2001::/32", "64:ff9b::/96")
)


def _why_refused(address: Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _ALSO_REFUSED):
        return "tunnel or deprecated"
    for label, flagged in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flagged:
            return label
    if not address.is_global:
        return "not public"
    return None


def _split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, rest) of an http(s) URL, or InvalidInput naming the field."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise InvalidInput(f"not a valid URL: {error}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the callback URL must be http(s)://host/…", field="url")
    if parts.username or parts.password:
        raise InvalidInput("the callback URL may not carry a user or password", field="url")
    host = parts.hostname.lower().rstrip(".")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), parts.path


def resolve_target(url: str, targets: CallbackTargets, resolve: Resolver) -> Target:
    """The address to send to, after checking every address the host resolves to;
    OutboundRefused when one is not allowed (or the name does not resolve)."""
    scheme, host, port, _ = _split(url)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError, ValueError) as error:  # no such name, or not a name
            raise OutboundRefused(f"'{host}' does not resolve ({error})") from None
        if not addresses:
            raise OutboundRefused(f"'{host}' does not resolve")
    allowed_by_name = host in targets.hosts
    checked = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        reason = _why_refused(address)
        if reason and not allowed_by_name and not targets.allows_address(address):
            raise OutboundRefused(
                f"'{host}' resolves to {address}, a {reason} address: callbacks go to public "
                "hosts only, unless an admin allows this one (CALLBACK_ALLOWED_HOSTS)"
            )
        checked.append(address)
    chosen = checked[0]
    parts = urlsplit(url.strip())
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    return Target(
        url=urlunsplit((scheme, f"{netloc_host}:{port}", parts.path or "/", parts.query, "")),
        host_header=host_header,
        tls_server_name=host if scheme == "https" and literal is None else None,
    )


class CheckedUrl(str):
    """A callback URL that passed check_callback_url. Checking resolves the host name, which
    can take seconds: it is done before the transaction that stores the URL, never inside
    it, and the services that store one accept only this type."""


def check_callback_url(
    url: str, targets: CallbackTargets, resolve: Resolver = bounded_resolver, field: str = "url"
) -> CheckedUrl:
    """The URL, when it may be registered; InvalidInput naming `field` otherwise."""
    try:
        resolve_target(url, targets, resolve)
    except InvalidInput as invalid:
        raise InvalidInput(invalid.message, field=field) from None
    except OutboundRefused as refused:
        raise InvalidInput(str(refused), field=field) from None
    return CheckedUrl(url.strip())


def redacted(url: str | None) -> str | None:
    """What the audit shows of a callback URL: its scheme, host and port, and a fingerprint
    of the rest (paths and queries often carry a receiver's secret token)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    except ValueError:
        where = "?"
    fingerprint = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{where}/… (sha256 {fingerprint})"
