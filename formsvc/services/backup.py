"""Backup and restore: a consistent snapshot of the database and the stored files (issue 5.7).

Layout of a backup folder (docs/adr/006-backup.md)::

    db/<table>.jsonl            one JSON object per row, tables in dependency order
    files/<2 hex>/<sha256>      the stored files exactly as the blob backend holds them
                                (encrypted, opaque; the same whichever backend: docs/adr/019)
    keys/<keyring file name>    only with include_keys
    manifest.json               written last: a folder without it is an incomplete backup
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.script import ScriptDirectory
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Table,
    bindparam,
    create_engine,
    delete,
    false,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from formsvc.extensions import db
from formsvc.models import StoredBlob, StoredFile
from formsvc.services import audit
from formsvc.services.storage import (
    FileStore,
    StoredFileError,
    private_dir,
    private_file,
    write_atomically,
)

FORMAT = "formsvc-backup-1"
MANIFEST = "manifest.json"
#: Rows per INSERT batch on restore: bounded memory for any table size.
BATCH = 500
_CHUNK = 1 << 20
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_STORED_FILE = StoredFile.__tablename__


def _tables() -> list[Table]:
    """The tables a backup holds as rows: stored_blob's blobs go under files/ like any backend's."""
    return [t for t in db.metadata.sorted_tables if t.name != StoredBlob.__tablename__]


class BackupError(Exception):
    """A backup or restore that must not go on; ``message`` is for the operator (Swedish)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup as written: checked again before a restore touches anything."""

    sha256: str  #: of the bytes in the backup (for stored files: the encrypted bytes on disk)
    size: int  #: bytes


@dataclass(frozen=True)
class Restored:
    """What a restore did; never part of manifest.json."""

    files_copied: int  #: stored files written into the blob backend
    files_present: int  #: stored files already there with identical bytes
    #: "restored" (written, none was there), "unchanged" (identical), "replaced" (the old one
    #: was moved to ``keyring_aside``), "not_in_backup", "not_configured"
    keyring: str
    keyring_aside: Path | None  #: where a different keyring that was in the way now lies
    audit_checked: int  #: audit events whose hash chain verified
    audit_broken_id: int | None  #: first event that breaks the chain, None if whole


@dataclass(frozen=True)
class Manifest:
    """manifest.json: what a complete backup holds."""

    created_at: datetime  #: when the database snapshot was taken (UTC)
    alembic_revision: str  #: database schema version of the snapshot
    backend: str  #: "sqlite" or "postgresql": where it came from (restores into either)
    tables: dict[str, int]  #: rows per table, in dependency order
    stored_files: int  #: stored_file rows, each with its file under files/
    keyring: str | None  #: path of the keyring copy in the backup; None: keys kept elsewhere
    files: dict[str, FileEntry]  #: every file of the backup but manifest.json, by relative path
    restored: Restored | None = field(default=None, compare=False)  #: set by restore only

    @property
    def size(self) -> int:
        """Bytes of the backup (without the manifest)."""
        return sum(f.size for f in self.files.values())

    def to_json(self) -> str:
        """The manifest as stored."""
        return json.dumps(
            {
                "format": FORMAT,
                "created_at": self.created_at.isoformat(),
                "alembic_revision": self.alembic_revision,
                "backend": self.backend,
                "tables": self.tables,
                "stored_files": self.stored_files,
                "keyring": self.keyring,
                "files": {k: {"sha256": v.sha256, "size": v.size} for k, v in self.files.items()},
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        """Parse manifest.json; BackupError if it is not one."""
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            return cls(
                created_at=datetime.fromisoformat(data["created_at"]),
                alembic_revision=str(data["alembic_revision"]),
                backend=str(data["backend"]),
                tables={str(k): int(v) for k, v in data["tables"].items()},
                stored_files=int(data["stored_files"]),
                keyring=data["keyring"],
                files={
                    str(k): FileEntry(str(v["sha256"]), int(v["size"]))
                    for k, v in data["files"].items()
                },
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(
                _("manifest.json är inte ett formsvc-manifest (%(error)s).", error=str(exc))
            ) from None


# --------------------------------------------------------------------------- backup


def backup(dest: Path, *, store: FileStore, keyring: Path | None, include_keys: bool) -> Manifest:
    """Write a consistent snapshot of the database and its stored files into *dest*.

    *dest* must not exist or be an empty folder. The service may keep running: the rows come
    from one snapshot, and every file a snapshot row names was written before its row committed.
    """
    dest = Path(dest)
    _prepare_destination(dest)
    files: dict[str, FileEntry] = {}
    with _snapshot(dest) as conn:
        created_at = datetime.now(UTC).replace(microsecond=0)
        revision = _revision_of(conn)
        tables: dict[str, int] = {}
        shas: list[str] = []
        for table in _tables():
            rel = f"db/{table.name}.jsonl"
            collect = shas.append if table.name == _STORED_FILE else None
            tables[table.name], files[rel] = _dump_table(conn, table, dest / rel, collect)
    for sha in shas:
        rel = _stored_rel(sha)
        files[rel] = _copy_stored(store, sha, dest / rel)
    keyring_rel = None
    if include_keys and keyring is not None and Path(keyring).is_file():
        # after the files: a key rotation writes its keyring before re-encrypting, so this copy
        # holds every key the copied files can be under
        keyring_rel = f"keys/{Path(keyring).name}"
        files[keyring_rel] = _copy_plain(Path(keyring), dest / keyring_rel)
    manifest = Manifest(
        created_at=created_at,
        alembic_revision=revision,
        backend=db.engine.dialect.name,
        tables=tables,
        stored_files=len(shas),
        keyring=keyring_rel,
        files=files,
    )
    write_atomically(dest / MANIFEST, manifest.to_json().encode(), 0o600)
    return manifest


def _prepare_destination(dest: Path) -> None:
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise BackupError(
                _(
                    "%(path)s finns redan och är inte en tom mapp. En säkerhetskopia skrivs "
                    "aldrig över: välj en ny mapp.",
                    path=str(dest),
                )
            )
        dest.chmod(0o700)
    else:
        private_dir(dest)  # personal data: readable by the operator only


@contextmanager
def _snapshot(workdir: Path) -> Iterator[Connection]:
    """A connection that sees one consistent state of the whole database while it is open."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            yield conn
            conn.rollback()
    elif engine.dialect.name == "sqlite":
        # pysqlite runs SELECTs outside a transaction, so reading table after table could mix
        # states; the online backup API copies the database as of one moment instead
        copy = private_file(workdir / ".snapshot.sqlite")
        raw = engine.raw_connection()
        try:
            target = sqlite3.connect(copy)
            try:
                raw.driver_connection.backup(target)
            finally:
                target.close()
        finally:
            raw.close()
        snap = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
        try:
            with snap.connect() as conn:
                yield conn
        finally:
            snap.dispose()
            for suffix in ("", "-journal", "-wal", "-shm"):  # a WAL source makes a WAL copy
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
    else:
        raise BackupError(
            _("Databasen %(name)s stöds inte för säkerhetskopiering.", name=engine.dialect.name)
        )


