"""Forwarded headers are believed only from the proxies we run (PROXY_TRUSTED).

werkzeug's ProxyFix trusts the last PROXY_FIX_X_FOR entries of X-Forwarded-For from whoever
connects. Where an app instance can be reached without the load balancer (a published port, a
neighbour on the network), anyone could then name their own address: every per-address rate
limit and the address check of /metrics would be theirs to choose. So ProxyFix applies only when
the connecting peer is inside PROXY_TRUSTED; from anyone else the forwarding headers are removed
before the app sees them, and the peer's own address is used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: WSGI environ keys of the headers a client could use to pose as someone else
FORWARDING = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
)


def networks(value: object) -> tuple[Network, ...]:
    """PROXY_TRUSTED as networks; anything else than a list of CIDRs refuses to start."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise RuntimeError('PROXY_TRUSTED must be a list of networks, e.g. ["10.0.0.0/24"]')
    out = []
    for item in value:
        try:
            out.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise RuntimeError(f"PROXY_TRUSTED: {str(item)[:60]!r} is not a network") from None
    return tuple(out)


def peer_in(remote_addr: str | None, trusted: tuple[Network, ...]) -> bool:
    """True if *remote_addr* (the TCP peer) is one of *trusted*."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return any(ip.version == net.version and ip in net for net in trusted)


class TrustedProxyFix:
    """ProxyFix for requests from *trusted* peers; the forwarding headers stripped otherwise."""

    def __init__(self, app: Any, trusted: tuple[Network, ...], *, x_for: int, x_proto: int) -> None:
        self.plain = app
        self.trusted = trusted
        self.fixed = ProxyFix(app, x_for=x_for, x_proto=x_proto, x_host=0, x_port=0, x_prefix=0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        if peer_in(environ.get("REMOTE_ADDR"), self.trusted):
            return self.fixed(environ, start_response)
        for key in FORWARDING:
            environ.pop(key, None)
        return self.plain(environ, start_response)
