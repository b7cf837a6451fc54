"""The sealed PDF is the frozen PDF plus one sealed incremental update (issue 12, ADR 014).

Real documents of every signed type are sent (frozen by LibreOffice), signed through the signing
service and finalised; the sealed file is then read as a signer, poppler, qpdf, pyHanko and a
JSON reader would read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from flask import Flask
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.generic import TextStringObject, pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from formsvc import doctypes
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest, StoredFile, TemplateVersion
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from formsvc.services.checkpoints import Checkpoint
from formsvc.services.final_pdf import RECORD_NAME, embedded_record
from formsvc.services.overlay import original_revision
from formsvc.services.sealing import get_sealer, trusted_certificates, verify
from formsvc.services.signature_places import Place, find_places
from formsvc.services.templates import DOCX_MIME
from tests import pdfa
from tests.conftest import World
from tests.helpers import pdf_text, pdf_words

REGISTRY = doctypes.discover()
SIGNED = sorted(s for s, t in REGISTRY.items() if t.signers(doctypes.sample_input(t)))
#: A threat assessment is signed only with the manager's decision in it (issue 10).
FILLED: dict[str, dict[str, Any]] = {
    "threat_assessment": {
        "decision": "Tillfälligt boende beviljas; ökad närvaro vid skolan.",
        "decided_on": "2026-11-12",
        "decided_by": "Test manager",
        "level": "elevated",
    }
}
RECORD_KEYS = {
    "format",
    "organisation",
    "document",
    "template",
    "frozen_pdf",
    "sent_at",
    "sent_by",
    "finalised_at",
    "copy_for",
    "signers",
    "audit",
}
SIGNER_KEYS = {
    "request",
    "slot",
    "role",
    "designated",
    "signed_name",
    "typed_name",
    "method",
    "identity_check",
    "witness",
    "signed_at",
    "statements",
    "signature_image_sha256",
    "scan_sha256",
    "scan_received_sha256",
    "place",
    "ip",
    "user_agent",
    "proofs",
}


def test_the_signed_types_are_the_ones_issue_12_names() -> None:
    # if a type is added or stops being signed, this module's parametrisation follows it
    assert {"consent", "action_plan", "security_talk", "threat_assessment"} <= set(SIGNED)


# --------------------------------------------------------------------------- building documents


def drawn_png() -> bytes:
    img = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(20, 150), (200, 40), (380, 160), (580, 50)], fill="#1a237e", width=6)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def create(app: Flask, world: World, slug: str) -> Document:
    """A document of *slug* (its sample data) by the manager, about the participant or (for an
    employee's document) the caseworker."""
    dtype = runtime(app).registry[slug]
    subject: dict[str, Any] = (
        {"employee": world.users["caseworker"]}
        if dtype.subject == "employee"
        else {"participant": world.participant}
    )
    return documents.create(
        dtype,
        {**dtype.sample(), **FILLED.get(slug, {})},
        actor=world.users["manager"],
        store=runtime(app).store,
        **subject,
    )


def send_and_sign(
    app: Flask,
    world: World,
    doc: Document,
    *,
    drawn: bool,
    finalise: bool = True,
    by_link: frozenset[str] = frozenset(),
    on_paper: frozenset[str] = frozenset(),
) -> list[SignatureRequest]:
    """Send *doc* and have every place sign (staff with their account, the slots *by_link* by
    their personal link, those *on_paper* by a scan the caseworker uploads, others in person
    witnessed by the caseworker; with *drawn*, each e-signature drawn); then finalise."""
    dtype = runtime(app).registry[doc.type_slug]
    store = runtime(app).store
    converter = runtime(app).converter
    reqs = signing.send(
        doc, dtype, actor=world.users["caseworker"], store=store, converter=converter
    )
    for req in reqs:
        if req.kind == "staff":
            actor = {
                "manager": world.users["manager"],
                "employee": world.users["caseworker"],
            }.get(req.staff_role or "", doc.created_by)
            name, method = actor.full_name, "staff"
        elif req.slot in on_paper:
            scan = signing.Scan(drawn_png(), "image/png", 1, hashlib.sha256(b"scan").hexdigest())
            names = {req.id: req.expected_name or "Gun Gästsson"}
            signing.sign_on_paper(
                [req], scan, names=names, actor=world.users["caseworker"], store=store, dtype=dtype
            )
            continue
        elif req.slot in by_link:
            # as after the link was mailed and its one-time code entered (tests/views cover those)
            req.email, req.token_expires_at = "signer@example.se", utcnow() + timedelta(days=1)
            db.session.commit()
            actor, method = None, "link"
            name = req.expected_name or "Gun Gästsson"
        else:
            actor, method = world.users["caseworker"], "in_person"
            name = req.expected_name or "Gun Gästsson"
        signing.sign(
            req,
            dtype,
            signing.Given(
                name=name,
                statements=signing.statements_for(req, dtype),
                signature_png=drawn_png() if drawn else None,
                ip=f"192.0.2.{req.id}",
                user_agent=f"pytest {req.slot}",
            ),
            method=method,
            actor=actor,
            settings=app.config,
            store=store,
        )
    if finalise:
        assert finalise_now(app, doc) is True
    return reqs


def finalise_now(app: Flask, doc: Document) -> bool:
    return signing.finalise_if_complete(
        doc,
        runtime(app).registry[doc.type_slug],
        store=runtime(app).store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        settings=app.config,
    )


def markerless_template(app: Flask, slug: str, world: World) -> TemplateVersion:
    """The packaged template without its signature-place markers, made the active version: what
    an administrator's template from before ADR 013 is (the markers change no pixel)."""
    dtype = runtime(app).registry[slug]
    source = dtype.template_path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                assert b"[[sig:" in data
                data = data.replace(b"[[sig:{{ signer.key }}:170x12]]", b"")
                assert b"[[sig:" not in data
            dst.writestr(item, data)
    stored = runtime(app).store.put(out.getvalue(), DOCX_MIME)
    for tv in db.session.scalars(select(TemplateVersion).where(TemplateVersion.type_slug == slug)):
        tv.active = False
    tv = TemplateVersion(
        type_slug=slug,
        version=99,
        file_sha256=stored.sha256,
        source="upload",
        active=True,
        created_by_id=world.users["admin"].id,
    )
    db.session.add(tv)
    db.session.commit()
    return tv


# --------------------------------------------------------------------------- reading the result


def run(args: list[str], pdf: bytes, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    return subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60)


def pyhanko_status(app: Flask, pdf: bytes) -> Any:
    (embedded,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return validate_pdf_signature(
        embedded, ValidationContext(trust_roots=[get_sealer(app).certificate])
    )


def assert_sealed_and_valid(app: Flask, pdf: bytes, tmp_path: Path) -> None:
    """One seal, valid and covering the whole file, as pyHanko, poppler and qpdf see it."""
    status = pyhanko_status(app, pdf)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert verify(pdf, trusted_certificates(app)).ok
    sig = run(["pdfsig"], pdf, tmp_path).stdout
    assert sig.count("Signature #") == 1, sig
    assert "Signature is Valid" in sig and "Total document signed" in sig, sig
    qpdf = run(["qpdf", "--check"], pdf, tmp_path)
    assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr
    assert "No syntax or stream encoding errors found" in qpdf.stdout, qpdf.stdout
    assert "WARNING" not in qpdf.stdout + qpdf.stderr


def record_of(pdf: bytes) -> dict[str, Any]:
    data = embedded_record(pdf)
    assert data is not None, "no evidence record"
    record = json.loads(data.decode("utf-8"))
    # embedded exactly in the canonical form the ADR gives
    assert data == signing.record_bytes(record)
    return record


def xmp_and_info(pdf: bytes) -> tuple[dict[str, str], dict[str, str]]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = doc.open_metadata()
        xmp = {k: str(meta.get(k)) for k in ("pdfaid:part", "pdfaid:conformance", "pdf:Producer")}
        info = {k: str(v) for k, v in doc.docinfo.items()}
    return xmp, info


#: The method line under "Ort och datum", per method, as the final PDF prints it.
METHOD_LINES = {
    "in_person": "e-signerad på plats",
    "paper": "underskriven på papper",
    "link": "e-signerad via personlig länk",
    "staff": "e-signerad (inloggad personal)",
}

Word = tuple[int, float, float, float, float, str]


def date_column(frozen_words: list[Word], place: Place) -> float:
    """Where the template's "Ort och datum" caption under *place* starts (x, PDF points)."""
    (x,) = {
        round(x0, 1)
        for page, x0, _y0, _x1, y1, text in frozen_words
        if text == "Ort" and page == place.page and place.y0 - 20 <= y1 <= place.y0 + 1
    }
    return x


def in_place(words: list[Word], place: Place, word: str, x_from: float, x_to: float) -> list[Word]:
    """The occurrences of *word* inside *place*, between x_from and x_to."""
    return [
        w
        for w in words
        if w[5] == word
        and w[0] == place.page
        and x_from - 0.5 <= w[1]
        and w[3] <= x_to + 0.5
        and place.y0 - 3 <= w[2]
        and w[4] <= place.y1 + 0.5
    ]


def places_of_names(
    final: bytes, frozen: bytes, reqs: list[SignatureRequest], city: str = "Stockholm"
) -> None:
    """Each signer's name is drawn in the signature part of that signer's place (left of the
    template's "Ort och datum" column), and in that column the city (only for signatures made at
    the office), the date and the method; none of it in another signer's place."""
    places = find_places(frozen)
    before, after = pdf_words(frozen), pdf_words(final)

    def added(slot: str, word: str, part: str) -> int:
        p = places[slot]
        split = date_column(before, p)
        x_from, x_to = (p.x0, split) if part == "left" else (split, p.x1)
        return len(in_place(after, p, word, x_from, x_to)) - len(
            in_place(before, p, word, x_from, x_to)
        )

    day = f"{signing.today_local():%Y-%m-%d}"
    for r in reqs:
        db.session.refresh(r)
        right = [day, *METHOD_LINES[r.method].split()]
        if r.method in ("in_person", "staff"):
            right.append(city)
        elif r.method == "paper":
            right.append("inkommen")  # the scan's date; the signing date is on the paper
        for word in r.signed_name.split():
            assert added(r.slot, word, "left") == 1, (r.slot, word)
        for word in right:
            assert added(r.slot, word, "right") == 1, (r.slot, word)
        if r.method in ("link", "paper"):
            assert added(r.slot, city, "right") == 0, r.slot
        for other in reqs:
            if other.slot != r.slot and other.signed_name != r.signed_name:
                for word in set(r.signed_name.split()) - set(other.signed_name.split()):
                    assert added(other.slot, word, "left") == 0
                    assert added(other.slot, word, "right") == 0


def assert_record_matches_the_database(app: Flask, doc: Document, record: dict[str, Any]) -> None:
    dtype = runtime(app).registry[doc.type_slug]
    assert set(record) >= RECORD_KEYS
    assert record["format"] == "formsvc-evidence/1"
    assert record["organisation"] == app.config["ORGANISATION_NAME"]
    assert record["document"] == {
        "id": doc.id,
        "reference": doc.reference,
        "type": doc.type_slug,
        "title": str(dtype.title),
        "version": doc.version,
    }
    tv = doc.template_version
    assert record["template"] == {"version": tv.version, "sha256": tv.file_sha256}
    stored = db.session.get(StoredFile, doc.frozen_pdf_sha256)
    assert record["frozen_pdf"] == {"sha256": doc.frozen_pdf_sha256, "size": stored.size}
    assert record["sent_by"] == doc.sent_by.full_name
    assert record["finalised_at"].startswith(f"{doc.sealed_at:%Y-%m-%dT%H:%M:%S}")
    signed = {r.id: r for r in signing.requests(doc) if r.status == "signed"}
    assert [s["request"] for s in record["signers"]] == sorted(
        signed, key=lambda i: (signed[i].signed_at, i)
    )
    for s in record["signers"]:
        assert set(s) == SIGNER_KEYS
        r = signed[s["request"]]
        assert (s["slot"], s["role"], s["method"], s["signed_name"], s["typed_name"]) == (
            r.slot,
            r.role,
            r.method,
            r.signed_name,
            r.typed_name,
        )
        assert s["designated"] == {"name": r.expected_name, "id_number": r.expected_id}
        assert s["signed_at"].startswith(f"{r.signed_at:%Y-%m-%dT%H:%M:%S}")
        assert s["statements"] == list(r.statements or [])
        assert s["signature_image_sha256"] == r.signature_sha256
        assert s["identity_check"] == r.verification
        assert s["proofs"] == []
        place = s["place"]
        assert place is not None and len(place["rect"]) == 4
    events = record["audit"]["events"]
    rows = {
        e.id: e
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.id.in_([e["id"] for e in events]))
        )
    }
    assert [e["action"] for e in events][0] == "send" and events[-1]["action"] == "sign"
    assert sum(e["action"] == "sign" for e in events) == len(signed)
    for e in events:
        row = rows[e["id"]]
        assert (row.action, row.hash, row.object_id) == (e["action"], e["hash"], str(doc.id))
    cp = Checkpoint.from_line(json.dumps(record["audit"]["checkpoint"]))
    assert cp.head_id >= events[-1]["id"]
    assert cp.signed_by(runtime(app).anchor.trusted_keys()) == "ok"


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("drawn", [True, False], ids=["drawn", "typed"])
@pytest.mark.parametrize("slug", SIGNED)
def test_the_sealed_pdf_is_the_frozen_pdf_with_signatures_evidence_and_record_added(
    app: Flask, world: World, slug: str, drawn: bool, tmp_path: Path
) -> None:
    doc = create(app, world, slug)
    reqs = send_and_sign(app, world, doc, drawn=drawn)
    doc = db.session.get(Document, doc.id)
    store = runtime(app).store
    frozen = store.get(doc.frozen_pdf_sha256)
    final = store.get(doc.sealed_pdf_sha256)
    (tmp_path / f"{slug}-{'drawn' if drawn else 'typed'}.pdf").write_bytes(final)

    # the pages the signers read, byte for byte, and recoverable from the sealed file alone
    assert final[: len(frozen)] == frozen
    assert original_revision(final) == frozen
    assert hashlib.sha256(original_revision(final)).hexdigest() == doc.frozen_pdf_sha256
    assert_sealed_and_valid(app, final, tmp_path)

    # each signature in its own place; the evidence page(s) after the document's pages
    places_of_names(final, frozen, reqs)
    with pikepdf.open(io.BytesIO(frozen)) as f, pikepdf.open(io.BytesIO(final)) as s:
        body_pages, all_pages = len(f.pages), len(s.pages)
        evidence_fonts = [
            font for page in s.pages[body_pages:] for font in page.obj.Resources.Font.values()
        ]
    assert all_pages > body_pages
    text = pdf_text(final)
    assert "Underskriftsbevis" in text.split("\f")[body_pages]
    assert doc.frozen_pdf_sha256 in "".join(text.split())
    assert evidence_fonts and all(
        "/FontFile2" in f.DescendantFonts[0].FontDescriptor for f in evidence_fonts
    )
    images = run(["pdfimages", "-list"], final, tmp_path).stdout
    frozen_images = run(["pdfimages", "-list"], frozen, tmp_path).stdout
    drawn_count = len(reqs) if drawn else 0
    assert images.count("\n") - frozen_images.count("\n") >= drawn_count

    # the machine-readable record, embedded as a PDF/A-3 associated file
    record = record_of(final)
    assert_record_matches_the_database(app, doc, record)
    assert record["copy_for"] is None
    assert all(s["ip"] and s["user_agent"] for s in record["signers"])
    places = find_places(frozen)
    for s in record["signers"]:
        p = places[s["slot"]]
        assert s["place"] == {
            "page": p.page,
            "rect": [round(v, 3) for v in (p.x0, p.y0, p.x1, p.y1)],
        }
    with pikepdf.open(io.BytesIO(final)) as pdf:
        (spec,) = list(pdf.Root.AF)
        assert spec.AFRelationship == "/Data" and str(spec.UF) == RECORD_NAME
        names = pdf.Root.Names.EmbeddedFiles.Names
        assert str(names[0]) == RECORD_NAME and names[1].objgen == spec.objgen
        stream = spec.EF.F
        assert stream.Subtype == "/application/json"
        assert int(stream.Params.Size) == len(embedded_record(final))
        assert "/ModDate" in stream.Params
        # PDF/A-3 is based on PDF 1.7: neither the record (pyHanko's embed_file would say 2.0)
        # nor the demo's ECDSA seal (pyHanko would declare ISO 32002 and 2.0) raises it
        assert str(pdf.Root.Version) == "/1.7"
        assert set(pdf.Root.Extensions.keys()) == {"/ESIC"}
    assert pdfa.problems(final, part=3) == []
    xmp, info = xmp_and_info(final)
    assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("3", "B")
    assert info["/Producer"] == xmp["pdf:Producer"]
    assert info["/Title"] == xmp_and_info(frozen)[1]["/Title"]  # LibreOffice's metadata stays
    assert xmp_and_info(original_revision(final))[0]["pdfaid:part"] == "2"


