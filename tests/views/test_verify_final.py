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
from formsvc.runtime import runtime
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
    status, body = upload(app, runtime(app).store.get(doc.sealed_pdf_sha256))
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
        runtime(app).store.get(doc.sealed_pdf_sha256),
        final_pdf.replace_page_text,
        own,
        "attacker",
    )
    status, body = upload(app, pdf)
    assert status == 200
    assert "Dokumentet är äkta och oförändrat" not in body
    assert "Originalsidorna har ändrats" in body
    assert doc.reference not in body  # nothing we recorded is shown for a file not ours


def _forged_oidc_proof(number: str) -> dict[str, Any]:
    """An oidc proof around an ID token nobody signed: header and payload, a junk signature."""
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    issuer = "https://broker.example.se"
    claim = "https://id.oidc.se/claim/personalIdentityNumber"
    token = part({"alg": "RS256"}) + "." + part({"iss": issuer, "sub": "x", claim: number}) + ".x"
    return {
        "kind": "oidc",
        "provider": "broker",
        "label": "e-legitimation",
        "issuer": issuer,
        "subject": "x",
        "personal_number": number,
        "loa": "http://id.elegnamnden.se/loa/1.0/loa3",
        "auth_time": "2026-12-07T20:30:00+00:00",
        "id_token": token,
    }


def test_a_forged_eid_proof_in_a_file_not_sealed_by_us_shows_no_passed_eid_check(
    app: Flask, signed: Document, tmp_path: Path
) -> None:
    """review E1: a record rewritten with a made-up ID token for the designated signer and
    sealed with someone else's key: the e-ID section shows a problem, never green checks nor
    "checked when it was received"."""
    frozen = runtime(app).store.get(signed.frozen_pdf_sha256)
    record = final_pdf.record_for(signed, frozen)
    signer = next(s for s in record["signers"] if s["designated"]["id_number"])
    number = "".join(c for c in signer["designated"]["id_number"] if c.isdigit())
    signer["proofs"] = [_forged_oidc_proof(number)]
    own = tmp_path / "attacker.p12"
    own.write_bytes(generate_demo_pkcs12(b"attacker", common_name="Stockholms stad"))
    status, body = upload(app, final_pdf.build(frozen, record, own, passphrase="attacker"))
    assert status == 200
    assert "E-legitimation i beviset" in body  # the proof is listed, as what the file says
    assert "E-legitimationen i filen kan inte bedömas" in body
    assert "kontrollerades mot e-legitimationstjänstens nycklar" not in body
    assert "Personnumret i ID-token är den utsedda undertecknarens" not in body
    assert "ID-token i beviset stämmer med beviset" not in body
