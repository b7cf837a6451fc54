"""Encrypted content-addressed storage: ciphertext on disk, same bytes once, changes refused."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import Document, StoredFile
from formsvc.runtime import runtime
from formsvc.services.keys import create_keyring
from formsvc.services.storage import FileStore, StoredFileError
from tests.conftest import Auth, World
from tests.helpers import pdf_text
from tests.views.test_signing import send, starting_today

PDF = b"%PDF-1.7\n% a small but recognisable document: Asa Oberg, 20100315-1234\n%%EOF\n"
SWEDISH = "Den lagrade filen är skadad eller har ändrats och visas inte. Kontakta administratören."


def on_disk(root: Path, sha: str) -> Path:
    return root / sha[:2] / sha


@pytest.fixture
def store(app: Flask, tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files", create_keyring(tmp_path / "keys.json"))


def test_put_is_idempotent_and_only_ciphertext_reaches_the_disk(
    store: FileStore, tmp_path: Path
) -> None:
    a = store.put(PDF, "application/pdf")
    raw = on_disk(store.root, a.sha256).read_bytes()
    b = store.put(PDF, "application/pdf")
    db.session.commit()
    assert a.sha256 == b.sha256 == hashlib.sha256(PDF).hexdigest()
    assert db.session.scalar(db.select(db.func.count(StoredFile.sha256))) == 1
    assert db.session.get(StoredFile, a.sha256).size == len(PDF)
    assert on_disk(store.root, a.sha256).read_bytes() == raw  # the second put wrote nothing
    assert raw.startswith(b"FSE1")
    assert b"%PDF" not in raw and b"Oberg" not in raw and b"20100315" not in raw
    assert store.get(a.sha256) == PDF


def test_everything_the_app_stores_is_encrypted(app: Flask, consent_doc: Document) -> None:
    root = Path(app.config["STORAGE_DIR"])
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files  # at least the consent's Word template
    for path in files:
        raw = path.read_bytes()
        assert raw.startswith(b"FSE1")
        assert b"PK\x03\x04" not in raw and b"word/document.xml" not in raw
        assert runtime(app).store.get(path.name).startswith(b"PK\x03\x04")


def header_length(raw: bytes) -> int:
    return 4 + 1 + raw[4] + 12


@pytest.mark.parametrize(
    "where",
    ["magic", "key id", "nonce", "ciphertext", "tag"],
)
def test_one_changed_byte_anywhere_is_refused_with_a_swedish_message(
    store: FileStore, where: str
) -> None:
    sha = store.put(PDF, "application/pdf").sha256
    path = on_disk(store.root, sha)
    raw = bytearray(path.read_bytes())
    pos = {
        "magic": 0,
        "key id": 6,
        "nonce": header_length(raw) - 1,
        "ciphertext": header_length(raw) + 10,
        "tag": len(raw) - 1,
    }[where]
    raw[pos] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(StoredFileError) as info:
        store.get(sha)
    assert info.value.sha256 == sha
    assert info.value.message == SWEDISH


def test_a_file_copied_over_another_files_name_is_refused(store: FileStore) -> None:
    a = store.put(PDF, "application/pdf").sha256
    b = store.put(b"%PDF-1.7 another document", "application/pdf").sha256
    shutil.copy(on_disk(store.root, a), on_disk(store.root, b))
    with pytest.raises(StoredFileError, match="authentication failed"):
        store.get(b)
    assert store.get(a) == PDF


def test_a_missing_file_an_unknown_key_or_a_bad_name_is_refused(
    store: FileStore, tmp_path: Path
) -> None:
    sha = store.put(PDF, "application/pdf").sha256
    stranger = FileStore(store.root, create_keyring(tmp_path / "other-keys.json"))
    with pytest.raises(StoredFileError, match="unknown key id"):
        stranger.get(sha)
    with pytest.raises(StoredFileError, match="unknown key id"):
        FileStore(store.root, None).get(sha)  # encryption switched off cannot read it either
    with pytest.raises(StoredFileError, match="not a SHA-256 name"):
        store.get("../" + sha[3:])
    on_disk(store.root, sha).unlink()
    with pytest.raises(StoredFileError, match="missing"):
        store.get(sha)


def test_delete_removes_the_file_once(store: FileStore) -> None:
    sha = store.put(PDF, "application/pdf").sha256
    assert store.delete(sha) is True
    assert not on_disk(store.root, sha).exists()
    assert store.delete(sha) is False  # a retried purge is harmless
    with pytest.raises(StoredFileError, match="missing"):
        store.get(sha)


def test_files_written_before_encryption_are_read_and_still_hash_checked(store: FileStore) -> None:
    # including plaintext that happens to begin like an encrypted file
    for data in (PDF, b"FSE1\x02k1" + b"x" * 40):
        sha = hashlib.sha256(data).hexdigest()
        path = on_disk(store.root, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        assert store.get(sha) == data
        path.write_bytes(data.replace(b"x", b"y").replace(b"small", b"SMALL"))
        with pytest.raises(StoredFileError, match="does not match|malformed|unknown key"):
            store.get(sha)


def test_without_encryption_new_files_are_plaintext(app: Flask, tmp_path: Path) -> None:
    plain = FileStore(tmp_path / "plain", None)
    sha = plain.put(PDF, "application/pdf").sha256
    assert on_disk(plain.root, sha).read_bytes() == PDF
    assert plain.get(sha) == PDF


def test_the_app_refuses_to_start_without_its_keyring(
    config: dict[str, Any], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere" / "storage-keys.json")
    with pytest.raises(RuntimeError, match="make setup"):
        create_app({**config, "STORAGE_KEYRING_PATH": missing})
    off = create_app({**config, "STORAGE_KEYRING_PATH": missing, "STORAGE_ENCRYPTION": False})
    with off.app_context():
        db.engine.dispose()


def test_a_tampered_frozen_pdf_is_answered_with_422_and_the_swedish_message(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    doc = db.session.get(Document, consent_doc.id)
    ok = client.get(f"/documents/{doc.id}/frozen.pdf")
    assert ok.status_code == 200 and "MEDGIVANDE" in pdf_text(ok.data).upper()

    path = on_disk(Path(app.config["STORAGE_DIR"]), doc.frozen_pdf_sha256)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x80
    path.write_bytes(bytes(raw))

    resp = client.get(f"/documents/{doc.id}/frozen.pdf")
    assert resp.status_code == 422
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert SWEDISH in page
    assert b"%PDF" not in resp.data