def test_ort_och_datum_names_the_office_city_only_where_the_signature_was_made_there(
    app: Flask, world: World, tmp_path: Path
) -> None:
    doc = create(app, world, "consent")
    reqs = send_and_sign(
        app,
        world,
        doc,
        drawn=True,
        by_link=frozenset({"guardian1"}),
        on_paper=frozenset({"guardian2"}),
    )
    doc = db.session.get(Document, doc.id)
    store = runtime(app).store
    frozen, final = store.get(doc.frozen_pdf_sha256), store.get(doc.sealed_pdf_sha256)
    (tmp_path / "consent-mixed.pdf").write_bytes(final)
    assert {r.slot: r.method for r in reqs} == {
        "participant": "in_person",
        "guardian1": "link",
        "guardian2": "paper",
    }
    # name left; "Stockholm <date>" only for the one signed on site; the method in the column
    places_of_names(final, frozen, reqs)

    # place and date on one line at the start of the template's column, the method under it
    before, after = pdf_words(frozen), pdf_words(final)
    places = find_places(frozen)
    day = f"{signing.today_local():%Y-%m-%d}"
    first_word = {"participant": "Stockholm", "guardian1": day, "guardian2": "inkommen"}
    for r in reqs:
        p = places[r.slot]
        column = date_column(before, p)
        (first,) = in_place(after, p, first_word[r.slot], column, p.x1)
        (date,) = in_place(after, p, day, column, p.x1)
        method = METHOD_LINES[r.method].split()[0]
        (how,) = in_place(after, p, method, column, p.x1)
        assert abs(first[1] - column) < 1 and abs(how[1] - column) < 1, (r.slot, column)
        assert abs(date[2] - first[2]) < 0.5  # one line
        assert how[4] <= date[2], r.slot  # the method's line is below it

    # the city is a setting; without one, the date alone
    marks = signing.place_marks(doc, store, {**app.config, "SIGNING_CITY": "Göteborg"})
    assert marks["participant"].signed == f"Göteborg {day}"
    assert marks["guardian1"].signed == day
    assert (
        signing.place_marks(doc, store, {**app.config, "SIGNING_CITY": ""})["participant"].signed
        == day
    )


