"""Staff single sign-on with OpenID Connect through the pages (issue 14, ADR 017): the login page's
provider buttons, password login switched off but for break-glass accounts, SSO accounts without
passwords, and hostile requests to /sso/<name>/... that are refused clearly, never with a 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, User
from formsvc.services import sso
from tests.conftest import PASSWORD, World
from tests.services.test_sso import ORIGIN, identity

BAD_LOGIN = "Fel användarnamn eller lösenord"
#: nothing listens there: a provider that is configured but never reached in these tests
UNREACHABLE = {
    "type": "oidc",
    "label": "Stockholms stad (Entra ID)",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    "client_id": "formsvc",
    "client_secret": "secret",
    "mappings": [
        {
            "claim": "groups",
            "value": "rinkeby-lotsar",
            "role": "caseworker",
            "district": "Rinkeby-Kista",
        },
    ],
}


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "SSO_PROVIDERS": {"city": UNREACHABLE}}


def events(action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


def sso_account(app: Flask) -> User:
    """Anna, a caseworker of the home district, made by her first SSO login."""
    return sso.sign_in(identity(), settings=app.config, origin=ORIGIN)


def signed_in_as(client: FlaskClient, user: User, provider: str | None = None) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        if provider:
            session[sso.SESSION_LOGIN] = {"provider": provider, "protocol": "oidc"}


def test_login_page_has_a_button_per_provider_beside_the_password_form(
    client: FlaskClient,
) -> None:
    page = html(client.get("/login?next=/documents/"))
    assert "Logga in med Stockholms stad (Entra ID)" in page
    assert 'href="/sso/city/login?next=/documents/"' in page
    assert 'name="password"' in page and "Reservinloggning" not in page


def test_without_local_login_the_password_form_is_behind_the_break_glass_link(
    make_app: Any, world: World
) -> None:
    client = make_app(LOCAL_LOGIN=False, BREAK_GLASS_USERS=("admin",)).test_client()
    page = html(client.get("/login"))
    assert "Logga in med Stockholms stad (Entra ID)" in page
    assert 'name="password"' not in page
    assert 'href="/login?local=1"' in page and "Reservinloggning" in page
    behind = html(client.get("/login?local=1"))
    assert 'name="password"' in behind and "Bara för utsedda reservkonton" in behind


def test_without_local_login_a_right_password_is_refused_but_break_glass_gets_in(
    make_app: Any, world: World
) -> None:
    client = make_app(LOCAL_LOGIN=False, BREAK_GLASS_USERS=("Admin",)).test_client()
    resp = client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    assert resp.status_code == 200 and BAD_LOGIN in html(resp)
    assert client.get("/").status_code == 302  # not signed in
    failed = events("login_failed")[-1]
    assert failed.details["refused"] == "local_login_off"
    assert failed.actor_label == "caseworker" and failed.object_id is None
    resp = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "Välkommen, Test admin" in html(client.get("/"))
    # break-glass with a wrong password is an ordinary wrong password
    other = make_app(LOCAL_LOGIN=False, BREAK_GLASS_USERS=("admin",)).test_client()
    assert BAD_LOGIN in html(other.post("/login", data={"username": "admin", "password": "x"}))


def test_an_sso_account_can_never_use_a_password(
    app: Flask, client: FlaskClient, world: World
) -> None:
    user = sso_account(app)
    for password in (PASSWORD, sso.UNUSABLE_PASSWORD_HASH, ""):
        resp = client.post("/login", data={"username": user.username, "password": password})
        assert resp.status_code == 200 and client.get("/").status_code == 302
    assert BAD_LOGIN in html(resp) or 'class="errors"' in html(resp)
    assert events("login_failed")[-1].details["refused"] == "sso_account"


def test_an_sso_account_gets_no_password_change_page(
    app: Flask, client: FlaskClient, world: World
) -> None:
    user = sso_account(app)
    signed_in_as(client, user, "city")
    start = html(client.get("/"))
    assert "Välkommen, Anna Svensson" in start and "Byt lösenord" not in start
    page = client.get("/account/password")
    assert page.status_code == 200
    assert "Du loggar in med Stockholms stad (Entra ID)" in html(page)
    assert 'name="new"' not in html(page)
    posted = client.post(
        "/account/password",
        data={"current": "x", "new": "Ett-nytt-losen-1", "repeat": "Ett-nytt-losen-1"},
    )
    assert posted.status_code == 403
    db.session.refresh(user)
    assert user.password_hash == sso.UNUSABLE_PASSWORD_HASH
    assert not events("password_change")


@pytest.mark.parametrize(
    "path",
    [
        "/sso/nowhere/login",
        "/sso/nowhere/callback?code=x&state=y",
        "/sso/CITY/login",
        "/sso/..%2fcity/login",
        "/sso/city%00/login",
        "/sso/" + "c" * 5000 + "/login",
        "/sso/%E2%80%8Bcity/callback",
    ],
)
def test_unknown_provider_names_are_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_callback_without_a_pending_login_is_refused_and_audited(
    client: FlaskClient, world: World
) -> None:
    resp = client.get("/sso/city/callback?code=abc&state=forged")
    assert resp.status_code == 400
    assert "Inloggningen startades inte här" in html(resp)
    assert client.get("/").status_code == 302
    refused = events("sso_refused")[-1]
    assert refused.details == {"provider": "city", "reason": "no_pending_state"}


def test_login_start_refuses_odd_purposes_and_reauth_of_others(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert client.get("/sso/city/login?purpose=admin").status_code == 400
    anonymous = client.get("/sso/city/login?purpose=reauth&next=/")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    signed_in_as(client, world.users["caseworker"])  # a local account: no IdP to confirm it
    assert client.get("/sso/city/login?purpose=reauth&next=/").status_code == 403
    # already signed in: a login start goes home (or to a safe next), not to the IdP
    resp = client.get("/sso/city/login?next=//evil.example/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_logout_of_a_password_login_stays_local(client: FlaskClient, world: World) -> None:
    client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    resp = client.post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"


def test_logout_of_a_login_through_a_provider_no_longer_configured_stays_local(
    app: Flask, client: FlaskClient, world: World
) -> None:
    user = sso_account(app)
    signed_in_as(client, user, "gone")
    version = user.session_version
    resp = client.post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    db.session.refresh(user)
    assert user.session_version == version + 1
    with client.session_transaction() as session:
        assert sso.SESSION_LOGIN not in session
