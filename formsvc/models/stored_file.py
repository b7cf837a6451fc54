"""Content-addressed file: its encrypted bytes live in the blob backend under their SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from formsvc.extensions import db
from formsvc.models._base import utcnow


class StoredFile(db.Model):
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column()
    content_type: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredBlob(db.Model):
    """A stored file's encrypted bytes when STORAGE_BACKEND is "database" (docs/adr/019).

    No foreign key to stored_file: like a file on disk, the blob is written before its row and
    deleted after it, and `flask storage migrate` copies blobs whatever the rows say.
    """

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
