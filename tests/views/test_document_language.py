"""Documents are Swedish whatever language the person sending or signing uses: the frozen PDF, the
roles stored for the signers, the signature marks, the evidence page and the evidence record."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import signing
from formsvc.services.final_pdf import embedded_record
from formsvc.services.overlay import original_revision
from tests.conftest import Auth, World
from tests.helpers import pdf_text
from tests.views.test_signing import send, sign_in_person, starting_today


def test_a_document_sent_and_signed_in_english_is_sealed_in_swedish(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    client.get("/lang/en")
    assert "Log out" in client.get("/").get_data(as_text=True)  # the interface is English
    reqs = send(client, starting_today(app, world, consent_doc))
    assert [r.role for r in reqs] == ["Deltagare", "Vårdnadshavare 1", "Vårdnadshavare 2"]
    for req in reqs:
        resp = sign_in_person(client, app, consent_doc, req, req.expected_name)
        assert resp.status_code in (200, 302), resp.get_data(as_text=True)[:500]
        client.get("/lang/en")  # the unlock keeps the language; set again to be sure
    db.session.refresh(consent_doc)
    assert consent_doc.sealed_pdf_sha256, "sealed"
    final = runtime(app).store.get(consent_doc.sealed_pdf_sha256)
    text = pdf_text(final)
    assert "Underskriftsbevis" in text and "Evidence of signing" not in text
    assert "e-signerad på plats" in text and "e-signed" not in text
    assert "Guardian" not in text and "Participant" not in text
    frozen = pdf_text(original_revision(final))
    assert "Vårdnadshavare" in frozen and "Guardian" not in frozen
    record = json.loads(embedded_record(final))
    assert [s["role"] for s in record["signers"]] == [r.role for r in signing.requests(consent_doc)]
