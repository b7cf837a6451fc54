"""Blob backends (docs/adr/019): the database backend's transaction, the local layout, refusals."""

from __future__ import annotations

import hashlib
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import District, Document, StoredBlob, StoredFile
from formsvc.runtime import runtime
from formsvc.services import retention
from formsvc.services.blobs import LocalBackend, UnknownBackend, backend_from_config
from formsvc.services.storage import FileStore, StoredFileError
from tests.blob_backends import raw_blob, set_raw_blob
from tests.conftest import World
from tests.factories import signed_in_person

PDF = b"%PDF-1.7\n% Asa Oberg 20100315-1234\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()


def committed_blob(sha: str) -> bytes | None:
    """What another connection sees: only what was committed."""
    with db.engine.connect() as other:
        blob = other.scalar(select(StoredBlob.blob).where(StoredBlob.sha256 == sha))
    return None if blob is None else bytes(blob)


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    """The database backend unless the test runs once per backend (blob_backend)."""
    return {**config, "STORAGE_BACKEND": "database"}


def test_a_database_blob_commits_with_its_rows_and_is_only_seen_after_commit(app: Flask) -> None:
    store = runtime(app).store
    row = store.put(PDF, "application/pdf")
    db.session.add(District(name="Skärholmen"))
    db.session.flush()
    assert committed_blob(row.sha256) is None  # written, but not yet for anyone else

    db.session.commit()

    assert committed_blob(SHA) is not None and committed_blob(SHA) == raw_blob(store, SHA)
    assert store.get(SHA) == PDF
    assert not Path(app.config["STORAGE_DIR"]).exists()  # nothing went to the directory


def test_a_database_blob_is_gone_when_its_transaction_rolls_back(app: Flask) -> None:
    store = runtime(app).store
    db.session.add(District(name="Skärholmen"))
    db.session.commit()

    store.put(PDF, "application/pdf")
    db.session.add(District(name="Skärholmen"))  # the document's other row fails to commit
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()

    assert committed_blob(SHA) is None and not store.backend.exists(SHA)
    assert db.session.get(StoredFile, SHA) is None
    with pytest.raises(StoredFileError, match="missing"):
        store.get(SHA)
    assert list(store.names()) == []


def test_a_deletion_in_the_database_is_undone_with_its_transaction(app: Flask) -> None:
    store = runtime(app).store
    store.put(PDF, "application/pdf")
    db.session.commit()
    assert store.delete(SHA) is True
    db.session.rollback()
    assert store.get(SHA) == PDF
    assert store.delete(SHA) is True
    db.session.commit()
    assert committed_blob(SHA) is None and store.delete(SHA) is False


@pytest.mark.parametrize(
    "damage",
    [b"", b"FSE1", b"FSE1\x40", b"\x00" * 64, PDF + b" ", b"FSE1\x02k1" + b"\x00" * 100],
)
def test_an_empty_truncated_or_foreign_blob_in_the_database_is_refused(
    app: Flask, damage: bytes
) -> None:
    store = runtime(app).store
    store.put(PDF, "application/pdf")
    db.session.commit()
    set_raw_blob(store, SHA, damage)
    with pytest.raises(StoredFileError) as info:
        store.get(SHA)
    assert info.value.sha256 == SHA


def test_names_pages_through_many_database_blobs_in_order(app: Flask) -> None:
    store = runtime(app).store
    shas = sorted(hashlib.sha256(str(i).encode()).hexdigest() for i in range(2345))
    db.session.execute(db.insert(StoredBlob), [{"sha256": s, "blob": b"x"} for s in shas])
    db.session.commit()
    assert list(store.names()) == shas


@pytest.mark.parametrize("name", ["nfs", "", "LOCAL", "local ", "s3\x00", "../local", None, 3])
def test_an_unknown_backend_name_stops_the_app_from_starting(
    config: dict[str, Any], name: object
) -> None:
    with pytest.raises(UnknownBackend, match="STORAGE_BACKEND must be one of local, database"):
        create_app({**config, "STORAGE_BACKEND": name})


def test_the_default_backend_is_the_local_directory(tmp_path: Path) -> None:
    backend = backend_from_config({"STORAGE_DIR": str(tmp_path / "files")})
    assert isinstance(backend, LocalBackend) and backend.name == "local"


def test_the_local_backend_keeps_the_layout_and_modes_of_before(app: Flask, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files", None)
    store.put(PDF, "application/pdf")
    path = tmp_path / "files" / SHA[:2] / SHA
    assert path.read_bytes() == PDF
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    (tmp_path / "files" / SHA[:2] / ".tmp-half").write_bytes(b"half")  # a write cut short
    (tmp_path / "files" / "stray").write_bytes(b"")
    assert list(store.names()) == [SHA]


def test_check_raises_when_the_backend_cannot_be_used(app: Flask, tmp_path: Path) -> None:
    runtime(app).store.check()
    (tmp_path / "not-a-folder").write_bytes(b"")
    with pytest.raises(OSError):
        LocalBackend(tmp_path / "not-a-folder").check()
    LocalBackend(tmp_path / "new" / "files").check()  # made on first use, like a write
    assert (tmp_path / "new" / "files").is_dir()


@pytest.mark.parametrize("bad", ["../../etc/passwd", SHA.upper(), SHA[:-1], SHA + "\n", ""])
def test_every_backend_refuses_a_name_that_is_not_a_sha256(
    app: Flask, tmp_path: Path, bad: str
) -> None:
    for backend in (runtime(app).store.backend, LocalBackend(tmp_path)):
        for call in (backend.read, backend.exists, backend.delete):
            with pytest.raises(ValueError, match="not a SHA-256 name"):
                call(bad)
        with pytest.raises(ValueError, match="not a SHA-256 name"):
            backend.write(bad, b"x")


@pytest.mark.usefixtures("blob_backend")
def test_retention_deletes_a_purged_documents_blobs_from_the_backend_for_good(
    app: Flask, world: World, consent_doc: Document
) -> None:
    store = runtime(app).store
    signed_in_person(app, consent_doc, world.users["caseworker"])
    doc = db.session.get(Document, consent_doc.id)
    files = {doc.frozen_pdf_sha256, doc.sealed_pdf_sha256}
    assert files <= set(store.names())

    report = retention.run(
        runtime(app).registry, app.config, date(2100, 1, 1), store=store, dry_run=False
    )

    assert consent_doc.id in report.deleted and report.files_deleted >= 2
    db.session.rollback()  # nothing the purge did may hang on an open transaction
    assert not files & set(store.names())
    for sha in files:
        with pytest.raises(StoredFileError, match="missing"):
            store.get(sha)
