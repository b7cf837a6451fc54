"""Content-addressed file storage under STORAGE_DIR, encrypted at rest (docs/adr/005)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask_babel import gettext as _

from formsvc.extensions import db
from formsvc.models import StoredFile

#: First bytes of an encrypted file; files without it were written before encryption.
MAGIC = b"FSE1"
NONCE_BYTES = 12
TAG_BYTES = 16
#: A key id is short printable ASCII so the header stays small and safe to print.
KEY_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


class KeySource(Protocol):
    """Where FileStore gets its keys: a fixed keyring, or one re-read when its file changes."""

    def active(self) -> tuple[str, bytes]:
        """The (key id, key) new files are encrypted under."""
        ...

    def key(self, key_id: str) -> bytes | None:
        """The key with *key_id*, or None if this keyring does not hold it."""
        ...


class StoredFileError(OSError):
    """A stored file is missing, altered, under an unknown key or does not match its hash."""

    def __init__(self, sha256: str, reason: str) -> None:
        super().__init__(f"stored file {sha256}: {reason}")
        #: the file's name (SHA-256 of its plaintext)
        self.sha256 = sha256
        #: what was wrong, in English, for logs and the operator
        self.reason = reason

    @property
    def message(self) -> str:
        """What a user is told (Swedish source string, translated when shown)."""
        return _(
            "Den lagrade filen är skadad eller har ändrats och visas inte. "
            "Kontakta administratören."
        )


def is_sha256(name: str) -> bool:
    """True if *name* is a lower-case hex SHA-256, i.e. a valid stored file name."""
    return _SHA_RE.fullmatch(name) is not None


def encrypt(data: bytes, sha256: str, key_id: str, key: bytes) -> bytes:
    """The on-disk form of *data*: MAGIC, key id, nonce, AES-GCM ciphertext bound to its name."""
    kid = key_id.encode("ascii")
    nonce = os.urandom(NONCE_BYTES)
    # the name is the associated data, so a file copied over another's name fails to open
    sealed = AESGCM(key).encrypt(nonce, data, sha256.encode("ascii"))
    return MAGIC + bytes([len(kid)]) + kid + nonce + sealed


def header_key_id(blob: bytes) -> str | None:
    """The key id in an encrypted file's header; None for a file without the magic (plaintext).

    Raises ValueError for a header that starts with the magic but is malformed.
    """
    if not blob.startswith(MAGIC):
        return None
    if len(blob) < len(MAGIC) + 1:
        raise ValueError("truncated header")
    n = blob[len(MAGIC)]
    raw = blob[len(MAGIC) + 1 : len(MAGIC) + 1 + n]
    try:
        key_id = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("key id is not ASCII") from None
    if len(raw) != n or not KEY_ID_RE.fullmatch(key_id):
        raise ValueError("malformed key id")
    return key_id


def decrypt(blob: bytes, sha256: str, keys: KeySource | None) -> bytes:
    """The plaintext of an on-disk file named *sha256*; StoredFileError unless it is intact."""
    try:
        data = _open(blob, sha256, keys)
    except StoredFileError:
        # a file from before encryption whose content happens to start with MAGIC
        if hashlib.sha256(blob).hexdigest() == sha256:
            return blob
        raise
    # with AES-GCM this cannot fail unless put() was wrong; for plaintext it is the only check
    if hashlib.sha256(data).hexdigest() != sha256:
        raise StoredFileError(sha256, "content does not match its hash")
    return data


def _open(blob: bytes, sha256: str, keys: KeySource | None) -> bytes:
    try:
        key_id = header_key_id(blob)
    except ValueError as exc:
        raise StoredFileError(sha256, f"malformed header ({exc})") from None
    if key_id is None:
        return blob  # written before encryption (or by an instance with encryption off)
    key = keys.key(key_id) if keys is not None else None
    if key is None:
        raise StoredFileError(sha256, f"unknown key id {key_id!r}")
    start = len(MAGIC) + 1 + len(key_id)
    nonce = blob[start : start + NONCE_BYTES]
    sealed = blob[start + NONCE_BYTES :]
    if len(nonce) != NONCE_BYTES or len(sealed) < TAG_BYTES:
        raise StoredFileError(sha256, "truncated")
    try:
        return AESGCM(key).decrypt(nonce, sealed, sha256.encode("ascii"))
    except InvalidTag:
        raise StoredFileError(sha256, "authentication failed (altered or renamed)") from None


def private_dir(path: Path) -> Path:
    """Create *path* and any missing parents readable by the owner only (0700); returns it.

    Instance data is personal data: folders 0700 and files 0600 whatever the process umask.
    """
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened: set it
    return path


def private_file(path: Path) -> Path:
    """Make sure *path* exists readable by the owner only (0600), e.g. before SQLite opens it
    (SQLite would create it 0644; its -journal, -wal and -shm files copy the file's mode)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for companion in (path, *(Path(f"{path}{s}") for s in ("-journal", "-wal", "-shm"))):
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)  # an older install's world-readable file
        except FileNotFoundError:
            pass
    return path


