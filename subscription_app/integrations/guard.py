"""SSRF guard: a delivery connects to the one address it resolved and checked, never to a fresh lookup.

The endpoint's host is resolved once per attempt; in production every address it resolves to
must be public. The POST then goes to that address (`pin`), with the original name in the Host
header and, over https, as the TLS name (core.http.PinnedAddressAdapter): a DNS answer that
changes between the check and the connect (DNS rebinding) is never used.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


class UnsafeTarget(Exception):
    """Production must not call this URL (its scheme, or an address it resolves to)."""


class Unresolved(Exception):
    """The host does not resolve (a failed attempt, retried like any other)."""


@dataclass(frozen=True)
class Pinned:
    url: str  # the endpoint's URL with its host replaced by the checked address
    host: str  # the Host header: the original name (and port, when the URL gave one)
    address: str


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # is_global also excludes what is_private misses, such as carrier-grade NAT (100.64.0.0/10).
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolved(f"host {host!r} does not resolve ({exc.__class__.__name__})") from None
    return [info[4][0] for info in infos]


def pin(url: str, *, production: bool) -> Pinned:
    """Resolve the URL's host once and return where to connect; production refuses non-public targets."""
    parts = urlsplit(url)
    if production and parts.scheme != "https":
        raise UnsafeTarget("production endpoints must use https")
    addresses = _resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    if production:
        for address in addresses:
            if not _is_public(address):
                raise UnsafeTarget(f"host {parts.hostname!r} resolves to non-public address {address}")
    address = addresses[0]
    literal = f"[{address.replace('%', '%25')}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    if "@" in parts.netloc:  # credentials in the URL still go along (requests sends them as basic auth)
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    if ":" in parts.hostname:  # an IPv6 literal in the URL keeps its brackets in the Host header
        host = f"[{parts.hostname}]:{parts.port}" if parts.port else f"[{parts.hostname}]"
    return Pinned(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host, address)
