"""Storage keyring (instance/storage-keys.json) and key rotation for FileStore (docs/adr/005)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from formsvc.extensions import db
from formsvc.services.blobs import DatabaseBackend
from formsvc.services.storage import KEY_ID_RE, FileStore, StoredFileError, write_atomically

KEY_BYTES = 32  # AES-256-GCM


@dataclass(frozen=True)
class Keyring:
    """The storage keys: new files use the active one, every key listed can still be read."""

    active_id: str  #: id of the key new files are encrypted under
    keys: Mapping[str, bytes] = field(repr=False)  #: key id -> 32-byte key; never printed

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise ValueError("the active key is not in the keyring")
        for key_id, key in self.keys.items():
            if not KEY_ID_RE.fullmatch(key_id) or len(key) != KEY_BYTES:
                raise ValueError(f"invalid key {key_id!r} in the keyring")

    def active(self) -> tuple[str, bytes]:
        """The (key id, key) new files are encrypted under."""
        return self.active_id, self.keys[self.active_id]

    def key(self, key_id: str) -> bytes | None:
        """The key with *key_id*, or None."""
        return self.keys.get(key_id)

    def with_new_key(self) -> Keyring:
        """A copy with a fresh random key added and made active; the old keys stay."""
        key_id = new_key_id(self.keys)
        return Keyring(key_id, {**self.keys, key_id: secrets.token_bytes(KEY_BYTES)})


def new_key_id(taken: Mapping[str, bytes] | None = None) -> str:
    """A key id that says when it was made: k20260115T101500Z-3fa2."""
    while True:
        key_id = f"k{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        if not taken or key_id not in taken:
            return key_id


def load_keyring(path: str | Path) -> Keyring:
    """Read a keyring file; FileNotFoundError if missing, ValueError if malformed."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        keys = {k: base64.b64decode(v, validate=True) for k, v in raw["keys"].items()}
        return Keyring(raw["active"], keys)
    except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"{path} is not a storage keyring: {exc!r}") from None


def write_keyring(path: str | Path, keyring: Keyring) -> None:
    """Replace the keyring file atomically, readable by its owner only (0600)."""
    path = Path(path)
    payload = {
        "active": keyring.active_id,
        "keys": {k: base64.b64encode(v).decode("ascii") for k, v in keyring.keys.items()},
    }
    write_atomically(path, (json.dumps(payload, indent=2) + "\n").encode("utf-8"), 0o600)


def create_keyring(path: str | Path) -> Keyring:
    """Write a new keyring with one random key; FileExistsError if *path* exists."""
    if Path(path).exists():
        raise FileExistsError(f"{path} exists; a keyring is never overwritten")
    key_id = new_key_id()
    keyring = Keyring(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})
    write_keyring(path, keyring)
    return keyring


class KeyringFile:
    """The keyring at *path*, re-read when the file is replaced (a rotation by another process).

    A running app therefore writes new files under the new key and reads files re-encrypted
    by `flask storage rotate-key` without a restart.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._keyring = load_keyring(self.path)

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def current(self) -> Keyring:
        """The keyring as the file holds it now (one stat per call; re-read only on change)."""
        try:
            stamp = self._stat()
        except FileNotFoundError:
            return self._keyring  # deleted while running: keep serving with what we have
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._keyring = load_keyring(self.path)
                    self._stamp = stamp
        return self._keyring

    def active(self) -> tuple[str, bytes]:
        """The (key id, key) new files are encrypted under."""
        return self.current().active()

    def key(self, key_id: str) -> bytes | None:
        """The key with *key_id*, or None."""
        return self.current().key(key_id)


@dataclass
class RotationReport:
    """What a rotation pass did."""

    active_id: str  #: the key every readable file is now under
    reencrypted: int = 0  #: files rewritten in this pass
    unchanged: int = 0  #: files that already were under the active key
    broken: list[StoredFileError] = field(default_factory=list)  #: files that could not be read

    @property
    def complete(self) -> bool:
        """Every file is under the active key."""
        return not self.broken


def rotate(
    keyring_path: str | Path, store: FileStore, *, progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Add a new key, make it active, then re-encrypt every file under it.

    The keyring is written first and keeps the old keys, so each file is always readable whether
    or not it has been rewritten yet; after an interruption `resume` finishes the work.
    """
    keyring = load_keyring(keyring_path).with_new_key()
    write_keyring(keyring_path, keyring)
    return _pass(keyring, store, progress)


def resume(
    keyring_path: str | Path, store: FileStore, *, progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Re-encrypt every file not yet under the active key (after an interruption, or plaintext)."""
    return _pass(load_keyring(keyring_path), store, progress)


def _pass(
    keyring: Keyring, store: FileStore, progress: Callable[[str], None] | None
) -> RotationReport:
    report = RotationReport(keyring.active_id)
    for sha in store.names():
        try:
            changed = store.reencrypt(sha, keyring)
        except StoredFileError as exc:
            report.broken.append(exc)  # left as it is: an operator restores it from a backup
            continue
        if isinstance(store.backend, DatabaseBackend):
            db.session.commit()  # it writes in the session: a file done stays done if interrupted
        if changed:
            report.reencrypted += 1
        else:
            report.unchanged += 1
        if progress is not None:
            progress(sha)
    return report


class RetireRefused(Exception):
    """Keys are not retired while some file cannot be opened: it may need one of them."""

    def __init__(self, broken: list[StoredFileError]) -> None:
        super().__init__(f"{len(broken)} stored file(s) cannot be opened")
        #: the files that could not be opened
        self.broken = broken


def retire_unused(keyring_path: str | Path, store: FileStore) -> list[str]:
    """Remove the keys no file is under any more; returns their ids.

    Opens every file first; if any cannot be opened nothing is removed (RetireRefused), because
    a damaged file restored from a backup may need an old key. The active key always stays.
    """
    keyring = load_keyring(keyring_path)
    used = {keyring.active_id}
    broken: list[StoredFileError] = []
    for sha in store.names():
        try:
            key_id = store.key_in_use(sha, keyring)
        except StoredFileError as exc:
            broken.append(exc)
            continue
        if key_id is not None:
            used.add(key_id)
    if broken:
        raise RetireRefused(broken)
    # re-read: a rotation that started meanwhile keeps its new key and its choice of active key
    latest = load_keyring(keyring_path)
    unused = sorted(set(keyring.keys) - used - {latest.active_id})
    if unused:
        keep = {k: v for k, v in latest.keys.items() if k not in unused}
        write_keyring(keyring_path, Keyring(latest.active_id, keep))
    return unused
