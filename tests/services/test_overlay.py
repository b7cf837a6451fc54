"""Signatures drawn on the frozen PDF in an incremental update: the frozen bytes stay (issue 12)."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops, ImageDraw

from formsvc import doctypes
from formsvc.services.conversion import ConverterPool, ConverterSettings, get_pool
from formsvc.services.overlay import (
    Mark,
    OverlayError,
    mark_as_draft,
    original_revision,
    overlay_marks,
)
from formsvc.services.rendering import render_docx
from formsvc.services.signature_places import Place, find_places
from tests.conftest import CONVERTER_PORT

REGISTRY = doctypes.discover()
SIGNED = sorted(s for s, t in REGISTRY.items() if t.signers(doctypes.sample_input(t)))


@pytest.fixture(scope="module")
def pool(converter_root: Path) -> ConverterPool:
    return get_pool(
        ConverterSettings(base_port=CONVERTER_PORT, profile_root=str(converter_root), timeout=120)
    )


@pytest.fixture(scope="module")
def frozen(pool) -> dict[str, bytes]:
    """Each signed type's sample as it is frozen when sent (PDF/A, no signatures)."""
    out = {}
    for slug in SIGNED:
        dtype = REGISTRY[slug]
        context = dtype.build_context(doctypes.sample_input(dtype))
        out[slug] = pool.convert(render_docx(dtype.template_path.read_bytes(), context), pdfa=True)
    return out


def drawn_signature() -> bytes:
    img = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).line(
        [(10, 150), (150, 40), (300, 160), (450, 30), (590, 120)], fill=(20, 30, 120, 255), width=9
    )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def marks_for(slots: list[str]) -> dict[str, Mark]:
    """A drawn signature for the first signer, typed-only for the others."""
    return {
        slot: Mark(
            name=f"Namn Förnamnsson {i}",
            signed=f"Stockholm 2026-12-0{i + 1}",
            image=drawn_signature() if i == 0 else None,
            method="e-signerad på plats",
        )
        for i, slot in enumerate(slots)
    }


def words(pdf: bytes, tmp_path: Path) -> list[tuple[int, float, float, float, float, str]]:
    """(page, x0, y0, x1, y1, word) in PDF space, from poppler's pdftotext -bbox."""
    path = tmp_path / "w.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    out, page, height = [], -1, 0.0
    for line in html.splitlines():
        if m := re.search(r'<page width="([\d.]+)" height="([\d.]+)"', line):
            page, height = page + 1, float(m[2])
        elif m := re.search(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>', line
        ):
            x0, top, x1, bottom = (float(m[i]) for i in range(1, 5))
            out.append((page, x0, height - bottom, x1, height - top, m[5]))
    return out


def page_width(pdf: bytes, page: int) -> float:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return float(doc.pages[page].mediabox[2])


def raster(pdf: bytes, page: int, tmp_path: Path, name: str) -> Image.Image:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "50",
            "-png",
            "-f",
            str(page + 1),
            "-l",
            str(page + 1),
            "-singlefile",
            str(path),
            str(tmp_path / name),
        ],
        check=True,
        timeout=60,
    )
    return Image.open(tmp_path / f"{name}.png").convert("RGB")


