"""Operations endpoints: /healthz (the process runs), /readyz (it can serve), /metrics.

No login, no CSRF, no rate limit, no cookie: a load balancer and Prometheus ask these. /metrics
is not public: only from METRICS_ALLOW networks or with METRICS_TOKEN as a bearer token; anyone
else gets the ordinary 404 page, as for an address that does not exist.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from formsvc.extensions import csrf, db, limiter
from formsvc.metrics import exposition
from formsvc.runtime import runtime
from formsvc.services import health

bp = Blueprint("ops", __name__)
csrf.exempt(bp)
limiter.exempt(bp)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: headers a proxy uses to name the client; their presence means the TCP peer is a proxy
_FORWARDING = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
MIN_TOKEN_LENGTH = 16


@bp.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    networks(state.app.config["METRICS_ALLOW"])  # a mistyped network refuses to start
    token = state.app.config["METRICS_TOKEN"]
    if token is not None and len(str(token)) < MIN_TOKEN_LENGTH:
        raise RuntimeError(f"METRICS_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    store, queue = _runtime_parts()
    checks = health.checks_for(current_app.config, db.engine, store, queue)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = health.run(
        checks,
        float(app.config["READYZ_TIMEOUT"]),
        app.app_context,
        optional=health.optional_checks(app.config),
    )
    body = {"status": "ok" if result.ok else "failed", "checks": result.checks}
    return jsonify(body), 200 if result.ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    if not (_bearer_ok() or _address_ok()):
        abort(404)
    data, content_type = exposition()
    return Response(data, content_type=content_type)


def networks(value: Iterable[str] | str | None) -> list[Network]:
    """METRICS_ALLOW as networks ("127.0.0.1", "10.0.0.0/8", "::1"); RuntimeError if invalid."""
    items = [value] if isinstance(value, str) else list(value or ())
    try:
        return [ipaddress.ip_network(str(v).strip(), strict=False) for v in items]
    except ValueError as exc:
        raise RuntimeError(f"METRICS_ALLOW: {exc}") from None


def _bearer_ok() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    # WSGI header values are latin-1 strings: every one encodes back
    return hmac.compare_digest(given.strip().encode("latin-1"), str(token).encode("utf-8"))


def _address_ok() -> bool:
    """The client's address (after ProxyFix) is in METRICS_ALLOW, and no untrusted proxy
    stands between: with PROXY_FIX_X_FOR = 0 a forwarding header means the peer is a proxy that
    we were not told about (a loopback nginx would make every outsider look local), and with
    PROXY_FIX_X_FOR = n, more than n X-Forwarded-For entries means the client wrote some."""
    hops = int(current_app.config["PROXY_FIX_X_FOR"])
    if hops == 0 and any(h in request.headers for h in _FORWARDING):
        return False
    if hops > 0:
        forwarded = request.headers.get("X-Forwarded-For", "")
        entries = [e for e in forwarded.split(",") if e.strip()]
        if len(entries) > hops:
            return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks(current_app.config["METRICS_ALLOW"]))


def _runtime_parts() -> tuple[Any, Any]:
    """The file store and the task queue (None without one)."""
    rt = runtime()
    # getattr: the queue field is the task queue's to add (formsvc.queue)
    return rt.store, getattr(rt, "queue", None)
