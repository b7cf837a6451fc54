"""Export all documents of one participant as one ZIP, streamed, with an index file."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import Document, Participant, User
from formsvc.services import audit, documents, signing
from formsvc.services.storage import FileStore


class _Pipe(io.RawIOBase):
    """A write-only stream whose written bytes are collected and handed out in chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


@dataclass(frozen=True)
class _Entry:
    """One file of the ZIP, everything the database knows about it read before streaming."""

    name: str  #: file name in the ZIP (a scan's extension is added from its bytes)
    kind: str  #: "sealed_pdf", "docx" or "scan"
    row: tuple[object, ...]  #: the index.csv columns describing its document
    data: bytes | None = None  #: rendered now (a draft's Word file) …
    sha256: str | None = None  #: … or read from the store while streaming


def _entries(doc: Document, dtype: DocumentType, store: FileStore) -> list[_Entry]:
    """The files of one document, in any state: sealed PDF or Word file, then scans."""
    base = f"{doc.id:06d}-{doc.type_slug}-v{doc.version}"
    row = (
        doc.id,
        doc.reference,
        str(dtype.title),
        doc.status,
        doc.version,
        _iso(doc.created_at),
        _iso(doc.sealed_at),
    )
    if doc.sealed_pdf_sha256:
        out = [_Entry(f"{base}-signerad.pdf", "sealed_pdf", row, sha256=doc.sealed_pdf_sha256)]
    else:
        # unsigned documents as their Word file: no LibreOffice round trip per document
        out = [_Entry(f"{base}.docx", "docx", row, data=documents.render(doc, dtype, store))]
    scans = {r.scan_sha256 for r in signing.requests(doc) if r.scan_sha256}
    for i, sha in enumerate(sorted(scans), start=1):
        out.append(_Entry(f"{base}-skanning-{i}", "scan", row, sha256=sha))
    return out


def export_participant(
    participant: Participant,
    docs: list[Document],
    registry: dict[str, DocumentType],
    *,
    store: FileStore,
    actor: User,
    origin: audit.Origin | None = None,
) -> Iterator[bytes]:
    """ZIP bytes, chunk by chunk: every given document of the participant, then index.csv.

    Everything that needs the database (the audit event, each document's rows, drafts rendered
    to Word) happens now, in the caller's request; the returned iterator only reads stored
    files, so it may run after the request's database session has ended (a streamed response).
    """
    entries = [
        entry
        for doc in docs
        if (dtype := registry.get(doc.type_slug)) is not None
        for entry in _entries(doc, dtype, store)
    ]
    audit.record(
        "export",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="participant",
        object_id=participant.id,
        district_id=participant.district_id,
        details={"documents": [d.id for d in docs]},
        origin=origin,
    )
    db.session.commit()
    return _stream(entries, store)


def _stream(entries: list[_Entry], store: FileStore) -> Iterator[bytes]:
    pipe = _Pipe()
    index = io.StringIO()
    writer = csv.writer(index, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            "fil",
            "innehåll",
            "dokument",
            "referens",
            "typ",
            "status",
            "version",
            "skapad",
            "förseglad",
            "sha256",
        ]
    )
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            data = entry.data if entry.data is not None else store.get(entry.sha256 or "")
            name = entry.name + (_extension(data) if entry.kind == "scan" else "")
            zf.writestr(name, data)
            writer.writerow([name, entry.kind, *entry.row, hashlib.sha256(data).hexdigest()])
            yield pipe.take()
        zf.writestr("index.csv", "\ufeff" + index.getvalue())
    yield pipe.take()


def _extension(data: bytes) -> str:
    if data.startswith(b"%PDF"):
        return ".pdf"
    if data.startswith(b"\x89PNG"):
        return ".png"
    return ".jpg"


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""