def _revision_of(conn: Connection) -> str:
    try:
        revisions = list(conn.scalars(text("SELECT version_num FROM alembic_version")))
    except DBAPIError:
        revisions = []
    if len(revisions) != 1:
        raise BackupError(
            _("Databasen har ingen entydig schemaversion: kör `flask db upgrade` först.")
        )
    return str(revisions[0])


def _dump_table(
    conn: Connection, table: Table, path: Path, collect: Callable[[str], None] | None
) -> tuple[int, FileEntry]:
    stmt = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=1000)
    count = 0
    with _HashingWriter(path) as out:
        for row in conn.execute(stmt).mappings():
            out.write(_row_line(row))
            if collect is not None:
                collect(row["sha256"])
            count += 1
    return count, out.entry


def _row_line(row: Any) -> bytes:
    line = json.dumps(
        {key: _encode(value) for key, value in row.items()},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return line.encode() + b"\n"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _stored_rel(sha: str) -> str:
    if not _SHA_RE.fullmatch(sha):  # the name becomes a path
        raise BackupError(_("Ogiltigt filnamn i stored_file: %(name)r.", name=sha))
    return f"files/{sha[:2]}/{sha}"


def _copy_stored(store: FileStore, sha: str, dst: Path) -> FileEntry:
    try:
        blob = store.read_blob(sha)  # one read: a rotation may replace the blob, never half of it
    except StoredFileError:
        raise BackupError(
            _(
                "Den lagrade filen %(sha)s saknas i lagringsmappen fast databasen hänvisar till "
                "den. Säkerhetskopian är ofullständig: kör `flask storage verify` och försök igen.",
                sha=sha,
            )
        ) from None
    with _HashingWriter(dst) as out:
        out.write(blob)
    return out.entry


def _copy_plain(src: Path, dst: Path) -> FileEntry:
    """Copy bytes as they are; the size read must be the size of the file that was opened."""
    with src.open("rb") as fin:
        # fstat of the open file: a rotation may replace the name meanwhile, never these bytes
        expected = os.fstat(fin.fileno()).st_size
        with _HashingWriter(dst) as out:
            while chunk := fin.read(_CHUNK):
                out.write(chunk)
    if out.entry.size != expected or dst.stat().st_size != expected:
        raise BackupError(
            _(
                "Kopian av %(path)s har fel storlek (%(got)d byte i stället för %(want)d).",
                path=str(src),
                got=dst.stat().st_size,
                want=expected,
            )
        )
    return out.entry


class _HashingWriter:
    """A new file that is hashed, counted and fsynced as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hash = hashlib.sha256()
        self._size = 0

    def __enter__(self) -> _HashingWriter:
        private_dir(self.path.parent)
        # never overwrite anything in a backup; personal data: the owner only
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh = os.fdopen(fd, "wb")
        return self

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self._size += len(data)

    def __exit__(self, *exc: object) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    @property
    def entry(self) -> FileEntry:
        return FileEntry(self._hash.hexdigest(), self._size)


# --------------------------------------------------------------------------- restore


def read_manifest(src: Path) -> Manifest:
    """The manifest of the backup in *src*; BackupError if the backup is incomplete."""
    path = Path(src) / MANIFEST
    if not path.is_file():
        raise BackupError(
            _(
                "%(path)s saknas: säkerhetskopian är ofullständig (den avbröts innan den blev "
                "klar) och kan inte återställas.",
                path=str(path),
            )
        )
    return Manifest.from_json(path.read_text(encoding="utf-8"))


def restore(src: Path, *, store: FileStore, keyring: Path | None, force: bool) -> Manifest:
    """Bring the backup in *src* back: check it, then files, rows, keys, and verify the audit log.

    Nothing is changed unless every file of the backup matches the manifest, the schema
    versions agree and the database is empty (or *force*: then every row is deleted first).
    """
    src = Path(src)
    manifest = read_manifest(src)
    _verify_files(src, manifest)
    tables = _check_schema(manifest)
    shas = _check_stored_files(src, manifest)
    _check_empty(tables, force)
    copied = present = 0
    for sha in shas:  # files before their rows, as the app writes them
        rel = _stored_rel(sha)
        if _restore_stored(src / rel, store, sha, manifest.files[rel]):
            copied += 1
        else:
            present += 1
    db.session.commit()  # the database backend wrote in the session; the rows come on their own
    _restore_rows(src, tables, force)
    # after the rows: a restore that fails in the database leaves the keyring as it was
    keyring_state, aside = _restore_keyring(src, manifest, keyring)
    db.session.expire_all()  # the caller's session must not serve rows from before
    checked, broken = audit.verify()
    return replace(
        manifest,
        restored=Restored(
            files_copied=copied,
            files_present=present,
            keyring=keyring_state,
            keyring_aside=aside,
            audit_checked=checked,
            audit_broken_id=broken.id if broken is not None else None,
        ),
    )


def _safe_path(src: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel:
        raise BackupError(_("Manifestet pekar utanför säkerhetskopian: %(path)r.", path=rel))
    return src.joinpath(*parts)


def _verify_files(src: Path, manifest: Manifest) -> None:
    """Every file the manifest lists, byte for byte, before anything is touched."""
    bad: list[str] = []
    for rel, entry in manifest.files.items():
        path = _safe_path(src, rel)
        try:
            got = _hash_file(path)
        except OSError:  # missing, or not a file
            bad.append(rel)
            continue
        if got != entry:
            bad.append(rel)
    if bad:
        raise BackupError(
            _(
                "Säkerhetskopian är skadad eller har ändrats och återställs inte: %(count)d "
                "fil(er) stämmer inte med manifestet (%(files)s).",
                count=len(bad),
                files=", ".join(bad[:5]) + (" …" if len(bad) > 5 else ""),
            )
        )


def _hash_file(path: Path) -> FileEntry:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileEntry(h.hexdigest(), size)


def head_revision() -> str:
    """The schema version this code expects (the Alembic head)."""
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) != 1:
        raise BackupError(_("Migreringarna har flera huvudversioner: %(heads)s.", heads=heads))
    return heads[0]


def _check_schema(manifest: Manifest) -> list[Table]:
    head = head_revision()
    if manifest.alembic_revision != head:
        raise BackupError(
            _(
                "Säkerhetskopian har databasversion %(backup)s men programmet har %(head)s. "
                "Återställ den med den formsvc-version som har databasversion %(backup)s och kör "
                "sedan `flask db upgrade`.",
                backup=manifest.alembic_revision,
                head=head,
            )
        )
    with db.engine.connect() as conn:
        current = _revision_of(conn)
    if current != head:
        raise BackupError(
            _(
                "Databasen har version %(current)s men programmet har %(head)s: kör "
                "`flask db upgrade` först.",
                current=current,
                head=head,
            )
        )
    tables = _tables()
    names = {t.name for t in tables}
    if set(manifest.tables) != names:
        raise BackupError(
            _(
                "Säkerhetskopians tabeller stämmer inte med databasens (%(diff)s).",
                diff=", ".join(sorted(set(manifest.tables) ^ names)),
            )
        )
    for t in tables:
        if f"db/{t.name}.jsonl" not in manifest.files:
            raise BackupError(_("Tabellen %(name)s saknas i säkerhetskopian.", name=t.name))
    return tables


def _check_stored_files(src: Path, manifest: Manifest) -> list[str]:
    """The stored_file rows' names; they and the keyring must be verified files of the backup."""
    shas = [str(row.get("sha256")) for row in _read_rows(src / f"db/{_STORED_FILE}.jsonl")]
    missing = [s for s in shas if _stored_rel(s) not in manifest.files]
    if manifest.keyring is not None and manifest.keyring not in manifest.files:
        missing.append(manifest.keyring)  # only checked files are ever read
    if missing:
        raise BackupError(
            _(
                "Säkerhetskopian saknar %(count)d filer som den hänvisar till.",
                count=len(missing),
            )
        )
    return shas


def _check_empty(tables: Iterable[Table], force: bool) -> None:
    if force:
        return
    with db.engine.connect() as conn:
        used = [t.name for t in tables if conn.scalar(select(func.count()).select_from(t))]
    if used:
        raise BackupError(
            _(
                "Databasen är inte tom (%(tables)s). Återställning ersätter allt: använd "
                "--force om det är meningen.",
                tables=", ".join(used),
            )
        )


def _restore_keyring(
    src: Path, manifest: Manifest, keyring: Path | None
) -> tuple[str, Path | None]:
    if manifest.keyring is None:
        return "not_in_backup", None
    if keyring is None:
        return "not_configured", None
    keyring = Path(keyring)
    data = _safe_path(src, manifest.keyring).read_bytes()
    if keyring.is_file():
        if keyring.read_bytes() == data:
            return "unchanged", None
        # a keyring is never destroyed: the one in the way (e.g. a fresh `make setup`) is kept
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = keyring.with_name(f"{keyring.name}.before-restore-{stamp}")
        os.replace(keyring, aside)
        write_atomically(keyring, data, 0o600)
        return "replaced", aside
    write_atomically(keyring, data, 0o600)
    return "restored", None


def _restore_stored(src: Path, store: FileStore, sha: str, entry: FileEntry) -> bool:
    """Put one stored file back; False if identical bytes are already there."""
    try:
        there = store.read_blob(sha)
    except StoredFileError:
        there = None
    if there is not None and FileEntry(hashlib.sha256(there).hexdigest(), len(there)) == entry:
        return False
    # the name may hold other bytes (e.g. the same content under another key): the backup's
    # are the ones its keys and rows belong to; each backend replaces a blob atomically
    store.backend.write(sha, src.read_bytes())
    return True


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except ValueError:
                raise BackupError(
                    _("Rad %(n)d i %(path)s är inte JSON.", n=number, path=str(path))
                ) from None
            if not isinstance(row, dict):
                raise BackupError(
                    _("Rad %(n)d i %(path)s är inte en rad.", n=number, path=str(path))
                )
            yield row


def _restore_rows(src: Path, tables: list[Table], force: bool) -> None:
    """Every row in one transaction: a failure leaves the database as it was."""
    try:
        _insert_all(src, tables, force)
    except DBAPIError as exc:
        raise BackupError(
            _(
                "Raderna kunde inte läggas in, databasen är oförändrad: %(error)s",
                error=str(exc.orig).strip().splitlines()[0],
            )
        ) from None


def _insert_all(src: Path, tables: list[Table], force: bool) -> None:
    with db.engine.begin() as conn:
        if force:
            for table in reversed(tables):  # core DELETE: the audit log refuses ORM deletes
                conn.execute(delete(table))
        for table in tables:
            stmt, prepare = _inserter(table, src / f"db/{table.name}.jsonl")
            batch: list[dict[str, Any]] = []
            for row in _read_rows(src / f"db/{table.name}.jsonl"):
                batch.append(prepare(row))
                if len(batch) >= BATCH:
                    conn.execute(stmt, batch)
                    batch = []
            if batch:
                conn.execute(stmt, batch)
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn, tables)


