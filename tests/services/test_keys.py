"""Storage keys: a private keyring, rotation that survives interruption, retiring unused keys."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from formsvc.extensions import db
from formsvc.runtime import runtime
from formsvc.services import keys
from formsvc.services.storage import FileStore, StoredFileError
from tests.blob_backends import flip_a_byte, raw_blob, set_raw_blob

FILES = [
    b"%PDF-1.7 frozen consent for signing",
    b"%PDF-1.7 sealed consent with evidence page",
    b"PK\x03\x04 a Word template",
    b"\x89PNG\r\n\x1a\n a drawn signature",
    b"\xff\xd8\xff a paper scan",
    b"%PDF-1.7 a withdrawal document",
]


pytestmark = pytest.mark.usefixtures("blob_backend")


def header_key(store: FileStore, sha: str) -> str | None:
    """The key id as it stands in the stored blob's header (None: plaintext)."""
    raw = raw_blob(store, sha)
    if not raw.startswith(b"FSE1"):
        return None
    return raw[5 : 5 + raw[4]].decode("ascii")


@pytest.fixture
def keyring_path(app: Flask) -> Path:
    return Path(app.config["STORAGE_KEYRING_PATH"])


@pytest.fixture
def store(app: Flask) -> FileStore:
    """The app's own store (it re-reads the keyring file), holding the six FILES."""
    store = runtime(app).store
    for data in FILES:
        store.put(data, "application/octet-stream")
    db.session.commit()
    return store


def shas() -> list[str]:
    return sorted(hashlib.sha256(d).hexdigest() for d in FILES)


def every_file_reads_back(store: FileStore) -> None:
    for data in FILES:
        assert store.get(hashlib.sha256(data).hexdigest()) == data


def test_a_new_keyring_is_private_holds_one_key_and_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "new" / "storage-keys.json"  # tmp_path holds the test app's keyring
    ring = keys.create_keyring(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = json.loads(path.read_text())
    assert raw["active"] == ring.active_id and list(raw["keys"]) == [ring.active_id]
    assert len(base64.b64decode(raw["keys"][ring.active_id])) == 32
    with pytest.raises(FileExistsError):
        keys.create_keyring(path)
    assert json.loads(path.read_text()) == raw
    assert repr(ring.keys[ring.active_id]) not in repr(ring)  # a logged keyring shows no key


def test_rotation_reencrypts_every_file_under_a_new_key_and_keeps_the_old_one(
    store: FileStore, keyring_path: Path
) -> None:
    old = keys.load_keyring(keyring_path).active_id
    before = {s: raw_blob(store, s) for s in shas()}
    assert {header_key(store, s) for s in shas()} == {old}

    report = keys.rotate(keyring_path, store)

    assert report.complete and report.reencrypted == len(FILES) and report.unchanged == 0
    assert report.active_id != old
    assert {header_key(store, s) for s in shas()} == {report.active_id}
    assert all(raw_blob(store, s) != before[s] for s in shas())
    ring = keys.load_keyring(keyring_path)
    assert ring.active_id == report.active_id and set(ring.keys) == {old, report.active_id}
    assert stat.S_IMODE(keyring_path.stat().st_mode) == 0o600
    every_file_reads_back(store)


class Interrupted(Exception):
    pass


def stop_after(n: int) -> Callable[[str], None]:
    done: list[str] = []

    def hook(sha: str) -> None:
        done.append(sha)
        if len(done) == n:
            raise Interrupted

    return hook


def test_an_interrupted_rotation_loses_nothing_and_resume_finishes_it(
    store: FileStore, keyring_path: Path
) -> None:
    old = keys.load_keyring(keyring_path).active_id
    with pytest.raises(Interrupted):
        keys.rotate(keyring_path, store, progress=stop_after(2))
    new = keys.load_keyring(keyring_path).active_id
    on_disk = [header_key(store, s) for s in shas()]
    assert on_disk.count(new) == 2 and on_disk.count(old) == len(FILES) - 2

    # mid-way the running app reads both kinds and writes new files under the new key
    every_file_reads_back(store)
    late = store.put(b"%PDF-1.7 written during the rotation", "application/pdf").sha256
    assert header_key(store, late) == new

    report = keys.resume(keyring_path, store)

    assert report.complete and report.active_id == new
    assert report.reencrypted == len(FILES) - 2 and report.unchanged == 3
    assert {header_key(store, s) for s in [*shas(), late]} == {new}
    every_file_reads_back(store)


KILLED_ROTATION = textwrap.dedent(
    """
    import os, signal, sys
    from formsvc.services import keys
    from formsvc.services.storage import FileStore

    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        # call 1 installs the keyring; calls 2-3 finish two files; the 4th file is fully
        # written to its temporary name when the process dies, as with kill -9
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    os.replace = replace
    keys.rotate(sys.argv[1], FileStore(sys.argv[2], None))
    """
)


@pytest.mark.parametrize("blob_backend", ["local"], indirect=True)  # its temporary file
def test_a_rotation_killed_mid_write_loses_nothing_and_resume_finishes_it(
    store: FileStore, keyring_path: Path
) -> None:
    old = keys.load_keyring(keyring_path).active_id
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_ROTATION, str(keyring_path), str(store.backend.root)],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    new = keys.load_keyring(keyring_path).active_id
    assert new != old
    assert [p.name for p in store.backend.root.rglob(".tmp-*")]  # the half-done write is left over
    assert sorted(store.names()) == shas()  # ... and is not taken for a stored file
    assert [header_key(store, s) for s in shas()].count(new) == 2
    every_file_reads_back(store)

    report = keys.resume(keyring_path, store)

    assert report.complete and report.reencrypted == len(FILES) - 2
    assert {header_key(store, s) for s in shas()} == {new}
    every_file_reads_back(store)


