"""Backup and restore (issue 5.7): a consistent snapshot of rows and files, checked before use."""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import delete, exists, func, select, text

from formsvc.extensions import db
from formsvc.models import (
    AuditEvent,
    District,
    Document,
    DocumentRevision,
    Participant,
    SignatureRequest,
    StoredBlob,
    StoredFile,
    User,
)
from formsvc.runtime import runtime
from formsvc.services import audit, backup, documents, users
from formsvc.services.keys import create_keyring
from formsvc.services.sealing import trusted_certificates, verify
from tests.blob_backends import raw_blob
from tests.conftest import PASSWORD, World
from tests.services.test_signing import Flow, drawn_png

# --------------------------------------------------------------------------- helpers


def stored_names(app: Flask) -> list[str]:
    return list(runtime(app).store.names())


def keyring_path(app: Flask) -> Path:
    return Path(app.config["STORAGE_KEYRING_PATH"])


def take(app: Flask, dest: Path, *, include_keys: bool = False) -> backup.Manifest:
    return backup.backup(
        dest,
        store=runtime(app).store,
        keyring=keyring_path(app),
        include_keys=include_keys,
    )


def bring_back(app: Flask, src: Path, *, force: bool = False) -> backup.Manifest:
    return backup.restore(src, store=runtime(app).store, keyring=keyring_path(app), force=force)


def wipe(app: Flask) -> None:
    """Lose every row and every stored file, as a new machine would start."""
    store = runtime(app).store
    for sha in list(store.names()):  # an object store keeps its blobs whatever the rows lose
        store.backend.delete(sha)
    db.session.commit()
    db.session.remove()
    tables = db.metadata.sorted_tables
    if db.engine.dialect.name == "postgresql":  # ids start again at 1, as in a new database
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(delete(table))
    db.session.commit()
    shutil.rmtree(app.config["STORAGE_DIR"], ignore_errors=True)  # stored_blob went with the rows


def counts() -> dict[str, int]:
    return {
        t.name: db.session.scalar(select(func.count()).select_from(t))
        for t in db.metadata.sorted_tables
        if t.name != StoredBlob.__tablename__  # its blobs are counted as stored files
    }


def dangling_references() -> list[str]:
    """Foreign keys whose row is missing (whatever the database enforces)."""
    found = []
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            child, parent = fk.parent, fk.column
            n = db.session.scalar(
                select(func.count())
                .select_from(table)
                .where(child.is_not(None), ~exists().where(parent == child))
            )
            if n:
                found.append(f"{table.name}.{child.name}: {n}")
    return found


def files_stored(app: Flask) -> dict[str, bytes]:
    """Every blob as the app's backend holds it (encrypted)."""
    return {sha: raw_blob(runtime(app).store, sha) for sha in stored_names(app)}


def unreadable_files(app: Flask) -> list[str]:
    store = runtime(app).store
    bad = []
    for sha in db.session.scalars(select(StoredFile.sha256)):
        try:
            store.get(sha)
        except OSError:
            bad.append(sha)
    return bad


def sealed_consent(app: Flask, world: World, doc: Document) -> Document:
    """A consent sent, edited (voiding the first requests), sent again, signed by all, sealed."""
    flow = Flow(app, world, doc)
    flow.send()
    documents.update(
        doc,
        dict(doc.data, info_other="Också fritidsgården"),
        actor=world.users["caseworker"],
        store=flow.store,
        dtype=flow.dtype,
    )
    reqs = flow.send()
    for req, name in zip(reqs, ("Åsa Öberg", "Maria Öberg", "Johan Öberg"), strict=True):
        flow.sign(req, name, drawn_png())
    assert flow.finalise() is True
    return db.session.get(Document, doc.id)


# --------------------------------------------------------------------------- round trip


