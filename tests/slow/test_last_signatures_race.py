"""The last two signatures arrive at the same instant through the two signing paths (a personal
link and in person) against a live, threaded server: both are recorded, the document is sealed
exactly once, and neither signer sees an error (a concurrent finaliser is not one).
SQLite and PostgreSQL (FORMSVC_TEST_DB)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.services import signing
from tests.conftest import Auth, World
from tests.smtp import SmtpServer
from tests.views.test_sign_link import CODE, mails_to
from tests.views.test_signing import send, sign_in_person, starting_today
from tests.views.test_signing_concurrency import at_once, count, form_for, session_for

TOKEN = re.compile(r"/s/([A-Za-z0-9_-]{40,})")
JOHAN = "johan@example.se"
SEALED = "Dokumentet är förseglat och arkiverat"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def verified_link_session(
    base: str, client: FlaskClient, smtp: SmtpServer, doc: Document, req: Any
) -> tuple[requests.Session, str]:
    """The caseworker mails *req* a link; a browser on the live server gives the code."""
    resp = client.post(f"/documents/{doc.id}/signatures/{req.id}/link", data={"email": JOHAN})
    assert resp.status_code == 302
    found = TOKEN.search(mails_to(smtp, JOHAN)[-1].get_content())
    assert found
    token, browser = found.group(1), requests.Session()
    assert browser.post(f"{base}/s/{token}/code", timeout=60).status_code == 200
    code = CODE.search(mails_to(smtp, JOHAN)[-1].get_content())
    assert code
    verified = browser.post(f"{base}/s/{token}/verify", data={"code": code.group(1)}, timeout=60)
    assert verified.status_code == 200 and "s-name" in verified.text
    return browser, token


@pytest.mark.parametrize("attempt", range(3))
def test_last_signatures_by_link_and_in_person_at_once_seal_exactly_once(
    attempt: int,
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    live_server: str,
    smtp_server: SmtpServer,
) -> None:
    auth.login("caseworker")
    participant, g1, g2 = send(client, starting_today(app, world, consent_doc))
    assert sign_in_person(client, app, consent_doc, participant, "Åsa Öberg").status_code == 200
    browser, token = verified_link_session(live_server, client, smtp_server, consent_doc, g2)
    tablet = session_for(live_server, "caseworker")
    maria = form_for(app, consent_doc, g1, "Maria Öberg")
    johan = form_for(app, consent_doc, g2, "Johan Öberg")
    responses = at_once(
        lambda: tablet.post(
            f"{live_server}/documents/{consent_doc.id}/signatures/{g1.id}/in-person",
            data=maria,
            timeout=300,
        ),
        lambda: browser.post(
            f"{live_server}/s/{token}/sign",
            data=johan,
            timeout=300,
        ),
    )
    assert [r.status_code for r in responses] == [200, 200]
    assert not any('class="flash error"' in r.text for r in responses)
    assert sum(SEALED in r.text for r in responses) == 1  # the one that sealed says so
    db.session.expire_all()
    doc = db.session.get(Document, consent_doc.id)
    assert [r.method for r in signing.requests(doc)] == ["in_person", "in_person", "link"]
    assert doc.status == "active" and doc.sealed_pdf_sha256
    assert count("sign", doc) == 3
    assert count("seal", doc) == 1
