"""The in-person lock and an SSO account (issue 14): the account has no password to type on the
unlock page, so it leaves the lock by logging in again at its IdP (forced, same account only)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.services import signing
from tests.conftest import PASSWORD, World
from tests.views import test_signing
from tests.views.test_in_person_lock import lock_on, refused
from tests.views.test_sso_oidc import Idp, html

sent = test_signing.sent  # the fixture: a consent sent for signature (by the local caseworker)


@pytest.fixture
def idp(oidc_idp: Any) -> Idp:
    return Idp(oidc_idp)


@pytest.fixture
def config(config: dict[str, Any], idp: Idp) -> dict[str, Any]:
    return {**config, "SSO_PROVIDERS": {"city": idp.conf}}


def unlocks() -> list[dict[str, Any]]:
    query = select(AuditEvent).where(AuditEvent.action == "in_person_unlock")
    return [e.details for e in db.session.scalars(query)]


def ask_idp(client: FlaskClient) -> str:
    """Press "Lås upp med …": the IdP's authorization URL (a forced login)."""
    resp = client.post("/unlock", data={"password": PASSWORD})  # a password changes nothing
    assert resp.status_code == 303
    start = client.get(resp.headers["Location"])
    assert start.status_code == 302, html(start)
    url = start.headers["Location"]
    assert "prompt=login" in url and "max_age=0" in url
    return url


def test_an_sso_caseworker_leaves_the_lock_by_logging_in_again_at_the_idp(
    app: Flask, sent: Document, world: World, idp: Idp
) -> None:
    username, _sub = idp.account("lotta", ("rinkeby-lotsar",))
    other, _ = idp.account("signer", ("rinkeby-lotsar",))
    staff = app.test_client()
    assert idp.sign_in(staff, username).status_code == 302
    lock_on(staff, sent, signing.requests(sent)[0])
    assert refused(staff.get("/"))
    page = html(staff.get("/unlock"))
    assert "Lås upp med Stockholms stad (Entra ID)" in page and 'name="password"' not in page

    # the signer at the tablet tries with their own IdP account: refused, still locked
    resp = idp.back(staff, idp.op.login(ask_idp(staff), other))
    assert resp.status_code == 403 and "annat konto" in html(resp)
    assert refused(staff.get("/")) and unlocks() == []

    # cancelled at the IdP: still locked
    idp.back(staff, idp.op.cancel(ask_idp(staff)))
    assert refused(staff.get("/")) and unlocks() == []

    # the caseworker herself: back on /unlock, which lets her out to the document
    resp = idp.back(staff, idp.op.login(ask_idp(staff), username))
    assert resp.status_code == 302 and resp.headers["Location"] == "/unlock"
    out = staff.get("/unlock")
    assert out.status_code == 302 and out.headers["Location"] == f"/documents/{sent.id}"
    assert staff.get("/").status_code == 200
    assert unlocks() == [{"via": "sso"}]


def test_a_left_over_reauthentication_does_not_open_the_lock(
    app: Flask, sent: Document, world: World, idp: Idp
) -> None:
    username, _sub = idp.account("lars", ("rinkeby-lotsar",))
    staff = app.test_client()
    assert idp.sign_in(staff, username).status_code == 302
    # a re-authentication made for something else (a staff signature not finished) ...
    resp = idp.back(staff, idp.op.login(idp.start(staff, "?purpose=reauth&next=/"), username))
    assert resp.status_code == 302
    lock_on(staff, sent, signing.requests(sent)[0])
    # ... does not unlock: only one asked for on the unlock page does
    assert staff.get("/unlock").status_code == 200
    assert refused(staff.get("/"))
    url = ask_idp(staff)  # the button forgets it
    assert staff.get("/unlock").status_code == 200 and refused(staff.get("/"))
    idp.back(staff, idp.op.cancel(url))
    assert staff.get("/unlock").status_code == 200 and unlocks() == []
