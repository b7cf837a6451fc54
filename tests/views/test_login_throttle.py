"""Limits on password attempts: per user name (a lockout that grows, the same for unknown names)
and per address (failures only), the client address behind a proxy, and the current-password
checks of the password change, the in-person unlock and staff signing (issue 11)."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.services import users
from tests import factories
from tests.conftest import PASSWORD, World
from tests.views.test_signing import send

WRONG = "fel-losenord-1"
LOCKED = "För många felaktiga lösenord för det här användarnamnet"
ADDRESS_LOCKED = "För många misslyckade inloggningar från din adress"
BAD_LOGIN = "Fel användarnamn eller lösenord"


def login(
    client: FlaskClient, username: str, password: str = PASSWORD, addr: str = "192.0.2.1", **h: str
) -> Any:
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": addr},
        headers=h,
    )


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def flashes(resp: Any) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+"[^>]*>([^<]*)</p>', resp.get_data(as_text=True))


def logged_in(client: FlaskClient) -> bool:
    return client.get("/participants/").status_code == 200


# --------------------------------------------------------------------------- per user name


def test_five_wrong_passwords_from_five_addresses_lock_the_user_name(
    client: FlaskClient, world: World
) -> None:
    for i in range(1, 6):
        resp = login(client, "caseworker", WRONG, addr=f"198.51.100.{i}")
        assert resp.status_code == 200
    assert any(LOCKED in m and "1 minut" in m for m in flashes(resp))
    resp = login(client, "caseworker", PASSWORD, addr="198.51.100.99")
    assert resp.status_code == 429  # even the right password, from yet another address
    assert any(LOCKED in m for m in flashes(resp))
    assert not logged_in(client)
    failed = events("login_failed")
    assert [e.details.get("failures") for e in failed] == [1, 2, 3, 4, 5, None]
    assert failed[-1].details == {"refused": "locked"}
    assert [e.ip for e in failed] == [f"198.51.100.{i}" for i in (1, 2, 3, 4, 5, 99)]
    (locked,) = events("account_locked")
    assert locked.actor_label == "caseworker" and locked.details["seconds"] == 60
    assert events("login") == []


def _answers(client: FlaskClient, username: str, addr: str) -> list[tuple[int, list[str]]]:
    said = [(login(client, username, WRONG, addr=addr)) for _ in range(6)]
    said.append(login(client, username, PASSWORD, addr=addr))
    return [(r.status_code, flashes(r)) for r in said]


def test_an_unknown_user_name_gets_exactly_the_answers_of_a_real_one(
    client: FlaskClient, world: World
) -> None:
    real = _answers(client, "caseworker", "198.51.100.1")
    unknown = _answers(client, "ingen-sadan", "198.51.100.2")
    assert real == unknown
    assert [code for code, _ in real] == [200, 200, 200, 200, 200, 429, 429]
    assert [e.actor_label for e in events("account_locked")] == ["caseworker", "ingen-sadan"]


def test_a_right_password_starts_the_count_again(client: FlaskClient, world: World) -> None:
    for _ in range(2):
        for _ in range(4):
            assert login(client, "caseworker", WRONG).status_code == 200
        assert login(client, "CaseWorker").status_code == 302  # any spelling of the name
        client.post("/logout")
    assert events("account_locked") == []


def test_an_administrator_lifts_the_lockout(app: Flask, world: World) -> None:
    victim, admin = app.test_client(), app.test_client()
    for _ in range(5):
        login(victim, "caseworker", WRONG, addr="198.51.100.7")
    assert login(admin, "admin", addr="192.0.2.50").status_code == 302
    listing = admin.get("/admin/users").get_data(as_text=True)
    assert "Spärrad till" in listing and "Häv spärr" in listing
    uid = world.users["caseworker"].id
    assert admin.post(f"/admin/users/{uid}/unlock").status_code == 302
    assert "Spärrad till" not in admin.get("/admin/users").get_data(as_text=True)
    assert login(victim, "caseworker", addr="198.51.100.7").status_code == 302
    (lifted,) = events("account_unlocked")
    assert lifted.actor_label == "admin" and lifted.details == {"was_locked": True}


def test_a_password_reset_or_the_unlock_command_lifts_it_too(
    app: Flask, client: FlaskClient, world: World
) -> None:
    for _ in range(5):
        login(client, "caseworker", WRONG)
    new = users.reset_password(world.users["caseworker"], actor=world.users["admin"])
    assert login(client, "caseworker", new).status_code == 302
    client.post("/logout")
    for _ in range(5):
        login(client, "manager", WRONG)
    out = app.test_cli_runner().invoke(args=["user", "unlock", "manager"])
    assert out.exit_code == 0 and "spärren är hävd" in out.output
    assert login(client, "manager").status_code == 302


# --------------------------------------------------------------------------- per address


def test_an_office_behind_one_address_is_not_locked_out_by_its_own_logins(
    make_app: Any, world: World
) -> None:
    app = make_app(LOGIN_ADDRESS_FAILURES=3)
    office = "203.0.113.10"
    for i in range(24):  # shift start: everyone logs in from the same address
        c = app.test_client()
        assert login(c, ("caseworker", "manager", "analyst")[i % 3], addr=office).status_code == 302
    c = app.test_client()
    for name in ("anna", "bertil"):  # two typos: still fine
        assert login(c, name, WRONG, addr=office).status_code == 200
    assert login(c, "caseworker", addr=office).status_code == 302


def test_failures_from_one_address_lock_that_address_only(make_app: Any, world: World) -> None:
    app = make_app(LOGIN_ADDRESS_FAILURES=3)
    c = app.test_client()
    for name in ("anna", "bertil", "cesar"):  # spraying: a new name each time
        assert login(c, name, WRONG, addr="198.51.100.66").status_code == 200
    resp = login(c, "caseworker", addr="198.51.100.66")
    assert resp.status_code == 429 and any(ADDRESS_LOCKED in m for m in flashes(resp))
    assert login(app.test_client(), "caseworker", addr="198.51.100.67").status_code == 302
    (blocked,) = events("address_locked")
    assert blocked.ip == "198.51.100.66" and blocked.details["failures"] == 3


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(
    make_app: Any, world: World
) -> None:
    app = make_app(LOGIN_ADDRESS_FAILURES=3, PROXY_FIX_X_FOR=0)
    c = app.test_client()
    for i in range(3):
        forged = {"X-Forwarded-For": f"10.9.9.{i}"}
        assert login(c, f"namn{i}", WRONG, addr="198.51.100.5", **forged).status_code == 200
    resp = login(c, "caseworker", addr="198.51.100.5", **{"X-Forwarded-For": "10.9.9.77"})
    assert resp.status_code == 429
    assert {e.ip for e in events("login_failed")} == {"198.51.100.5"}


def test_behind_one_trusted_proxy_the_last_hop_is_the_client(make_app: Any, world: World) -> None:
    proxy = "10.0.0.2"
    app = make_app(LOGIN_ADDRESS_FAILURES=3, PROXY_FIX_X_FOR=1, PROXY_TRUSTED=["10.0.0.2/32"])
    c = app.test_client()
    for i in range(3):
        # the client may prepend whatever it likes; the proxy appends the address it saw
        hops = {"X-Forwarded-For": f"6.6.6.{i}, 203.0.113.5"}
        assert login(c, f"namn{i}", WRONG, addr=proxy, **hops).status_code == 200
    assert {e.ip for e in events("login_failed")} == {"203.0.113.5"}
    again = login(c, "caseworker", addr=proxy, **{"X-Forwarded-For": "203.0.113.5"})
    assert again.status_code == 429
    other = app.test_client()
    assert (
        login(other, "caseworker", addr=proxy, **{"X-Forwarded-For": "203.0.113.6"}).status_code
        == 302
    )
    assert events("login")[-1].ip == "203.0.113.6"


@contextmanager
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_sixty_parallel_guesses_from_six_addresses_check_five_passwords(
    make_app: Any, world: World
) -> None:
    """Through real HTTP: every attempt is counted before its password is checked."""
    app = make_app(PROXY_FIX_X_FOR=1)

    def guess(i: int) -> int:
        return requests.post(
            f"{base}/login",
            data={"username": "caseworker", "password": f"gissning-{i}"},
            headers={"X-Forwarded-For": f"198.51.100.{i % 6 + 1}"},
            allow_redirects=False,
            timeout=60,
        ).status_code

    with served(app) as base, ThreadPoolExecutor(max_workers=12) as pool:
        codes = Counter(pool.map(guess, range(60)))
        right = requests.post(
            f"{base}/login",
            data={"username": "caseworker", "password": PASSWORD},
            allow_redirects=False,
            timeout=60,
        )
    assert codes == {200: 5, 429: 55}
    assert right.status_code == 429
    *guesses, last = events("login_failed")
    assert sorted(e.details.get("failures", 0) for e in guesses) == [0] * 55 + [1, 2, 3, 4, 5]
    assert last.details == {"refused": "locked"}
    assert len(events("account_locked")) == 1
    assert len({e.ip for e in guesses}) == 6


# --------------------------------------------------------------------------- current password


def test_guessing_the_current_password_is_limited_audited_and_locks_the_login(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert login(client, "caseworker").status_code == 302
    new = "Ett-nytt-langt-losen-1"
    for _ in range(5):
        resp = client.post("/account/password", data={"current": WRONG, "new": new, "repeat": new})
        assert resp.status_code == 200
    assert LOCKED in resp.get_data(as_text=True)
    resp = client.post("/account/password", data={"current": PASSWORD, "new": new, "repeat": new})
    assert resp.status_code == 429 and LOCKED in resp.get_data(as_text=True)
    failed = events("password_change_failed")
    assert [e.details.get("failures") for e in failed] == [1, 2, 3, 4, 5, None]
    assert {e.actor_label for e in failed} == {"caseworker"}
    assert events("password_change") == [] and len(events("account_locked")) == 1
    # the same count as the login: the name is locked there too
    assert login(app.test_client(), "caseworker", addr="198.51.100.3").status_code == 429
    db.session.expire_all()
    assert world.users["caseworker"].check_password(PASSWORD)


def test_a_wrong_staff_signing_password_counts_with_the_logins(
    app: Flask, client: FlaskClient, world: World
) -> None:
    doc = factories.security_talk(app, world.users["manager"], world.users["caseworker"])
    assert login(client, "manager").status_code == 302
    manager_req, _ = send(client, doc)
    for _ in range(4):  # someone guesses the manager's password at the login page
        login(app.test_client(), "manager", WRONG, addr="198.51.100.8")
    url = f"/documents/{doc.id}/signatures/{manager_req.id}/staff"
    resp = client.post(url, data={"s-name": "Test manager", "s-password": WRONG})
    assert "Fel lösenord" in resp.get_data(as_text=True) and LOCKED in resp.get_data(as_text=True)
    resp = client.post(url, data={"s-name": "Test manager", "s-password": PASSWORD})
    assert LOCKED in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Document, doc.id).status != "signed"
    assert manager_req.status == "open"
    failed = events("sign_password_failed")
    assert [e.details.get("failures") for e in failed] == [5, None]
    assert failed[0].object_id == str(doc.id)
