"""Staff single sign-on with SAML 2.0 through the pages, against SimpleSAMLphp (issue 14):
accounts made just in time from the mapping, refusals, re-authentication, resend without the
session cookie, single logout, and hostile posts to the ACS refused clearly, never with a 500."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, User
from formsvc.services import sso
from tests.conftest import World
from tests.idp.saml import (  # noqa: F401 - saml_idp_fixture: the fixture saml_idp
    NS,
    SamlIdp,
    response_tree,
    saml_idp_fixture,
    sign_assertion,
    to_response,
)

NAME = "siths"
BASE = "http://localhost"
MAPPINGS = [
    {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
    {
        "claim": "groups",
        "value": "rinkeby-lotsar",
        "role": "caseworker",
        "district": "Rinkeby-Kista",
    },
]


@pytest.fixture
def idp(saml_idp: SamlIdp) -> SamlIdp:
    saml_idp.register_sp(BASE, NAME)
    saml_idp.add_user("karin", name="Karin Chef", mail="karin@example.se", groups=["farsta-chefer"])
    saml_idp.add_user(
        "lotta", name="Lotta Lots", mail="lotta@example.se", groups=["rinkeby-lotsar"]
    )
    saml_idp.add_user("bo", name="Bo Utan", mail="bo@example.se", groups=["bibliotek"])
    return saml_idp


@pytest.fixture
def config(config: dict[str, Any], idp: SamlIdp) -> dict[str, Any]:
    return {**config, "SSO_PROVIDERS": {NAME: idp.provider(mappings=MAPPINGS)}}


def events(action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


def start(client: FlaskClient, path: str = f"/sso/{NAME}/login") -> str:
    """Follow our redirects to the IdP: its address with our AuthnRequest."""
    resp = client.get(path)
    while resp.status_code == 302 and resp.headers["Location"].startswith("/"):
        resp = client.get(resp.headers["Location"])
    assert resp.status_code == 302, html(resp)
    return resp.headers["Location"]


def sign_in(
    client: FlaskClient,
    idp: SamlIdp,
    username: str,
    path: str = f"/sso/{NAME}/login",
    browser: requests.Session | None = None,
) -> Any:
    """A whole SAML login: our request, the IdP's form, the POST back to our ACS."""
    acs, response, relay = idp.login(start(client, path), username, session=browser)
    assert acs == f"{BASE}/saml/{NAME}/acs"
    return client.post(urlsplit(acs).path, data={"SAMLResponse": response, "RelayState": relay})