def write_atomically(path: Path, blob: bytes, mode: int = 0o600) -> None:
    """Temp file + fsync + rename + fsync of the folder: the name holds the old or the new bytes
    (*mode* is set before the rename, so the name never shows wider rights)."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # makes the rename itself survive a power cut
    finally:
        os.close(dir_fd)


class FileStore:
    """Writes bytes once under their SHA-256, encrypted; reading authenticates and re-checks.

    With *keyring* None (STORAGE_ENCRYPTION off) new files are written as plaintext.
    """

    def __init__(self, root: str | Path, keyring: KeySource | None) -> None:
        self.root = Path(root)
        self._keys = keyring

    def _path(self, sha256: str) -> Path:
        if not is_sha256(sha256):  # the name becomes a path: never let it climb out of root
            raise StoredFileError(sha256, "not a SHA-256 name")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, content_type: str) -> StoredFile:
        """Store *data* (idempotent) and return its row, added to the session."""
        sha = hashlib.sha256(data).hexdigest()
        path = self._path(sha)
        if not path.exists():
            if self._keys is None:
                blob = data
            else:
                key_id, key = self._keys.active()
                blob = encrypt(data, sha, key_id, key)
            write_atomically(path, blob)
        row = db.session.get(StoredFile, sha)
        if row is None:
            row = StoredFile(sha256=sha, size=len(data), content_type=content_type)
            db.session.add(row)
        return row

    def get(self, sha256: str) -> bytes:
        """Return the bytes stored under *sha256*; StoredFileError if missing or altered."""
        return decrypt(self._read(sha256), sha256, self._keys)

    def _read(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise StoredFileError(sha256, "missing") from None

    def delete(self, sha256: str) -> bool:
        """Remove the file (retention); True if it was there. The caller drops the row first."""
        path = self._path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False  # a retried purge after a crash: already gone
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # a deletion for retention must not come back after a power cut
        finally:
            os.close(dir_fd)
        return True

    def names(self) -> Iterator[str]:
        """Every stored file's name, sorted (temporary files of unfinished writes are skipped)."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if is_sha256(path.name) and path.name[:2] == folder.name and path.is_file():
                    yield path.name

    def key_in_use(self, sha256: str, keyring: KeySource) -> str | None:
        """The id of the key that opens the file (None: plaintext); StoredFileError if none does."""
        blob = self._read(sha256)
        return _key_in_use(blob, decrypt(blob, sha256, keyring))

    def reencrypt(self, sha256: str, keyring: KeySource) -> bool:
        """Rewrite the file under *keyring*'s active key; False if it already was under it.

        Decrypts with any key in *keyring*, checks the hash, then replaces the file atomically,
        so the name always holds a complete old or a complete new file.
        """
        blob = self._read(sha256)
        key_id, key = keyring.active()
        data = decrypt(blob, sha256, keyring)  # a damaged file is reported, never skipped
        if _key_in_use(blob, data) == key_id:
            return False
        write_atomically(self._path(sha256), encrypt(data, sha256, key_id, key))
        return True


def _key_in_use(blob: bytes, data: bytes) -> str | None:
    # decrypt() hands back the very same object only for plaintext, whose first bytes may look
    # like a header by chance; anything else was opened with the key its header names
    return None if data is blob else header_key_id(blob)
