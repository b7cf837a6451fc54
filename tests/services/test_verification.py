"""Reading a sealed final PDF back (ADR 014): original pages, what was added, the record vs the DB.

Inputs are ADR-014-shaped files built by tests/final_pdf.py from a real conversion of the
consent's sample, finalised through signing.finalise_if_complete; every check runs through the
same bounded child as the /verify page (verification.verify_upload).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from flask import Flask
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import signing, verification
from formsvc.services.sealing import generate_demo_pkcs12, get_sealer, trusted_certificates
from formsvc.services.signing import finalise
from tests import factories, final_pdf
from tests.conftest import World

pytestmark = pytest.mark.converter


def check(app: Flask, pdf: bytes) -> verification.Result:
    return verification.verify_upload(
        pdf,
        trusted_certificates(app),
        runner=runtime(app).untrusted,
        settings=app.config,
    )


def problems(result: verification.Result) -> str:
    return " | ".join(f.text for f in result.findings if not f.ok)


@pytest.fixture
def signed(app: Flask, world: World, consent_doc: Document) -> Document:
    """The consent, sent and signed in person by all three, not sealed yet."""
    return factories.signed_in_person(app, consent_doc, world.users["caseworker"], seal=False)


def test_a_final_pdf_of_ours_proves_its_original_pages_and_lists_what_was_added(
    app: Flask, signed: Document
) -> None:
    pdf = final_pdf.seal_document(app, signed)
    result = check(app, pdf)

    assert result.seal.ok and result.final and result.ok, problems(result)
    assert result.reading.revision1_sha256 == signed.frozen_pdf_sha256
    texts = " ".join(f.text for f in result.findings)
    assert f"Originalsidorna är oförändrade (SHA-256 {signed.frozen_pdf_sha256})" in texts
    assert "varje undertecknare visades" in texts
    assert "stämmer med våra register: 3 stycken" in texts
    assert "granskningsloggens nyckel" in texts
    added = " ".join(result.additions())
    names = [r.signed_name for r in signing.requests(signed)]
    assert len(names) == 3
    for name in names:
        assert f"underskrift av {name}" in added
    assert "Sida 3: underskrift av" in added  # the consent's places are on its last page
    assert "Underskriftsbevis: 1 sidor" in added and "formsvc-evidence.json" in added
    assert result.record is not None and result.record.document.id == signed.id


def test_a_document_finalised_by_the_service_verifies_end_to_end(
    app: Flask, world: World, consent_doc: Document
) -> None:
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    store = runtime(app).store
    result = check(app, store.get(doc.sealed_pdf_sha256))

    assert result.final and result.ok, problems(result)
    assert result.reading.revision1_sha256 == doc.frozen_pdf_sha256
    assert result.reading.original_pages == 3 and result.reading.evidence_pages >= 1
    assert result.reading.marked_pages == [2]
    added = " ".join(result.additions())
    for req in signing.requests(doc):
        # at the time it was signed, in Stockholm time like every other time on the page
        local = signing.finalise._local(req.signed_at)
        when = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
        assert f"Sida 3: underskrift av {req.signed_name} ({req.role}), {when}." in added

    # a signer's own copy is the same frozen PDF with the same marks, and is ours too
    req = signing.requests(doc)[0]
    sha = signing.signer_copy(
        req,
        runtime(app).registry["consent"],
        store=store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        settings=app.config,
    )
    copy = check(app, store.get(sha))
    assert copy.final and copy.ok, problems(copy)
    assert copy.record is not None and copy.record.copy_for == req.role
    assert copy.reading.revision1_sha256 == doc.frozen_pdf_sha256


def test_a_document_sealed_in_the_older_format_still_verifies_as_before(
    app: Flask, world: World, consent_doc: Document
) -> None:
    with mock.patch.object(finalise, "build_final_pdf", finalise.build_legacy_final_pdf):
        doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    pdf = runtime(app).store.get(doc.sealed_pdf_sha256)
    result = check(app, pdf)
    assert not result.final and result.reading.format == "older"
    assert result.ok, problems(result)
    assert "äldre formatet" in result.findings[0].text
    assert result.record is not None and result.record.document.id == doc.id


def test_a_record_larger_than_1_mib_is_not_read(app: Flask, signed: Document) -> None:
    def pad(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "padding": "x" * (1024 * 1024 + 10)}  # deflates to ~1 kB

    result = check(app, final_pdf.seal_document(app, signed, change_record=pad))
    assert result.seal.ok and not result.ok
    assert "större än 1 MiB" in problems(result)


@pytest.mark.parametrize("depth", [40, 200_000])
def test_deeply_nested_json_is_refused_without_harm(
    app: Flask, signed: Document, depth: int
) -> None:
    def nest(record: dict[str, Any]) -> bytes:
        head = json.dumps(record, ensure_ascii=False)[:-1]
        return (head + ', "x": ' + "[" * depth + "]" * depth + "}").encode()

    result = check(app, final_pdf.seal_document(app, signed, change_record=nest))
    assert result.seal.ok and not result.ok
    assert "nästlat djupare än 16 nivåer" in problems(result)


def test_a_record_that_is_not_utf8_is_reported(app: Flask, signed: Document) -> None:
    def latin1(record: dict[str, Any]) -> bytes:
        return json.dumps(record, ensure_ascii=False).encode("latin-1", "replace") + b"\xff"

    result = check(app, final_pdf.seal_document(app, signed, change_record=latin1))
    assert not result.ok and "inte giltig UTF-8" in problems(result)


def test_signers_in_the_record_that_differ_from_the_database_are_reported(
    app: Flask, signed: Document
) -> None:
    def impostor(record: dict[str, Any]) -> dict[str, Any]:
        record["signers"][1]["signed_name"] = "Mallory Falsksson"
        return record

    result = check(app, final_pdf.seal_document(app, signed, change_record=impostor))
    # the frozen hash and the pages are right, and our seal is on it: only the DB tells
    assert result.seal.ok
    assert f"SHA-256 {signed.frozen_pdf_sha256}" in " ".join(f.text for f in result.findings)
    assert not result.ok
    assert "Undertecknarna i beviset stämmer inte med våra register" in problems(result)
    assert "Mallory Falsksson" in problems(result)


def test_a_record_claiming_another_documents_hash_is_reported(
    app: Flask, world: World, signed: Document
) -> None:
    other = factories.consent(app, world.participant, world.users["caseworker"], status="draft")
    dtype = runtime(app).registry["consent"]
    signing.send(
        other,
        dtype,
        actor=world.users["caseworker"],
        store=runtime(app).store,
        converter=runtime(app).converter,
    )
    assert other.frozen_pdf_sha256 and other.frozen_pdf_sha256 != signed.frozen_pdf_sha256

    def claim(record: dict[str, Any]) -> dict[str, Any]:
        record["frozen_pdf"]["sha256"] = other.frozen_pdf_sha256
        return record

    result = check(app, final_pdf.seal_document(app, signed, change_record=claim))
    assert not result.ok
    text = problems(result)
    assert f"beviset anger {other.frozen_pdf_sha256}" in text
    assert "stämmer inte med den vi registrerade" in text


def _draw_before(writer: IncrementalPdfFileWriter) -> None:
    """Shift the original content off the page with a stream drawn before it."""
    shift = writer.add_object(generic.StreamObject(stream_data=b"q 1 0 0 1 0 -2000 cm\n"))
    writer.add_stream_to_page(0, shift, prepend=True)


def _add_annotation(writer: IncrementalPdfFileWriter) -> None:
    """A white box over the first page's text (an annotation, not a signature widget)."""
    annot = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Square"),
                pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (50, 500, 550, 700)]
                ),
                pdf_name("/IC"): generic.ArrayObject([generic.NumberObject(1)] * 3),
            }
        )
    )
    page_ref, _res = writer.find_page_for_modification(0)
    writer.register_annotation(page_ref, annot)


