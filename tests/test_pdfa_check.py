"""tests/pdfa.py: the frozen PDFs pass it, and each of its checks fails on a PDF that breaks it."""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from fpdf import FPDF

from formsvc import doctypes
from formsvc.services.conversion import ConverterPool, ConverterSettings, get_pool
from formsvc.services.rendering import render_docx
from formsvc.services.sealing import Sealer
from tests.conftest import CONVERTER_PORT, SEAL_PASSPHRASE
from tests.pdfa import problems

REGISTRY = doctypes.discover()
SIGNED = sorted(s for s, t in REGISTRY.items() if t.signers(doctypes.sample_input(t)))

pytestmark = pytest.mark.converter


@pytest.fixture(scope="module")
def pool(converter_root: Path) -> ConverterPool:
    return get_pool(
        ConverterSettings(base_port=CONVERTER_PORT, profile_root=str(converter_root), timeout=120)
    )


@pytest.fixture(scope="module")
def frozen(pool) -> dict[str, bytes]:
    """Each signed type's sample as the app freezes it when sending (render, PDF/A conversion)."""
    out = {}
    for slug in SIGNED:
        dtype = REGISTRY[slug]
        context = dtype.build_context(doctypes.sample_input(dtype))
        out[slug] = pool.convert(render_docx(dtype.template_path.read_bytes(), context), pdfa=True)
    return out


@pytest.fixture
def consent(frozen) -> bytes:
    return frozen["consent"]


def edited(pdf: bytes, change: Callable[[pikepdf.Pdf], None], **save: object) -> bytes:
    """*pdf* opened, changed and saved again by pikepdf."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        change(doc)
        out = io.BytesIO()
        doc.save(out, **save)
    return out.getvalue()


def set_xmp(doc: pikepdf.Pdf, old: bytes, new: bytes) -> None:
    xmp = doc.Root.Metadata.read_bytes()
    assert old in xmp
    doc.Root.Metadata.write(xmp.replace(old, new))


def compressed_metadata(pdf: bytes) -> bytes:
    """*pdf* with an incremental update whose catalogue points at a Flate-compressed copy of its
    XMP (qpdf, hence pikepdf, always writes metadata uncompressed, so this is done by hand)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        xmp = zlib.compress(doc.Root.Metadata.read_bytes())
        number = len(doc.objects) + 1
        doc.Root.Metadata = doc.make_indirect(pikepdf.Dictionary())  # a placeholder reference
        catalogue = doc.Root.unparse(resolved=True).replace(
            doc.Root.Metadata.unparse(), f"{number} 0 R".encode()
        )
        root = doc.Root.objgen[0]
        trailer_id = doc.trailer.ID.unparse()
    previous = re.findall(rb"startxref\s+(\d+)", pdf)[-1].decode()
    body = bytearray(pdf)
    offsets = {}
    offsets[number] = len(body)
    head = f"{number} 0 obj\n<</Type/Metadata/Subtype/XML/Filter/FlateDecode/Length {len(xmp)}>>"
    body += head.encode()
    body += b"\nstream\n" + xmp + b"\nendstream\nendobj\n"
    offsets[root] = len(body)
    body += f"{root} 0 obj\n".encode() + catalogue + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n"
    for obj in sorted(offsets):
        body += f"{obj} 1\n{offsets[obj]:010d} 00000 n \n".encode()
    body += f"trailer\n<</Size {number + 1}/Root {root} 0 R/Prev {previous}/ID ".encode()
    body += trailer_id + f">>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(body)


