"""Content-addressed storage: same bytes once, altered bytes refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from flask import Flask

from formsvc.extensions import db
from formsvc.models import StoredFile
from formsvc.services.storage import FileStore


def test_put_is_idempotent_and_get_checks_the_hash(app: Flask, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    data = b"%PDF-1.7 test"
    a = store.put(data, "application/pdf")
    b = store.put(data, "application/pdf")
    db.session.commit()
    assert a.sha256 == b.sha256 == hashlib.sha256(data).hexdigest()
    assert db.session.scalar(db.select(db.func.count(StoredFile.sha256))) == 1
    assert store.get(a.sha256) == data
    (tmp_path / "files" / a.sha256[:2] / a.sha256).write_bytes(b"%PDF-1.7 tampered")
    with pytest.raises(OSError, match="does not match"):
        store.get(a.sha256)
