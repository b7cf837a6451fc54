"""Signature places found in the frozen PDF: every signed type, real LibreOffice (ADR 013)."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from pypdf import PdfReader

from formsvc import doctypes
from formsvc.services.conversion import ConverterPool, ConverterSettings, get_pool
from formsvc.services.rendering import render_docx
from formsvc.services.signature_places import MARKER, PlacesError, find_places
from tests.conftest import CONVERTER_PORT
from tests.helpers import pdf_words

REGISTRY = doctypes.discover()
SIGNED = {slug: t for slug, t in REGISTRY.items() if t.signers(doctypes.sample_input(t))}


@pytest.fixture(scope="module")
def pool(converter_root: Path) -> ConverterPool:
    return get_pool(
        ConverterSettings(base_port=CONVERTER_PORT, profile_root=str(converter_root), timeout=120)
    )


def frozen_pdf(pool: ConverterPool, dtype: doctypes.DocumentType) -> bytes:
    """The sample document of *dtype* as it is frozen when sent (PDF/A, no signatures yet)."""
    context = dtype.build_context(doctypes.sample_input(dtype))
    return pool.convert(render_docx(dtype.template_path.read_bytes(), context), pdfa=True)


def markers_by_pypdf(pdf: bytes) -> dict[str, tuple[int, float, float]]:
    """The markers' origins by pypdf's general (slow) text extraction: an independent reading."""
    found = {}
    for index, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        pieces: list[tuple[str, float, float]] = []

        def visit(text, cm, tm, _font, _size, pieces=pieces):
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            pieces.extend((c, x, y) for c in text)

        page.extract_text(visitor_text=visit)
        text = "".join(c for c, _, _ in pieces)
        for match in MARKER.finditer(text):
            _, x, y = pieces[match.start()]
            found[match[1]] = (index, x, y)
    return found


def test_the_signed_types_are_the_five_known_ones():
    # a new signed type must get its places from its template too: this list makes it noticed
    assert set(SIGNED) == {
        "action_plan",
        "consent",
        "info_letter",
        "security_talk",
        "threat_assessment",
    }


@pytest.mark.converter
@pytest.mark.parametrize("slug", sorted(SIGNED))
def test_every_declared_signer_has_a_place_inside_its_page(pool, slug):
    dtype = SIGNED[slug]
    pdf = frozen_pdf(pool, dtype)
    slots = [s.key for s in dtype.signers(doctypes.sample_input(dtype))]

    places = find_places(pdf)

    assert sorted(places) == sorted(slots)
    reader = PdfReader(io.BytesIO(pdf))
    for key, place in places.items():
        box = reader.pages[place.page].mediabox
        assert box.left <= place.x0 < place.x1 <= box.right, key
        assert box.bottom <= place.y0 < place.y1 <= box.top, key
        # 170 x 12 mm: the signature row of the templates' signature block
        assert place.x1 - place.x0 == pytest.approx(170 * 72 / 25.4)
        assert place.y1 - place.y0 == pytest.approx(12 * 72 / 25.4)
    # the fast reader agrees with pypdf's general text extraction
    independent = markers_by_pypdf(pdf)
    assert sorted(independent) == sorted(places)
    for key, (page, x, y) in independent.items():
        assert places[key].page == page
        assert places[key].x0 == pytest.approx(x, abs=0.01)
        assert places[key].y0 == pytest.approx(y, abs=0.01)
    # places of different signers do not overlap
    ordered = sorted(places.values(), key=lambda p: (p.page, -p.y1))
    for upper, lower in zip(ordered, ordered[1:], strict=False):
        assert upper.page != lower.page or lower.y1 <= upper.y0


@pytest.mark.converter
def test_the_place_is_just_above_the_signature_caption(pool):
    pdf = frozen_pdf(pool, SIGNED["consent"])
    places = find_places(pdf)
    captions = []
    for index, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):

        def visit(text, cm, tm, _font, _size, index=index):
            if text.strip() == "Underskrift":
                captions.append((index, tm[5] * cm[3] + cm[5]))

        page.extract_text(visitor_text=visit)
    for place in places.values():
        below = [y for page, y in captions if page == place.page and y < place.y0]
        assert below, place
        assert place.y0 - max(below) < 15  # the caption sits under the signature line


def test_a_pdf_without_markers_has_no_places():
    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    assert find_places(out.getvalue()) == {}


@pytest.mark.converter
def test_places_are_found_next_to_drawn_signature_images(pool):
    # the old finalise path renders the images into the same cell; LibreOffice places them
    # with `cm`, which must not hide or move the markers
    dtype = SIGNED["consent"]
    sample = doctypes.sample_input(dtype)
    png = io.BytesIO()
    Image.new("RGB", (300, 100), "navy").save(png, "PNG")
    marks = {
        s.key: doctypes.SignatureMark(s.name or "X", "2026-12-07 (e-signerad)", png.getvalue())
        for s in dtype.signers(sample)
    }
    ri = dataclasses.replace(sample, signatures=marks)
    pdf = pool.convert(
        render_docx(dtype.template_path.read_bytes(), dtype.build_context(ri)), pdfa=True
    )
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert b" cm" in doc.pages[-1].obj.Contents.read_bytes()
    assert sorted(find_places(pdf)) == sorted(marks)
    assert sorted(markers_by_pypdf(pdf)) == sorted(marks)


@pytest.mark.converter
def test_a_slot_with_two_places_is_refused(pool):
    dtype = SIGNED["consent"]
    context = dtype.build_context(doctypes.sample_input(dtype))
    context["signers"] = [context["signers"][0], context["signers"][0]]
    pdf = pool.convert(render_docx(dtype.template_path.read_bytes(), context), pdfa=True)
    with pytest.raises(PlacesError):
        find_places(pdf)


def test_garbage_is_refused():
    with pytest.raises(PlacesError):
        find_places(b"%PDF-1.7\nnot really")


@pytest.mark.converter
def test_pages_beyond_the_cap_are_not_read(pool):
    pdf = frozen_pdf(pool, SIGNED["consent"])
    places = find_places(pdf)
    last = max(p.page for p in places.values())
    assert find_places(pdf, max_pages=last) == {k: p for k, p in places.items() if p.page < last}
    assert find_places(pdf, max_pages=last + 1) == places


#: The heading each signed type's signature section starts with (info_letter: its receipt has none).
SECTION_HEADING = {
    "action_plan": "Underskrifter",
    "consent": "Underskrifter",
    "info_letter": None,
    "security_talk": "Underskrifter",
    "threat_assessment": "Underskrift",
}


def pushed_down(docx: bytes, lines: int, heading: str | None) -> bytes:
    """*docx* with *lines* one-line paragraphs before its signature section, which moves it
    down the page: as longer answers in a real document do."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                xml = data.decode()
                at = xml.index(f"<w:t>{heading}</w:t>" if heading else "{%p for signer in signers")
                at = xml.rindex("<w:p>", 0, at)
                data = (
                    xml[:at] + "<w:p><w:r><w:t>rad</w:t></w:r></w:p>" * lines + xml[at:]
                ).encode()
            dst.writestr(item, data)
    return out.getvalue()


