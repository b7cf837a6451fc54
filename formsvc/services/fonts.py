"""DejaVu for the PDFs formsvc draws itself (evidence page, signature marks): fast, embedded.

fpdf2's `add_font` parses the whole TrueType file for every document (DejaVu Sans has 6,000
glyphs: ~30 ms a face here) and, at output, cuts the embedded subset out of it again with every
glyph's bounding box recomputed. Here each face is cut once per process to the characters
Swedish, Nordic and other Latin-script European names and our labels need (`SUBSET_RANGES`,
~750 glyphs) and parsed once; each document gets a copy of that parsed face whose per-document
parts (the widths it measures, the glyphs it uses, the font program, the font descriptor that
output fills in) are its own, so documents drawn at the same time in several threads share
only tables nobody writes. At output (`Output`) the embedded program, the glyphs the document
uses plus a small common Latin set (`_BASE`: most documents then embed the same glyphs), is
cut once per process for each set of glyphs and kept (LRU). Fonts stay embedded, as PDF/A needs.

A document with a character the subset lacks but the full face has (a name in Arabic,
Vietnamese, Greek…) is drawn a second time with the full faces: `render()`.

This leans on fpdf2's `TTFFont`, `SubsetMap` and `OutputProducer._add_fonts` (fpdf2 is pinned;
tests/services/test_fonts.py compares the output with fpdf2's own, pixel for pixel): text
shaping (`set_text_shaping`) must not be used with these fonts.
"""

from __future__ import annotations

import copy
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import OutputProducer

__all__ = [
    "FONT_DIR",
    "MONO",
    "SANS",
    "SANS_BOLD",
    "SUBSET_RANGES",
    "Output",
    "add_fonts",
    "render",
]

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
#: The faces used (file names in FONT_DIR, without .ttf).
SANS, SANS_BOLD, MONO = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"

#: What the per-process subset holds (inclusive code point ranges).
SUBSET_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x024F),  # Latin-1 Supplement, Latin Extended-A and -B (Nordic, German, Polish…)
    (0x02B0, 0x036F),  # spacing modifier letters, combining diacritics (names typed decomposed)
    (0x2000, 0x206F),  # general punctuation: dashes, quotes, bullet, ellipsis
    (0x20AC, 0x20AC),  # euro sign
    (0x2116, 0x2116),  # numero sign
    (0x2122, 0x2122),  # trade mark sign
    (0x2190, 0x2199),  # arrows
    (0x2212, 0x2212),  # minus sign
    (0xFFFD, 0xFFFD),  # replacement character
)
#: Characters every document's embedded font program holds whether it uses them or not, so that
#: most documents embed the same glyphs and the program is cut once per process (_program);
#: a few kB more per face than the glyphs a document uses.
_PROSE = (*range(0x20, 0x7F), *map(ord, "ÅÄÖåäöÉéÜüÆæØø–—‘’“”•…"))
_BASE = {SANS: _PROSE, SANS_BOLD: _PROSE, MONO: tuple(range(0x20, 0x7F))}
#: How many cut font programs a process keeps (each ~10-30 kB).
_PROGRAMS_KEPT = 128


@dataclass(frozen=True)
class _Face:
    program: bytes  #: the TrueType file each document's embedded subset is cut from
    template: TTFFont  #: parsed once; documents get copies, never this one
    cmap: frozenset[int]  #: the code points it has glyphs for


_LOCK = threading.Lock()
_FACES: dict[tuple[str, bool], _Face] = {}
_PROGRAMS: OrderedDict[tuple[str, bool, frozenset[str]], tuple[bytes, dict[str, int]]] = (
    OrderedDict()
)


def add_fonts(pdf: FPDF, faces: Mapping[tuple[str, str], str], *, full: bool = False) -> None:
    """Make each face usable in *pdf* as `set_font(family, style)`: the subset unless *full*.

    *faces* maps (family, style) to a face name, e.g. `{("DejaVu", "B"): SANS_BOLD}`. Write the
    PDF with `render()` (or `output(output_producer_class=Output)`) to reuse cut programs.
    """
    ours = pdf.__dict__.setdefault("_formsvc_faces", {})
    for (family, style), name in faces.items():
        face = _face(name, full)
        font = copy.copy(face.template)
        font.i = len(pdf.fonts) + 1
        font.fontkey = f"{family.lower()}{style}"
        # everything fpdf2 writes while drawing and at output is the document's own
        font.ttfont = ttLib.TTFont(
            io.BytesIO(face.program), lazy=True, recalcBBoxes=False, recalcTimestamp=False
        )
        font.desc = copy.copy(face.template.desc)
        font.cw = face.template.cw.copy()
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font._hbfont = None  # noqa: SLF001 - a fresh copy has no shaping engine
        font.subset = SubsetMap(font)
        for code in _BASE.get(name, ()):
            if code in face.cmap:
                font.subset.pick(code)
        pdf.fonts[font.fontkey] = font
        ours[font.fontkey] = (name, full)


