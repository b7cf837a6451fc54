"""Forwarded headers count only from PROXY_TRUSTED peers (formsvc/proxy.py, review L1/D1/O1)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from formsvc.extensions import db
from formsvc.models import AuditEvent
from formsvc.proxy import peer_in
from tests.conftest import World

OUTSIDER = "203.0.113.7"
WRONG = "inte-rätt-lösenord"


def login(app: Flask, name: str, peer: str, **headers: str) -> int:
    client = app.test_client()
    resp = client.post(
        "/login",
        data={"username": name, "password": WRONG},
        headers=headers,
        environ_base={"REMOTE_ADDR": peer},
    )
    return resp.status_code


def failed_ips() -> set[str]:
    rows = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "login_failed"))
    return {e.ip for e in rows}


def test_a_client_reaching_the_instance_directly_cannot_name_its_address(
    make_app: Any, world: World
) -> None:
    app = make_app(LOGIN_ADDRESS_FAILURES=3, PROXY_FIX_X_FOR=1, PROXY_TRUSTED=["10.0.0.2/32"])
    for i in range(3):
        assert login(app, f"namn{i}", OUTSIDER, **{"X-Forwarded-For": f"6.6.6.{i}"}) == 200
    # its own address is the one counted and locked, whatever it writes next
    assert failed_ips() == {OUTSIDER}
    assert login(app, "caseworker", OUTSIDER, **{"X-Forwarded-For": "6.6.6.99"}) == 429
    # the proxy's forwarded address is still believed
    assert login(app, "namn9", "10.0.0.2", **{"X-Forwarded-For": "198.51.100.4"}) == 200
    assert "198.51.100.4" in failed_ips()


def test_metrics_is_refused_to_an_outsider_posing_as_loopback(make_app: Any) -> None:
    app = make_app(PROXY_FIX_X_FOR=1)
    client = app.test_client()
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        resp = client.get(
            "/metrics", headers={header: "127.0.0.1"}, environ_base={"REMOTE_ADDR": OUTSIDER}
        )
        assert resp.status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "1.2.3.4, " * 200,
        "::ffff:127.0.0.1",
        "[::1]:443",
        "127.0.0.1\tX-Evil: 1",
        b"\xff\xfe\xc3(".decode("latin-1"),  # invalid UTF-8 as the bytes a header carries
        "",
    ],
)
def test_hostile_forwarded_values_never_fail(make_app: Any, value: str) -> None:
    app = make_app(PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1)
    client = app.test_client()
    for peer in ("127.0.0.1", OUTSIDER):
        resp = client.get(
            "/login",
            headers={"X-Forwarded-For": value, "X-Forwarded-Proto": value},
            environ_base={"REMOTE_ADDR": peer},
        )
        assert resp.status_code == 200


def test_peer_matching() -> None:
    from formsvc.proxy import networks

    trusted = networks(["10.0.0.0/24", "::1/128"])
    assert peer_in("10.0.0.9", trusted)
    assert peer_in("::1", trusted)
    assert peer_in("::ffff:10.0.0.9", trusted)  # IPv4-mapped, as a dual-stack socket reports it
    assert not peer_in("10.0.1.9", trusted)
    assert not peer_in("", trusted) and not peer_in(None, trusted) and not peer_in("x", trusted)


@pytest.mark.parametrize("value", ["10.0.0.0/24", ["not a network"], [""], 5])
def test_a_wrong_trusted_list_refuses_to_start(make_app: Any, value: object) -> None:
    with pytest.raises(RuntimeError, match="PROXY_TRUSTED"):
        make_app(PROXY_FIX_X_FOR=1, PROXY_TRUSTED=value)
