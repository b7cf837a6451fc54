"""Where each signer signs, read from the frozen PDF itself (ADR 013).

The Word templates put a marker in each signer's signature row: white 1 pt text
``[[sig:<slot key>:<width>x<height>]]`` (width and height in mm). LibreOffice keeps it as text, so
it is found here by its position: the place is the rectangle of that size whose lower-left corner
is the marker's left edge on its baseline (just above the signature line). Coordinates are PDF
user space (points, origin lower left) of the page the marker is on.

Full text extraction (pypdf) costs about 0.5 s for a three-page consent, so this reads the page
content the way LibreOffice writes it: each text run is one ``BT … ET`` object that starts at a
``Td`` in page space and shows hex strings of a font with a ToUnicode map. Only objects set in a
1 pt font are decoded. tests/services/test_signature_places.py checks the result against pypdf's
general extraction for every signed document type.

Only our own frozen PDF is read, but the number of pages looked at is capped anyway.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pikepdf

__all__ = ["MARKER", "MAX_PAGES", "Place", "PlacesError", "find_places"]

#: Pages looked at; a document of this service has a handful (the marker is near the end).
MAX_PAGES = 200
MM = 72 / 25.4
#: The marker as the templates write it (scripts/docx_kit.py: SIGNATURE_PLACE_MARKER).
MARKER = re.compile(r"\[\[sig:([A-Za-z0-9_-]{1,40}):(\d{1,3})x(\d{1,3})\]\]")

_TEXT_OBJECT = re.compile(rb"\bBT\b(.*?)\bET\b", re.S)
_TINY_FONT = re.compile(rb"/([^\s/\[\]<>()]+)\s+1(?:\.0*)?\s+Tf")
_NUM = rb"(-?\d*\.?\d+)"
_TD = re.compile(_NUM + rb"\s+" + _NUM + rb"\s+Td\b")
_TM = re.compile(rb"\s+".join([_NUM] * 6) + rb"\s+Tm\b")
_HEX = re.compile(rb"<([0-9A-Fa-f\s]*)>")
_STATE = re.compile(rb"\b(q|Q|cm)\b")
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_PAIR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")


class PlacesError(Exception):
    """The PDF cannot be read for signature places, or a slot has two."""

    def __init__(self, message: str, *, reason: str = "unreadable", slot: str = "") -> None:
        super().__init__(message)
        #: "unreadable", "duplicate" (*slot* is marked twice) or "transformed" (a marker drawn
        #: under a `cm`, e.g. in a text box or rotated)
        self.reason = reason
        self.slot = slot


@dataclass(frozen=True)
class Place:
    """A signature place: page index (0-based) and rectangle in PDF user space (points)."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


def find_places(pdf: bytes, *, max_pages: int = MAX_PAGES) -> dict[str, Place]:
    """Slot key -> its place, for every marker in the first *max_pages* pages of *pdf*."""
    places: dict[str, Place] = {}
    try:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            for index, page in enumerate(doc.pages):
                if index >= max_pages:
                    break
                for key, place in _page_places(page, index):
                    if key in places:
                        raise PlacesError(
                            f"two signature places for {key!r}", reason="duplicate", slot=key
                        )
                    places[key] = place
    except pikepdf.PdfError as exc:
        raise PlacesError(f"not a readable PDF: {exc}") from exc
    return places


def _page_places(page: pikepdf.Page, index: int) -> list[tuple[str, Place]]:
    """The markers on one page, with their places."""
    content = page.obj.get("/Contents")
    if content is None:
        return []
    streams = content if isinstance(content, pikepdf.Array) else [content]
    data = b"\n".join(s.read_bytes() for s in streams)
    transformed = _transformed_spans(data)
    fonts = page.obj.get("/Resources", {}).get("/Font", {})
    found = []
    maps: dict[str, dict[bytes, str] | None] = {}
    for block in _TEXT_OBJECT.finditer(data):
        body = block.group(1)
        tiny = _TINY_FONT.search(body)
        if tiny is None:
            continue
        name = tiny.group(1).decode("latin-1")
        if name not in maps:
            maps[name] = _to_unicode(fonts.get("/" + name))
        cmap = maps[name]
        if not cmap:
            continue
        text = "".join(_decode(h, cmap) for h in _HEX.findall(body[tiny.end() :]))
        match = MARKER.search(text)
        if match is None:
            continue
        if any(start <= block.start() < end for start, end in transformed):
            # LibreOffice sets text in page space; a marker under a `cm` would be misplaced
            raise PlacesError(
                f"page {index + 1}: a signature place under a transformation",
                reason="transformed",
                slot=match[1],
            )
        origin = _origin(body[: tiny.start()]) or _origin(body)
        if origin is None:
            continue
        x, y = origin
        width, height = int(match[2]) * MM, int(match[3]) * MM
        found.append((match[1], Place(index, x, y, x + width, y + height)))
    return found


def _transformed_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of *data* drawn under a `cm` (from the cm to the Q that ends it)."""
    spans, stack, since = [], [], None  # since: where the current state's cm began, if any
    for op in _STATE.finditer(data):
        if op[1] == b"q":
            stack.append(since)
        elif op[1] == b"Q":
            if since is not None:
                spans.append((since, op.start()))
            since = stack.pop() if stack else None
            if since is not None:
                since = op.end()  # the outer cm still applies after this Q
        elif since is None:
            since = op.start()
    if since is not None:
        spans.append((since, len(data)))
    return spans


def _origin(body: bytes) -> tuple[float, float] | None:
    """Where a text object starts: its Tm's translation, else the sum of its Td moves."""
    tm = _TM.search(body)
    if tm:
        return float(tm.group(5)), float(tm.group(6))
    moves = _TD.findall(body)
    if not moves:
        return None
    return sum(float(x) for x, _ in moves), sum(float(y) for _, y in moves)


def _to_unicode(font) -> dict[bytes, str] | None:
    """A font's ToUnicode map, code bytes -> text (bfchar and bfrange entries)."""
    if font is None or "/ToUnicode" not in font:
        return None
    raw = font.ToUnicode.read_bytes()
    cmap: dict[bytes, str] = {}
    for section in _BFCHAR.findall(raw):
        for src, dst in _PAIR.findall(section):
            cmap[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for section in _BFRANGE.findall(raw):
        for lo, hi, dst in _RANGE.findall(section):
            start, end, first = int(lo, 16), int(hi, 16), int(dst, 16)
            width = len(lo) // 2
            for offset in range(min(end - start, 255) + 1):
                cmap[(start + offset).to_bytes(width, "big")] = chr(first + offset)
    return cmap


def _decode(hexstring: bytes, cmap: dict[bytes, str]) -> str:
    """A hex string shown in a font, as text (one- or two-byte codes, as the map has them)."""
    raw = bytes.fromhex(re.sub(rb"\s", b"", hexstring).decode())
    width = len(next(iter(cmap)))
    return "".join(cmap.get(raw[i : i + width], "\ufffd") for i in range(0, len(raw), width))
