"""Staff signing by an SSO account re-authenticates at a real SAML IdP (SimpleSAMLphp, ForceAuthn).

The same as test_staff_reauth_oidc.py through SAML 2.0: a manager whose account signs in with the
city's SAML IdP signs a security talk and decides a threat assessment after logging in again there
(the AuthnRequest says ForceAuthn="true" and the IdP asks for the password despite its session);
the evidence names the IdP, SAML 2.0, the AuthnInstant and the AuthnContextClassRef (LoA), and the
proof is stored. Stale, another account's and replayed answers, and two submits racing on one
re-authentication, sign nothing (or once).
"""

from __future__ import annotations

import base64
import time
import zlib
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
from tests.idp.saml import SamlIdp, saml_idp_fixture  # noqa: F401 - the fixture saml_idp
from tests.staff_reauth import (
    HOME,
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

NAME = "siths"
LABEL = "SITHS-kort (test)"
BASE = "http://localhost"
LOGIN = f"/sso/{NAME}/login"
#: what SimpleSAMLphp's exampleauth:UserPass says about a password login
PASSWORD_LOA = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
MAPPINGS = [
    {"claim": "groups", "value": "rk-chefer", "role": "manager", "district": HOME},
    {"claim": "groups", "value": "rk-handlaggare", "role": "caseworker", "district": HOME},
]


@pytest.fixture
def reauth_seconds() -> int:
    return 300


@pytest.fixture
def idp(saml_idp: SamlIdp) -> SamlIdp:
    saml_idp.register_sp(BASE, NAME)
    saml_idp.add_user(
        "rk-chef", name="Test manager", mail="manager@example.se", groups=["rk-chefer"]
    )
    saml_idp.add_user(
        "rk-lots", name="Test caseworker", mail="caseworker@example.se", groups=["rk-handlaggare"]
    )
    return saml_idp


@pytest.fixture
def config(config: dict[str, Any], idp: SamlIdp, reauth_seconds: int) -> dict[str, Any]:
    providers = {NAME: idp.provider(label=LABEL, mappings=MAPPINGS)}
    return {**config, "SSO_PROVIDERS": providers, "SSO_REAUTH_SECONDS": reauth_seconds}


@pytest.fixture
def manager(world: World) -> User:
    """The World's manager, now the IdP's account rk-chef (its NameID)."""
    user = world.users["manager"]
    user.sso_provider, user.sso_subject = NAME, "rk-chef"
    db.session.commit()
    return user


class Browser:
    """A staff member's browser: our app (test client) and the IdP (its own cookies)."""

    def __init__(self, client: FlaskClient, idp: SamlIdp) -> None:
        self.client, self.idp, self.http = client, idp, requests.Session()

    def to_idp(self, path: str) -> str:
        """Follow our redirects to the IdP: its address with our AuthnRequest."""
        resp = self.client.get(path)
        while resp.status_code == 302 and resp.headers["Location"].startswith("/"):
            resp = self.client.get(resp.headers["Location"])
        assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
        return resp.headers["Location"]

    def answer(self, url: str, username: str, http: requests.Session | None = None) -> Any:
        """Sign in at the IdP; (the POST our ACS receives, our answer to it)."""
        acs, response, relay = self.idp.login(url, username, session=http or self.http)
        assert acs == f"{BASE}/saml/{NAME}/acs"
        post = {"SAMLResponse": response, "RelayState": relay}
        return post, self.client.post(urlsplit(acs).path, data=post)

    def sso_login(self, username: str) -> None:
        _post, back = self.answer(self.to_idp(LOGIN), username)
        assert back.status_code == 302, back.get_data(as_text=True)[:2000]
        assert "Logga ut" in self.client.get("/").get_data(as_text=True)

    def reauth(
        self, page: str, username: str, *, idp_session: bool = True
    ) -> tuple[str, dict[str, str], Any]:
        """Press the page's confirm button and log in at the IdP again: (the IdP address with
        our AuthnRequest, what was posted to our ACS, our answer)."""
        url = self.to_idp(reauth_link(page, LOGIN))
        post, back = self.answer(url, username, None if idp_session else requests.Session())
        return url, post, back


@pytest.fixture
def browser(client: FlaskClient, idp: SamlIdp, manager: User) -> Browser:
    b = Browser(client, idp)
    b.sso_login("rk-chef")
    return b


def authn_request(url: str) -> bytes:
    """Our AuthnRequest as the redirect binding carries it."""
    deflated = base64.b64decode(parse_qs(urlsplit(url).query)["SAMLRequest"][0])
    return zlib.decompress(deflated, -15)


def test_a_manager_with_a_saml_account_signs_a_security_talk_after_force_authn(
    app: Flask, client: FlaskClient, auth: Auth, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, employee = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert 'name="s-password"' not in page and f"Bekräfta din identitet hos {LABEL}" in page
    refused = client.post(staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager"))
    assert "Inget har registrerats" in refused.get_data(as_text=True)

    before = datetime.now(UTC).replace(microsecond=0)
    url, _post, back = browser.reauth(page, "rk-chef")
    assert b'ForceAuthn="true"' in authn_request(url)
    assert back.status_code == 302 and back.headers["Location"] == staff_url(doc, mine)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert f"Identitet bekräftad hos {LABEL} kl. " in page
    assert (
        client.post(
            staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager")
        ).status_code
        == 200
    )
    db.session.refresh(mine)
    assert mine.status == "signed" and mine.method == "staff"
    assert LABEL in mine.verification and "(SAML 2.0)" in mine.verification
    assert PASSWORD_LOA in mine.verification
    proof = mine.eid
    assert (proof["kind"], proof["provider"], proof["protocol"]) == ("sso", NAME, "saml")
    assert (proof["subject"], proof["loa"]) == ("rk-chef", PASSWORD_LOA)
    assert proof["issuer"] == browser.idp.entity_id
    assert datetime.fromisoformat(proof["auth_time"]) >= before

    auth.logout()
    auth.login("caseworker")  # a local account: its password, as before
    data = {**sign_data(app, doc, employee, "Test caseworker"), "s-password": PASSWORD}
    assert client.post(staff_url(doc, employee), data=data).status_code == 200
    text = sealed_text(app, doc)
    assert "Ny inloggning hos SITHS-kort (test) (SAML 2.0)" in text
    assert PASSWORD_LOA in "".join(text.split())


def test_the_saml_idp_asks_for_the_password_again_despite_its_session(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    url = browser.to_idp(reauth_link(page, LOGIN))
    with pytest.raises(PermissionError):  # a wrong password is refused: the form was shown
        browser.idp.login(url, "rk-chef", "wrong", session=browser.http)


def test_a_manager_with_a_saml_account_decides_and_signs_after_the_idp(
    app: Flask, client: FlaskClient, world: World, browser: Browser
) -> None:
    doc = make(app, world, "threat_assessment")
    url = f"/documents/{doc.id}/decide"
    page = client.get(url).get_data(as_text=True)
    assert 'name="b-decision"' not in page and 'name="s-password"' not in page
    _url, _post, back = browser.reauth(page, "rk-chef")
    assert back.headers["Location"] == url
    resp = client.post(url, data=decide_data())
    assert resp.status_code == 302, resp.get_data(as_text=True)[-3000:]
    (req,) = signing.requests(doc)
    assert req.status == "signed" and req.eid["protocol"] == "saml"
    assert "Ny inloggning hos SITHS-kort (test) (SAML 2.0)" in sealed_text(app, doc)


@pytest.mark.parametrize("reauth_seconds", [1])
def test_a_stale_saml_re_authentication_signs_nothing(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    browser.reauth(page, "rk-chef")
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
    db.session.refresh(mine)
    assert mine.status == "open" and mine.eid is None and signatures(doc) == 0


def test_a_saml_re_authentication_as_another_account_signs_nothing(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    doc = security_talk(app, manager, world.users["caseworker"])
    mine, _ = send(client, doc)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    _url, _post, back = browser.reauth(page, "rk-lots", idp_session=False)
    assert back.status_code == 403 and "annat konto" in back.get_data(as_text=True)
    page = client.get(staff_url(doc, mine)).get_data(as_text=True)
    assert "Identitet bekräftad" not in page
    body = client.post(
        staff_url(doc, mine), data=sign_data(app, doc, mine, "Test manager")
    ).get_data(as_text=True)
    assert "Inget har registrerats" in body
    db.session.refresh(mine)
    assert mine.status == "open" and signatures(doc) == 0


def test_a_replayed_saml_answer_does_not_confirm_again(
    app: Flask, client: FlaskClient, world: World, browser: Browser, manager: User
) -> None:
    first = security_talk(app, manager, world.users["caseworker"])
    second = security_talk(app, manager, world.users["caseworker"])
    a, _ = send(client, first)
    b, _ = send(client, second)
    page = client.get(staff_url(first, a)).get_data(as_text=True)
    _url, post, _back = browser.reauth(page, "rk-chef")
    client.post(staff_url(first, a), data=sign_data(app, first, a, "Test manager"))
    db.session.refresh(a)
    assert a.status == "signed"
    replay = client.post(f"/saml/{NAME}/acs", data={**post, "formsvc_resent": "1"})
    assert replay.status_code == 400
    page = client.get(staff_url(second, b)).get_data(as_text=True)
    assert "Identitet bekräftad" not in page
    body = client.post(
        staff_url(second, b), data=sign_data(app, second, b, "Test manager")
    ).get_data(as_text=True)
    assert "Inget har registrerats" in body
    db.session.refresh(b)
    assert b.status == "open" and signatures(first, second) == 1


def test_two_submits_at_once_with_one_saml_re_authentication_sign_once(
    app: Flask, world: World, idp: SamlIdp, manager: User, live_server: str
) -> None:
    idp.register_sp(live_server, NAME)
    docs = [security_talk(app, manager, world.users["caseworker"]) for _ in range(2)]
    staff, http = requests.Session(), requests.Session()

    def through_idp(path: str) -> requests.Response:
        resp = staff.get(f"{live_server}{path}", allow_redirects=False, timeout=30)
        while resp.status_code == 302 and resp.headers["Location"].startswith("/"):
            resp = staff.get(f"{live_server}{resp.headers['Location']}", allow_redirects=False)
        assert resp.status_code == 302, resp.text[:2000]
        acs, response, relay = idp.login(resp.headers["Location"], "rk-chef", session=http)
        assert acs.startswith(live_server), acs
        return staff.post(acs, data={"SAMLResponse": response, "RelayState": relay}, timeout=30)

    assert "Logga ut" in through_idp(LOGIN).text
    reqs = []
    for doc in docs:
        assert staff.post(f"{live_server}/documents/{doc.id}/send", timeout=300).ok
        db.session.refresh(doc)
        reqs.append(signing.requests(doc)[0])
    page = staff.get(f"{live_server}{staff_url(docs[0], reqs[0])}", timeout=30).text
    assert "Identitet bekräftad" in through_idp(reauth_link(page, LOGIN)).text
    posts = [
        (f"{live_server}{staff_url(d, r)}", sign_data(app, d, r, "Test manager"))
        for d, r in zip(docs, reqs, strict=True)
    ]
    # two tabs (two connections) sending the same session cookie with its one re-authentication
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
    assert len([r for r in responses if "redan använts för en underskrift" in r.text]) == 1
