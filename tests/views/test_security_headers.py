"""Response headers: no-store on every page (generated over app.url_map), HSTS and Secure
cookies when the service is served over HTTPS (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import ChecklistItem, Document
from formsvc.services import signing
from tests.conftest import PASSWORD, World
from tests.smtp import SmtpServer
from tests.views.test_sign_link import give_code, request_code, send_link
from tests.views.test_signing import send, starting_today

ROLES = ("caseworker", "manager", "security_officer", "analyst", "admin")


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def _login(client: FlaskClient, username: str) -> FlaskClient:
    resp = client.post("/login", data={"username": username, "password": PASSWORD})
    assert resp.status_code == 302
    return client


# --------------------------------------------------------------------------- HTTPS


def test_over_https_cookies_are_secure_and_strict_transport_security_is_sent(
    make_app: Any, world: World
) -> None:
    client = make_app(PREFERRED_URL_SCHEME="https").test_client()
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"
    resp = client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    assert "; Secure" in resp.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in resp.headers


def test_over_plain_http_neither_is_sent(client: FlaskClient, world: World) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers
    resp = client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    assert "Secure" not in resp.headers["Set-Cookie"]


# --------------------------------------------------------------------------- no-store


def _url_values(world: World, doc: Document) -> dict[str, Any]:
    """A real value for every argument a route takes, so most pages answer 200."""
    item = db.session.scalar(db.select(ChecklistItem.id).limit(1))
    return {
        "doc_id": doc.id,
        "rid": signing.requests(doc)[0].id,
        "pid": world.participant.id,
        "uid": world.users["caseworker"].id,
        "did": world.home.id,
        "item_id": item or 1,
        "version": 1,
        "slug": "consent",
        "fmt": "docx",  # a PDF download would wait for LibreOffice; the headers are the same
        "code": "sv",
        "token": "ingen-sadan-lank",
        "filename": "app.css",
        # issue 14's routes: an SSO provider, an e-ID broker, an administrator's mapping rule (none
        # is configured here: those pages answer 404, with the same headers)
        "name": "city",
        "provider": "broker",
        "rule_id": 1,
        "action": "delete",
    }


#: The PDFs our own pages show in a frame (documents/_pdf_preview.html): the only responses
#: that may be framed, and only by our own origin.
FRAMED_PDFS = {
    "documents.preview",
    "signing.frozen_pdf",
    "signing.sealed_pdf_inline",
}


def assert_framing(endpoint: str, resp: Any, where: object) -> bool:
    """Unframeable (CSP frame-ancestors 'none' and X-Frame-Options DENY), except a 200 inline
    PDF of FRAMED_PDFS, which our own pages (only) may frame; whether it may be framed."""
    csp = resp.headers.get("Content-Security-Policy", "")
    if resp.headers.get("X-Frame-Options") == "SAMEORIGIN":
        assert endpoint in FRAMED_PDFS, where
        assert resp.status_code == 200 and resp.mimetype == "application/pdf", where
        assert resp.headers["Content-Disposition"].startswith("inline;"), where
        assert "frame-ancestors 'self';" in csp, where
        return True
    assert resp.headers.get("X-Frame-Options") == "DENY", where
    assert "frame-ancestors 'none';" in csp, where
    return False


def test_every_page_any_role_can_get_is_not_stored(
    app: Flask, client: FlaskClient, world: World, consent_doc: Document
) -> None:
    """Generated from app.url_map, so a new route cannot be forgotten. Nor can any page be
    framed, but for the PDFs our own pages frame (assert_framing)."""
    _login(client, "caseworker")
    send(client, starting_today(app, world, consent_doc))
    values = _url_values(world, consent_doc)
    rules = sorted(
        (r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"),
        # the in-person view locks the session: last
        key=lambda r: (r.endpoint == "signing.in_person", r.rule),
    )
    assert len(rules) > 40
    answered: dict[str, set[int]] = {}
    framed: set[str] = set()
    for who in (None, *ROLES):
        c = app.test_client()
        if who:
            _login(c, who)
        for rule in rules:
            url = rule.build({a: values[a] for a in rule.arguments}, append_unknown=False)[1]
            resp = c.get(url)
            assert resp.headers.get("Cache-Control") == "no-store", (who, url, resp.status_code)
            if assert_framing(rule.endpoint, resp, (who, url)):
                framed.add(rule.endpoint)
            answered.setdefault(rule.endpoint, set()).add(resp.status_code)
    pages_with_personal_data = {
        "participants.show",
        "participants.index",
        "participants.export",
        "documents.show",
        "documents.download",
        "signing.frozen_pdf",
        "documents.preview",
        "audit_log.district_trail",
        "admin.user_list",
        "statistics.rows_csv",
        "main.index",
    }
    assert all(200 in answered[e] for e in pages_with_personal_data), answered
    assert framed == {"documents.preview", "signing.frozen_pdf"}  # the others need a sealed one
    assert sum(200 in codes for codes in answered.values()) >= 30


def test_static_files_may_be_cached(client: FlaskClient) -> None:
    with client.get("/static/app.css") as resp:
        assert resp.status_code == 200
        assert "no-store" not in resp.headers.get("Cache-Control", "")


def test_signer_pages_are_not_stored_before_or_after_the_code(
    app: Flask,
    client: FlaskClient,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    _login(client, "caseworker")
    req = send(client, starting_today(app, world, consent_doc))[0]
    token = send_link(client, smtp_server, consent_doc, req, "asa@example.se")
    signer = app.test_client()
    before = signer.get(f"/s/{token}")
    assert before.status_code == 200 and before.headers["Cache-Control"] == "no-store"
    code = request_code(signer, smtp_server, token, "asa@example.se")
    assert give_code(signer, token, code).headers["Cache-Control"] == "no-store"
    after = signer.get(f"/s/{token}")
    assert after.status_code == 200 and after.headers["Cache-Control"] == "no-store"
    assert "Åsa" in after.get_data(as_text=True)  # the page now shows personal data
    for url in ("/verify", "/login"):
        assert signer.get(url).headers["Cache-Control"] == "no-store"
