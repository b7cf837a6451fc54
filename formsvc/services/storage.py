"""Content-addressed file storage under STORAGE_DIR."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from formsvc.extensions import db
from formsvc.models import StoredFile


class FileStore:
    """Writes bytes once under their SHA-256; reading re-checks the hash so corruption is loud."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, content_type: str) -> StoredFile:
        """Store *data* (idempotent) and return its row, added to the session."""
        sha = hashlib.sha256(data).hexdigest()
        path = self._path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # write-then-rename so a crash never leaves a half-written file under a valid name
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        row = db.session.get(StoredFile, sha)
        if row is None:
            row = StoredFile(sha256=sha, size=len(data), content_type=content_type)
            db.session.add(row)
        return row

    def get(self, sha256: str) -> bytes:
        """Return the bytes stored under *sha256*; raises IOError if missing or altered."""
        data = self._path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"stored file {sha256} does not match its hash")
        return data