def _inserter(table: Table, path: Path) -> tuple[Any, Callable[[dict[str, Any]], dict[str, Any]]]:
    """A core INSERT for *table* and a function turning a backup row into its parameters."""
    columns = {c.name: c for c in table.columns}
    decoders = {name: _decoder(c) for name, c in columns.items()}
    json_columns = [c for c in table.columns if isinstance(c.type, JSON)]
    stmt = insert(table)
    if json_columns:
        # None in a JSON column goes back as SQL NULL (as the ORM wrote it), not JSON 'null'
        stmt = stmt.values(
            {c: bindparam(f"json__{c.name}", type_=JSON(none_as_null=True)) for c in json_columns}
        )
    renamed = {c.name: f"json__{c.name}" for c in json_columns}

    def prepare(row: dict[str, Any]) -> dict[str, Any]:
        unknown = set(row) - set(columns)
        if unknown:
            raise BackupError(
                _(
                    "%(path)s har okända kolumner: %(names)s.",
                    path=str(path),
                    names=", ".join(sorted(unknown)),
                )
            )
        return {renamed.get(k, k): decoders[k](row.get(k)) for k in columns}

    return stmt, prepare


def _decoder(column: Column[Any]) -> Callable[[Any], Any]:
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = object
    parse: Callable[[Any], Any] | None = {
        datetime: datetime.fromisoformat,
        date: date.fromisoformat,
        time: time.fromisoformat,
        bytes: base64.b64decode,
        Decimal: Decimal,
    }.get(kind)
    if parse is None:
        return lambda value: value
    return lambda value: None if value is None else parse(value)


def _reset_sequences(conn: Connection, tables: Iterable[Table]) -> None:
    """Rows came with their ids: move each id sequence past the largest one."""
    quote = conn.dialect.identifier_preparer
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = func.pg_get_serial_sequence(quote.format_table(table), column.name)
        after = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
        conn.execute(select(func.setval(sequence, after, false())))
