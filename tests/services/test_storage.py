"""Encrypted content-addressed storage: only ciphertext stored, same bytes once, changes refused.

Every test runs once per blob backend (tests/blob_backends.py).
"""

from __future__ import annotations

import hashlib
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
from tests.blob_backends import drop_blob, flip_a_byte, raw_blob, set_raw_blob
from tests.conftest import Auth, World
from tests.helpers import pdf_text
from tests.views.test_signing import send, starting_today

PDF = b"%PDF-1.7\n% a small but recognisable document: Asa Oberg, 20100315-1234\n%%EOF\n"
SWEDISH = "Den lagrade filen är skadad eller har ändrats och visas inte. Kontakta administratören."

pytestmark = pytest.mark.usefixtures("blob_backend")


@pytest.fixture
def store(app: Flask, tmp_path: Path) -> FileStore:
    """The app's backend with a keyring of its own."""
    backend = runtime(app).store.backend
    return FileStore(backend, create_keyring(tmp_path / "keys.json"))


def test_put_is_idempotent_and_only_ciphertext_is_stored(store: FileStore) -> None:
    a = store.put(PDF, "application/pdf")
    raw = raw_blob(store, a.sha256)
    b = store.put(PDF, "application/pdf")
    db.session.commit()
    assert a.sha256 == b.sha256 == hashlib.sha256(PDF).hexdigest()
    assert db.session.scalar(db.select(db.func.count(StoredFile.sha256))) == 1
    assert db.session.get(StoredFile, a.sha256).size == len(PDF)
    assert raw_blob(store, a.sha256) == raw  # the second put wrote nothing
    assert list(store.names()) == [a.sha256]
    assert raw.startswith(b"FSE1")
    assert b"%PDF" not in raw and b"Oberg" not in raw and b"20100315" not in raw
    assert store.get(a.sha256) == PDF


def test_everything_the_app_stores_is_encrypted(
    app: Flask, consent_doc: Document, blob_backend: str
) -> None:
    store = runtime(app).store
    assert store.backend.name == blob_backend
    names = list(store.names())
    assert names  # at least the consent's Word template
    for sha in names:
        raw = raw_blob(store, sha)
        assert raw.startswith(b"FSE1")
        assert b"PK\x03\x04" not in raw and b"word/document.xml" not in raw
        assert store.get(sha).startswith(b"PK\x03\x04")
    if blob_backend != "local":  # nothing lands in the directory of the local backend
        assert not Path(app.config["STORAGE_DIR"]).exists()


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
    db.session.commit()
    raw = raw_blob(store, sha)
    pos = {
        "magic": 0,
        "key id": 6,
        "nonce": header_length(raw) - 1,
        "ciphertext": header_length(raw) + 10,
        "tag": len(raw) - 1,
    }[where]
    flip_a_byte(store, sha, pos)
    with pytest.raises(StoredFileError) as info:
        store.get(sha)
    assert info.value.sha256 == sha
    assert info.value.message == SWEDISH


def test_a_file_copied_over_another_files_name_is_refused(store: FileStore) -> None:
    a = store.put(PDF, "application/pdf").sha256
    b = store.put(b"%PDF-1.7 another document", "application/pdf").sha256
    db.session.commit()
    set_raw_blob(store, b, raw_blob(store, a))
    with pytest.raises(StoredFileError, match="authentication failed"):
        store.get(b)
    assert store.get(a) == PDF


def test_a_missing_file_an_unknown_key_or_a_bad_name_is_refused(
    store: FileStore, tmp_path: Path
) -> None:
    sha = store.put(PDF, "application/pdf").sha256
    db.session.commit()
    stranger = FileStore(store.backend, create_keyring(tmp_path / "other-keys.json"))
    with pytest.raises(StoredFileError, match="unknown key id"):
        stranger.get(sha)
    with pytest.raises(StoredFileError, match="unknown key id"):
        FileStore(store.backend, None).get(sha)  # encryption switched off cannot read it either
    for bad in ("../" + sha[3:], sha.upper(), sha[:63], sha + "0", "", "x" * 5000, sha[:63] + "\n"):
        with pytest.raises(StoredFileError, match="not a SHA-256 name"):
            store.get(bad)
        with pytest.raises(StoredFileError, match="not a SHA-256 name"):
            store.delete(bad)
    drop_blob(store, sha)
    with pytest.raises(StoredFileError, match="missing"):
        store.get(sha)
    assert db.session.get(StoredFile, sha) is not None  # the row alone does not make a file


def test_delete_removes_the_file_once(store: FileStore) -> None:
    sha = store.put(PDF, "application/pdf").sha256
    db.session.commit()
    assert store.delete(sha) is True
    db.session.commit()
    assert not store.backend.exists(sha) and list(store.names()) == []
    assert store.delete(sha) is False  # a retried purge is harmless
    with pytest.raises(StoredFileError, match="missing"):
        store.get(sha)


def test_files_written_before_encryption_are_read_and_still_hash_checked(store: FileStore) -> None:
    # including plaintext that happens to begin like an encrypted file
    for data in (PDF, b"FSE1\x02k1" + b"x" * 40):
        sha = hashlib.sha256(data).hexdigest()
        set_raw_blob(store, sha, data)
        assert store.get(sha) == data
        set_raw_blob(store, sha, data.replace(b"x", b"y").replace(b"small", b"SMALL"))
        with pytest.raises(StoredFileError, match="does not match|malformed|unknown key"):
            store.get(sha)


def test_without_encryption_new_files_are_plaintext(app: Flask) -> None:
    plain = FileStore(runtime(app).store.backend, None)
    sha = plain.put(PDF, "application/pdf").sha256
    assert raw_blob(plain, sha) == PDF
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

    flip_a_byte(runtime(app).store, doc.frozen_pdf_sha256)

    resp = client.get(f"/documents/{doc.id}/frozen.pdf")
    assert resp.status_code == 422
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert SWEDISH in page
    assert b"%PDF" not in resp.data


def test_put_replaces_junk_already_under_the_name(store: FileStore) -> None:
    """A planted or damaged blob under an expected file's hash is not trusted (review SS1)."""
    data = b"an expected file " * 40
    sha = hashlib.sha256(data).hexdigest()
    set_raw_blob(store, sha, b"garbage")
    db.session.commit()
    store.put(data, "application/pdf")
    db.session.commit()
    assert store.get(sha) == data


def test_retention_keeps_a_blob_uploaded_again_after_its_row_went(store: FileStore) -> None:
    """Retention deletes the rows, commits, then the blobs; a new upload of the very same bytes
    in between names the blob again, and the purge leaves it (review SD2)."""
    data = b"the same scan, uploaded again " * 30
    sha = hashlib.sha256(data).hexdigest()
    store.put(data, "application/pdf")
    db.session.commit()
    db.session.execute(db.delete(StoredFile).where(StoredFile.sha256 == sha))
    db.session.commit()  # retention's first commit
    store.put(data, "application/pdf")  # another request
    db.session.commit()
    assert store.delete_unless_named(sha) is False  # retention goes on with its blobs
    db.session.commit()
    assert store.get(sha) == data
    # and a blob nobody names any more does go
    db.session.execute(db.delete(StoredFile).where(StoredFile.sha256 == sha))
    db.session.commit()
    assert store.delete_unless_named(sha) is True
    db.session.commit()
    with pytest.raises(StoredFileError):
        store.get(sha)
