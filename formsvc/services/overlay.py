"""Signatures drawn onto the frozen PDF without re-rendering it (issue 12, ADR 013).

The frozen PDF is kept byte for byte: the marks are added in an incremental update (pyHanko's
IncrementalPdfFileWriter), so the output starts with exactly the frozen bytes and the original
revision, and its SHA-256, can be recovered from the result. Each mark is drawn by fpdf2 on a
blank page of the same size (embedded DejaVu subset, as the evidence page), imported as a form
XObject and painted over the page after the page's own content, which is wrapped in q … Q so
its graphics state cannot shift the marks.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from fpdf import FPDF
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from formsvc.services import fonts
from formsvc.services.signature_places import Place

__all__ = [
    "DRAFT_MARK",
    "Mark",
    "OverlayError",
    "add_marks",
    "mark_as_draft",
    "original_revision",
    "overlay_marks",
]

MM = 72 / 25.4
#: The drawn signature gets at most this much of the place's width (the templates' 45 mm).
IMAGE_MAX_WIDTH = 45 * MM
GAP = 3 * MM
#: Where the "Ort och datum" part of a place starts, as a share of the place's width. Our
#: signature row (scripts/docx_kit.py: signature_block) is 95 + 10 + 65 mm; the caption "Ort och
#: datum" stands 105 mm (297.6 pt) right of the marker in every frozen PDF (`pdftotext -bbox`),
#: so 105/170. A share rather than millimetres, so an uploaded template's narrower place keeps
#: the two parts in proportion.
DATE_COLUMN = 105 / 170
NAME_SIZE, SIGNED_SIZE, METHOD_SIZE, MIN_SIZE = 9.0, 9.0, 7.5, 4.0
#: What every page of a draft or preview says (issue 13): in the documents' language, Swedish.
DRAFT_MARK = "UTKAST – inte underskrivet"
#: The band at the top of each draft page: its text size and height (points), and its colours.
BAND_SIZE, BAND_HEIGHT = 9.0, 5 * MM
DRAFT_RED, BAND_FILL = (176, 0, 32), (255, 228, 228)
#: The diagonal mark is faint, so the draft stays readable under it.
DIAGONAL_OPACITY = 0.16
# Marked content around the painted mark: an artifact (a watermark) to a screen reader, so the
# tagged PDF's reading order is the document's own; the page showing the draft says "utkast".
_WATERMARK_BDC = b"/Artifact <</Type /Pagination /Subtype /Watermark>> BDC"
# C0 controls except tab and newline, DEL, C1 controls and lone surrogates (unencodable in a PDF)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class OverlayError(Exception):
    """The marks could not be added (a slot without a place, a broken image or PDF)."""


@dataclass(frozen=True)
class Mark:
    """What a signer's place shows once they have signed: the drawing and the name in the
    signature part, *signed* and *method* on two lines in the "Ort och datum" part."""

    name: str  #: the name the signature is attributed to
    signed: str  #: the "Ort och datum" line, e.g. "Stockholm 2026-12-07" or "2026-12-07"
    image: bytes | None = None  #: drawn signature (PNG), if any
    method: str = ""  #: on its own line under *signed*, e.g. "e-signerad på plats"


def overlay_marks(frozen: bytes, places: Mapping[str, Place], marks: Mapping[str, Mark]) -> bytes:
    """*frozen* with each mark drawn in its slot's place, appended as an incremental update."""
    _check_places(places, marks)
    if not marks:
        return frozen
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(frozen), strict=False)
    except Exception as exc:  # pyHanko raises many kinds on a bad PDF
        raise OverlayError(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    add_marks(writer, places, marks)
    out = io.BytesIO()
    try:
        writer.write(out)
    except Exception as exc:
        raise OverlayError(f"the marks could not be added: {type(exc).__name__}: {exc}") from exc
    return out.getvalue()


def add_marks(
    writer: IncrementalPdfFileWriter, places: Mapping[str, Place], marks: Mapping[str, Mark]
) -> None:
    """Draw each mark in its slot's place on *writer*'s pages; the caller writes (or seals) it.

    The page's own content streams are wrapped in q … Q, never rewritten (ADR 013)."""
    _check_places(places, marks)
    try:
        by_page: dict[int, list[tuple[Place, Mark]]] = {}
        for slot, mark in marks.items():
            by_page.setdefault(places[slot].page, []).append((places[slot], mark))
        for page_ix, items in sorted(by_page.items()):
            page_ref, _ = writer.find_page_for_modification(page_ix)
            box = [float(v) for v in page_ref.get_object()["/MediaBox"]]
            drawn = PdfFileReader(io.BytesIO(_draw(box, items)), strict=False)
            xobject = writer.import_page_as_xobject(drawn, page_ix=0)
            resources = generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/FsvcMarks"): xobject})}
            )
            before = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
            writer.add_stream_to_page(page_ix, before, prepend=True)
            paint = b"\nQ\nq 1 0 0 1 %.4f %.4f cm /FsvcMarks Do Q\n" % (box[0], box[1])
            after = writer.add_object(generic.StreamObject(stream_data=paint))
            writer.add_stream_to_page(page_ix, after, resources=resources)
    except OverlayError:
        raise
    except Exception as exc:  # pyHanko, fpdf2 and Pillow raise many kinds
        raise OverlayError(f"the marks could not be added: {type(exc).__name__}: {exc}") from exc