@pytest.mark.converter
@pytest.mark.parametrize("slug", SIGNED)
def test_the_frozen_pdf_stays_byte_for_byte_and_each_mark_is_in_its_place(frozen, slug, tmp_path):
    body = frozen[slug]
    places = find_places(body)
    marks = marks_for(sorted(places))

    out = overlay_marks(body, places, marks)

    assert out[: len(body)] == body
    assert original_revision(out) == body
    assert hashlib.sha256(original_revision(out)).hexdigest() == hashlib.sha256(body).hexdigest()
    with pikepdf.open(io.BytesIO(out)) as pdf:  # libqpdf's own check, as `qpdf --check`
        assert pdf.check_pdf_syntax() == []
        with pikepdf.open(io.BytesIO(body)) as original:
            assert len(pdf.pages) == len(original.pages)
    found = words(out, tmp_path)
    for slot, mark in marks.items():
        place = places[slot]
        for expected in [*mark.name.split(), *mark.signed.split(), *mark.method.split()]:
            hits = [w for w in found if w[5] == expected and w[0] == place.page]
            inside = [
                w
                for w in hits
                if place.x0 - 0.5 <= w[1]
                and w[3] <= place.x1 + 0.5
                and place.y0 - 3 <= w[2]
                and w[4] <= place.y1 + 0.5
            ]
            assert inside, (slot, expected, place, hits)
    # ink appears only inside the places: every other pixel is as in the frozen PDF
    for page in sorted({p.page for p in places.values()}):
        before = raster(body, page, tmp_path, "before")
        after = raster(out, page, tmp_path, "after")
        scale = before.width / page_width(body, page)
        mask = Image.new("L", before.size, 255)
        draw = ImageDraw.Draw(mask)
        for place in places.values():
            if place.page == page:
                top = before.height - place.y1 * scale
                draw.rectangle(
                    [
                        place.x0 * scale - 2,
                        top - 2,
                        place.x1 * scale + 2,
                        before.height - place.y0 * scale + 4,
                    ],
                    fill=0,
                )
        diff = ImageChops.difference(before, after).convert("L")
        outside = ImageChops.multiply(diff, mask)
        assert outside.getbbox() is None, (page, outside.getbbox())
        assert diff.getbbox() is not None  # and the marks did change the page


@pytest.mark.converter
@pytest.mark.parametrize("slug", SIGNED)
def test_the_name_goes_under_underskrift_and_place_date_and_method_under_ort_och_datum(
    frozen, slug, tmp_path
):
    body = frozen[slug]
    places = find_places(body)
    marks = marks_for(sorted(places))
    before, after = words(body, tmp_path), words(overlay_marks(body, places, marks), tmp_path)
    for slot, mark in marks.items():
        place = places[slot]
        # the template's caption "Ort och datum" just under the place starts its right column
        (column,) = {
            round(w[1], 1)
            for w in before
            if w[5] == "Ort" and w[0] == place.page and place.y0 - 20 <= w[4] <= place.y0 + 1
        }

        def drawn(word: str, place: Place = place) -> tuple[int, float, float, float, float, str]:
            (hit,) = [
                w
                for w in after
                if w[5] == word
                and w[0] == place.page
                and place.x0 - 0.5 <= w[1]
                and w[3] <= place.x1 + 0.5
                and place.y0 - 3 <= w[2]
                and w[4] <= place.y1 + 0.5
            ]
            return hit

        for word in mark.name.split():
            assert drawn(word)[3] < column, (slug, slot, word)
        city, day = mark.signed.split()
        method = drawn("e-signerad")
        assert abs(drawn(city)[1] - column) < 1 and abs(method[1] - column) < 1, (slug, slot)
        assert drawn(day)[1] > drawn(city)[3]  # "Stockholm 2026-12-0n" on one line …
        assert abs(drawn(day)[2] - drawn(city)[2]) < 0.5
        assert method[4] <= drawn(city)[2]  # … and the method on its own line below


@pytest.mark.converter
def test_a_drawn_signature_lands_in_its_place(frozen, tmp_path):
    body = frozen["consent"]
    places = find_places(body)
    slot = "guardian1"
    out = overlay_marks(body, places, {slot: Mark("X", "y", drawn_signature())})
    place = places[slot]
    before = raster(body, place.page, tmp_path, "b")
    after = raster(out, place.page, tmp_path, "a")
    scale = before.width / page_width(body, place.page)
    left = place.x0 * scale
    box = ImageChops.difference(before, after).getbbox()
    assert box is not None
    # the ink starts at the place's left edge and stays within its height
    assert abs(box[0] - left) < 4
    assert box[1] >= before.height - place.y1 * scale - 2
    assert box[3] <= before.height - place.y0 * scale + 4


def test_no_marks_returns_the_frozen_pdf():
    assert overlay_marks(b"%PDF-1.7 anything", {}, {}) == b"%PDF-1.7 anything"


def test_a_mark_without_a_place_is_refused():
    with pytest.raises(OverlayError, match="guardian2"):
        overlay_marks(b"%PDF-1.7", {}, {"guardian2": Mark("A", "b")})