@pytest.mark.usefixtures("blob_backend")
def test_a_restore_brings_back_every_row_and_file_and_the_audit_chain_verifies(
    app: Flask, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    doc = sealed_consent(app, world, consent_doc)
    store = runtime(app).store
    sealed = store.get(doc.sealed_pdf_sha256)
    before = counts()
    disk = files_stored(app)
    open_json_nulls = db.session.scalar(
        select(func.count()).where(SignatureRequest.statements.is_(None))
    )
    assert open_json_nulls == 3  # the requests voided by the edit never got statements
    doc_id, data, sealed_sha = doc.id, doc.data, doc.sealed_pdf_sha256
    participant_id = world.participant.id
    signed = {
        r.slot: (r.signed_name, r.signed_at)
        for r in db.session.scalars(
            select(SignatureRequest).where(SignatureRequest.status == "signed")
        )
    }

    manifest = take(app, tmp_path / "backup")
    assert manifest.tables == before
    assert manifest.stored_files == before["stored_file"] == len(disk)
    for sha, raw in disk.items():  # copied as they lie on disk: still encrypted
        assert (tmp_path / "backup" / "files" / sha[:2] / sha).read_bytes() == raw
    assert b"%PDF" not in (tmp_path / "backup" / "files" / sealed_sha[:2] / sealed_sha).read_bytes()

    wipe(app)
    assert sum(counts().values()) == 0 and stored_names(app) == []

    result = bring_back(app, tmp_path / "backup")
    assert counts() == before
    assert files_stored(app) == disk
    assert result.restored is not None
    assert result.restored.files_copied == len(disk) and result.restored.files_present == 0
    assert result.restored.audit_broken_id is None
    assert result.restored.audit_checked == before["audit_event"]

    doc = db.session.get(Document, doc_id)
    assert doc.status == "active" and doc.version == 2 and doc.data == data
    assert store.get(doc.sealed_pdf_sha256) == sealed
    check = verify(sealed, trusted_certificates(app))
    assert check.ok and check.whole_file
    revisions = db.session.scalars(
        select(DocumentRevision.version).where(DocumentRevision.document_id == doc_id)
    )
    assert sorted(revisions) == [1, 2]
    assert {
        r.slot: (r.signed_name, r.signed_at)
        for r in db.session.scalars(
            select(SignatureRequest).where(SignatureRequest.status == "signed")
        )
    } == signed
    assert (
        db.session.scalar(select(func.count()).where(SignatureRequest.statements.is_(None)))
        == open_json_nulls
    )
    p = db.session.get(Participant, participant_id)
    assert (p.name, p.birth_date) == ("Åsa Öberg", date(2010, 3, 15))
    assert users.find("caseworker").check_password(PASSWORD)
    assert dangling_references() == []

    # the service goes on where it stopped: new ids do not collide, the chain continues
    new = users.create_district("Skärholmen", actor=users.find("admin"))
    assert new.id > max(d.id for d in db.session.scalars(select(District)) if d.id != new.id)
    assert audit.verify() == (before["audit_event"] + 1, None)


def test_a_backup_taken_while_documents_are_written_restores_a_consistent_state(
    app: Flask, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    dtype = runtime(app).registry["consent"]
    store = runtime(app).store
    actor_id, participant_id = world.users["caseworker"].id, world.participant.id
    committed: list[int] = []
    errors: list[BaseException] = []
    warmed, stop = threading.Event(), threading.Event()

    def write_documents() -> None:
        with app.app_context():
            try:
                actor = db.session.get(User, actor_id)
                participant = db.session.get(Participant, participant_id)
                n = 0
                while not stop.is_set():
                    n += 1
                    store.put(f"bilaga {n} ".encode() * 500, "text/plain")  # commits with the doc
                    doc = documents.create(
                        dtype, dtype.sample(), actor=actor, participant=participant, store=store
                    )
                    committed.append(doc.id)
                    if n == 3:
                        warmed.set()
            except BaseException as exc:
                errors.append(exc)
                warmed.set()
            finally:
                db.session.remove()

    writer = threading.Thread(target=write_documents)
    writer.start()
    try:
        assert warmed.wait(120)
        at_start = len(committed)
        manifest = take(app, tmp_path / "backup")
        at_end = len(committed)
    finally:
        stop.set()
        writer.join(120)
    assert not errors, errors
    assert not writer.is_alive()

    wipe(app)
    bring_back(app, tmp_path / "backup")
    restored = counts()
    assert restored == manifest.tables
    # the consent_doc, every document committed before the backup started, none that started
    # after it ended (one commit may have been on its way when it ended)
    assert at_start + 1 <= restored["document"] <= at_end + 2
    assert restored["document"] == restored["document_revision"]
    assert dangling_references() == []
    assert unreadable_files(app) == []
    assert audit.verify() == (restored["audit_event"], None)


def test_a_backup_restores_into_another_database_row_for_row(
    app: Flask, world: World, consent_doc: Document, make_app: Any, tmp_path: Path
) -> None:
    """On the PostgreSQL run this goes PostgreSQL -> SQLite, and the local directory -> the
    database backend: the format is the same for every database and every blob backend."""
    first = take(app, tmp_path / "first")
    other = make_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'other.sqlite'}",
        STORAGE_DIR=str(tmp_path / "other-files"),
        STORAGE_BACKEND="database",
    )
    with other.app_context():
        upgrade()
        result = bring_back(other, tmp_path / "first")
        assert result.restored is not None and result.restored.audit_broken_id is None
        assert unreadable_files(other) == []
        assert stored_names(other) == sorted(stored_names(app)) != []
        assert not (tmp_path / "other-files").exists()
        again = take(other, tmp_path / "again")
        db.session.remove()
    assert again.tables == first.tables
    for table in first.tables:  # dates, JSON, booleans and text come back exactly
        rel = f"db/{table}.jsonl"
        assert (tmp_path / "again" / rel).read_bytes() == (tmp_path / "first" / rel).read_bytes()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("victim", ["db/participant.jsonl", "stored file"])
