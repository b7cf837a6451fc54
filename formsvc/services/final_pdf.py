"""The final PDF: the frozen PDF plus one incremental update (docs/adr/014-final-pdf.md).

`final_writer` opens the frozen bytes in pyHanko's IncrementalPdfFileWriter and adds, without
writing anything yet: the signature marks in their places (services/overlay.py), the evidence
page(s), the machine-readable evidence record as a PDF/A-3 associated file, and an XMP that
declares PDF/A-3b. The caller seals that writer (`Sealer.seal_writer`), so all of it and the
seal are one revision, written once, and the output starts with the frozen bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata import model as xmp
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.reader import PdfFileReader

from formsvc.services.overlay import Mark, add_marks
from formsvc.services.signature_places import Place

__all__ = [
    "RECORD_MAX_BYTES",
    "RECORD_NAME",
    "FinalPdfError",
    "append_pages",
    "declare_pdfa3",
    "embed_record",
    "embedded_record",
    "final_writer",
]

#: The evidence record's file name in the PDF (ADR 014).
RECORD_NAME = "formsvc-evidence.json"
#: A record larger than this is neither written nor read back.
RECORD_MAX_BYTES = 1024 * 1024
_PDFAID = "http://www.aiim.org/pdfa/ns/id/"
_PART = xmp.ExpandedName(ns=_PDFAID, local_name="part")
_CONFORMANCE = xmp.ExpandedName(ns=_PDFAID, local_name="conformance")


class FinalPdfError(Exception):
    """The final PDF cannot be put together (an unreadable frozen PDF, a record too large …)."""


def final_writer(
    frozen: bytes,
    places: Mapping[str, Place],
    marks: Mapping[str, Mark],
    *,
    evidence_page: bytes,
    record: bytes,
    modified: datetime,
) -> IncrementalPdfFileWriter:
    """A writer over *frozen* with the marks, evidence page(s), record and PDF/A-3b XMP added.

    Nothing is written until the writer is sealed (`Sealer.seal_writer`)."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(frozen), strict=False)
    except Exception as exc:  # pyHanko raises many kinds on a bad PDF
        raise FinalPdfError(f"the frozen PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    add_marks(writer, places, marks)
    append_pages(writer, evidence_page)
    embed_record(writer, record, modified=modified)
    declare_pdfa3(writer)
    return writer


def append_pages(writer: IncrementalPdfFileWriter, pdf: bytes) -> int:
    """Add the pages of *pdf* after *writer*'s; the number of pages added.

    *pdf*'s page tree is imported as one node under the document's page tree, so objects the
    pages share (fonts, with their embedded programs) are imported once."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        added = writer.import_object(reader.root.raw_get("/Pages"))
    except Exception as exc:
        raise FinalPdfError(f"the pages cannot be imported: {type(exc).__name__}: {exc}") from exc
    node = added.get_object()
    count = int(node["/Count"])
    tree_ref = writer.root.raw_get("/Pages")
    tree = tree_ref.get_object()
    node[pdf_name("/Parent")] = tree_ref
    kids = tree["/Kids"]
    kids.append(added)
    tree[pdf_name("/Count")] = generic.NumberObject(int(tree["/Count"]) + count)
    writer.update_container(kids)
    writer.update_container(tree)
    return count


def embed_record(writer: IncrementalPdfFileWriter, data: bytes, *, modified: datetime) -> None:
    """Embed *data* as the PDF/A-3 associated file `formsvc-evidence.json` of the document.

    /AFRelationship /Data, MIME type application/json, /Params with /Size and /ModDate; listed
    in the catalogue's /AF and /Names /EmbeddedFiles (pyHanko's embed_file would also raise the
    catalogue's /Version to 2.0, which a PDF/A-3 file is not)."""
    if len(data) > RECORD_MAX_BYTES:
        raise FinalPdfError(f"the evidence record has {len(data)} bytes, over {RECORD_MAX_BYTES}")
    stream = EmbeddedFileObject.from_file_data(
        writer,
        data,
        params=EmbeddedFileParams(
            embed_size=True, embed_checksum=False, modification_date=modified
        ),
        mime_type="application/json",
    )
    spec = FileSpec(
        file_spec_string=RECORD_NAME,
        file_name=RECORD_NAME,
        embedded_data=stream,
        description="Underskriftsbevis, maskinläsbart (formsvc-evidence/1)",
        af_relationship=pdf_name("/Data"),
    ).as_pdf_object()
    spec_ref = writer.add_object(spec)
    root = writer.root
    names = _get(root, "/Names")
    if names is None:
        names = generic.DictionaryObject()
        root[pdf_name("/Names")] = names
    tree = _get(names, "/EmbeddedFiles")
    if tree is None:
        tree = generic.DictionaryObject()
        names[pdf_name("/EmbeddedFiles")] = writer.add_object(tree)
    if "/Kids" in tree:
        raise FinalPdfError("the frozen PDF has a nested tree of attachments")
    entries = _get(tree, "/Names")
    if entries is None:
        entries = generic.ArrayObject()
        tree[pdf_name("/Names")] = entries
    keys = [str(entries[i]) for i in range(0, len(entries), 2)]
    if RECORD_NAME in keys:
        raise FinalPdfError(f"the frozen PDF already has an attachment named {RECORD_NAME}")
    at = 2 * sum(1 for k in keys if k < RECORD_NAME)  # a name tree's keys are sorted
    entries.insert(at, generic.pdf_string(RECORD_NAME))
    entries.insert(at + 1, spec_ref)
    af = _get(root, "/AF")
    if af is None:
        af = generic.ArrayObject()
        root[pdf_name("/AF")] = af
    af.append(spec_ref)
    for changed in (entries, tree, names, af):
        writer.update_container(changed)
    writer.update_root()


def declare_pdfa3(writer: IncrementalPdfFileWriter) -> None:
    """Make the XMP say PDF/A-3b, keeping the rest of it (title, creator, dates …).

    pyHanko rewrites the XMP when it writes (xmp:ModifyDate, pdf:Producer = its own name); the
    document information's /Producer is set to the same name, as PDF/A wants them equal."""
    meta = _get(writer.root, "/Metadata")
    if not isinstance(meta, MetadataStream):
        raise FinalPdfError("the frozen PDF has no XMP metadata")
    try:
        roots = meta.xmp
    except Exception as exc:  # the XMP does not parse
        raise FinalPdfError(f"the XMP cannot be read: {type(exc).__name__}: {exc}") from exc
    fields = {name: value for root in roots for name, value in root}
    fields[_PART] = xmp.XmpValue("3")
    fields[_CONFORMANCE] = xmp.XmpValue("B")
    roots[:] = [xmp.XmpStructure(fields)]  # the stream's parsed XMP, serialised on writing
    writer.update_container(meta)
    info = _get(writer.trailer, "/Info")
    if info is not None:
        info[pdf_name("/Producer")] = generic.TextStringObject(xmp.VENDOR)
        writer.update_container(info)


def embedded_record(pdf: bytes) -> bytes | None:
    """The bytes of *pdf*'s `formsvc-evidence.json`, or None if it has none (or too large)."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        tree = reader.root["/Names"]["/EmbeddedFiles"]
        entries = tree["/Names"]
    except (KeyError, TypeError):
        return None
    except Exception as exc:
        raise FinalPdfError(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    for i in range(0, len(entries) - 1, 2):
        if str(entries[i]) != RECORD_NAME:
            continue
        stream = entries[i + 1].get_object()["/EF"]["/F"]
        params = _get(stream, "/Params")
        size = _get(params, "/Size") if params is not None else None
        if size is not None and int(size) > RECORD_MAX_BYTES:
            return None
        data = stream.data
        return data if len(data) <= RECORD_MAX_BYTES else None
    return None


def _get(container: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """container[key] resolved (pyHanko's dict.get would return a bare reference), or None."""
    try:
        return container[key]
    except KeyError:
        return None