def test_saml_first_login_creates_the_account_with_role_and_district(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    resp = sign_in(client, idp, "karin")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert "Välkommen, Karin Chef" in html(client.get("/"))
    user = db.session.scalars(select(User).where(User.sso_subject == "karin")).one()
    assert (user.sso_provider, user.role, user.district_id) == (NAME, "manager", world.other.id)
    assert user.email == "karin@example.se"
    assert events("sso_account_created")[-1].object_id == str(user.id)
    with client.session_transaction() as session:
        kept = session[sso.SESSION_LOGIN]
        assert (kept["provider"], kept["protocol"]) == (NAME, "saml")
        assert kept["name_id"] and kept["session_index"]
        # the request is answered, not outstanding (a login starts a fresh session)
        assert not session.get("formsvc.saml")


def test_saml_login_goes_to_next(client: FlaskClient, world: World, idp: SamlIdp) -> None:
    resp = sign_in(client, idp, "lotta", path=f"/saml/{NAME}/login?next=/documents/")
    assert resp.headers["Location"] == "/documents/"
    user = db.session.scalars(select(User).where(User.sso_subject == "lotta")).one()
    assert (user.role, user.district_id) == ("caseworker", world.home.id)


def test_saml_login_without_a_matching_mapping_is_refused(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    resp = sign_in(client, idp, "bo")
    assert resp.status_code == 403
    assert "ingen av dina grupper ger tillgång" in html(resp)
    assert client.get("/").status_code == 302  # not signed in
    assert db.session.scalars(select(User).where(User.sso_subject == "bo")).first() is None
    assert events("sso_refused")[-1].details["reason"] == "no_mapping"


def test_saml_acs_refuses_a_replayed_post_and_garbage_clearly(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    acs, response, relay = idp.login(start(client), "karin")
    data = {"SAMLResponse": response, "RelayState": relay}
    assert client.post(urlsplit(acs).path, data=data).status_code == 302
    client.post("/logout")
    # the same answer again: its request is no longer outstanding
    again = client.post(urlsplit(acs).path, data={**data, "formsvc_resent": "1"})
    assert again.status_code == 400 and "Börja om från inloggningssidan" in html(again)
    for garbage in ("", "%%%", "A" * 3_000_000, base64.b64encode(b"<x/>").decode()):
        _acs, _response, relay = idp.login(start(client), "karin")
        resp = client.post(urlsplit(acs).path, data={"SAMLResponse": garbage, "RelayState": relay})
        assert resp.status_code == 400, garbage[:20]
        assert "Inloggningen nekades" in html(resp)
    refused = events("sso_refused")
    assert refused[-1].details["reason"] == "saml_refused" and refused[-1].details["detail"]
    assert client.get("/").status_code == 302


def test_saml_acs_without_the_session_cookie_sends_the_answer_again_from_our_page(
    app: Flask, client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    acs, response, relay = idp.login(start(client), "karin")
    # what a browser does with SameSite=Lax: the IdP's cross-site POST comes without our cookie
    cookieless = app.test_client()
    page = cookieless.post(urlsplit(acs).path, data={"SAMLResponse": response, "RelayState": relay})
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    body = html(page)
    assert f'action="/saml/{NAME}/acs"' in body and 'name="formsvc_resent"' in body
    assert f'value="{response}"' in body and "saml_resend.js" in body
    # sent again from our page, with the cookie: signed in
    resp = client.post(
        urlsplit(acs).path,
        data={"SAMLResponse": response, "RelayState": relay, "formsvc_resent": "1"},
    )
    assert resp.status_code == 302 and "Välkommen, Karin Chef" in html(client.get("/"))
    # sent again by a browser that never started a login: refused, not a loop
    stranger = cookieless.post(
        urlsplit(acs).path,
        data={"SAMLResponse": response, "RelayState": relay, "formsvc_resent": "1"},
    )
    assert stranger.status_code == 400


def test_saml_reauth_forces_the_password_and_keeps_the_proof(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    browser = requests.Session()
    sign_in(client, idp, "karin", browser=browser)
    url = start(client, f"/sso/{NAME}/login?purpose=reauth&next=/documents/")
    request_xml = zlib.decompress(
        base64.b64decode(parse_qs(urlsplit(url).query)["SAMLRequest"][0]), -15
    )
    assert b'ForceAuthn="true"' in request_xml
    with pytest.raises(PermissionError):  # signed in at the IdP, yet the password is asked for
        idp.login(url, "karin", "wrong", session=browser)
    acs, response, relay = idp.login(url, "karin", session=browser)
    resp = client.post(urlsplit(acs).path, data={"SAMLResponse": response, "RelayState": relay})
    assert resp.status_code == 302 and resp.headers["Location"] == "/documents/"
    with client.session_transaction() as session:
        proof = session[sso.SESSION_REAUTH]
    assert (proof["provider"], proof["protocol"], proof["subject"]) == (NAME, "saml", "karin")
    assert proof["loa"] == "urn:oasis:names:tc:SAML:2.0:ac:classes:Password" and proof["auth_time"]


def test_saml_reauth_as_someone_else_is_refused(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    sign_in(client, idp, "karin")
    url = start(client, f"/saml/{NAME}/login?purpose=reauth&next=/documents/")
    acs, response, relay = idp.login(url, "lotta")
    resp = client.post(urlsplit(acs).path, data={"SAMLResponse": response, "RelayState": relay})
    assert resp.status_code == 403 and "annat konto" in html(resp)
    with client.session_transaction() as session:
        assert sso.SESSION_REAUTH not in session
    assert events("sso_refused")[-1].details["reason"] == "reauth_other_account"


def test_saml_reauth_needs_an_account_of_this_idp(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    assert client.get(f"/saml/{NAME}/login?purpose=reauth").headers["Location"] == "/login"
    client.post("/login", data={"username": "caseworker", "password": "Testlosen-123"})
    assert client.get(f"/saml/{NAME}/login?purpose=reauth").status_code == 403
    assert client.get(f"/saml/{NAME}/login?purpose=other").status_code == 400


def test_saml_metadata_and_unknown_providers(client: FlaskClient, idp: SamlIdp) -> None:
    resp = client.get(f"/saml/{NAME}/metadata")
    assert resp.status_code == 200 and resp.mimetype == "application/samlmetadata+xml"
    assert f'entityID="{BASE}/saml/{NAME}/metadata"'.encode() in resp.data
    for path in ("/saml/nope/metadata", "/saml/nope/login", "/saml/nope/sls"):
        assert client.get(path).status_code == 404
    assert client.post("/saml/nope/acs", data={"SAMLResponse": "x"}).status_code == 404
    assert client.get(f"/saml/{NAME}/sls").status_code == 400  # neither request nor response


def test_saml_logout_ends_the_session_at_the_idp_too(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    browser = requests.Session()
    sign_in(client, idp, "karin", browser=browser)
    resp = client.post("/logout")
    # on from a page of ours: a redirect from the form's POST would break CSP form-action 'self'
    assert resp.headers["Location"] == "/sso/logout"
    slo = client.get("/sso/logout").headers["Refresh"].removeprefix("0; url=")
    assert slo.startswith(f"{idp.base_url}/saml2/idp/SingleLogoutService.php?SAMLRequest=")
    assert client.get("/").status_code == 302  # our session ended first
    for _hop in range(5):
        resp = browser.get(slo, allow_redirects=False, timeout=20)
        assert resp.status_code in (302, 303), resp.text[:1000]
        slo = resp.headers["Location"]
        if slo.startswith(BASE):
            break
    back = client.get(slo.removeprefix(BASE))
    assert back.status_code == 302 and back.headers["Location"] == "/login"
    assert "också hos identitetsleverantören" in html(client.get("/login"))
    url = start(client)
    with pytest.raises(PermissionError):  # signed out at the IdP: the password is asked for
        idp.login(url, "karin", "wrong", session=browser)


def test_saml_reauth_answered_from_an_old_idp_session_is_refused(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    # an IdP that ignores ForceAuthn answers with the AuthnInstant of the earlier login
    sign_in(client, idp, "karin")
    url = start(client, f"/saml/{NAME}/login?purpose=reauth&next=/documents/")
    acs, response, relay = idp.login(url, "karin")
    root = response_tree(response)
    assertion = root.find("saml:Assertion", NS)
    earlier = datetime.now(UTC) - timedelta(minutes=3)
    assertion.find("saml:AuthnStatement", NS).set(
        "AuthnInstant", earlier.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    sign_assertion(assertion, idp.key_path, idp.cert_path)
    resp = client.post(
        urlsplit(acs).path, data={"SAMLResponse": to_response(root), "RelayState": relay}
    )
    assert resp.status_code == 400 and "bekräftade inte en ny inloggning" in html(resp)
    with client.session_transaction() as session:
        assert sso.SESSION_REAUTH not in session
    assert events("sso_refused")[-1].details["reason"] == "reauth_not_fresh"


def test_saml_sls_refuses_a_deflate_bomb_quickly(client: FlaskClient, idp: SamlIdp) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><!--'
    bomb = packer.compress(head + b"A" * 8_000_000 + b"-->") + packer.flush()
    query = urlencode({"SAMLResponse": base64.b64encode(bomb).decode()})
    resp = client.get(f"/saml/{NAME}/sls?{query}")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert "bekräftade inte utloggningen" in html(client.get("/login"))


def _idp_initiated_logout(
    client: FlaskClient, idp: SamlIdp, browser: requests.Session, change: Any = None
) -> Any:
    """SimpleSAMLphp's own logout (initSLO.php) sends its LogoutRequest to our SLS: our answer."""
    url = f"{idp.base_url}/saml2/idp/initSLO.php?" + urlencode({"RelayState": f"{BASE}/login"})
    for _hop in range(6):
        resp = browser.get(url, allow_redirects=False, timeout=20)
        assert resp.status_code in (302, 303), re.sub(r"<[^>]+>", " ", resp.text)[-3000:]
        url = resp.headers["Location"]
        if url.startswith(f"{BASE}/saml/{NAME}/sls?"):
            break
    assert "SAMLRequest=" in url and "Signature=" in url
    return client.get((change or (lambda u: u))(url).removeprefix(BASE))


def test_saml_logout_started_at_the_idp_ends_our_session(
    client: FlaskClient, world: World, idp: SamlIdp
) -> None:
    browser = requests.Session()
    sign_in(client, idp, "karin", browser=browser)
    assert "Välkommen, Karin Chef" in html(client.get("/"))
    resp = _idp_initiated_logout(client, idp, browser)
    # our signed LogoutResponse goes back to the IdP, which finishes and returns to RelayState
    assert resp.status_code == 302
    onwards = resp.headers["Location"]
    assert onwards.startswith(f"{idp.base_url}/saml2/idp/SingleLogoutService.php?SAMLResponse=")
    assert "Signature=" in onwards
    assert client.get("/").status_code == 302  # signed out here
    assert events("logout")[-1].details == {"by": "idp", "provider": NAME}
    for _hop in range(6):
        resp = browser.get(onwards, allow_redirects=False, timeout=20)
        assert resp.status_code in (302, 303), resp.text[:1000]
        onwards = resp.headers["Location"]
        if onwards.startswith(BASE):
            break
    assert onwards == f"{BASE}/login"  # the IdP accepted our LogoutResponse


@pytest.mark.parametrize(
    "change",
    [
        lambda u: re.sub(r"Signature=[^&]+", "Signature=AAAA", u),
        lambda u: re.sub(r"&Signature=[^&]+", "", u),
        lambda u: re.sub(
            r"SigAlg=[^&]+", "SigAlg=http%3A%2F%2Fwww.w3.org%2F2000%2F09%2Fxmldsig%23rsa-sha1", u
        ),
        lambda u: re.sub(
            r"SAMLRequest=[^&]+", "SAMLRequest=" + quote(base64.b64encode(b"x").decode()), u
        ),
    ],
    ids=["forged", "unsigned", "other-alg", "garbage"],
)
def test_saml_logout_request_not_signed_by_the_idp_is_refused(
    client: FlaskClient, world: World, idp: SamlIdp, change: Any
) -> None:
    browser = requests.Session()
    sign_in(client, idp, "karin", browser=browser)
    resp = _idp_initiated_logout(client, idp, browser, change)
    assert resp.status_code == 400
    assert "Välkommen, Karin Chef" in html(client.get("/"))  # still signed in


def test_anonymous_answers_at_the_acs_are_rate_limited(make_app: Any, world: World) -> None:
    client = make_app(SIGN_RATE_LIMIT="3 per minute").test_client()
    before = len(events("sso_refused"))
    data = {"SAMLResponse": "x", "RelayState": "y", "formsvc_resent": "1"}
    codes = [client.post(f"/saml/{NAME}/acs", data=data).status_code for _ in range(5)]
    assert codes[3:] == [429, 429] and 429 not in codes[:3]
    assert len(events("sso_refused")) == before + 3  # the limited ones write nothing
