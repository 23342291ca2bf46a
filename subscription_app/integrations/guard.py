"""SSRF guard: in production an endpoint's host must resolve, at delivery time, to public addresses only."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeTarget(Exception):
    pass


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified)


def check_target(url: str, *, production: bool) -> None:
    """Raise UnsafeTarget for a URL production must not call; development and test may call loopback."""
    parts = urlsplit(url)
    if not production:
        return
    if parts.scheme != "https":
        raise UnsafeTarget("production endpoints must use https")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"host {parts.hostname!r} does not resolve ({exc.__class__.__name__})") from None
    for info in infos:
        if not _is_public(info[4][0]):
            raise UnsafeTarget(f"host {parts.hostname!r} resolves to non-public address {info[4][0]}")
