"""Staff signing by an SSO account re-authenticates at the real OpenID Provider (prompt=login).

A manager whose account signs in through the city's IdP signs a security talk and decides a
threat assessment: no password field; the IdP is asked to log the user in again (prompt=login,
max_age=0), the signature's evidence names the IdP, the authentication time and the LoA, and the
proof is stored on the request. A stale re-authentication, one of another account, a replayed
callback and two submits racing on one re-authentication sign nothing (or once).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import SignatureRequest, User
from formsvc.services import signing
from tests.conftest import PASSWORD, Auth, World
from tests.factories import security_talk
from tests.idp.oidc import IdpLoginError, OidcIdp
from tests.staff_reauth import (
    HOME,
    LOA,
    decide_data,
    reauth_link,
    sealed_text,
    send,
    sign_data,
    signatures,
    staff_url,
)
from tests.views.test_attestations import make
from tests.views.test_signing_concurrency import at_once

PROVIDER = "city"
LABEL = "Stockholms stad (test-IdP)"
LOGIN = f"/sso/{PROVIDER}/login"
MAPPINGS = [
    {"claim": "groups", "value": "rk-chefer", "role": "manager", "district": HOME},
    {"claim": "groups", "value": "rk-handlaggare", "role": "caseworker", "district": HOME},
]


@pytest.fixture
def reauth_seconds() -> int:
    return 300


@pytest.fixture
def idp_client(oidc_idp: OidcIdp) -> dict[str, Any]:
    return oidc_idp.add_client([f"http://localhost/sso/{PROVIDER}/callback"])


@pytest.fixture
def config(
    config: dict[str, Any], oidc_idp: OidcIdp, idp_client: dict[str, Any], reauth_seconds: int
) -> dict[str, Any]:
    conf = oidc_idp.provider_conf(idp_client, label=LABEL, mappings=MAPPINGS)
    return {**config, "SSO_PROVIDERS": {PROVIDER: conf}, "SSO_REAUTH_SECONDS": reauth_seconds}


@pytest.fixture
def manager(oidc_idp: OidcIdp, world: World) -> User:
    """The World's manager, now an account of the IdP (its LoA 3), and an IdP colleague."""
    sub = oidc_idp.add_account(
        "rk-manager", name="Test manager", email="manager@example.se", groups=["rk-chefer"], acr=LOA
    )
    oidc_idp.add_account(
        "rk-caseworker", name="Test caseworker", groups=["rk-handlaggare"], acr=LOA
    )
    user = world.users["manager"]
    user.sso_provider, user.sso_subject = PROVIDER, sub
    db.session.commit()
    return user


def local(url: str) -> str:
    """Our callback URL as the test client requests it (path and query)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


class Browser:
    """A staff member's browser: our app (test client) and the IdP (its own cookies)."""

    def __init__(self, client: FlaskClient, idp: OidcIdp) -> None:
        self.client, self.idp, self.http = client, idp, idp.http()

    def sso_login(self, username: str) -> None:
        resp = self.client.get(LOGIN)
        assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:2000]
        back = self.client.get(local(self.idp.login(resp.headers["Location"], username, self.http)))
        assert back.status_code in (302, 303), back.get_data(as_text=True)[:2000]
        assert "Logga ut" in self.client.get("/").get_data(as_text=True)

    def reauth(self, page: str, username: str, *, idp_session: bool = True) -> tuple[str, str, Any]:
        """Press the page's confirm button, log in at the IdP; (authorization URL, callback
        URL, our answer to the callback). Without *idp_session*, the IdP sees a browser it has
        no session with (another person logging in at the IdP)."""
        start = self.client.get(reauth_link(page, LOGIN))
        assert start.status_code in (302, 303), start.get_data(as_text=True)[:2000]
        auth_url = start.headers["Location"]
        http = self.http if idp_session else self.idp.http()
        callback = self.idp.login(auth_url, username, http)
        return auth_url, callback, self.client.get(local(callback))


@pytest.fixture
def browser(client: FlaskClient, oidc_idp: OidcIdp, manager: User) -> Browser:
    b = Browser(client, oidc_idp)
    b.sso_login("rk-manager")
    return b


