"""SSRF guard: a user-given URL may only reach public addresses (http/https, every resolved address checked).

Used at registration and again right before each connection (DNS can change); callers connect to the
addresses checked here, never to a second resolution of the name. The one guard for every outbound call:
webhooks (`WEBHOOK_ALLOW_PRIVATE_NETWORKS`, no redirects) and URL imports (`IMPORT_ALLOW_PRIVATE_NETWORKS`,
through `guarded_connection`, so every redirect hop is checked as it connects).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURLError(ValueError):
    """The URL is malformed, not http(s), or reaches a non-public address."""


@dataclass(frozen=True)
class CheckedURL:
    url: str
    scheme: str
    host: str  # as written (a name or an address), for the Host header and TLS
    port: int
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURLError(f"The host {host!r} does not resolve ({exc}).") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it really goes."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def non_public_reason(address: str | IPAddress) -> str | None:
    """Why `address` is not a public unicast address ("loopback", "private", ...), or None if it is."""
    ip = ipaddress.ip_address(str(address).split("%", 1)[0]) if isinstance(address, str) else address
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return non_public_reason(inner)
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),  # 169.254.0.0/16 (cloud metadata at .169.254), fe80::/10
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),  # 240.0.0.0/4, broadcast
        ("unique-local" if ip.version == 6 else "private", ip.is_private),  # RFC 1918, fc00::/7, ...
        ("not globally routable", not ip.is_global),  # shared 100.64/10, documentation ranges, ...
    )
    return next((reason for reason, hit in checks if hit), None)


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> CheckedURL:
    """Parse `url` and resolve its host; raise UnsafeURLError unless every address may be reached."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"The URL is malformed ({exc}).") from None
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError("The URL must start with http:// or https://.")
    host = parts.hostname
    if not host:
        raise UnsafeURLError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("The URL may not carry a user name or password.")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = checked_addresses(host, port, allow_private=allow_private, resolver=resolver)
    return CheckedURL(url=url, scheme=parts.scheme, host=host, port=port, addresses=addresses)


def checked_addresses(
    host: str, port: int, *, allow_private: bool = False, resolver: Resolver | None = None
) -> tuple[str, ...]:
    """Every address `host` resolves to, all allowed; UnsafeURLError naming the first one that is not."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = (resolver or system_resolver)(host, port)
    if not addresses:
        raise UnsafeURLError(f"The host {host!r} does not resolve.")
    for address in addresses:
        reason = non_public_reason(address)
        if reason is None:
            continue
        # Local setups may reach their own networks; nothing may reach "any address" or a group.
        if allow_private and reason not in ("unspecified", "multicast"):
            continue
        shown = host if host == address else f"{host} ({address})"
        raise UnsafeURLError(f"The URL's host {shown} is a {reason} address; only public addresses are allowed.")
    return tuple(addresses)


def guarded_connection(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> socket.socket:
    """socket.create_connection that reaches only the addresses checked here (no second DNS answer).

    For HTTP clients that follow redirects themselves: every connection, so every hop, goes through it.
    """
    host, port = address
    last: OSError | None = None
    for ip in checked_addresses(host, port, allow_private=allow_private, resolver=resolver):
        try:
            return socket.create_connection((ip, port), timeout=timeout, source_address=source_address)
        except OSError as exc:
            last = exc
    raise last or OSError(f"Could not connect to {host}:{port}.")