def test_a_signer_copy_is_the_same_frozen_pdf_with_that_signers_own_evidence(
    app: Flask, world: World, tmp_path: Path
) -> None:
    doc = create(app, world, "consent")
    reqs = send_and_sign(app, world, doc, drawn=True)
    doc = db.session.get(Document, doc.id)
    store = runtime(app).store
    frozen, archive = store.get(doc.frozen_pdf_sha256), store.get(doc.sealed_pdf_sha256)
    mine = reqs[1]
    sha = signing.signer_copy(
        mine,
        runtime(app).registry["consent"],
        store=store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        settings=app.config,
    )
    copy = store.get(sha)
    assert copy != archive
    assert copy[: len(frozen)] == frozen and original_revision(copy) == frozen
    assert_sealed_and_valid(app, copy, tmp_path)
    places_of_names(copy, frozen, reqs)
    assert f"Exemplar för {mine.role}" in pdf_text(copy)
    record, archived = record_of(copy), record_of(archive)
    assert record["copy_for"] == mine.role
    for s in record["signers"]:
        own = s["request"] == mine.id
        assert (s["ip"] is not None, s["user_agent"] is not None) == (own, own)
    # the same evidence otherwise: the same time, signers and audit events as the archive copy
    for key in ("finalised_at", "frozen_pdf", "audit", "document"):
        assert record[key] == archived[key]