def render(draw: Callable[[bool], FPDF]) -> bytes:
    """The PDF `draw(full)` makes: with the subset faces, or again with the full faces if the
    text has a character only they have (widths differ, so the layout is redone)."""
    pdf = draw(False)
    if _needs_full(pdf):
        pdf = draw(True)
    return bytes(pdf.output(output_producer_class=Output))


class Output(OutputProducer):
    """fpdf2's output, except that the font program of each face added by add_fonts is cut to
    the glyphs the document uses once per process for each set of glyphs (fpdf2 cuts it for
    every document, recomputing every glyph's bounding box)."""

    def _add_fonts(self, *args: Any, **kwargs: Any) -> Any:
        for key, (name, full) in self.fpdf.__dict__.get("_formsvc_faces", {}).items():
            font = self.fpdf.fonts[key]
            glyphs = frozenset(font.subset.get_all_glyph_names())
            font.ttfont.close()
            font.ttfont = _CutProgram(*_program(name, full, glyphs))
        return super()._add_fonts(*args, **kwargs)


class _CutProgram(ttLib.TTFont):
    """A font program already cut to a document's glyphs: fpdf2's own cutting finds nothing to
    do in it (it has no tables), and saving it writes the cut program."""

    def __init__(self, program: bytes, ids: dict[str, int]) -> None:
        super().__init__()
        self.setGlyphOrder(list(ids))
        self._program, self._ids = program, ids

    def getGlyphID(self, glyphName: str) -> int:  # noqa: N802, N803 - fontTools' names
        return self._ids[glyphName]

    def save(self, file: BinaryIO, reorderTables: bool = True) -> None:  # noqa: N803, ARG002
        file.write(self._program)


def _program(name: str, full: bool, glyphs: frozenset[str]) -> tuple[bytes, dict[str, int]]:
    """The face's font program cut to *glyphs*, and each glyph's id in it (kept, LRU)."""
    key = (name, full, glyphs)
    with _LOCK:
        kept = _PROGRAMS.get(key)
        if kept is not None:
            _PROGRAMS.move_to_end(key)
            return kept
    font = ttLib.TTFont(
        io.BytesIO(_face(name, full).program), lazy=True, recalcBBoxes=False, recalcTimestamp=False
    )
    # fpdf2's own options (fpdf/output.py), so the program is the one it would embed
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True)
    options.drop_tables += [
        *("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC"),
        *("EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"),
    ]
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(glyphs=sorted(glyphs))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    cut = (out.getvalue(), {glyph: i for i, glyph in enumerate(font.getGlyphOrder())})
    with _LOCK:
        _PROGRAMS[key] = cut
        while len(_PROGRAMS) > _PROGRAMS_KEPT:
            _PROGRAMS.popitem(last=False)
    return cut


def _needs_full(pdf: FPDF) -> bool:
    """Some text of *pdf* drawn in a subset face has a character its full face has."""
    for key, (name, full) in pdf.__dict__.get("_formsvc_faces", {}).items():
        missing = pdf.fonts[key].missing_glyphs
        if not full and missing and any(code in _face(name, True).cmap for code in missing):
            return True
    return False


def _face(name: str, full: bool) -> _Face:
    """The parsed face, made on first use in this process."""
    face = _FACES.get((name, full))
    if face is None:
        with _LOCK:
            face = _FACES.get((name, full))
            if face is None:
                face = _FACES[(name, full)] = _make_face(name, full)
    return face


def _make_face(name: str, full: bool) -> _Face:
    program = (FONT_DIR / f"{name}.ttf").read_bytes()
    if not full:
        program = _subset(program)
    style = "B" if "Bold" in name else ""
    template = TTFFont(FPDF(), io.BytesIO(program), name.lower(), style)  # type: ignore[arg-type]
    template.ttfont.close()  # each document opens its own
    return _Face(program=program, template=template, cmap=frozenset(template.cmap))


def _subset(program: bytes) -> bytes:
    """*program* cut down to SUBSET_RANGES (outlines, hinting and metrics kept as they are)."""
    font = ttLib.TTFont(io.BytesIO(program), recalcTimestamp=False)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True)
    # fpdf2 draws without OpenType layout; it drops these tables at output too
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "FFTM", "hdmx", "MATH", "kern"]
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=[c for lo, hi in SUBSET_RANGES for c in range(lo, hi + 1)])
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