def test_a_tampered_backup_is_refused_before_anything_is_changed(
    app: Flask, consent_doc: Document, tmp_path: Path, victim: str
) -> None:
    manifest = take(app, tmp_path / "backup")
    rel = victim if victim.startswith("db/") else next(f for f in manifest.files if "files/" in f)
    path = tmp_path / "backup" / rel
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    wipe(app)

    with pytest.raises(backup.BackupError) as refused:
        bring_back(app, tmp_path / "backup")
    assert "skadad eller har ändrats" in refused.value.message
    assert rel in refused.value.message
    assert sum(counts().values()) == 0
    assert stored_names(app) == []


def test_a_database_with_rows_is_only_replaced_with_force(
    app: Flask, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    take(app, tmp_path / "backup")
    names = set(db.session.scalars(select(District.name)))
    users.create_district("Efter säkerhetskopian", actor=None)

    with pytest.raises(backup.BackupError) as refused:
        bring_back(app, tmp_path / "backup")
    assert "inte tom" in refused.value.message and "--force" in refused.value.message
    assert "Efter säkerhetskopian" in set(db.session.scalars(select(District.name)))

    result = bring_back(app, tmp_path / "backup", force=True)
    assert set(db.session.scalars(select(District.name))) == names
    assert result.restored is not None and result.restored.files_present >= 1
    assert audit.verify()[1] is None
    assert db.session.scalar(select(func.count(AuditEvent.id))) == result.tables["audit_event"]


def test_a_backup_never_writes_into_a_folder_that_is_not_empty(
    app: Flask, world: World, tmp_path: Path
) -> None:
    dest = tmp_path / "old-backup"
    dest.mkdir()
    (dest / "notes.txt").write_text("förra veckans kopia")
    with pytest.raises(backup.BackupError) as refused:
        take(app, dest)
    assert "inte en tom mapp" in refused.value.message
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert take(app, tmp_path / "empty").tables["district"] == 2  # an empty folder is fine


def test_an_incomplete_backup_or_one_of_another_schema_version_is_refused(
    app: Flask, world: World, tmp_path: Path
) -> None:
    take(app, tmp_path / "backup")
    wipe(app)
    manifest = tmp_path / "backup" / "manifest.json"
    raw = json.loads(manifest.read_text())
    head = raw["alembic_revision"]
    raw["alembic_revision"] = "0001"
    manifest.write_text(json.dumps(raw))
    with pytest.raises(backup.BackupError) as refused:
        bring_back(app, tmp_path / "backup")
    assert "databasversion 0001" in refused.value.message and head in refused.value.message
    assert "flask db upgrade" in refused.value.message

    manifest.unlink()  # as if the backup had stopped before its last step
    with pytest.raises(backup.BackupError) as refused:
        bring_back(app, tmp_path / "backup")
    assert "ofullständig" in refused.value.message
    assert sum(counts().values()) == 0


# --------------------------------------------------------------------------- keys


def test_keys_are_only_in_a_backup_when_asked_for_and_restoring_them_keeps_the_old_keyring(
    app: Flask, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    keyring = keyring_path(app)
    original = keyring.read_bytes()
    tv_sha = consent_doc.template_version.file_sha256
    template = runtime(app).store.get(tv_sha)

    plain = take(app, tmp_path / "plain")
    assert plain.keyring is None
    assert not (tmp_path / "plain" / "keys").exists()
    assert not any(original in p.read_bytes() for p in (tmp_path / "plain").rglob("*.json*"))

    with_keys = take(app, tmp_path / "with-keys", include_keys=True)
    assert with_keys.keyring is not None
    assert (tmp_path / "with-keys" / with_keys.keyring).read_bytes() == original

    # a new machine: empty database and storage, and a fresh keyring from `make setup`
    wipe(app)
    keyring.unlink()
    create_keyring(keyring)
    fresh = keyring.read_bytes()
    result = bring_back(app, tmp_path / "with-keys")
    assert result.restored is not None and result.restored.keyring == "replaced"
    assert keyring.read_bytes() == original
    assert result.restored.keyring_aside is not None
    assert result.restored.keyring_aside.read_bytes() == fresh  # never destroyed
    assert (keyring.stat().st_mode & 0o777) == 0o600
    assert runtime(app).store.get(tv_sha) == template
    assert unreadable_files(app) == []
    assert os.listdir(tmp_path / "with-keys")  # the backup itself is left as it was
