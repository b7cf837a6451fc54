"""Login, logout, rate limits, CSRF, cookies and forced password change."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import AuditEvent
from formsvc.services import users
from tests.conftest import PASSWORD, Auth, World


def test_login_then_logout(client: FlaskClient, auth: Auth, world: World) -> None:
    resp = auth.login("caseworker")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "Välkommen, Test caseworker" in client.get("/").get_data(as_text=True)
    auth.logout()
    assert client.get("/").status_code == 302
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "login" in actions and "logout" in actions


#: what an earlier person's session may hold on a shared device (review S5)
EARLIER = {
    "formsvc.eid": {"7": {"until": 9_999_999_999}},
    "bankid_orders": {"x": "y"},
    "in_person_lock": {"request": 7},
    "formsvc.sso": {"provider": "city", "protocol": "oidc"},
    "formsvc.sso_reauth": {"user": 1},
    "signing_verified": {"7": 9_999_999_999},
}


def test_login_and_logout_start_a_fresh_session_keeping_only_the_language(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    client.get("/lang/en")
    with client.session_transaction() as session:
        session.update(EARLIER)
    assert auth.login("caseworker").status_code == 302
    with client.session_transaction() as session:
        assert not set(EARLIER) & set(session)
        assert session["lang"] == "en" and session["_user_id"]
        session.update(EARLIER)  # gathered during this person's work
    auth.logout()
    with client.session_transaction() as session:
        assert not set(EARLIER) & set(session) and "_user_id" not in session
        assert session["lang"] == "en"
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    resp = auth.login("caseworker")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("caseworker", "wrong-password"),
        ("nobody", PASSWORD),
        ("caseworker", "x" * 300),
        ("<script>alert(1)</script>", "a"),
        ("case\x00worker", PASSWORD),
    ],
)
def test_bad_login_says_so_without_telling_which_part(
    client: FlaskClient, auth: Auth, world: World, username: str, password: str
) -> None:
    resp = auth.login(username, password)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert ("Fel användarnamn eller lösenord" in html) or ('class="errors"' in html)
    assert "<script>alert(1)</script>" not in html
    assert client.get("/").status_code == 302


def test_deactivated_user_cannot_log_in(client: FlaskClient, auth: Auth, world: World) -> None:
    u = world.users["caseworker"]
    users.update_user(
        u,
        role=u.role,
        district_id=u.district_id,
        active=False,
        full_name=u.full_name,
        email=u.email,
        title=u.title,
        phone=u.phone,
        actor=None,
    )
    assert "Fel användarnamn" in auth.login("caseworker").get_data(as_text=True)


def test_forced_password_change_after_reset(client: FlaskClient, auth: Auth, world: World) -> None:
    new = users.reset_password(world.users["caseworker"], actor=world.users["admin"])
    auth.login("caseworker", new)
    assert client.get("/participants/").headers["Location"].endswith("/account/password")
    resp = client.post(
        "/account/password",
        data={"current": new, "new": "Ett-nytt-losen-1", "repeat": "Ett-nytt-losen-1"},
    )
    assert resp.status_code == 302
    assert client.get("/participants/").status_code == 200


def test_password_change_errors_are_swedish(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    html = client.post(
        "/account/password", data={"current": PASSWORD, "new": "kort", "repeat": "kort"}
    ).get_data(as_text=True)
    assert "minst 10 tecken" in html
    html = client.post(
        "/account/password",
        data={"current": "fel-losen", "new": "Langre-losen-1", "repeat": "Langre-losen-1"},
    ).get_data(as_text=True)
    assert "nuvarande lösenordet stämmer inte" in html
    html = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": "Langre-losen-1", "repeat": "Annat-losen-1"},
    ).get_data(as_text=True)
    assert "inte likadana" in html


STRICT = {"LOGIN_ACCOUNT_FAILURES": 3, "WTF_CSRF_ENABLED": True}


def test_login_attempts_are_rate_limited(make_app: Any, world: World) -> None:
    app = make_app(**STRICT)
    client = app.test_client()
    token = _csrf_token(client)
    codes = [
        client.post(
            "/login", data={"username": "caseworker", "password": "x", "csrf_token": token}
        ).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    resp = client.post(
        "/login", data={"username": "caseworker", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 429  # even the right password waits
    assert "För många felaktiga lösenord" in resp.get_data(as_text=True)


def _csrf_token(client: FlaskClient) -> str:
    html = client.get("/login").get_data(as_text=True)
    return html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def test_csrf_is_enforced_when_enabled(make_app: Any, world: World) -> None:
    app = make_app(**STRICT)
    client = app.test_client()
    resp = client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    assert resp.status_code == 400
    assert "Formuläret har gått ut" in resp.get_data(as_text=True)
    token = _csrf_token(client)
    resp = client.post(
        "/login", data={"username": "caseworker", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302


def test_language_switch_to_english(client: FlaskClient, world: World) -> None:
    client.get("/lang/en")
    html = client.get("/login").get_data(as_text=True)
    assert "Log in" in html and 'lang="en"' in html
    client.get("/lang/sv")
    assert "Logga in" in client.get("/login").get_data(as_text=True)


def test_language_switch_refuses_offsite_redirect(client: FlaskClient, app: Flask) -> None:
    resp = client.get("/lang/en?next=//evil.example/")
    assert resp.headers["Location"] == "/"


HOSTILE_NEXT = [
    "/%09/evil.example/",  # a tab the browser drops: //evil.example
    "/%0a/evil.example/",
    "/%0d%0aSet-Cookie:%20x=1",  # a header split
    "%2F%2Fevil.example",
    "/%5Cevil.example",  # backslash
    "/\\/evil.example",
    "https://evil.example/",
    "/%E2%80%AE/evil.example",  # right-to-left override
    "/%00/evil.example",
    "/" + "a" * 5000,
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_hostile_next_never_leaves_the_site_nor_fails(
    client: FlaskClient, auth: Auth, world: World, target: str
) -> None:
    lang = client.get(f"/lang/en?next={target}")
    assert lang.status_code == 302 and lang.headers["Location"] == "/"
    resp = client.post(
        f"/login?next={target}", data={"username": "caseworker", "password": PASSWORD}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_a_same_site_next_is_followed(client: FlaskClient, world: World) -> None:
    resp = client.post(
        "/login?next=/participants/?q=%C3%85sa",
        data={"username": "caseworker", "password": PASSWORD},
    )
    assert resp.headers["Location"] == "/participants/?q=%C3%85sa"


# --------------------------------------------------------------------------- sessions end


def _signed_in(app: Flask, username: str = "caseworker") -> FlaskClient:
    other = app.test_client()
    assert (
        other.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    )
    assert other.get("/participants/").status_code == 200
    return other


def _is_out(c: FlaskClient) -> bool:
    resp = c.get("/participants/")
    return resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_logout_ends_every_session_of_the_user_even_a_copied_cookie(
    app: Flask, world: World
) -> None:
    phone, desk = _signed_in(app), _signed_in(app)
    stolen = phone.get_cookie("session")
    assert stolen is not None
    desk.post("/logout")
    assert _is_out(desk) and _is_out(phone)
    thief = app.test_client()
    thief.set_cookie("session", stolen.value)
    assert _is_out(thief)
    assert not _is_out(_signed_in(app))  # signing in again works


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(
    app: Flask, world: World
) -> None:
    phone, desk = _signed_in(app), _signed_in(app)
    new = "Ett-nytt-langt-losen-1"
    resp = desk.post("/account/password", data={"current": PASSWORD, "new": new, "repeat": new})
    assert resp.status_code == 302
    assert not _is_out(desk)
    assert _is_out(phone)


def test_an_administrator_reset_deactivation_or_role_change_ends_the_users_sessions(
    app: Flask, world: World
) -> None:
    cw = world.users["caseworker"]
    for change in (
        lambda: users.reset_password(
            cw, actor=world.users["admin"], password="Tillfalligt-losen-9"
        ),
        lambda: users.update_user(
            cw,
            role="manager",
            district_id=cw.district_id,
            active=True,
            full_name=cw.full_name,
            email=cw.email,
            title=cw.title,
            phone=cw.phone,
            actor=world.users["admin"],
        ),
    ):
        cw.set_password(PASSWORD)
        cw.must_change_password = False
        db.session.commit()
        c = _signed_in(app, "caseworker")
        before = cw.session_version
        change()
        assert cw.session_version == before + 1
        assert _is_out(c)


def test_a_session_cookie_from_before_session_versions_logs_no_one_in(
    app: Flask, world: World
) -> None:
    c = app.test_client()
    with c.session_transaction() as s:
        s["_user_id"] = str(world.users["caseworker"].id)  # the old format: the id alone
        s["_fresh"] = True
    assert _is_out(c)
    with c.session_transaction() as s:
        s["_user_id"] = f"{world.users['caseworker'].id}:{10**30}"
    assert _is_out(c)


def test_logout_opened_as_a_link_gets_our_405_page_with_allow(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    resp = client.get("/logout")
    assert resp.status_code == 405
    assert "POST" in resp.headers["Allow"].split(", ")
    body = resp.get_data(as_text=True)
    assert '<html lang="sv">' in body and "Sidan kan inte öppnas så" in body
    assert 'href="/"' in body  # the way back
    assert client.get("/").status_code == 200  # a GET logs nobody out