def test_a_manager_with_an_sso_account_signs_a_security_talk_after_logging_in_again_at_the_idp(
    app: Flask, client: FlaskClient, auth: Auth, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, employee = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert 'name="s-password"' not in page and "lösenord" not in page
    assert f"Bekräfta din identitet hos {LABEL}" in page
    # without the IdP nothing is signed
    refused = client.post(staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager"))
    assert "Inget har registrerats" in refused.get_data(as_text=True)
    db.session.refresh(mine)
    assert mine.status == "open"

    before = datetime.now(UTC).replace(microsecond=0)
    auth_url, _callback, back = browser.reauth(page, "rk-manager")
    asked = parse_qs(urlsplit(auth_url).query)
    assert asked["prompt"] == ["login"] and asked["max_age"] == ["0"]
    assert back.status_code in (302, 303) and back.headers["Location"].endswith(
        staff_url(doc, mine)
    )
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert f"Identitet bekräftad hos {LABEL} kl. " in page
    resp = client.post(staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager"))
    assert resp.status_code == 200
    db.session.refresh(mine)
    assert mine.status == "signed" and mine.method == "staff"
    assert LABEL in mine.verification and "OpenID Connect" in mine.verification
    assert LOA in mine.verification and "personalkonto manager" in mine.verification
    proof = mine.eid
    assert proof["kind"] == "sso" and proof["provider"] == PROVIDER
    assert (proof["protocol"], proof["subject"], proof["loa"]) == ("oidc", manager.sso_subject, LOA)
    assert proof["issuer"] == browser.idp.issuer
    assert datetime.fromisoformat(proof["auth_time"]) >= before
    assert "id_token" not in proof

    # one re-authentication, one signature: the next document asks again
    other = security_talk(app, manager, world.users["caseworker"])
    again, _ = send(client, other)
    page = client.get(staff_url(other, again)).get_data(as_text=True)
    assert "Identitet bekräftad" not in page and f"Bekräfta din identitet hos {LABEL}" in page

    # a local account still signs with its password; the sealed document names the IdP and LoA
    auth.logout()
    auth.login("caseworker")
    data = {**sign_data(app, doc, employee, "Test caseworker"), "s-password": PASSWORD}
    assert client.post(staff_url(doc, employee), data=data).status_code == 200
    text = sealed_text(app, doc)
    assert "Ny inloggning hos Stockholms stad (test-IdP) (OpenID Connect)" in text
    assert LOA in "".join(text.split()) and "Lösenord (personalkonto caseworker)" in text


def test_the_idp_shows_its_login_form_again_even_with_a_live_idp_session(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    start = client.get(reauth_link(page, LOGIN))
    # the browser is still logged in at the IdP, yet it asks for the password again
    with pytest.raises(IdpLoginError, match="asked for a login"):
        browser.idp.login(start.headers["Location"], None, browser.http)


def test_a_manager_with_an_sso_account_decides_and_signs_after_the_idp(
    app: Flask, client: FlaskClient, world: World, browser: Browser
) -> None:
    doc = make(app, world, "threat_assessment")
    url = f"/documents/{doc.id}/decide"
    page = client.get(url).get_data(as_text=True)
    # confirmed first, then written: nothing typed is lost on the way to the IdP
    assert 'name="b-decision"' not in page and 'name="s-password"' not in page
    _auth_url, _callback, back = browser.reauth(page, "rk-manager")
    assert back.headers["Location"].endswith(url)
    page = client.get(url).get_data(as_text=True)
    assert 'name="b-decision"' in page and f"Identitet bekräftad hos {LABEL}" in page
    resp = client.post(url, data=decide_data())
    assert resp.status_code == 302, resp.get_data(as_text=True)[-3000:]
    db.session.refresh(doc)
    (req,) = signing.requests(doc)
    assert req.status == "signed" and req.eid["kind"] == "sso" and req.eid["loa"] == LOA
    text = sealed_text(app, doc)
    assert "Ny inloggning hos Stockholms stad (test-IdP)" in text and LOA in "".join(text.split())


@pytest.mark.parametrize("reauth_seconds", [1])
def test_a_stale_re_authentication_signs_nothing(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    browser.reauth(page, "rk-manager")
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    deadline = time.monotonic() + 20  # SSO_REAUTH_SECONDS is 1: wait until the page says so
    while "Identitet bekräftad" in page and time.monotonic() < deadline:
        time.sleep(0.2)
        page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert f"Bekräfta din identitet hos {LABEL}" in page
    body = client.post(
        staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager")
    ).get_data(as_text=True)
    assert "bekräftelsen är för gammal" in body and "Inget har registrerats" in body
    assert 'value="Test manager"' in body  # what was typed is shown again
    db.session.refresh(mine)
    assert mine.status == "open" and mine.eid is None and signatures(doc) == 0


def test_a_re_authentication_as_another_account_signs_nothing(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    _auth_url, _callback, back = browser.reauth(page, "rk-caseworker", idp_session=False)
    assert back.status_code == 403
    assert "Du bekräftade med ett annat konto" in back.get_data(as_text=True)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert "Identitet bekräftad" not in page
    body = client.post(
        staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager")
    ).get_data(as_text=True)
    assert "Inget har registrerats" in body
    db.session.refresh(mine)
    assert mine.status == "open" and mine.eid is None and signatures(doc) == 0


def test_a_replayed_callback_does_not_confirm_again(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    first = security_talk(app, manager, world.users["caseworker"])
    second = security_talk(app, manager, world.users["caseworker"])
    a, _ = send(client, first)
    b, _ = send(client, second)
    page = client.get(staff_url(first, a)).get_data(as_text=True)
    _auth_url, callback, _back = browser.reauth(page, "rk-manager")
    assert client.post(staff_url(first, a), data=sign_data(app, first, a, "Test manager"))
    db.session.refresh(a)
    assert a.status == "signed"
    replay = client.get(local(callback))
    assert replay.status_code < 500
    page = client.get(staff_url(second, b)).get_data(as_text=True)
    assert "Identitet bekräftad" not in page
    body = client.post(
        staff_url(second, b), data=sign_data(app, second, b, "Test manager")
    ).get_data(as_text=True)
    assert "Inget har registrerats" in body
    db.session.refresh(b)
    assert b.status == "open" and signatures(first, second) == 1


def test_two_submits_at_once_with_one_re_authentication_sign_once(
    app: Flask,
    client: FlaskClient,
    world: World,
    oidc_idp: OidcIdp,
    idp_client: dict[str, Any],
    manager: User,
    live_server: str,
) -> None:
    oidc_idp.add_client(
        [f"http://localhost/sso/{PROVIDER}/callback", f"{live_server}/sso/{PROVIDER}/callback"],
        client_id=idp_client["client_id"],
        client_secret=idp_client["client_secret"],
    )
    docs = [security_talk(app, manager, world.users["caseworker"]) for _ in range(2)]
    staff = requests.Session()
    http = oidc_idp.http()

    def through_idp(path: str) -> requests.Response:
        start = staff.get(f"{live_server}{path}", allow_redirects=False, timeout=30)
        assert start.status_code in (302, 303), start.text[:2000]
        callback = oidc_idp.login(start.headers["Location"], "rk-manager", http)
        assert callback.startswith(live_server), callback
        return staff.get(callback, timeout=30)

    assert "Logga ut" in through_idp(LOGIN).text
    reqs = []
    for doc in docs:
        assert staff.post(f"{live_server}/documents/{doc.id}/send", timeout=300).ok
        db.session.refresh(doc)
        reqs.append(signing.requests(doc)[0])
    page = staff.get(f"{live_server}{staff_url(docs[0], reqs[0])}", timeout=30).text
    back = through_idp(reauth_link(page, LOGIN))
    assert "Identitet bekräftad" in back.text
    posts = [
        (f"{live_server}{staff_url(d, r)}", sign_data(app, d, r, "Test manager"))
        for d, r in zip(docs, reqs, strict=True)
    ]
    # two tabs (two connections) sending the same session cookie with its one re-authentication;
    # neither sees the other's answer before sending
    tabs = [requests.Session() for _ in posts]
    for tab in tabs:
        tab.cookies.update(staff.cookies)
    responses = at_once(
        *[
            lambda t=tab, u=url, d=data: t.post(u, data=d, timeout=300)
            for tab, (url, data) in zip(tabs, posts, strict=True)
        ]
    )
    assert all(r.status_code == 200 for r in responses)
    db.session.expire_all()
    states = sorted(db.session.get(SignatureRequest, r.id).status for r in reqs)
    assert states == ["open", "signed"] and signatures(*docs) == 1
    refused = [r.text for r in responses if "redan använts för en underskrift" in r.text]
    assert len(refused) == 1


def test_an_account_whose_idp_is_no_longer_configured_is_told_so_and_signs_nothing(
    app: Flask, client: FlaskClient, make_app: Any, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    url = staff_url(doc, mine)
    # the same database and session key, the provider taken out of the configuration
    other = make_app(SSO_PROVIDERS={})
    staff = other.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    staff.set_cookie("session", cookie.value)
    page = staff.get(url).get_data(as_text=True)
    assert "som inte längre är inställt i tjänsten" in page and "s-password" not in page
    assert "Bekräfta din identitet hos" not in page
    body = staff.post(url, data=sign_data(app, doc, mine, "Test manager")).get_data(as_text=True)
    assert "som inte längre är inställt i tjänsten" in body
    db.session.refresh(mine)
    assert mine.status == "open" and signatures(doc) == 0