def _change_font(writer: IncrementalPdfFileWriter) -> None:
    """Redefine a font the first page uses (same object, other widths: the text shifts)."""
    _page, resources = writer.find_page_for_modification(0)
    fonts = resources.get_object()["/Font"]
    ref = fonts.raw_get(next(iter(fonts)))
    font = ref.get_object()
    font[pdf_name("/Widths")] = generic.ArrayObject([generic.NumberObject(1000)] * 200)
    writer.mark_update(ref)


def _change_mediabox(writer: IncrementalPdfFileWriter) -> None:
    page_ref, _res = writer.find_page_for_modification(1)
    page_ref.get_object()[pdf_name("/MediaBox")] = generic.ArrayObject(
        [generic.NumberObject(v) for v in (0, 0, 300, 300)]
    )
    writer.mark_update(page_ref)


@pytest.mark.parametrize(
    "tamper",
    [final_pdf.replace_page_text, _draw_before, _add_annotation, _change_font, _change_mediabox],
)
def test_an_update_that_changes_the_original_pages_is_caught_even_under_our_own_seal(
    app: Flask, signed: Document, tamper: Any
) -> None:
    pdf = final_pdf.seal_document(app, signed, before_seal=tamper)
    result = check(app, pdf)
    # the seal is ours and intact, and the record's hash is still that of revision 1: only
    # the structural check can tell
    assert result.seal.ok
    assert result.reading.revision1_sha256 == signed.frozen_pdf_sha256
    assert not result.ok
    assert "Originalsidorna har ändrats" in problems(result)


def test_an_attacker_sealing_changed_pages_with_their_own_key_is_untrusted_and_changed(
    app: Flask, signed: Document, tmp_path: Path
) -> None:
    frozen = runtime(app).store.get(signed.frozen_pdf_sha256)
    record = final_pdf.record_for(signed, frozen)
    own = tmp_path / "attacker.p12"
    own.write_bytes(generate_demo_pkcs12(b"attacker", common_name="Stockholms stad"))
    pdf = final_pdf.build(
        frozen, record, own, passphrase="attacker", before_seal=final_pdf.replace_page_text
    )
    result = check(app, pdf)
    assert result.seal.intact and not result.seal.trusted and not result.ok
    assert "Originalsidorna har ändrats" in problems(result)
    assert result.record is None  # nothing of ours is shown for it


def test_a_record_signer_missing_from_the_evidence_page_is_reported(
    app: Flask, signed: Document
) -> None:
    names = [r.signed_name for r in signing.requests(signed)]
    pdf = final_pdf.seal_document(app, signed, evidence_names=names[:2])
    result = check(app, pdf)
    assert not result.ok
    assert f"Underskriftsbeviset nämner inte {names[2]}" in problems(result)


def test_reading_garbage_never_raises() -> None:
    for data in (b"", b"%PDF-1.7\n", b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF"):
        reading = verification.read_sealed(data)
        assert reading.format in ("older", "unreadable")