@pytest.mark.converter
@pytest.mark.parametrize("slug", sorted(SIGNED))
def test_a_signature_section_goes_to_a_page_whole_wherever_it_falls(pool, slug):
    # issue 13: the heading and statements stay with the first block, no block splits, and no
    # block is left alone on a page. Pushing the section down by 0..57 lines in steps of 3
    # puts a page break at every height of it (LibreOffice showed a lone last block at 3..30
    # lines for action plan, consent and security talk before the blocks were chained).
    dtype = SIGNED[slug]
    context = dtype.build_context(doctypes.sample_input(dtype))
    heading = SECTION_HEADING[slug]
    for lines in range(0, 60, 3):
        docx = render_docx(pushed_down(dtype.template_path.read_bytes(), lines, heading), context)
        pdf = pool.convert(docx, pdfa=True)
        places = find_places(pdf)
        words = pdf_words(pdf)
        pages = {p.page for p in places.values()}
        assert len(pages) == 1, (lines, places)
        (page,) = pages
        if heading:
            assert any(w[0] == page and w[5] == heading for w in words), lines
        for signer in context["signers"]:
            place = places[signer["key"]]
            above = [w for w in words if w[0] == page and place.y1 < w[2] < place.y1 + 30]
            below = [w for w in words if w[0] == page and place.y0 - 60 < w[4] < place.y0]
            assert signer["role"].split()[0] in [w[5] for w in above], (lines, signer["key"])
            assert "Namnförtydligande" in [w[5] for w in below], (lines, signer["key"])