def helvetica_page() -> bytes:
    """One page of text in fpdf2's core font Helvetica: a font that is never embedded."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Not embedded")
    return bytes(pdf.output())


def attach(doc: pikepdf.Pdf, *, relationship: bool = True, listed: bool = True) -> pikepdf.Object:
    """The evidence record attached as ADR 014 says, optionally without /AFRelationship or /AF."""
    spec = pikepdf.AttachedFileSpec(
        doc,
        b'{"format": "formsvc-evidence/1"}',
        mime_type="application/json",
        filename="formsvc-evidence.json",
        relationship=pikepdf.Name.Data,
    )
    doc.attachments["formsvc-evidence.json"] = spec
    if not relationship:
        del spec.obj["/AFRelationship"]
    if listed:  # pikepdf lists it by itself; said here because ADR 014 requires it
        doc.Root.AF = pikepdf.Array([spec.obj])
    else:
        del doc.Root["/AF"]
    return spec.obj


def as_part_3(doc: pikepdf.Pdf) -> None:
    set_xmp(doc, b"<pdfaid:part>2</pdfaid:part>", b"<pdfaid:part>3</pdfaid:part>")


@pytest.mark.parametrize("slug", SIGNED)
def test_the_frozen_pdf_of_every_signed_type_is_pdfa_2b(frozen, slug):
    assert problems(frozen[slug], part=2) == []
    assert problems(frozen[slug]) == []


def test_a_pdf_saved_again_by_pikepdf_still_passes(consent):
    # the mutations below go through pikepdf: only what they change may be reported
    assert problems(edited(consent, lambda doc: None), part=2) == []


def test_the_declared_part_must_be_the_expected_one(consent):
    assert problems(consent, part=3) == ["XMP pdfaid:part is 2, expected 3"]


def test_header_version_and_binary_comment(consent):
    assert consent.startswith(b"%PDF-1.6\n%")
    newer = consent.replace(b"%PDF-1.6", b"%PDF-1.9", 1)
    assert problems(newer, part=2) == ["header version 1.9 is above 1.7"]
    assert problems(consent, part=1)[0] == "header version 1.6 is above 1.4"
    comment = re.match(rb"%PDF-1\.6\n(%[^\n]*)\n", consent)[1]
    plain = consent.replace(comment, b"%" + b"a" * (len(comment) - 1), 1)
    assert problems(plain, part=2) == ["no binary comment (four bytes > 127) after the header"]
    assert problems(b"\n" + consent, part=2)[0] == "no %PDF-n.n header at byte 0"


def test_xmp_identification_is_required(consent):
    def drop(doc):
        del doc.Root["/Metadata"]

    assert problems(edited(consent, drop), part=2) == ["catalogue has no /Metadata XMP stream"]

    def conformance_u(doc):
        set_xmp(doc, b"<pdfaid:conformance>B<", b"<pdfaid:conformance>U<")

    assert problems(edited(consent, conformance_u)) == ["XMP pdfaid:conformance is U, expected B"]

    def no_part(doc):
        set_xmp(doc, b"<pdfaid:part>2</pdfaid:part>", b"")

    assert problems(edited(consent, no_part)) == ["XMP has no pdfaid:part"]

    assert problems(compressed_metadata(consent), part=2) == [
        "/Metadata stream has a /Filter (must be uncompressed)"
    ]


def test_the_attribute_form_of_pdfaid_is_read(consent):
    def attributes(doc):
        set_xmp(doc, b"<pdfaid:part>2</pdfaid:part>", b"")
        set_xmp(doc, b"<pdfaid:conformance>B</pdfaid:conformance>", b"")
        set_xmp(doc, b'rdf:about="" xmlns:pdfaid', b'pdfaid:part="3" pdfaid:conformance="B" x:a')

    pdf = edited(consent, attributes)
    assert problems(pdf, part=3) == []
    assert problems(pdf, part=2) == ["XMP pdfaid:part is 3, expected 2"]


def test_an_output_intent_with_an_embedded_icc_profile_is_required(consent):
    def drop(doc):
        del doc.Root["/OutputIntents"]

    assert problems(edited(consent, drop), part=2) == ["no /OutputIntents entry with /S /GTS_PDFA1"]

    def no_profile(doc):
        del doc.Root.OutputIntents[0]["/DestOutputProfile"]

    assert problems(edited(consent, no_profile), part=2) == [
        "the GTS_PDFA1 output intent has no embedded /DestOutputProfile"
    ]

    def not_icc(doc):
        doc.Root.OutputIntents[0].DestOutputProfile.write(b"\0" * 200)

    assert problems(edited(consent, not_icc), part=2) == [
        "the output intent's /DestOutputProfile is not an ICC profile"
    ]


def test_a_core_font_is_reported_as_not_embedded():
    found = problems(helvetica_page())
    assert "page 1: font /Helvetica is not embedded (no /FontDescriptor)" in found


def test_a_font_two_form_xobjects_deep_is_checked(consent):
    def overlay(doc):
        with pikepdf.open(io.BytesIO(helvetica_page())) as fpdf_doc:
            inner = doc.add_blank_page(page_size=(595, 842))
            inner.add_overlay(doc.copy_foreign(fpdf_doc.pages[0].obj))
            # the page with the form XObject becomes itself a form XObject on page 2
            doc.pages[1].add_overlay(inner)
            del doc.pages[-1]

    found = problems(edited(consent, overlay), part=2)
    assert len(found) == 1
    # LibreOffice's pages share one /Resources: the font is reached from page 1 already
    assert re.fullmatch(
        r"page \d: font /Helvetica is not embedded \(no /FontDescriptor\)", found[0]
    )


def test_a_font_whose_program_was_removed_is_reported(consent):
    def strip(doc):
        for font in doc.pages[0].Resources.Font.values():
            del font.FontDescriptor["/FontFile2"]

    found = problems(edited(consent, strip), part=2)
    assert found
    assert all(
        re.fullmatch(
            r"page 1: font /\S+ is not embedded \(no /FontFile, /FontFile2 or /FontFile3\)", f
        )
        for f in found
    )


def test_an_encrypted_pdf_is_reported(consent):
    owner_only = edited(
        consent, lambda doc: None, encryption=pikepdf.Encryption(owner="owner", user="", R=6)
    )
    assert "encrypted (trailer /Encrypt)" in problems(owner_only, part=2)
    locked = edited(consent, lambda doc: None, encryption=pikepdf.Encryption(owner="o", user="u"))
    assert problems(locked, part=2) == ["encrypted: cannot be opened without a password"]


def test_javascript_is_reported_wherever_it_is(consent):
    def open_action(doc):
        doc.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")

    assert problems(edited(consent, open_action), part=2) == [
        "JavaScript action in catalogue /OpenAction"
    ]

    def page_aa(doc):
        action = doc.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="1"))
        doc.pages[0].obj.AA = pikepdf.Dictionary(O=action)

    assert len(problems(edited(consent, page_aa), part=2)) == 1
    assert problems(edited(consent, page_aa), part=2)[0].startswith("JavaScript action in object")

    def direct_aa(doc):
        doc.pages[0].obj.AA = pikepdf.Dictionary(
            O=pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="1")
        )

    assert problems(edited(consent, direct_aa), part=2)[0].endswith("/AA")

    def name_tree(doc):
        action = doc.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="1"))
        doc.Root.Names = pikepdf.Dictionary(
            JavaScript=pikepdf.Dictionary(Names=pikepdf.Array(["x", action]))
        )

    found = problems(edited(consent, name_tree), part=2)
    assert "catalogue /Names has a /JavaScript name tree" in found


def test_an_embedded_file_is_refused_below_part_3(consent):
    pdf = edited(consent, attach)
    assert problems(pdf, part=2) == ["1 embedded file(s), allowed only in PDF/A-3"]
    # without `part`, the part the file declares (2) decides
    assert problems(pdf) == ["1 embedded file(s), allowed only in PDF/A-3"]


def test_a_part_3_file_with_its_evidence_record_as_associated_file_passes(consent):
    def good(doc):
        as_part_3(doc)
        attach(doc)

    assert problems(edited(consent, good), part=3) == []


def test_an_embedded_file_without_afrelationship_is_reported(consent):
    def bad(doc):
        as_part_3(doc)
        attach(doc, relationship=False)

    assert problems(edited(consent, bad), part=3) == [
        "embedded file formsvc-evidence.json: its file specification has no /AFRelationship"
    ]


def test_an_embedded_file_not_in_the_catalogue_af_is_reported(consent):
    def bad(doc):
        as_part_3(doc)
        attach(doc, listed=False)

    assert problems(edited(consent, bad), part=3) == [
        "embedded file formsvc-evidence.json: not listed in the catalogue's /AF"
    ]


def test_an_embedded_file_without_mime_type_is_reported(consent):
    def bad(doc):
        as_part_3(doc)
        del attach(doc).EF.F["/Subtype"]

    assert problems(edited(consent, bad), part=3) == [
        "embedded file formsvc-evidence.json: its stream has no /Subtype (MIME type)"
    ]


def test_a_damaged_file_fails_qpdf_check(consent):
    offset = re.search(rb"startxref\s+(\d+)", consent[-64:])
    assert offset
    wrong = str(int(offset[1]) - 7).rjust(len(offset[1]), "0").encode()
    damaged = consent[:-64] + consent[-64:].replace(offset[1], wrong)
    found = problems(damaged, part=2)
    assert len(found) == 1
    assert found[0].startswith("qpdf --check exited 3")


def test_a_trailer_without_id_is_reported(consent):
    trailer = consent.rindex(b"trailer")
    ident = re.search(rb"/ID\s*\[[^\]]*\]", consent[trailer:])
    assert ident
    start, end = trailer + ident.start(), trailer + ident.end()
    no_id = consent[:start] + b" " * (end - start) + consent[end:]
    assert problems(no_id, part=2) == ["trailer has no /ID"]


def test_the_sealed_frozen_pdf_is_still_pdfa_2b(consent, seal_pkcs12, tmp_path):
    # the seal is an incremental update (pyHanko): it must not break what the frozen PDF declares
    path = tmp_path / "seal.p12"
    path.write_bytes(seal_pkcs12)
    sealer = Sealer.from_pkcs12(path, SEAL_PASSPHRASE)
    sealed = sealer.seal(consent, reason="Test", location="Stockholm")
    assert sealed.startswith(consent)
    assert problems(sealed, part=2) == []
