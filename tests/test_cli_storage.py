"""`flask storage …`: rotate-key (and --resume), retire-keys, verify."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from formsvc.cli_storage import storage_cli
from formsvc.extensions import db
from formsvc.models import AuditEvent, StoredFile
from formsvc.runtime import runtime
from formsvc.services import audit, keys
from formsvc.services.storage import FileStore
from tests.blob_backends import drop_blob, flip_a_byte, raw_blob

pytestmark = pytest.mark.usefixtures("blob_backend")

FILES = [b"%PDF-1.7 one", b"%PDF-1.7 two", b"\x89PNG\r\n\x1a\n three", b"PK\x03\x04 four"]


@pytest.fixture
def store(app: Flask) -> FileStore:
    store = runtime(app).store
    for data in FILES:
        store.put(data, "application/octet-stream")
    db.session.commit()
    return store


@pytest.fixture
def keyring_path(app: Flask) -> Path:
    return Path(app.config["STORAGE_KEYRING_PATH"])


def sha_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_key(store: FileStore, data: bytes) -> str:
    raw = raw_blob(store, sha_of(data))
    return raw[5 : 5 + raw[4]].decode("ascii")


def actions() -> list[str]:
    return list(db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_verify_passes_on_intact_files_and_names_a_tampered_one(
    runner: FlaskCliRunner, store: FileStore
) -> None:
    ok = runner.invoke(storage_cli, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "4 filer kontrollerade, 0 skadade eller saknade." in ok.output

    flip_a_byte(store, sha_of(FILES[1]))
    bad = runner.invoke(storage_cli, ["verify"])

    assert bad.exit_code == 1
    assert f"SKADAD {hashlib.sha256(FILES[1]).hexdigest()}" in bad.output
    assert "1 skadade eller saknade" in bad.output
    for intact in (FILES[0], FILES[2], FILES[3]):
        assert hashlib.sha256(intact).hexdigest() not in bad.output


def test_verify_reports_a_file_the_database_names_but_the_disk_lacks(
    runner: FlaskCliRunner, store: FileStore
) -> None:
    drop_blob(store, sha_of(FILES[0]))
    result = runner.invoke(storage_cli, ["verify"])
    assert result.exit_code == 1
    assert f"SKADAD {hashlib.sha256(FILES[0]).hexdigest()}: missing" in result.output
    assert db.session.get(StoredFile, hashlib.sha256(FILES[0]).hexdigest()) is not None


def test_rotate_key_moves_every_file_to_a_new_key_and_is_audited(
    runner: FlaskCliRunner, store: FileStore, keyring_path: Path
) -> None:
    old = keys.load_keyring(keyring_path).active_id

    result = runner.invoke(storage_cli, ["rotate-key"])

    assert result.exit_code == 0, result.output
    new = keys.load_keyring(keyring_path).active_id
    assert new != old
    assert f"Aktiv nyckel: {new}. Omkrypterade: 4, redan klara: 0." in result.output
    assert {stored_key(store, d) for d in FILES} == {new}
    assert runner.invoke(storage_cli, ["verify"]).exit_code == 0
    assert actions()[-1] == "storage_key_rotate"
    assert audit.verify()[1] is None  # the event joined the hash chain properly


def test_resume_finishes_an_interrupted_rotation_then_old_keys_can_be_retired(
    runner: FlaskCliRunner, store: FileStore, keyring_path: Path
) -> None:
    old = keys.load_keyring(keyring_path).active_id

    def crash(_sha: str) -> None:
        raise KeyboardInterrupt  # the operator pressed Ctrl-C after the first file

    with pytest.raises(KeyboardInterrupt):
        keys.rotate(keyring_path, store, progress=crash)
    new = keys.load_keyring(keyring_path).active_id

    early = runner.invoke(storage_cli, ["retire-keys"])
    assert early.exit_code == 0 and "Alla nycklar används" in early.output
    assert set(keys.load_keyring(keyring_path).keys) == {old, new}

    resumed = runner.invoke(storage_cli, ["rotate-key", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert f"Aktiv nyckel: {new}. Omkrypterade: 3, redan klara: 1." in resumed.output
    assert {stored_key(store, d) for d in FILES} == {new}

    retired = runner.invoke(storage_cli, ["retire-keys"])
    assert retired.exit_code == 0, retired.output
    assert f"Borttagna nycklar: {old}" in retired.output
    assert set(keys.load_keyring(keyring_path).keys) == {new}
    assert runner.invoke(storage_cli, ["verify"]).exit_code == 0
    assert actions()[-2:] == ["storage_key_resume", "storage_key_retire"]


def test_rotate_and_retire_say_which_file_is_broken_and_fail(
    runner: FlaskCliRunner, store: FileStore, keyring_path: Path
) -> None:
    victim = hashlib.sha256(FILES[3]).hexdigest()
    flip_a_byte(store, victim)

    rotated = runner.invoke(storage_cli, ["rotate-key"])
    assert rotated.exit_code == 1
    assert f"SKADAD {victim}" in rotated.output
    assert "1 filer kunde inte läsas" in rotated.output

    refused = runner.invoke(storage_cli, ["retire-keys"])
    assert refused.exit_code == 1
    assert "Inga nycklar togs bort" in refused.output
    assert len(keys.load_keyring(keyring_path).keys) == 2


def test_key_commands_refuse_when_encryption_is_off(make_app: Callable[..., Flask]) -> None:
    plain = make_app(STORAGE_ENCRYPTION=False)
    result = plain.test_cli_runner().invoke(storage_cli, ["rotate-key"])
    assert result.exit_code == 1
    assert "Kryptering av lagrade filer är avstängd" in result.output
