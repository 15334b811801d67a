"""Which addresses feeds may be fetched from: never the host's own network, unless the operator says so.

Any server's moderators can name a feed address, so a feed address is untrusted: it must not make the bot reach
loopback, private (RFC 1918), link-local (the cloud metadata address), carrier-grade NAT, unique-local,
multicast, unspecified or reserved addresses, however it is spelled (``2130706433``, ``0x7f.1``,
``[::ffff:127.0.0.1]``, a host name that resolves there). Literal hosts are checked before each request
(aiohttp never asks a resolver about them); host names are checked on the addresses they resolve to, inside the
connection itself (:class:`GuardedResolver`), so a name cannot resolve to one address when checked and to
another when connected. The operator's own arXiv endpoints are trusted by URL prefix, and
``FEEDS_ALLOW_PRIVATE`` lifts the rule for a self-hoster whose only group reads an intranet feed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from storage.errors import UserFacingError

__all__ = ["AddressGuard", "AddressNotAllowed", "GuardedResolver", "is_forbidden"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")  # the deprecated IPv4-compatible form, ::127.0.0.1
_UNSAFE_PATH = ("%2e", "%2f", "%5c")  # an encoded dot or slash could climb out of a trusted prefix on the server


class AddressNotAllowed(UserFacingError):
    """A feed address points into the host's own or a private network."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):  # ::1 and :: are IPv6's own
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_forbidden(address: IPAddress) -> bool:
    """True for an address feeds may not reach: anything not on the public internet, and multicast."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return True  # fe80::1%eth0: only link-local addresses carry a zone
        if (inner := _embedded_ipv4(address)) is not None and is_forbidden(inner):
            return True
    # is_global is False for loopback, RFC 1918, link-local, 100.64.0.0/10, fc00::/7, unspecified and reserved
    # ranges; global multicast (224.0.0.0/4, ff0e::/16) counts as global, so it is refused by name.
    return not address.is_global or address.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The IP address a host names literally, in any spelling a resolver would accept (``0x7f.1``, ``2130706433``)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(part.isalnum() for part in host.split(".")):
        # inet_aton reads the old BSD forms (octal, hex, a single 32-bit number, "127.1") that getaddrinfo and
        # browsers accept too; a host name made only of such parts is an address, not a name.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _refusal(host: str) -> AddressNotAllowed:
    return AddressNotAllowed(
        f"`{host[:100]}` is not an address feeds may use: it points into a private or local network. "
        "Feeds must be on the public internet."
    )


class GuardedResolver(AbstractResolver):
    """A resolver that refuses a host name when any address it resolves to is forbidden."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The inner resolver's addresses for ``host``, or :class:`AddressNotAllowed` if any is forbidden."""
        results = await self._inner.resolve(host, port, family)
        # One forbidden answer refuses the name: a name that mixes public and private answers is not a feed host.
        if any(is_forbidden(ipaddress.ip_address(result["host"])) for result in results):
            raise _refusal(host)
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class _Prefix:
    scheme: str
    host: str
    port: int | None
    path: str  # without a trailing slash


def _prefix(url: str) -> _Prefix | None:
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        return None
    if not parsed.host or parsed.scheme not in ("http", "https"):
        return None
    return _Prefix(parsed.scheme, parsed.host.rstrip(".").lower(), parsed.port, parsed.raw_path.rstrip("/"))


@dataclass(frozen=True)
class AddressGuard:
    """The rule for feed addresses: refuse private and local ones, except under the operator's trusted prefixes.

    ``trusted`` are URL prefixes (the configured ``ARXIV_API_BASE`` and ``ARXIV_RSS_BASE``): a URL is trusted
    when its scheme, host and port are the prefix's and its path is the prefix's path or below it, so other
    paths on the same host are not. ``resolver`` is the lookup under the guard (aiohttp's threaded resolver
    by default; tests give a stub).
    """

    trusted: tuple[str, ...] = ()
    allow_private: bool = False
    resolver: AbstractResolver | None = field(default=None, compare=False)
    _prefixes: tuple[_Prefix, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefixes = tuple(p for url in self.trusted if (p := _prefix(url)) is not None)
        object.__setattr__(self, "_prefixes", prefixes)

    @classmethod
    def of(cls, trusted: Iterable[str], *, allow_private: bool = False) -> AddressGuard:
        """A guard trusting these URL prefixes."""
        return cls(tuple(trusted), allow_private=allow_private)

    def trusts(self, url: str) -> bool:
        """True when ``url`` lies under one of the operator's trusted prefixes."""
        target = _prefix(url)
        if target is None or any(mark in target.path.lower() for mark in _UNSAFE_PATH):
            return False
        for prefix in self._prefixes:
            same_origin = (target.scheme, target.host, target.port) == (prefix.scheme, prefix.host, prefix.port)
            if same_origin and (target.path == prefix.path or target.path.startswith(prefix.path + "/")):
                return True
        return False

    def needs_guard(self, url: str) -> bool:
        """True when a request to ``url`` must go through the guarded connection (and be checked first)."""
        return not self.allow_private and not self.trusts(url)

    def check(self, url: str) -> None:
        """Refuse ``url`` now when its host is a literal forbidden address (names are checked on connecting)."""
        if not self.needs_guard(url):
            return
        try:
            host = URL(url.strip()).raw_host or ""
        except (ValueError, TypeError):
            return  # the request itself reports an unreadable address
        address = literal_address(host)
        if address is not None and is_forbidden(address):
            raise _refusal(host)

    def session(self, **options: Any) -> aiohttp.ClientSession:
        """A session whose connections refuse forbidden addresses; no pooled connection or cached lookup is shared."""
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.resolver), use_dns_cache=False, force_close=True)
        return aiohttp.ClientSession(connector=connector, trust_env=False, **options)