def mark_as_draft(pdf: bytes, text: str = DRAFT_MARK) -> bytes:
    """*pdf* with *text* on every page: in a red band along the top and large and faint across
    the page, so no page of a draft or preview passes for the document sent or signed.

    Drawn as the signature marks are (a page drawn by fpdf2, painted over each page's own
    content, wrapped in q … Q), in an incremental update; a draft has no signature to keep, the
    update is only the cheapest way to add to every page without rewriting it."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        count = int(writer.root["/Pages"]["/Count"])
    except Exception as exc:  # pyHanko raises many kinds on a bad PDF
        raise OverlayError(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    try:
        drawn: dict[tuple[float, ...], tuple[str, generic.IndirectObject]] = {}
        for page_ix in range(count):
            page_ref, _ = writer.find_page_for_modification(page_ix)
            page = page_ref.get_object()
            box = tuple(float(v) for v in page["/MediaBox"])
            if box not in drawn:  # one drawing per page size, shared by its pages
                mark = PdfFileReader(io.BytesIO(_draw_draft(list(box), text)), strict=False)
                drawn[box] = (
                    f"/FsvcDraft{len(drawn)}",
                    writer.import_page_as_xobject(mark, page_ix=0),
                )
            name, xobject = drawn[box]
            before = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
            writer.add_stream_to_page(page_ix, before, prepend=True)
            paint = b"\nQ\nq 1 0 0 1 %.4f %.4f cm %s %s Do EMC Q\n" % (
                box[0],
                box[1],
                _WATERMARK_BDC,
                name.encode(),
            )
            after = writer.add_object(generic.StreamObject(stream_data=paint))
            # LibreOffice's pages share one resource dictionary: name the drawing there once
            res = page.get("/Resources")
            res = res.get_object() if res is not None else {}
            has = "/XObject" in res and name in res["/XObject"]
            resources = generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name(name): xobject})}
            )
            writer.add_stream_to_page(page_ix, after, resources=None if has else resources)
        out = io.BytesIO()
        writer.write(out)
    except Exception as exc:  # pyHanko and fpdf2 raise many kinds
        raise OverlayError(
            f"the draft mark could not be added: {type(exc).__name__}: {exc}"
        ) from exc
    return out.getvalue()


def _draw_draft(box: list[float], text: str) -> bytes:
    """One page the size of *box*: *text* in a band along the top and once across the page."""
    width, height = box[2] - box[0], box[3] - box[1]
    text = _clean(text)

    def draw(full_fonts: bool) -> FPDF:
        pdf = FPDF(unit="pt", format=(width, height))
        pdf.set_margins(0, 0, 0)
        pdf.set_auto_page_break(False)
        pdf.alias_nb_pages(None)
        fonts.add_fonts(
            pdf, {("DejaVu", ""): fonts.SANS, ("DejaVu", "B"): fonts.SANS_BOLD}, full=full_fonts
        )
        pdf.add_page()
        pdf.set_fill_color(*BAND_FILL)
        pdf.rect(0, 0, width, BAND_HEIGHT, style="F")
        pdf.set_text_color(*DRAFT_RED)
        pdf.set_font("DejaVu", "B", BAND_SIZE)
        size = _fit(pdf, text, BAND_SIZE, width - 2 * GAP)
        pdf.set_font("DejaVu", "B", size)
        pdf.text((width - pdf.get_string_width(text)) / 2, BAND_HEIGHT / 2 + size * 0.35, text)
        # across the page, corner to corner, as large as fits along the diagonal
        angle = math.degrees(math.atan2(height, width))
        pdf.set_font("DejaVu", "B", 100)
        size = 100 * 0.8 * math.hypot(width, height) / max(pdf.get_string_width(text), 1)
        pdf.set_font("DejaVu", "B", size)
        cx, cy = width / 2, height / 2
        with pdf.local_context(fill_opacity=DIAGONAL_OPACITY), pdf.rotation(angle, cx, cy):
            pdf.text(cx - pdf.get_string_width(text) / 2, cy + size * 0.35, text)
        return pdf

    return fonts.render(draw)


def _check_places(places: Mapping[str, Place], marks: Mapping[str, Mark]) -> None:
    missing = sorted(set(marks) - set(places))
    if missing:
        raise OverlayError(f"no signature place for {', '.join(missing)}")


def original_revision(pdf: bytes) -> bytes:
    """The first revision of *pdf* (up to and including its first %%EOF line): the frozen PDF."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        end = reader.xrefs.get_xref_container_info(0).end_location
    except Exception as exc:
        raise OverlayError(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    eof = pdf.find(b"%%EOF", end)
    if eof < 0:
        raise OverlayError("the first revision has no end")
    eof += len(b"%%EOF")
    for newline in (b"\r\n", b"\n", b"\r"):
        if pdf.startswith(newline, eof):
            return pdf[: eof + len(newline)]
    return pdf[:eof]


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub("", text)


def _draw(box: list[float], items: list[tuple[Place, Mark]]) -> bytes:
    """One page the size of *box* with each mark laid out in its place (points, PDF space)."""
    width, height = box[2] - box[0], box[3] - box[1]

    def draw(full_fonts: bool) -> FPDF:
        pdf = FPDF(unit="pt", format=(width, height))
        pdf.set_margins(0, 0, 0)
        pdf.set_auto_page_break(False)
        pdf.alias_nb_pages(None)  # a name such as "{nb}" prints as typed
        fonts.add_fonts(pdf, {("DejaVu", ""): fonts.SANS}, full=full_fonts)
        pdf.add_page()
        _lay_out(pdf, height, box, items)
        return pdf

    return fonts.render(draw)


def _lay_out(pdf: FPDF, height: float, box: list[float], items: list[tuple[Place, Mark]]) -> None:
    """Draw each mark in its place on the current page: the drawing and the name left of
    DATE_COLUMN, place and date with the method on the line below right of it."""
    for place, mark in items:
        # fpdf2 measures from the top left; the place is in PDF space relative to the box
        left, right = place.x0 - box[0], place.x1 - box[0]
        top, bottom = height - (place.y1 - box[1]), height - (place.y0 - box[1])
        split = left + (right - left) * DATE_COLUMN
        # text sits just above the signature line, as the template's own text would
        baseline = bottom - 2
        text_left = left
        if mark.image:
            room_w, room_h = min(IMAGE_MAX_WIDTH, (split - left) / 2), bottom - top
            with Image.open(io.BytesIO(mark.image)) as img:
                img_w, img_h = img.size
            scale = min(room_w / img_w, room_h / img_h)
            w, h = img_w * scale, img_h * scale
            pdf.image(io.BytesIO(mark.image), x=left, y=bottom - h, w=w, h=h)
            text_left = left + room_w + GAP
        _line(pdf, _clean(mark.name), NAME_SIZE, text_left, baseline, split - GAP - text_left)
        lines = [(_clean(mark.signed), SIGNED_SIZE), (_clean(mark.method), METHOD_SIZE)]
        for text, size in reversed([(t, s) for t, s in lines if t]):
            drawn = _line(pdf, text, size, split, baseline, right - split)
            baseline -= drawn * 1.25


def _line(pdf: FPDF, text: str, size: float, x: float, baseline: float, room: float) -> float:
    """*text* on one line from *x*, shrunk (down to MIN_SIZE) or cut to *room*; its size."""
    size = _fit(pdf, text, size, room)
    pdf.set_font("DejaVu", "", size)
    pdf.text(x, baseline, _truncate(pdf, text, room))
    return size


def _fit(pdf: FPDF, text: str, size: float, room: float) -> float:
    """The largest size down to MIN_SIZE at which *text* fits in *room* points."""
    pdf.set_font("DejaVu", "", size)
    natural = pdf.get_string_width(text)
    if natural <= room or not natural:
        return size
    return max(MIN_SIZE, size * room / natural)


def _truncate(pdf: FPDF, text: str, room: float) -> str:
    """*text*, cut with an ellipsis if it is still wider than *room* at the current size."""
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "…") > room:
        text = text[:-1]
    return text + "…"
