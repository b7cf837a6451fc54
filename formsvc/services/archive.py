"""Export all documents of one participant as one ZIP, streamed, with an index file."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
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


def _entries(
    doc: Document, dtype: DocumentType, store: FileStore
) -> Iterator[tuple[str, bytes, str]]:
    """(file name, bytes, what it is) for one document."""
    base = f"{doc.id:06d}-{doc.type_slug}-v{doc.version}"
    if doc.sealed_pdf_sha256:
        yield f"{base}-signerad.pdf", store.get(doc.sealed_pdf_sha256), "sealed_pdf"
    else:
        # unsigned documents as their Word file: no LibreOffice round trip per document
        yield f"{base}.docx", documents.render(doc, dtype, store), "docx"
    scans = {r.scan_sha256 for r in signing.requests(doc) if r.scan_sha256}
    for i, sha in enumerate(sorted(scans), start=1):
        yield f"{base}-skanning-{i}", store.get(sha), "scan"


def export_participant(
    participant: Participant,
    docs: list[Document],
    registry: dict[str, DocumentType],
    *,
    store: FileStore,
    actor: User,
    origin: audit.Origin | None = None,
) -> Iterator[bytes]:
    """ZIP bytes, chunk by chunk: every given document of the participant, then index.csv."""
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
        for doc in docs:
            dtype = registry.get(doc.type_slug)
            if dtype is None:
                continue
            for name, data, kind in _entries(doc, dtype, store):
                if kind == "scan":
                    name += _extension(data)
                zf.writestr(name, data)
                writer.writerow(
                    [
                        name,
                        kind,
                        doc.id,
                        doc.reference,
                        str(dtype.title),
                        doc.status,
                        doc.version,
                        _iso(doc.created_at),
                        _iso(doc.sealed_at),
                        hashlib.sha256(data).hexdigest(),
                    ]
                )
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
