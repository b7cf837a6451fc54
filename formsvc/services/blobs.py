"""Where stored files' encrypted bytes live: a directory, the database or S3 (docs/adr/019).

A backend only keeps opaque blobs under their name (the SHA-256 of the plaintext); FileStore
encrypts above it, so every backend holds the same ciphertext and none sees a plaintext.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from formsvc.extensions import db
from formsvc.models import StoredBlob

_SHA_RE = re.compile(r"[0-9a-f]{64}")
#: The names STORAGE_BACKEND (and `flask storage migrate --to`) accepts.
BACKENDS = ("local", "database", "s3")


def is_sha256(name: str) -> bool:
    """True if *name* is a lower-case hex SHA-256, i.e. a valid stored file name."""
    return _SHA_RE.fullmatch(name) is not None


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


class BlobBackend(Protocol):
    """Keeps encrypted blobs under their SHA-256 name; knows nothing of keys or plaintext."""

    name: str  #: "local" | "database" | "s3"

    def write(self, sha256: str, blob: bytes) -> None:
        """Store *blob* under *sha256*, replacing what was there; never a half blob visible."""
        ...

    def read(self, sha256: str) -> bytes:
        """The blob under *sha256*; FileNotFoundError if there is none."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove the blob; True if it was there."""
        ...

    def exists(self, sha256: str) -> bool:
        """True if a blob is stored under *sha256*."""
        ...

    def names(self) -> Iterator[str]:
        """Every stored blob's name, sorted."""
        ...

    def check(self) -> None:
        """Raise if the backend cannot be used now (for /readyz: fast, no secrets in the error)."""
        ...


class UnknownBackend(ValueError):
    """STORAGE_BACKEND (or a migrate target) names no backend."""


def _checked(sha256: str) -> str:
    if not is_sha256(sha256):  # the name becomes a path or a key: never let it climb out
        raise ValueError(f"not a SHA-256 name: {sha256[:80]!r}")
    return sha256


