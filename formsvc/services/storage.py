"""Content-addressed file storage, encrypted at rest (docs/adr/005) in a blob backend (adr/019)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask_babel import gettext as _

from formsvc.extensions import db
from formsvc.models import StoredFile

# the file-system helpers live beside the local backend; imported from here by older modules
from formsvc.services.blobs import BlobBackend, LocalBackend, is_sha256
from formsvc.services.blobs import private_dir as private_dir
from formsvc.services.blobs import private_file as private_file
from formsvc.services.blobs import write_atomically as write_atomically

#: First bytes of an encrypted file; files without it were written before encryption.
MAGIC = b"FSE1"
NONCE_BYTES = 12
TAG_BYTES = 16
#: A key id is short printable ASCII so the header stays small and safe to print.
KEY_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


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


class FileStore:
    """Writes bytes once under their SHA-256, encrypted; reading authenticates and re-checks.

    Where the encrypted blobs live is the *backend*'s business (a path means the local
    directory). With *keyring* None (STORAGE_ENCRYPTION off) new files are written as plaintext.
    """

    def __init__(self, backend: BlobBackend | str | Path, keyring: KeySource | None) -> None:
        #: where the encrypted blobs are kept
        self.backend: BlobBackend = (
            LocalBackend(backend) if isinstance(backend, str | Path) else backend
        )
        self._keys = keyring

    def active_key_id(self) -> str | None:
        """The id of the key new files are encrypted under; None without encryption."""
        return self._keys.active()[0] if self._keys is not None else None

    @staticmethod
    def _checked(sha256: str) -> str:
        if not is_sha256(sha256):  # the name becomes a path or a key: never let it climb out
            raise StoredFileError(sha256[:80], "not a SHA-256 name")
        return sha256

    def put(self, data: bytes, content_type: str) -> StoredFile:
        """Store *data* (idempotent) and return its row, added to the session.

        With the database backend the blob joins the caller's transaction, like the row.
        """
        sha = hashlib.sha256(data).hexdigest()
        if not self._holds_intact(sha):  # absent, or damaged/planted bytes under the name
            if self._keys is None:
                blob = data
            else:
                key_id, key = self._keys.active()
                blob = encrypt(data, sha, key_id, key)
            self.backend.write(sha, blob)
        row = db.session.get(StoredFile, sha)
        if row is None:
            row = StoredFile(sha256=sha, size=len(data), content_type=content_type)
            db.session.add(row)
        return row

    def _holds_intact(self, sha: str) -> bool:
        """True if the backend holds a blob under *sha* that opens to exactly that content.

        put() trusts nothing else: junk under the name (a crashed tool, a write to the bucket
        by someone who guessed an expected file's hash) is replaced by the fresh upload.
        """
        if not self.backend.exists(sha):
            return False
        try:
            decrypt(self.backend.read(sha), sha, self._keys)
        except (FileNotFoundError, StoredFileError):
            return False
        return True

    def delete_unless_named(self, sha256: str) -> bool:
        """Delete the blob unless a StoredFile row names it (again): retention calls this after
        committing the rows' deletion, so a new upload of the same bytes in between keeps them.
        """
        named = db.session.scalar(
            db.select(StoredFile.sha256).where(StoredFile.sha256 == sha256).limit(1)
        )
        return False if named is not None else self.delete(sha256)

    def get(self, sha256: str) -> bytes:
        """Return the bytes stored under *sha256*; StoredFileError if missing or altered."""
        return decrypt(self.read_blob(sha256), sha256, self._keys)

    def read_blob(self, sha256: str) -> bytes:
        """The stored (encrypted) bytes as the backend holds them; StoredFileError if missing."""
        try:
            return self.backend.read(self._checked(sha256))
        except FileNotFoundError:
            raise StoredFileError(sha256, "missing") from None

    def open_blob(self, sha256: str, blob: bytes) -> bytes:
        """The plaintext of *blob* stored as *sha256*; StoredFileError unless it is intact."""
        return decrypt(blob, sha256, self._keys)

    def delete(self, sha256: str) -> bool:
        """Remove the file (retention); True if it was there. The caller drops the row first
        (and commits: with the database backend the deletion is part of its transaction)."""
        return self.backend.delete(self._checked(sha256))

    def names(self) -> Iterator[str]:
        """Every stored file's name, sorted."""
        return self.backend.names()

    def check(self) -> None:
        """Raise if the backend cannot be used now (for /readyz)."""
        self.backend.check()

    def key_in_use(self, sha256: str, keyring: KeySource) -> str | None:
        """The id of the key that opens the file (None: plaintext); StoredFileError if none does."""
        blob = self.read_blob(sha256)
        return _key_in_use(blob, decrypt(blob, sha256, keyring))

    def reencrypt(self, sha256: str, keyring: KeySource) -> bool:
        """Rewrite the file under *keyring*'s active key; False if it already was under it.

        Decrypts with any key in *keyring*, checks the hash, then replaces the blob atomically,
        so the name always holds a complete old or a complete new file.
        """
        blob = self.read_blob(sha256)
        key_id, key = keyring.active()
        data = decrypt(blob, sha256, keyring)  # a damaged file is reported, never skipped
        if _key_in_use(blob, data) == key_id:
            return False
        self.backend.write(sha256, encrypt(data, sha256, key_id, key))
        return True


def _key_in_use(blob: bytes, data: bytes) -> str | None:
    # decrypt() hands back the very same object only for plaintext, whose first bytes may look
    # like a header by chance; anything else was opened with the key its header names
    return None if data is blob else header_key_id(blob)
