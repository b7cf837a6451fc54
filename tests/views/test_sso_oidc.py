"""Staff single sign-on with OpenID Connect through the pages (issue 14, ADR 017): the login page's
provider buttons, password login switched off but for break-glass accounts, SSO accounts without
passwords, and hostile requests to /sso/<name>/... that are refused clearly, never with a 500."""

from __future__ import annotations

import re
import uuid
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


def test_anonymous_callbacks_are_rate_limited(make_app: Any, world: World) -> None:
    client = make_app(SIGN_RATE_LIMIT="3 per minute").test_client()
    before = len(events("sso_refused"))
    codes = [client.get("/sso/city/callback?error=x").status_code for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    assert len(events("sso_refused")) == before + 3  # the limited ones write nothing


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


# --------------------------------------------------------------------------- through a real IdP

BASE = "http://localhost"  # PUBLIC_BASE_URL of the test config: the redirect URI's host
CITY_MAPPINGS = [
    {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
    {
        "claim": "groups",
        "value": "rinkeby-lotsar",
        "role": "caseworker",
        "district": "Rinkeby-Kista",
    },
    {"claim": "groups", "value": "analytiker", "role": "analyst"},
]


class Idp:
    """The test's view of the OpenID Provider fixture: the city's client and staff accounts."""

    def __init__(self, oidc_idp: Any) -> None:
        self.op = oidc_idp
        self.client = oidc_idp.add_client(
            [f"{BASE}/sso/city/callback"], post_logout_redirect_uris=[f"{BASE}/login"]
        )
        self.conf = oidc_idp.provider_conf(
            self.client, label="Stockholms stad (Entra ID)", mappings=CITY_MAPPINGS
        )
        self.prefix = uuid.uuid4().hex[:8]  # the IdP lives for the whole run: own accounts

    def account(self, who: str, groups: tuple[str, ...], **claims: Any) -> tuple[str, str]:
        """Create or change an IdP account; returns (its user name, its sub)."""
        username = f"{who}.{self.prefix}@stad.example"
        claims.setdefault("name", who.capitalize() + " Svensson")
        claims.setdefault("email", username)
        return username, self.op.add_account(username, groups=list(groups), **claims)

    def start(self, client: FlaskClient, query: str = "") -> str:
        """Press the login button: the IdP's authorization URL."""
        resp = client.get(f"/sso/city/login{query}")
        assert resp.status_code == 302, html(resp)
        location = resp.headers["Location"]
        assert location.startswith(self.op.issuer + "/")
        return location

    def back(self, client: FlaskClient, callback_url: str) -> Any:
        """The browser arriving at our callback from the IdP."""
        assert callback_url.startswith(f"{BASE}/sso/city/callback?"), callback_url
        return client.get(callback_url.removeprefix(BASE))

    def sign_in(self, client: FlaskClient, username: str, query: str = "") -> Any:
        return self.back(client, self.op.login(self.start(client, query), username))


@pytest.fixture
def idp(oidc_idp: Any) -> Idp:
    return Idp(oidc_idp)


@pytest.fixture
def city(make_app: Any, idp: Idp, world: World) -> Flask:
    """The app with the city's IdP configured (built after the world, on the same database)."""
    return make_app(SSO_PROVIDERS={"city": idp.conf})


def account_of(sub: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.sso_subject == sub))


def test_first_login_creates_the_account_from_the_groups_and_lands_on_the_start_page(
    city: Flask, idp: Idp, world: World
) -> None:
    client = city.test_client()
    username, sub = idp.account("anna", ("rinkeby-lotsar", "alla-anstallda"))
    resp = idp.sign_in(client, username)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    start = html(client.get("/"))
    assert "Välkommen, Anna Svensson" in start
    user = account_of(sub)
    assert user is not None and user.sso_provider == "city"
    assert (user.role, user.district_id, user.username) == ("caseworker", world.home.id, username)
    assert client.get("/participants/").status_code == 200  # a caseworker's page
    assert client.get("/admin/users").status_code == 403
    created = events("sso_account_created")
    assert [e.object_id for e in created] == [str(user.id)]
    login = events("sso_login")[-1]
    assert login.details["issuer"] == idp.op.issuer and login.details["subject"] == sub
    assert login.details["auth_time"] is not None
    with client.session_transaction() as session:
        kept = session[sso.SESSION_LOGIN]
    assert kept["provider"] == "city" and kept["protocol"] == "oidc"
    assert kept["id_token"].count(".") == 2


def test_an_sso_login_starts_a_fresh_session(city: Flask, idp: Idp, world: World) -> None:
    username, sub = idp.account("erik", ("rinkeby-lotsar",))
    client = city.test_client()
    client.get("/lang/en")
    location = idp.start(client)
    earlier = {  # what the person before may have left on a shared device
        "formsvc.eid": {"7": {"until": 9_999_999_999}},
        "bankid_orders": {"x": "y"},
        "in_person_lock": {"request": 7},
        "formsvc.saml": {"a": "b"},
        "signing_verified": {"7": 9_999_999_999},
        sso.SESSION_REAUTH: {"user": 1},
    }
    with client.session_transaction() as session:
        session.update(earlier)
    resp = idp.back(client, idp.op.login(location, username))
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert not set(earlier) & set(session)
        assert session["lang"] == "en" and session[sso.SESSION_LOGIN]["provider"] == "city"
    user = account_of(sub)
    assert user is not None and "Erik Svensson" in html(client.get("/"))


def test_a_look_alike_of_a_local_name_at_the_idp_gets_an_ascii_name_of_its_own(
    city: Flask, idp: Idp, world: World
) -> None:
    client = city.test_client()
    full_width = "\uff41\uff44\uff4d\uff49\uff4e"  # "ａｄｍｉｎ"
    username, sub = idp.account("hugo", ("rinkeby-lotsar",), preferred_username=full_width)
    assert idp.sign_in(client, username).status_code == 302
    user = account_of(sub)
    assert user is not None and user.username == "admin.city"
    assert "admin.city" in html(client.get("/"))  # how the menu shows who is signed in
    cyrillic = "\u0430dmin"  # "аdmin"
    username, sub = idp.account("ida", ("rinkeby-lotsar",), preferred_username=cyrillic)
    assert idp.sign_in(city.test_client(), username).status_code == 302
    user = account_of(sub)
    assert user is not None and user.username == "dmin"


def test_a_later_login_updates_role_and_district_and_ends_the_old_sessions(
    city: Flask, idp: Idp, world: World
) -> None:
    username, sub = idp.account("bo", ("rinkeby-lotsar",))
    first = city.test_client()
    assert idp.sign_in(first, username).status_code == 302
    # moved to Farsta as a manager at the IdP; next login, on another device
    idp.account("bo", ("farsta-chefer",), name="Bo Berg")
    second = city.test_client()
    assert idp.sign_in(second, username).status_code == 302
    user = account_of(sub)
    assert user is not None
    assert (user.role, user.district_id, user.full_name) == ("manager", world.other.id, "Bo Berg")
    assert "Välkommen, Bo Berg" in html(second.get("/"))
    assert first.get("/").status_code == 302  # the caseworker session ended with the move
    updated = events("sso_account_updated")[-1]
    assert updated.details["before"]["role"] == "caseworker"
    assert updated.details["after"] == {
        "role": "manager",
        "district_id": world.other.id,
        "full_name": "Bo Berg",
    }


def test_mapping_removed_at_the_idp_refuses_deactivates_and_audits(
    city: Flask, idp: Idp, world: World
) -> None:
    username, sub = idp.account("cilla", ("rinkeby-lotsar",))
    open_session = city.test_client()
    assert idp.sign_in(open_session, username).status_code == 302
    idp.account("cilla", ("alla-anstallda",))  # no longer in a mapped group
    client = city.test_client()
    resp = idp.sign_in(client, username)
    assert resp.status_code == 403
    assert "ingen av dina grupper ger tillgång till formsvc" in html(resp)
    assert client.get("/").status_code == 302 and open_session.get("/").status_code == 302
    user = account_of(sub)
    assert user is not None and not user.active
    refused = events("sso_refused")[-1]
    assert refused.details["reason"] == "no_mapping"
    assert refused.details["seen"] == {"groups": ["alla-anstallda"]}
    # the group given back: still refused until an administrator reactivates the account
    idp.account("cilla", ("rinkeby-lotsar",))
    again = idp.sign_in(city.test_client(), username)
    assert again.status_code == 403 and "inaktiverat" in html(again)
    assert events("sso_refused")[-1].details["reason"] == "deactivated"


def test_group_overage_at_the_idp_refuses_but_keeps_the_account(
    city: Flask, idp: Idp, world: World
) -> None:
    username, sub = idp.account("dora", ("rinkeby-lotsar",))
    open_session = city.test_client()
    assert idp.sign_in(open_session, username).status_code == 302
    # Entra ID: in more than 200 groups, the ID token points at Graph instead of `groups`
    idp.account(
        "dora",
        (),
        _claim_names={"groups": "src1"},
        _claim_sources={"src1": {"endpoint": "https://graph.example/v1.0/me/getMemberObjects"}},
    )
    client = city.test_client()
    resp = idp.sign_in(client, username)
    assert resp.status_code == 403 and "Ditt konto är oförändrat" in html(resp)
    assert client.get("/").status_code == 302
    assert open_session.get("/").status_code == 200  # her other session goes on
    user = account_of(sub)
    assert user is not None and user.active
    refused = events("sso_refused")[-1]
    assert (refused.details["reason"], refused.details["missing"]) == ("claims_missing", ["groups"])
    idp.account("dora", ("rinkeby-lotsar",))  # group filtering set up at the IdP
    assert idp.sign_in(city.test_client(), username).status_code == 302


def test_deactivated_account_is_refused(city: Flask, idp: Idp, world: World) -> None:
    username, sub = idp.account("dan", ("analytiker",))
    assert idp.sign_in(city.test_client(), username).status_code == 302
    user = account_of(sub)
    assert user is not None
    user.active = False
    db.session.commit()
    client = city.test_client()
    resp = idp.sign_in(client, username)
    assert resp.status_code == 403 and "Ditt konto i formsvc är inaktiverat" in html(resp)
    assert client.get("/").status_code == 302


def test_without_local_login_staff_sign_in_through_the_idp_and_break_glass_by_password(
    make_app: Any, idp: Idp, world: World
) -> None:
    app = make_app(
        SSO_PROVIDERS={"city": idp.conf}, LOCAL_LOGIN=False, BREAK_GLASS_USERS=("admin",)
    )
    username, _sub = idp.account("eva", ("analytiker",))
    client = app.test_client()
    assert 'name="password"' not in html(client.get("/login"))
    assert idp.sign_in(client, username).status_code == 302
    assert "Välkommen, Eva Svensson" in html(client.get("/"))
    refused = app.test_client()
    resp = refused.post("/login", data={"username": "analyst", "password": PASSWORD})
    assert BAD_LOGIN in html(resp) and refused.get("/").status_code == 302
    glass = app.test_client()
    assert glass.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 302
    assert "Välkommen, Test admin" in html(glass.get("/"))


def test_next_is_followed_when_it_is_ours(city: Flask, idp: Idp, world: World) -> None:
    username, _sub = idp.account("fia", ("rinkeby-lotsar",))
    resp = idp.sign_in(city.test_client(), username, "?next=/documents/")
    assert resp.headers["Location"] == "/documents/"
    resp = idp.sign_in(city.test_client(), username, "?next=//evil.example/x")
    assert resp.headers["Location"] == "/"


def test_logout_ends_the_local_session_then_the_idp_session(
    city: Flask, idp: Idp, world: World
) -> None:
    username, sub = idp.account("gun", ("rinkeby-lotsar",))
    client, browser = city.test_client(), idp.op.http()
    callback = idp.op.login(idp.start(client), username, browser)
    assert idp.back(client, callback).status_code == 302
    resp = client.post("/logout")
    # not a redirect to the IdP from the form's POST (CSP form-action 'self' would stop it)
    assert resp.status_code == 302 and resp.headers["Location"] == "/sso/logout"
    onwards = client.get("/sso/logout")
    assert onwards.status_code == 200 and "Du är utloggad från formsvc" in html(onwards)
    end_session = onwards.headers["Refresh"].removeprefix("0; url=")
    assert f'href="{end_session.replace("&", "&amp;")}"' in html(onwards)
    assert end_session.startswith(idp.op.issuer + "/")
    assert client.get("/sso/logout").headers["Location"] == "/login"  # once
    assert "id_token_hint=" in end_session
    assert client.get("/").status_code == 302  # signed out here at once
    user = account_of(sub)
    assert user is not None and user.session_version == 1
    # the IdP signs out too and sends the browser back to our login page
    assert idp.op.logout(end_session, session=browser) == f"{BASE}/login"
    # its single sign-on session is gone: the next login asks for the password again
    with pytest.raises(Exception, match="asked for a login"):
        idp.op.login(idp.start(city.test_client()), None, browser)


def test_logout_without_end_session_at_the_idp_when_logout_is_off(
    make_app: Any, idp: Idp, world: World
) -> None:
    app = make_app(SSO_PROVIDERS={"city": {**idp.conf, "logout": False}})
    username, _sub = idp.account("hans", ("analytiker",))
    client = app.test_client()
    assert idp.sign_in(client, username).status_code == 302
    assert client.post("/logout").headers["Location"] == "/login"


def test_reauthentication_forces_a_new_login_for_the_same_account(
    city: Flask, idp: Idp, world: World
) -> None:
    username, sub = idp.account("ida", ("rinkeby-lotsar",))
    client, browser = city.test_client(), idp.op.http()
    assert idp.back(client, idp.op.login(idp.start(client), username, browser)).status_code == 302
    url = idp.start(client, "?purpose=reauth&next=/documents/")
    assert "prompt=login" in url and "max_age=0" in url
    # the IdP's own session does not let it through without the form (username None fails)
    with pytest.raises(Exception, match="asked for a login"):
        idp.op.login(url, None, browser)
    url = idp.start(client, "?purpose=reauth&next=/documents/")
    resp = idp.back(client, idp.op.login(url, username, browser))
    assert resp.status_code == 302 and resp.headers["Location"] == "/documents/"
    user = account_of(sub)
    assert user is not None
    with client.session_transaction() as session:
        proof = sso.fresh_reauth(session, user, city.config)
    assert proof is not None and proof["kind"] == "sso" and proof["subject"] == sub
    assert proof["label"] == "Stockholms stad (Entra ID)" and proof["issuer"] == idp.op.issuer


def test_reauthentication_as_someone_else_is_refused(city: Flask, idp: Idp, world: World) -> None:
    anna, _ = idp.account("jon", ("rinkeby-lotsar",))
    other, _ = idp.account("kim", ("rinkeby-lotsar",))
    client = city.test_client()
    assert idp.sign_in(client, anna).status_code == 302
    resp = idp.back(client, idp.op.login(idp.start(client, "?purpose=reauth&next=/"), other))
    assert resp.status_code == 403 and "annat konto" in html(resp)
    assert events("sso_refused")[-1].details["reason"] == "reauth_other_account"
    with client.session_transaction() as session:
        assert sso.SESSION_REAUTH not in session
    assert "Välkommen, Jon Svensson" in html(client.get("/"))  # still herself


# --------------------------------------------------------------------------- hostile


def test_tampered_state_is_refused_and_audited(city: Flask, idp: Idp, world: World) -> None:
    username, sub = idp.account("lo", ("rinkeby-lotsar",))
    client = city.test_client()
    callback = idp.op.login(idp.start(client), username)
    tampered = re.sub(r"state=[^&]+", "state=" + "A" * 43, callback)
    resp = idp.back(client, tampered)
    assert resp.status_code == 400 and "Inloggningen nekades" in html(resp)
    assert client.get("/").status_code == 302 and account_of(sub) is None
    assert "state mismatch" in events("sso_refused")[-1].details["reason"]
    # the genuine answer cannot be used after that either: the attempt is over
    assert idp.back(client, callback).status_code == 400


def test_the_callback_works_once_and_only_in_the_browser_that_started(
    city: Flask, idp: Idp, world: World
) -> None:
    username, sub = idp.account("max", ("rinkeby-lotsar",))
    victim, attacker = city.test_client(), city.test_client()
    callback = idp.op.login(idp.start(victim), username)
    # handed to another browser (login CSRF / a stolen callback): no pending state there
    assert idp.back(attacker, callback).status_code == 400
    assert attacker.get("/").status_code == 302
    assert idp.back(victim, callback).status_code == 302
    # replayed in the same browser: the pending state is gone
    victim.post("/logout")
    assert idp.back(victim, callback).status_code == 400
    assert [e.details["reason"] for e in events("sso_refused")] == [
        "no_pending_state",
        "no_pending_state",
    ]


def test_the_person_cancelling_at_the_idp_is_refused_clearly(
    city: Flask, idp: Idp, world: World
) -> None:
    client = city.test_client()
    callback = idp.op.cancel(idp.start(client))
    assert "error=access_denied" in callback
    resp = idp.back(client, callback)
    assert resp.status_code == 400 and "Inloggningen avbröts" in html(resp)
    assert "access_denied" in events("sso_refused")[-1].details["reason"]
    assert client.get("/").status_code == 302


def test_an_unreachable_idp_gives_a_clear_page(city: Flask, client: FlaskClient) -> None:
    resp = client.get("/sso/city/login")  # the app of `client` points at nothing (UNREACHABLE)
    assert resp.status_code == 502 and "Inloggningen nekades" in html(resp)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Nora\x00\x1b[2J\u202eSvensson\u200b", "Nora[2JSvensson"),
        ("Nora\r\nSvensson\t<script>alert(1)</script>", "Nora Svensson <script>alert(1)</script>"),
        ("N" * 10_000, "N" * 200),
    ],
)
def test_hostile_claims_are_cleaned_never_a_500(
    city: Flask, idp: Idp, world: World, name: str, shown: str
) -> None:
    username, sub = idp.account("nora", ("rinkeby-lotsar",), name=name, email="x@\u200bevil")
    client, browser = city.test_client(), idp.op.http()
    resp = idp.back(client, idp.op.login(idp.start(client), username, browser))
    assert resp.status_code == 302, html(resp)
    user = account_of(sub)
    assert user is not None and user.full_name == shown and user.email == ""
    page = html(client.get("/"))
    assert "<script>alert(1)</script>" not in page
    with client.session_transaction() as session:
        kept = session[sso.SESSION_LOGIN]
    # a 10 kB name makes a 10 kB ID token: not kept in the cookie session, logout still works,
    # here and at the IdP (without id_token_hint)
    assert ("id_token" in kept) == (len(name) < 1000)
    assert client.post("/logout").headers["Location"] == "/sso/logout"
    assert client.get("/").status_code == 302
    end_session = client.get("/sso/logout").headers["Refresh"].removeprefix("0; url=")
    assert idp.op.logout(end_session, session=browser) == f"{BASE}/login"


@pytest.mark.parametrize(
    "query",
    [
        "",  # nothing at all
        "state={state}",  # no code
        "code=&state={state}",
        "code=x&state={state}&state=other",  # the first state counts: a bad code
        "code=%00%1b&state={state}",
        "code=" + "c" * 20_000 + "&state={state}",
        "code=x&state=" + "s" * 20_000,
        "code=x&state={state}&iss=https://evil.example",
        "error=server_error&error_description=%3Cscript%3E&state={state}",
        "error=" + "e" * 5000 + "&state={state}",
    ],
)
def test_odd_callbacks_are_refused_clearly_never_a_500(
    city: Flask, idp: Idp, world: World, query: str
) -> None:
    client = city.test_client()
    url = idp.start(client)
    state = re.search(r"[?&]state=([^&]+)", url)
    assert state is not None
    resp = client.get("/sso/city/callback?" + query.replace("{state}", state.group(1)))
    assert resp.status_code == 400, html(resp)
    assert "Inloggningen nekades" in html(resp) and "<script>" not in html(resp)
    assert client.get("/").status_code == 302
    refusal = events("sso_refused")[-1]
    assert len(refusal.details["reason"]) <= 200


def test_a_huge_next_on_the_login_button_is_dropped(city: Flask, idp: Idp, world: World) -> None:
    username, _sub = idp.account("olle", ("rinkeby-lotsar",))
    resp = idp.sign_in(city.test_client(), username, "?next=/" + "d" * 5000)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