class LocalBackend:
    """Blobs as files ``<root>/<sha[:2]>/<sha>``, 0600 in 0700 folders (the layout since 0.1)."""

    name = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the blob named *sha256* lies (whether or not it exists)."""
        sha = _checked(sha256)
        return self.root / sha[:2] / sha

    def write(self, sha256: str, blob: bytes) -> None:
        """Temp file + fsync + rename: the name holds the old or the new bytes."""
        write_atomically(self.path(sha256), blob)

    def read(self, sha256: str) -> bytes:
        """The file's bytes; FileNotFoundError if absent."""
        return self.path(sha256).read_bytes()

    def delete(self, sha256: str) -> bool:
        """Unlink and fsync the folder (a deletion for retention must survive a power cut)."""
        path = self.path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False  # a retried purge after a crash: already gone
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True

    def exists(self, sha256: str) -> bool:
        """True if the file is there."""
        return self.path(sha256).is_file()

    def names(self) -> Iterator[str]:
        """Sorted; temporary files of unfinished writes and strays are skipped."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if is_sha256(path.name) and path.name[:2] == folder.name and path.is_file():
                    yield path.name

    def check(self) -> None:
        """The folder exists (or can be made) and this process may write in it."""
        private_dir(self.root)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError("storage directory is not writable")


class DatabaseBackend:
    """Blobs in table stored_blob, written in the caller's transaction (SQLAlchemy session).

    A blob and the rows that name it commit or roll back together; nothing here commits.
    """

    name = "database"

    def write(self, sha256: str, blob: bytes) -> None:
        """Insert or replace (an upsert, so two writers of one name never collide)."""
        table = StoredBlob.__table__
        dialect = db.session.get_bind().dialect.name
        values = {"sha256": _checked(sha256), "blob": blob}
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(table).values(values)
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).values(values)
        else:
            raise RuntimeError(f"the database backend does not support {dialect}")
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.sha256], set_={"blob": stmt.excluded.blob}
        )
        db.session.execute(stmt)

    def read(self, sha256: str) -> bytes:
        """The blob; FileNotFoundError if no row holds it."""
        sha = _checked(sha256)
        blob = db.session.scalar(select(StoredBlob.blob).where(StoredBlob.sha256 == sha))
        if blob is None:
            raise FileNotFoundError(sha256)
        return bytes(blob)

    def delete(self, sha256: str) -> bool:
        """Delete the row (committed with the caller's transaction)."""
        result = db.session.execute(delete(StoredBlob).where(StoredBlob.sha256 == _checked(sha256)))
        return bool(getattr(result, "rowcount", 0))

    def exists(self, sha256: str) -> bool:
        """True if a row holds the blob."""
        return bool(
            db.session.scalar(select(exists().where(StoredBlob.sha256 == _checked(sha256))))
        )

    def names(self) -> Iterator[str]:
        """Sorted, in pages (the names only: the blobs stay in the database)."""
        after = ""
        while True:
            page = list(
                db.session.scalars(
                    select(StoredBlob.sha256)
                    .where(StoredBlob.sha256 > after)
                    .order_by(StoredBlob.sha256)
                    .limit(1000)
                )
            )
            yield from page
            if len(page) < 1000:
                return
            after = page[-1]

    def check(self) -> None:
        """The table is reachable."""
        db.session.execute(select(StoredBlob.sha256).limit(0))


def backend_from_config(config: Mapping[str, Any]) -> BlobBackend:
    """The backend STORAGE_BACKEND names: local (default), database, s3; else UnknownBackend."""
    name = config.get("STORAGE_BACKEND", "local")
    if name == "local":
        return LocalBackend(config["STORAGE_DIR"])
    if name == "database":
        return DatabaseBackend()
    if name == "s3":
        # optional: boto3 is imported only by an instance that uses S3
        from formsvc.services.blobs_s3 import S3Backend

        return S3Backend(config["STORAGE_S3"])
    raise UnknownBackend(
        f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {str(name)[:40]!r}"
    )


def backend_named(name: str, config: Mapping[str, Any]) -> BlobBackend:
    """Backend *name* with its settings from STORAGE_MIGRATE_TARGETS[name] over *config*'s."""
    if name not in BACKENDS:
        raise UnknownBackend(f"no storage backend {str(name)[:40]!r}")
    targets = config.get("STORAGE_MIGRATE_TARGETS") or {}
    own = targets.get(name) or {}
    return backend_from_config({**config, **own, "STORAGE_BACKEND": name})


@dataclass
class MigrationReport:
    """What `flask storage migrate` did; nothing is ever deleted from the source."""

    copied: int = 0  #: blobs written to the target and read back identical
    present: int = 0  #: blobs the target already held, checked (resumed or repeated run)
    missing: list[str] = field(default_factory=list)  #: named by a row, absent in the source
    broken: list[str] = field(default_factory=list)  #: source blob does not open: not copied
    mismatched: list[str] = field(default_factory=list)  #: the target gave back other bytes

    @property
    def complete(self) -> bool:
        """Every blob is in the target and checked."""
        return not (self.missing or self.broken or self.mismatched)


def migrate(
    source: BlobBackend,
    target: BlobBackend,
    names: Iterable[str],
    opens: Callable[[str, bytes], object],
    *,
    commit: Callable[[], None],
    progress: Callable[[str], None] | None = None,
    active_key: str | None = None,
) -> MigrationReport:
    """Copy every blob in *names* from *source* to *target*, checking each; resumable.

    *opens(sha, blob)* raises unless the blob opens to content with that SHA-256 (FileStore
    decrypts and hashes): a damaged source blob is reported, never copied over a good one.
    A blob the target holds already is kept if it is byte-identical, or if it opens and is
    encrypted under *active_key* (the target was re-encrypted under today's key after an
    earlier run); any other copy is replaced by the source's, so a copy left under a key
    rotated away from since the last run never survives into the target (`retire-keys` only
    looks at the configured backend). *commit* runs after each blob, so an interruption keeps
    what was done.
    """
    report = MigrationReport()
    for sha in names:
        try:
            blob = source.read(sha)
        except FileNotFoundError:
            report.missing.append(sha)
            continue
        try:
            opens(sha, blob)
        except OSError:
            report.broken.append(sha)
            continue
        if _target_holds(target, sha, blob, opens, active_key):
            report.present += 1
        else:
            target.write(sha, blob)
            commit()
            try:
                back = target.read(sha)
            except FileNotFoundError:
                back = None
            if back == blob:
                report.copied += 1
            else:
                report.mismatched.append(sha)
        if progress is not None:
            progress(sha)
    return report


def _target_holds(
    target: BlobBackend,
    sha: str,
    blob: bytes,
    opens: Callable[[str, bytes], object],
    active_key: str | None,
) -> bool:
    from formsvc.services.storage import header_key_id

    try:
        there = target.read(sha)
    except FileNotFoundError:
        return False
    if there == blob:
        return True
    try:
        opens(sha, there)
        kid = header_key_id(there)
    except (OSError, ValueError):
        return False  # a damaged copy from an earlier attempt: written again
    # kept only when it is under today's key; a copy under an older key than the source's
    # would become unreadable once `retire-keys` (which sees only the source) drops that key
    return active_key is not None and kid == active_key
