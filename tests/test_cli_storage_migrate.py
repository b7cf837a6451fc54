"""`flask storage migrate --to …` (docs/adr/019): every blob copied and checked, resumable,
nothing deleted from the source; the documents download byte-identical afterwards."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.cli_storage import storage_cli
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, StoredFile
from formsvc.runtime import runtime
from formsvc.services import blobs
from formsvc.services.blobs import DatabaseBackend, LocalBackend
from tests.blob_backends import drop_blob, flip_a_byte, raw_blob
from tests.conftest import PASSWORD, World
from tests.factories import signed_in_person

FILES = [b"%PDF-1.7 one", b"%PDF-1.7 two", b"\x89PNG\r\n\x1a\n three", b"PK\x03\x04 four"]


def sha_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def downloads(app: Flask, doc_id: int) -> dict[str, bytes]:
    """What a caseworker downloads from *app*: the Word template, frozen and sealed PDFs."""
    client: FlaskClient = app.test_client()
    assert client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    got = {}
    for what in ("frozen.pdf", "signed.pdf"):
        resp = client.get(f"/documents/{doc_id}/{what}")
        assert resp.status_code == 200, (what, resp.status_code)
        got[what] = resp.data
    with app.app_context():
        store = runtime(app).store
        for sha in db.session.scalars(db.select(StoredFile.sha256)):
            got[sha] = store.get(sha)  # every stored file, decrypted and hash-checked
        db.session.remove()
    return got


def migrate(app: Flask, *args: str) -> Any:
    """`flask storage migrate …` run by *app* (its own app context, as a separate process)."""
    db.session.commit()  # the test's own session holds no lock on SQLite
    with app.app_context():
        result = app.test_cli_runner().invoke(storage_cli, ["migrate", *args])
        db.session.remove()
    return result


def cli(app: Flask, *args: str) -> Any:
    """Any `flask storage …` command, run like `migrate`."""
    db.session.commit()
    with app.app_context():
        result = app.test_cli_runner().invoke(storage_cli, list(args))
        db.session.remove()
    return result


def test_local_to_database_and_back_and_every_document_downloads_byte_identical(
    app: Flask, world: World, consent_doc: Document, make_app: Any
) -> None:
    signed_in_person(app, consent_doc, world.users["caseworker"])
    doc_id = consent_doc.id
    root = Path(app.config["STORAGE_DIR"])
    on_disk = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    before = downloads(app, doc_id)
    n = len(on_disk)
    assert n >= 3 and len(before) == n + 2  # template, frozen and sealed PDF (+ drawings)

    there = migrate(app, "--to", "database")

    assert there.exit_code == 0, there.output
    assert f"Från local till database: {n} filer. Kopierade och kontrollerade: {n}," in there.output
    assert "saknas: 0, skadade: 0, fel i målet: 0. Inget togs bort från local." in there.output
    assert 'Sätt STORAGE_BACKEND = "database"' in there.output
    assert {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()} == on_disk
    in_db = make_app(STORAGE_BACKEND="database")
    assert downloads(in_db, doc_id) == before

    shutil.rmtree(root)  # the way back has to write every file again
    back = migrate(in_db, "--to", "local")

    assert back.exit_code == 0, back.output
    assert f"Kopierade och kontrollerade: {n}, fanns redan (kontrollerade): 0" in back.output
    assert {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()} == on_disk
    assert downloads(app, doc_id) == before
    with in_db.app_context():
        assert len(list(DatabaseBackend().names())) == n  # the source is kept
        db.session.remove()
    events = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "storage_migrate")
    ).all()
    assert [(e.details["from"], e.details["to"], e.details["copied"]) for e in events] == [
        ("local", "database", n),
        ("database", "local", n),
    ]


class Interrupted(Exception):
    pass


def test_an_interrupted_migrate_resumes_checks_what_is_there_and_rewrites_a_bad_copy(
    app: Flask,
) -> None:
    store = runtime(app).store
    for data in FILES:
        store.put(data, "application/octet-stream")
    db.session.commit()
    seen: list[str] = []

    def crash(sha: str) -> None:
        seen.append(sha)
        if len(seen) == 3:
            raise Interrupted  # Ctrl-C, a lost connection, kill: after the third file

    with pytest.raises(Interrupted):
        blobs.migrate(
            store.backend,
            DatabaseBackend(),
            sorted(store.names()),
            store.open_blob,
            commit=db.session.commit,
            progress=crash,
        )
    db.session.rollback()  # whatever was not committed is lost, as in a dead process
    target = DatabaseBackend()
    assert list(target.names()) == sorted(seen)
    flip_a_byte(type(store)(target, None), seen[0])  # a copy damaged since

    resumed = migrate(app, "--to", "database")

    assert resumed.exit_code == 0, resumed.output
    assert (
        "4 filer. Kopierade och kontrollerade: 2, fanns redan (kontrollerade): 2," in resumed.output
    )
    assert [target.read(s) for s in sorted(store.names())] == [
        store.backend.read(s) for s in sorted(store.names())
    ]
    again = migrate(app, "--to", "database")
    assert "Kopierade och kontrollerade: 0, fanns redan (kontrollerade): 4," in again.output


def test_a_corrupt_or_missing_source_blob_is_reported_not_copied_and_fails_the_run(
    app: Flask,
) -> None:
    store = runtime(app).store
    for data in FILES:
        store.put(data, "application/octet-stream")
    db.session.commit()
    bad, gone = sha_of(FILES[1]), sha_of(FILES[2])
    damaged = flip_a_byte(store, bad)
    drop_blob(store, gone)

    result = migrate(app, "--to", "database")

    assert result.exit_code == 1
    assert f"SKADAD {bad} i local" in result.output
    assert f"SAKNAS {gone} i local" in result.output
    assert "Kopierade och kontrollerade: 2," in result.output
    assert "saknas: 1, skadade: 1, fel i målet: 0" in result.output
    assert "2 filer finns inte i database" in result.output
    target = DatabaseBackend()
    assert sorted(target.names()) == sorted([sha_of(FILES[0]), sha_of(FILES[3])])
    assert raw_blob(store, bad) == damaged  # the source is left as it was


@pytest.mark.parametrize(
    ("args", "settings", "message"),
    [
        (["--to", "nfs"], {}, "Invalid value for '--to'"),
        (["--to", ""], {}, "Invalid value for '--to'"),
        (["--to", "DATABASE"], {}, "Invalid value for '--to'"),
        (["--to", "../local"], {}, "Invalid value for '--to'"),
        ([], {}, "Missing option '--to'"),
        (["--to", "local"], {}, "Källa och mål är samma lagring (local)"),
        (["--from", "database", "--to", "database"], {}, "samma lagring (database)"),
        (["--to", "local"], {"STORAGE_BACKEND": "database"}, None),
        (["--to", "s3"], {"STORAGE_S3": {"secret_key": "hemligt-123"}}, "kan inte användas"),
    ],
)
def test_migrate_refuses_unknown_or_identical_backends_and_bad_settings(
    app: Flask, make_app: Any, args: list[str], settings: dict[str, Any], message: str | None
) -> None:
    result = migrate(make_app(**settings), *args)
    if message is None:  # the configured database backend to the directory: nothing to copy
        assert result.exit_code == 0, result.output
        assert "Från database till local: 0 filer." in result.output
        return
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "hemligt-123" not in result.output


def test_a_target_directory_from_the_migrate_settings_is_used(
    app: Flask, make_app: Any, tmp_path: Path
) -> None:
    store = runtime(app).store
    store.put(FILES[0], "application/pdf")
    db.session.commit()
    elsewhere = tmp_path / "nfs-mount" / "files"
    in_db = make_app(STORAGE_MIGRATE_TARGETS={"local": {"STORAGE_DIR": str(elsewhere)}})
    assert migrate(app, "--to", "database").exit_code == 0
    result = migrate(in_db, "--from", "database", "--to", "local")
    assert result.exit_code == 0, result.output
    assert LocalBackend(elsewhere).read(sha_of(FILES[0])) == store.backend.read(sha_of(FILES[0])), (
        result.output
    )


def test_a_second_pass_after_the_switch_copies_what_was_written_meanwhile(
    app: Flask, make_app: Any
) -> None:
    store = runtime(app).store
    for data in FILES[:3]:
        store.put(data, "application/octet-stream")
    db.session.commit()
    assert migrate(app, "--to", "database").exit_code == 0
    store.put(FILES[3], "application/octet-stream")  # an instance not yet switched writes
    db.session.commit()
    switched = make_app(STORAGE_BACKEND="database")

    second = migrate(switched, "--from", "local", "--to", "database")

    assert second.exit_code == 0, second.output
    assert "Från local till database: 4 filer. Kopierade och kontrollerade: 1," in second.output
    assert "fanns redan (kontrollerade): 3," in second.output
    with switched.app_context():
        assert [runtime(switched).store.get(sha_of(d)) for d in FILES] == FILES
        db.session.remove()


def test_a_key_rotation_between_two_runs_never_strands_the_target_under_a_retired_key(
    app: Flask, make_app: Any
) -> None:
    """migrate, rotate-key on the source, migrate again, retire-keys (which sees only the
    configured backend): the target's copy under the old key must have been replaced by the
    source's copy under the new key, so the file still opens after switching (review SD1)."""
    data = b"consent PDF " + bytes(range(256)) * 3
    sha = sha_of(data)
    with app.app_context():
        runtime(app).store.put(data, "application/pdf")
        db.session.commit()
    assert migrate(app, "--to", "database").exit_code == 0
    with app.app_context():
        old_copy = blobs.DatabaseBackend().read(sha)
        db.session.remove()
    rotated = cli(app, "rotate-key")
    assert rotated.exit_code == 0, rotated.output
    again = migrate(app, "--to", "database")
    assert again.exit_code == 0, again.output
    with app.app_context():
        new_copy = blobs.DatabaseBackend().read(sha)
        db.session.remove()
    assert new_copy != old_copy  # replaced, not kept as "already there"
    retired = cli(app, "retire-keys")
    assert retired.exit_code == 0, retired.output
    in_db = make_app(STORAGE_BACKEND="database")
    with in_db.app_context():
        assert runtime(in_db).store.get(sha) == data
        db.session.remove()


def test_a_target_copy_already_under_todays_key_is_kept(app: Flask) -> None:
    """The other direction: the target was re-encrypted under the active key after the first
    run while the source still has the old one; the second run keeps the target's copy."""
    data = b"security talk " + bytes(range(256)) * 2
    sha = sha_of(data)
    with app.app_context():
        runtime(app).store.put(data, "application/pdf")
        db.session.commit()
    assert migrate(app, "--to", "database").exit_code == 0
    old_source = LocalBackend(app.config["STORAGE_DIR"]).read(sha)
    assert cli(app, "rotate-key").exit_code == 0  # the source is now under the new key
    with app.app_context():
        store = runtime(app).store
        rotated = store.backend.read(sha)
        blobs.DatabaseBackend().write(sha, rotated)  # the target as if rotated there
        db.session.commit()
    LocalBackend(app.config["STORAGE_DIR"]).write(sha, old_source)  # source back to the old key
    result = migrate(app, "--to", "database")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert blobs.DatabaseBackend().read(sha) == rotated
        db.session.remove()
