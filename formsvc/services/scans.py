"""Paper scans: check an uploaded PDF or image within limits and rewrite it without active content.

The functions here run in the bounded child of formsvc/services/untrusted.py (no app, no
database). A PDF is rebuilt page by page with pikepdf (qpdf) into a new file whose catalogue has
nothing but the pages: no JavaScript, no embedded files, no actions, no annotations, no forms, no
metadata. A PNG or JPEG is decoded under a pixel limit and encoded again (pixels only). What is
stored and served is the rewritten file. See docs/adr/009-untrusted-files.md.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pikepdf
from PIL import Image, ImageOps, UnidentifiedImageError

from formsvc.services.untrusted import N_, Output, Refused

#: Page keys kept; everything else (/Annots, /AA, /Metadata, /PieceInfo …) is dropped.
_PAGE_KEYS = frozenset(
    {
        "/Type",
        "/Parent",
        "/Resources",
        "/Contents",
        "/MediaBox",
        "/CropBox",
        "/BleedBox",
        "/TrimBox",
        "/ArtBox",
        "/Rotate",
        "/UserUnit",
        "/Group",
    }
)
#: Keys that start actions, carry scripts or embed files, removed from every object that remains.
_ACTIVE_KEYS = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/AA",
        "/A",
        "/OpenAction",
        "/EF",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMediaContent",
        "/AcroForm",
        "/XFA",
        "/Names",
        "/URI",
        "/Launch",
    }
)
_IMAGE_CODECS = frozenset({"/DCTDecode", "/JPXDecode", "/CCITTFaxDecode", "/JBIG2Decode"})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class PdfLimits:
    """Structure limits for a PDF read from outside."""

    max_pages: int  #: pages
    max_objects: int  #: indirect objects
    max_unpacked: int  #: bytes of all streams unpacked together
    max_pixels: int  #: pixels of one image


def open_pdf(data: bytes, limits: PdfLimits, *, refuse_damaged: bool) -> pikepdf.Pdf:
    """The PDF in *data* if it is within *limits*; otherwise a Refused naming the limit."""
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise Refused(N_("PDF-filen är lösenordsskyddad. Skanna utan lösenord.")) from None
    except (pikepdf.PdfError, ValueError, RecursionError):
        raise Refused(N_("PDF-filen kunde inte läsas. Skanna igen.")) from None
    if pdf.is_encrypted:
        raise Refused(N_("PDF-filen är lösenordsskyddad. Skanna utan lösenord."))
    objects = pdf.objects
    if len(objects) > limits.max_objects:
        raise Refused(
            N_("PDF-filen har för många delar (högst %(n)d objekt) och avvisades."),
            n=limits.max_objects,
        )
    pages = len(pdf.pages)
    if pages > limits.max_pages:
        raise Refused(
            N_("PDF-filen har för många sidor (högst %(n)d) och avvisades."), n=limits.max_pages
        )
    unpacked = 0
    for obj in objects:
        if isinstance(obj, pikepdf.Stream):
            _check_image(obj, limits.max_pixels)
            unpacked += _unpacked_size(obj, limits.max_unpacked - unpacked)
    if refuse_damaged and pdf.get_warnings():
        # qpdf had to reconstruct the file (truncated, broken xref): what it recovers may lack
        # pages or images, which a scan kept as evidence must not
        raise Refused(N_("PDF-filen är skadad eller ofullständig. Skanna igen."))
    return pdf


def _filters(stream: pikepdf.Stream) -> list[str]:
    value = stream.get("/Filter")
    if value is None:
        return []
    if isinstance(value, pikepdf.Array):
        return [str(v) for v in value]
    return [str(value)]


def _check_image(stream: pikepdf.Stream, max_pixels: int) -> None:
    if stream.get("/Subtype") != pikepdf.Name.Image:
        return
    try:
        pixels = int(stream.get("/Width", 0)) * int(stream.get("/Height", 0))
    except (TypeError, ValueError):
        pixels = max_pixels + 1
    if pixels > max_pixels:
        raise _too_many_pixels(max_pixels)


def _too_many_pixels(max_pixels: int) -> Refused:
    return Refused(
        N_("Bilden är för stor (högst %(mp)d miljoner bildpunkter). Skanna med lägre upplösning."),
        mp=max(1, max_pixels // 1_000_000),
    )


def _bomb() -> Refused:
    return Refused(N_("Filen packas upp till orimligt mycket data (möjlig komprimeringsbomb)."))


def _unpacked_size(stream: pikepdf.Stream, budget: int) -> int:
    """Bytes *stream* unpacks to, counted without holding them; Refused beyond *budget*."""
    filters = _filters(stream)
    raw = stream.read_raw_bytes()
    if not filters or filters[0] in _IMAGE_CODECS:
        size = len(raw)  # an image codec's output is bounded by the pixel limit
    elif filters == ["/FlateDecode"]:
        size = _inflated_size(raw, budget)
    else:
        # rare chains (LZW, ASCII85 …): decoded in memory, under the child's memory limit
        try:
            size = len(stream.read_bytes())
        except pikepdf.PdfError:
            size = len(raw)
    if size > budget:
        raise _bomb()
    return size


def _inflated_size(raw: bytes, budget: int) -> int:
    inflater = zlib.decompressobj()
    size = 0
    try:
        for start in range(0, len(raw), _CHUNK):
            chunk = raw[start : start + _CHUNK]
            while chunk:
                size += len(inflater.decompress(chunk, _CHUNK))
                if size > budget:
                    raise _bomb()
                chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        pass  # a damaged stream: qpdf reports it; its size so far counts
    return size


def signature_fields(pdf: pikepdf.Pdf, cap: int) -> int:
    """Signature fields in the form, counted up to cap + 1 (each field, also if they share /V)."""
    form = pdf.Root.get("/AcroForm")
    if not isinstance(form, pikepdf.Dictionary):
        return 0
    count = 0
    for field in _walk_fields(form.get("/Fields"), visits=cap * 20 + 1000):
        if field.get("/FT") == pikepdf.Name.Sig:
            count += 1
            if count > cap:
                break
    return count


def _walk_fields(fields: object, *, visits: int) -> Iterator[pikepdf.Dictionary]:
    todo = list(fields) if isinstance(fields, pikepdf.Array) else []
    seen: set[tuple[int, int]] = set()
    while todo and visits > 0:
        visits -= 1
        field = todo.pop()
        if not isinstance(field, pikepdf.Dictionary):
            continue
        if field.is_indirect:
            if field.objgen in seen:
                continue  # a loop of /Kids
            seen.add(field.objgen)
        yield field
        kids = field.get("/Kids")
        if isinstance(kids, pikepdf.Array):
            todo.extend(kids)


def rewrite_pdf(pdf: pikepdf.Pdf) -> bytes:
    """A new PDF with only the pages of *pdf*: no catalogue extras, page extras or actions."""
    out = pikepdf.new()
    for page in pdf.pages:
        out.pages.append(page)
    for page in out.pages:
        for key in list(page.obj.keys()):
            if key not in _PAGE_KEYS:
                del page.obj[key]
    for obj in out.objects:
        for node in dictionaries(obj):
            for key in _ACTIVE_KEYS.intersection(node.keys()):
                del node[key]
    buffer = io.BytesIO()
    # streams are written as they came (already size-checked): no costly re-compression
    out.save(
        buffer,
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        deterministic_id=True,
        fix_metadata_version=False,
    )
    return buffer.getvalue()


def dictionaries(obj: object) -> Iterator[pikepdf.Dictionary | pikepdf.Stream]:
    """*obj* and the dictionaries nested in it directly (indirect ones are objects of their own)."""
    todo = [obj]
    while todo:
        node = todo.pop()
        if isinstance(node, pikepdf.Dictionary | pikepdf.Stream):
            yield node
            children = [value for _key, value in node.items()]
        elif isinstance(node, pikepdf.Array):
            children = list(node)
        else:
            continue
        todo.extend(
            c
            for c in children
            if isinstance(c, pikepdf.Dictionary | pikepdf.Stream | pikepdf.Array)
            and not c.is_indirect
        )


def clean_scan(
    data: bytes,
    *,
    max_pages: int,
    max_objects: int,
    max_unpacked: int,
    max_pixels: int,
) -> Output:
    """The scan rewritten (PDF) or re-encoded (PNG/JPEG); Output.value has content_type, pages."""
    if data.startswith(b"%PDF-"):
        limits = PdfLimits(max_pages, max_objects, max_unpacked, max_pixels)
        pdf = open_pdf(data, limits, refuse_damaged=True)
        pages = len(pdf.pages)
        if pages < 1:
            raise Refused(N_("PDF-filen kunde inte läsas. Skanna igen."))
        if pages > max_pages:
            raise Refused(
                N_("En inskannad blankett ska ha 1–%(n)d sidor (filen har %(p)d)."),
                n=max_pages,
                p=pages,
            )
        return Output({"content_type": "application/pdf", "pages": pages}, rewrite_pdf(pdf))
    content_type, image = reencode_image(data, max_pixels)
    return Output({"content_type": content_type, "pages": 1}, image)


def reencode_image(data: bytes, max_pixels: int) -> tuple[str, bytes]:
    """A PNG or JPEG scan decoded under *max_pixels* and encoded again, pixels only."""
    # Pillow's own bomb guard, set explicitly: its default (89 million pixels, an error only
    # past twice that) would let a 144-megapixel image through with a warning
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(data)) as img:
            kind = img.format
            if kind not in ("PNG", "JPEG"):
                raise Refused(N_("Ladda upp en PDF, PNG eller JPEG."))
            if img.width * img.height > max_pixels:
                raise _too_many_pixels(max_pixels)
            if img.width < 300 or img.height < 300:
                raise Refused(N_("Bilden är för liten för att underskrifterna ska kunna läsas."))
            img.load()
            upright = ImageOps.exif_transpose(img)  # the EXIF orientation, before EXIF goes
            return _encode(upright, kind, keep_quality=upright is img)
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise Refused(N_("Ladda upp en PDF, PNG eller JPEG.")) from None


def _encode(img: Image.Image, kind: str, *, keep_quality: bool) -> tuple[str, bytes]:
    out = io.BytesIO()
    if kind == "JPEG":
        if img.mode not in ("L", "RGB", "CMYK"):
            img = img.convert("RGB")
        if keep_quality:  # the original quantisation tables: no visible loss
            img.save(out, format="JPEG", quality="keep", subsampling="keep")
        else:
            img.save(out, format="JPEG", quality=92)
        return "image/jpeg", out.getvalue()
    if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        img = img.convert("RGB")
    img.save(out, format="PNG")  # only IHDR, PLTE/tRNS and pixels: no text or other chunks
    return "image/png", out.getvalue()