@pytest.mark.converter
def test_a_broken_image_is_refused_and_hostile_text_printed_as_typed(frozen, tmp_path):
    body = frozen["consent"]
    places = find_places(body)
    with pytest.raises(OverlayError):
        overlay_marks(body, places, {"participant": Mark("A", "b", b"\x89PNG not really")})
    hostile = "Anna {nb} <b>\x07Bo</b>"
    out = overlay_marks(body, places, {"participant": Mark(hostile, "e-signerad")})
    assert out[: len(body)] == body
    texts = [w[5] for w in words(out, tmp_path)]
    assert "{nb}" in texts and "&lt;b&gt;Bo&lt;/b&gt;" in texts


def test_original_revision_of_garbage_is_refused():
    with pytest.raises(OverlayError):
        original_revision(b"not a pdf")


def test_a_place_outside_the_box_is_still_only_an_addition(tmp_path):
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    raw = io.BytesIO()
    pdf.save(raw)
    body = raw.getvalue()
    out = overlay_marks(body, {"a": Place(0, 10, 10, 200, 44)}, {"a": Mark("Åsa", "signerad")})
    assert out[: len(body)] == body
    assert original_revision(out) == body


# --------------------------------------------------------------------------- the draft mark


def reddish(img: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels in *box* clearly redder than they are green or blue (the mark's colour)."""
    return sum(1 for r, g, b in img.crop(box).get_flattened_data() if r > g + 40 and r > b + 40)


@pytest.mark.converter
def test_every_page_of_a_draft_says_utkast_in_a_band_and_across_the_page(frozen, tmp_path):
    body = frozen["consent"]
    out = mark_as_draft(body)
    with pikepdf.open(io.BytesIO(out)) as doc:
        count = len(doc.pages)
    assert count >= 3
    band = [w for w in words(out, tmp_path) if w[5] == "UTKAST"]
    # one band per page, centred at the top
    assert sorted(w[0] for w in band) == list(range(count))
    for page, x0, _y0, x1, y1, _ in band:
        width = page_width(out, page)
        assert abs((x0 + x1) / 2 - width / 2) < 60, (x0, x1)
        assert y1 > 842 - 20  # above the page's own header
    for page in range(count):
        before, after = (
            raster(body, page, tmp_path, f"b{page}"),
            raster(out, page, tmp_path, f"a{page}"),
        )
        w, h = after.size
        assert reddish(before, (0, 0, w, h)) == 0  # no red anywhere on the frozen page
        assert reddish(after, (0, 0, w, h // 40)) > 100, page  # the band
        # the faint diagonal: across the middle of the page, far from the band
        centre = (w // 4, h * 3 // 8, w * 3 // 4, h * 5 // 8)
        assert ImageChops.difference(before.crop(centre), after.crop(centre)).getbbox(), page
    # the tags of the frozen PDF are kept; the mark is an artifact, not part of its text
    with pikepdf.open(io.BytesIO(out)) as doc:
        assert "/StructTreeRoot" in doc.Root and doc.Root.MarkInfo.Marked


def test_pages_of_different_sizes_each_get_a_mark_of_their_size(tmp_path):
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.add_blank_page(page_size=(842, 595))
    pdf.add_blank_page(page_size=(595, 842))
    raw = io.BytesIO()
    pdf.save(raw)
    out = mark_as_draft(raw.getvalue())
    band = {w[0]: w for w in words(out, tmp_path) if w[5] == "UTKAST"}
    assert sorted(band) == [0, 1, 2]
    for page, width in ((0, 595), (1, 842), (2, 595)):
        x0, x1 = band[page][1], band[page][3]
        assert abs((x0 + x1) / 2 - width / 2) < 60, (page, x0, x1)
        assert band[page][4] > (842 if width == 595 else 595) - 20  # at the very top


def test_a_draft_mark_of_garbage_is_refused_and_hostile_text_drawn_as_typed(tmp_path):
    with pytest.raises(OverlayError):
        mark_as_draft(b"%PDF-1.7 not really")
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    raw = io.BytesIO()
    pdf.save(raw)
    out = mark_as_draft(raw.getvalue(), "{nb} <b>\x07PROV</b>")
    texts = [w[5] for w in words(out, tmp_path)]
    assert "{nb}" in texts and "&lt;b&gt;PROV&lt;/b&gt;" in texts