def test_old_keys_are_retired_only_when_no_file_uses_them(
    store: FileStore, keyring_path: Path
) -> None:
    old = keys.load_keyring(keyring_path).active_id
    assert keys.retire_unused(keyring_path, store) == []  # the only key is active and in use
    with pytest.raises(Interrupted):
        keys.rotate(keyring_path, store, progress=stop_after(3))
    new = keys.load_keyring(keyring_path).active_id

    assert keys.retire_unused(keyring_path, store) == []  # three files still need the old key
    assert set(keys.load_keyring(keyring_path).keys) == {old, new}
    every_file_reads_back(store)

    keys.resume(keyring_path, store)
    assert keys.retire_unused(keyring_path, store) == [old]

    ring = keys.load_keyring(keyring_path)
    assert ring.active_id == new and set(ring.keys) == {new}
    every_file_reads_back(store)


def test_keys_are_not_retired_while_a_file_cannot_be_opened(
    store: FileStore, keyring_path: Path
) -> None:
    keys.rotate(keyring_path, store)
    before = keyring_path.read_bytes()
    victim = shas()[0]
    flip_a_byte(store, victim, -1)

    with pytest.raises(keys.RetireRefused) as info:
        keys.retire_unused(keyring_path, store)

    assert [e.sha256 for e in info.value.broken] == [victim]
    assert keyring_path.read_bytes() == before


def test_a_rotation_reports_a_tampered_file_leaves_it_and_moves_the_rest(
    store: FileStore, keyring_path: Path
) -> None:
    victim = shas()[2]
    raw = flip_a_byte(store, victim)

    report = keys.rotate(keyring_path, store)

    assert not report.complete
    assert [e.sha256 for e in report.broken] == [victim]
    assert report.reencrypted == len(FILES) - 1
    assert raw_blob(store, victim) == raw
    with pytest.raises(StoredFileError):
        store.get(victim)


def test_files_from_before_encryption_are_encrypted_by_a_resumed_pass(
    app: Flask, keyring_path: Path
) -> None:
    store = runtime(app).store
    for data in FILES:  # as an instance without encryption left them
        sha = hashlib.sha256(data).hexdigest()
        set_raw_blob(store, sha, data)
    every_file_reads_back(store)

    report = keys.resume(keyring_path, store)

    active = keys.load_keyring(keyring_path).active_id
    assert report.complete and report.reencrypted == len(FILES)
    for data in FILES:
        sha = hashlib.sha256(data).hexdigest()
        assert header_key(store, sha) == active
        assert data not in raw_blob(store, sha)
    every_file_reads_back(store)