def test_tampering_with_the_embedded_record_breaks_the_seal(
    app: Flask, world: World, tmp_path: Path
) -> None:
    doc = create(app, world, "consent")
    send_and_sign(app, world, doc, drawn=False)
    final = runtime(app).store.get(db.session.get(Document, doc.id).sealed_pdf_sha256)
    record = embedded_record(final)
    assert record is not None
    # in place: the compressed stream's bytes changed, same length
    reader = PdfFileReader(io.BytesIO(final))
    stream = reader.root["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object()["/EF"]["/F"]
    raw = stream.encoded_data
    at = final.index(raw)
    edited = final[:at] + bytes([raw[0] ^ 1]) + final[at + 1 :]
    assert not verify(edited, trusted_certificates(app)).intact
    # or as a later update: the seal still holds for what it covered, but the file has changed
    writer = IncrementalPdfFileWriter(io.BytesIO(final))
    spec = writer.root["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object()
    spec[pdf_name("/Desc")] = TextStringObject("ändrad")
    writer.update_container(spec)
    out = io.BytesIO()
    writer.write(out)
    later = verify(out.getvalue(), trusted_certificates(app))
    assert later.intact and not later.whole_file and not later.ok


@pytest.mark.parametrize("slug", ["consent", "security_talk"])
def test_a_document_frozen_without_places_is_finalised_by_the_legacy_path(
    app: Flask, world: World, slug: str, tmp_path: Path
) -> None:
    markerless_template(app, slug, world)
    doc = create(app, world, slug)
    reqs = send_and_sign(app, world, doc, drawn=True)
    doc = db.session.get(Document, doc.id)
    store = runtime(app).store
    frozen = store.get(doc.frozen_pdf_sha256)
    assert find_places(frozen) == {}
    final = store.get(doc.sealed_pdf_sha256)
    (tmp_path / f"{slug}-legacy.pdf").write_bytes(final)
    assert not final.startswith(frozen)  # re-rendered with the signatures, as before ADR 014
    assert_sealed_and_valid(app, final, tmp_path)
    assert embedded_record(final) is None
    assert pdfa.problems(final, part=2) == []
    text = pdf_text(final)
    assert "Underskriftsbevis" in text
    for r in reqs:
        db.session.refresh(r)
        assert r.signed_name in text
    # a signer's own copy of such a document is made the same way
    sha = signing.signer_copy(
        reqs[0],
        runtime(app).registry[slug],
        store=store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        settings=app.config,
    )
    copy = store.get(sha)
    assert not copy.startswith(frozen) and embedded_record(copy) is None
    assert_sealed_and_valid(app, copy, tmp_path)
    assert f"Exemplar för {reqs[0].role}" in pdf_text(copy)


def test_reseal_finishes_documents_of_both_kinds(app: Flask, world: World, tmp_path: Path) -> None:
    # both complete, neither sealed (the process died between the last signature and the seal)
    current = create(app, world, "consent")
    send_and_sign(app, world, current, drawn=False, finalise=False)
    markerless_template(app, "consent", world)
    legacy = create(app, world, "consent")
    send_and_sign(app, world, legacy, drawn=False, finalise=False)
    assert current.sealed_pdf_sha256 is None and legacy.sealed_pdf_sha256 is None
    results = signing.reseal_pending(
        runtime(app).registry,
        store=runtime(app).store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        settings=app.config,
    )
    assert sorted((d.id, err) for d, err in results) == [(current.id, None), (legacy.id, None)]
    store = runtime(app).store
    for doc, with_record in ((current, True), (legacy, False)):
        doc = db.session.get(Document, doc.id)
        assert doc.status == "active" and doc.sealed_at is not None
        final, frozen = store.get(doc.sealed_pdf_sha256), store.get(doc.frozen_pdf_sha256)
        assert final.startswith(frozen) is with_record
        assert (embedded_record(final) is not None) is with_record
        assert_sealed_and_valid(app, final, tmp_path)
