"""The /verify page for a final PDF (ADR 014): original pages, what was added, problems."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.models import Document
from formsvc.services import signing
from formsvc.services.sealing import generate_demo_pkcs12
from tests import factories, final_pdf
from tests.conftest import World

pytestmark = pytest.mark.converter


@pytest.fixture
def signed(app: Flask, world: World, consent_doc: Document) -> Document:
    return factories.signed_in_person(app, consent_doc, world.users["caseworker"], seal=False)


def upload(app: Flask, pdf: bytes) -> tuple[int, str]:
    resp = app.test_client().post(
        "/verify", data={"pdf": (io.BytesIO(pdf), "dok.pdf")}, content_type="multipart/form-data"
    )
    return resp.status_code, resp.get_data(as_text=True)


def test_the_page_shows_the_original_pages_unchanged_what_was_added_and_the_state(
    app: Flask, client: FlaskClient, signed: Document
) -> None:
    status, body = upload(app, final_pdf.seal_document(app, signed))
    assert status == 200
    assert "Dokumentet är äkta och oförändrat" in body
    assert f"Originalsidorna är oförändrade (SHA-256 {signed.frozen_pdf_sha256})" in body
    assert "varje undertecknare visades" in body
    for req in signing.requests(signed):
        assert f"underskrift av {req.signed_name} ({req.role})" in body
    assert "Underskriftsbevis: 1 sidor" in body and "formsvc-evidence.json" in body
    # what the page showed before stays: the seal, the record, the state today
    assert "Sigillets certifikat" in body and signed.reference in body
    assert "Gäller dokumentet i dag?" in body
    assert "Problem:" not in body


def test_changed_original_pages_under_our_seal_are_shown_as_a_problem(
    app: Flask, signed: Document
) -> None:
    status, body = upload(
        app, final_pdf.seal_document(app, signed, before_seal=final_pdf.replace_page_text)
    )
    assert status == 200
    assert "Dokumentet är äkta och oförändrat" not in body
    assert "Dokumentet har ändrats efter att vi förseglade det" in body
    assert "Sigillet är från Stockholms stad och oförändrat, men innehållet stämmer inte" in body
    assert "Problem:" in body and "Originalsidorna har ändrats" in body


@pytest.mark.parametrize("hostile", ["huge", "nested", "not_utf8"])
def test_a_hostile_record_gives_a_clear_answer_not_an_error(
    app: Flask, signed: Document, hostile: str
) -> None:
    def change(record: dict[str, Any]) -> dict[str, Any] | bytes:
        text = json.dumps(record, ensure_ascii=False)
        if hostile == "huge":
            return {**record, "padding": "x" * (2 * 1024 * 1024)}
        if hostile == "nested":
            return (text[:-1] + ', "x": ' + "[" * 300_000 + "]" * 300_000 + "}").encode()
        return b"\xff\xfe" + text.encode()

    status, body = upload(app, final_pdf.seal_document(app, signed, change_record=change))
    assert status == 200
    assert "Dokumentet är äkta och oförändrat" not in body
    assert "Problem:" in body and "Beviset i dokumentet" in body


def test_a_document_finalised_by_the_service_shows_its_original_pages_and_additions(
    app: Flask, world: World, consent_doc: Document
) -> None:
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    status, body = upload(app, app.extensions["formsvc.store"].get(doc.sealed_pdf_sha256))
    assert status == 200
    assert "Dokumentet är äkta och oförändrat" in body
    assert f"Originalsidorna är oförändrade (SHA-256 {doc.frozen_pdf_sha256})" in body
    for req in signing.requests(doc):
        assert f"Sida 3: underskrift av {req.signed_name} ({req.role})" in body
    assert "Problem:" not in body


def test_a_service_document_changed_and_resealed_by_someone_else_is_shown_as_changed(
    app: Flask, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    own = tmp_path / "attacker.p12"
    own.write_bytes(generate_demo_pkcs12(b"attacker", common_name="Stockholms stad"))
    pdf = final_pdf.tamper_and_reseal(
        app.extensions["formsvc.store"].get(doc.sealed_pdf_sha256),
        final_pdf.replace_page_text,
        own,
        "attacker",
    )
    status, body = upload(app, pdf)
    assert status == 200
    assert "Dokumentet är äkta och oförändrat" not in body
    assert "Originalsidorna har ändrats" in body
    assert doc.reference not in body  # nothing we recorded is shown for a file not ours
