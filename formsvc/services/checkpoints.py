"""Signed checkpoints of the audit chain, anchored outside the database (docs/adr/008).

The hash chain alone proves nothing against someone who can write to the database: they can
delete the newest events or rewrite rows and recompute every hash. A checkpoint is the chain's
head (event count, head id, head hash, time) signed with the audit key, an Ed25519 key in a file
under instance/ that the database never holds. It is written in the transaction of the event it
covers (so under the chain's append lock), and after the commit it is appended to an exported
JSON-lines file and, if configured, mailed. `verify_log` checks rows, links and every checkpoint
of the database and of the file against each other.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask_babel import gettext as _
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from formsvc.extensions import db
from formsvc.models import AuditCheckpoint, AuditEvent
from formsvc.models._base import utcnow
from formsvc.services import mail
from formsvc.services.storage import private_dir

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
#: Events that are anchored at once: a signature and a seal must never rest on an unsigned tail.
ANCHORED_ACTIONS = {"sign": "sign", "seal": "seal"}
_PENDING = "formsvc.checkpoints.pending"
#: How far back the exporter reads the file to find its last line (a line is < 1 kB).
_TAIL_BYTES = 8192


# --------------------------------------------------------------------------- the key


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 of its bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def create_key(path: str | Path) -> str:
    """Write a new Ed25519 audit key (PKCS#8 PEM, 0600); FileExistsError if *path* exists."""
    path = Path(path)
    private_dir(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    return key_id(key.public_key())


def load_key(path: str | Path) -> Ed25519PrivateKey:
    """Read the audit key; FileNotFoundError if missing, ValueError if it is not an Ed25519 key."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """The public half as PEM, to keep outside the server and to verify the exported file."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --------------------------------------------------------------------------- a checkpoint


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint as signed: the same fields in the database and in the exported file."""

    seq: int  #: 1, 2, 3 …
    at: datetime  #: when it was made (UTC, whole seconds)
    count: int  #: events in the chain up to and with the head
    head_id: int  #: id of the head event
    head_hash: str  #: hash of the head event
    reason: str  #: "sign", "seal", "interval" or "manual"
    key: str  #: id of the key that signed it
    sig: str = ""  #: Ed25519 signature of `payload()`, base64

    def payload(self) -> bytes:
        """The bytes that are signed."""
        return json.dumps(
            {
                "v": 1,
                "seq": self.seq,
                "at": self.at.isoformat(),
                "count": self.count,
                "head_id": self.head_id,
                "head_hash": self.head_hash,
                "reason": self.reason,
                "key": self.key,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def line(self) -> str:
        """The checkpoint as one line of the exported file."""
        data = json.loads(self.payload())
        data["sig"] = self.sig
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> Checkpoint:
        """From its database row."""
        return cls(
            row.seq,
            row.created_at,
            row.event_count,
            row.head_id,
            row.head_hash,
            row.reason,
            row.key_id,
            row.signature,
        )

    @classmethod
    def from_line(cls, line: str) -> Checkpoint:
        """From a line of the exported file; ValueError if it is not one."""
        try:
            data = json.loads(line)
            return cls(
                int(data["seq"]),
                datetime.fromisoformat(data["at"]),
                int(data["count"]),
                int(data["head_id"]),
                str(data["head_hash"]),
                str(data["reason"]),
                str(data["key"]),
                str(data["sig"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(str(exc)) from None

    def signed_by(self, keys: Mapping[str, Ed25519PublicKey]) -> str:
        """'ok', 'unknown_key' (not one of ours) or 'bad' (edited, or forged)."""
        public = keys.get(self.key)
        if public is None:
            return "unknown_key"
        try:
            public.verify(base64.b64decode(self.sig, validate=True), self.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return "bad"
        return "ok"


# --------------------------------------------------------------------------- writing


class Anchor:
    """The running app's checkpoint writer: the audit key, loaded once, and where to export."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.key_path = Path(str(settings["AUDIT_KEY_PATH"]))
        self._key = load_key(self.key_path)
        #: the key id every new checkpoint carries
        self.key_id = key_id(self._key.public_key())
        self.every = max(1, int(settings["AUDIT_CHECKPOINT_EVERY"]))
        file = settings.get("AUDIT_CHECKPOINT_FILE")
        #: the exported JSON-lines file, or None
        self.file: Path | None = Path(str(file)) if file else None
        self.trusted_dir = Path(str(settings.get("AUDIT_TRUSTED_KEYS_DIR") or ""))
        self.email: str | None = settings.get("AUDIT_CHECKPOINT_EMAIL") or None
        self.settings = settings

    def sign(self, cp: Checkpoint) -> Checkpoint:
        """*cp* with this key's id and signature."""
        from dataclasses import replace

        unsigned = replace(cp, key=self.key_id, sig="")
        sig = base64.b64encode(self._key.sign(unsigned.payload())).decode("ascii")
        return replace(unsigned, sig=sig)

    def after_append(self, ev: AuditEvent) -> Checkpoint | None:
        """Called by audit.record after *ev* is flushed (the append lock is held): write a
        checkpoint if *ev* is a signature or a seal, or N events have passed since the last."""
        last = _last_row()
        reason = ANCHORED_ACTIONS.get(ev.action)
        if reason is None:
            since = ev.id - (last.head_id if last is not None else 0)
            if since < self.every:
                return None
            reason = "interval"
        return self.write(ev, last, reason)

    def write(self, head: AuditEvent, last: AuditCheckpoint | None, reason: str) -> Checkpoint:
        """Sign and add a checkpoint of *head*, which must be the newest event (lock held)."""
        if last is not None and last.head_id == head.id:
            return Checkpoint.from_row(last)  # already anchored (e.g. a seal at an interval)
        after = last.head_id if last is not None else 0
        count = (last.event_count if last is not None else 0) + int(
            db.session.scalar(select(func.count()).where(AuditEvent.id > after)) or 0
        )
        cp = self.sign(
            Checkpoint(
                seq=(last.seq if last is not None else 0) + 1,
                at=utcnow().replace(microsecond=0),
                count=count,
                head_id=head.id,
                head_hash=head.hash,
                reason=reason,
                key=self.key_id,
            )
        )
        db.session.add(
            AuditCheckpoint(
                seq=cp.seq,
                created_at=cp.at,
                event_count=cp.count,
                head_id=cp.head_id,
                head_hash=cp.head_hash,
                reason=cp.reason,
                key_id=cp.key,
                signature=cp.sig,
            )
        )
        db.session.flush()
        # exported only once the transaction commits: a rolled-back checkpoint never leaves
        db.session.info.setdefault(_PENDING, []).append((self, cp))
        return cp

    def export(self, cp: Checkpoint) -> None:
        """Append *cp* (and any committed checkpoint the file still lacks) to the file, then mail
        it. Runs after the commit; a failure is logged, the database keeps the checkpoint."""
        if self.file is not None:
            try:
                self._append(cp)
            except Exception:  # noqa: BLE001 - the caller's transaction is committed already
                logger.exception("could not export audit checkpoint %s to %s", cp.seq, self.file)
        if self.email:
            try:
                mail.send(
                    self.settings,
                    mail.Mail(
                        self.email,
                        _("Granskningsloggens kontrollpunkt %(seq)d", seq=cp.seq),
                        _(
                            "Spara det här meddelandet. Raden nedan är en signerad kontrollpunkt "
                            "av granskningsloggen; `flask audit verify` jämför loggen med den.\n"
                        )
                        + "\n"
                        + cp.line()
                        + "\n",
                    ),
                )
            except Exception:  # noqa: BLE001
                logger.exception("could not mail audit checkpoint %s", cp.seq)

    def _append(self, cp: Checkpoint) -> None:
        assert self.file is not None
        private_dir(self.file.parent)
        fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # one writer at a time across processes; lines go in seq order, none twice
            fcntl.flock(fd, fcntl.LOCK_EX)
            last_seq, ends_clean = _tail_seq(fd)
            if last_seq >= cp.seq:
                return  # another process caught up past this one already
            missing: list[Checkpoint] = []
            if last_seq < cp.seq - 1:
                # a crash (or a slower process) left committed checkpoints out: add them in order
                with Session(db.engine) as other:  # not the committed caller's session
                    missing = [
                        Checkpoint.from_row(row)
                        for row in other.scalars(
                            select(AuditCheckpoint)
                            .where(AuditCheckpoint.seq > last_seq, AuditCheckpoint.seq < cp.seq)
                            .order_by(AuditCheckpoint.seq)
                        )
                    ]
            text = "".join(c.line() + "\n" for c in [*missing, cp])
            os.write(fd, (b"" if ends_clean else b"\n") + text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def trusted_keys(self) -> dict[str, Ed25519PublicKey]:
        """The keys checkpoints may be signed with: the audit key as it is on disk now, and the
        public keys of earlier audit keys in AUDIT_TRUSTED_KEYS_DIR (*.pem)."""
        keys: dict[str, Ed25519PublicKey] = {}
        try:
            current = load_key(self.key_path).public_key()
            keys[key_id(current)] = current
        except (OSError, ValueError):
            logger.warning("the audit key %s cannot be read", self.key_path)
        if self.trusted_dir and self.trusted_dir.is_dir():
            for pem_file in sorted(self.trusted_dir.glob("*.pem")):
                try:
                    public = serialization.load_pem_public_key(pem_file.read_bytes())
                except (OSError, ValueError):
                    logger.warning("skipping unreadable audit public key %s", pem_file)
                    continue
                if isinstance(public, Ed25519PublicKey):
                    keys[key_id(public)] = public
        return keys


def _tail_seq(fd: int) -> tuple[int, bool]:
    """(seq of the file's last checkpoint line or 0, whether the file ends with a newline)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, True
    start = max(0, size - _TAIL_BYTES)
    tail = os.pread(fd, size - start, start)
    for line in reversed(tail.splitlines()):
        try:
            return Checkpoint.from_line(line.decode()).seq, tail.endswith(b"\n")
        except (ValueError, UnicodeDecodeError):
            continue  # a torn or foreign line: `audit verify` reports it
    return 0, tail.endswith(b"\n")


def _last_row() -> AuditCheckpoint | None:
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))


def checkpoint_now(anchor: Anchor, actor_label: str) -> Checkpoint:
    """Record an `audit_checkpoint` event and anchor it now (e.g. from cron); commits."""
    from formsvc.services import audit

    ev = audit.record(
        "audit_checkpoint", actor_id=None, actor_label=actor_label, object_type="audit"
    )
    cp = anchor.write(ev, _last_row(), "manual")
    db.session.commit()
    return cp


@event.listens_for(Session, "after_commit")
def _export_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for anchor, cp in pending or ():
        anchor.export(cp)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Problem:
    """One thing `audit verify` found; *kind* is stable (tests, monitoring), *text* Swedish."""

    kind: str
    text: str


@dataclass
class LogReport:
    """What a full check of the log found."""

    events: int = 0  #: events read
    checkpoints: int = 0  #: distinct checkpoints checked (database and file together)
    exported: int = 0  #: lines in the exported file
    unanchored: int = 0  #: events after the newest checkpoint
    #: id of the newest event a valid checkpoint vouches for with the whole chain up to it
    #: intact (0: none); every signature and seal event must be at or before it
    anchored_upto: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  #: not failures

    def add(self, kind: str, text: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(kind, text))


def _digest(prev_hash: str, ev: AuditEvent) -> str:
    from formsvc.services.audit import _digest as digest

    return digest(prev_hash, ev)


def _when(cp: Checkpoint) -> str:
    return f"{cp.at:%Y-%m-%d %H:%M:%S} UTC"


def verify_log(anchor: Anchor) -> LogReport:
    """Check every row, every link and every checkpoint (database and exported file)."""
    report = LogReport()
    keys = anchor.trusted_keys()
    if not keys:
        report.add(
            "key_missing",
            _(
                "Granskningsnyckeln (%(path)s) saknas eller går inte att läsa: kontrollpunkterna "
                "kan inte kontrolleras.",
                path=str(anchor.key_path),
            ),
        )
    db_cps = {
        row.seq: Checkpoint.from_row(row)
        for row in db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
    }
    file_cps = _read_file(anchor, report)
    report.exported = len(file_cps)
    valid = _check_signatures(db_cps, file_cps, keys, report)
    _compare_file(db_cps, file_cps, anchor, report)
    report.checkpoints = len(set(db_cps) | set(file_cps))
    _walk_chain(valid, report)
    return report


def _read_file(anchor: Anchor, report: LogReport) -> dict[int, Checkpoint]:
    if anchor.file is None:
        report.notes.append(_("Ingen exportfil för kontrollpunkter är inställd."))
        return {}
    try:
        raw = anchor.file.read_bytes()
    except FileNotFoundError:
        return {}
    out: dict[int, Checkpoint] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            cp = Checkpoint.from_line(line.decode())
        except (ValueError, UnicodeDecodeError):
            report.add(
                "file_line_bad",
                _(
                    "Rad %(n)d i exportfilen %(path)s är inte en kontrollpunkt: filen har ändrats.",
                    n=number,
                    path=str(anchor.file),
                ),
            )
            continue
        if cp.seq in out and out[cp.seq] != cp:
            report.add(
                "file_mismatch",
                _("Exportfilen har två olika kontrollpunkter nummer %(seq)d.", seq=cp.seq),
            )
        out[cp.seq] = cp
    return out


def _check_signatures(
    db_cps: dict[int, Checkpoint],
    file_cps: dict[int, Checkpoint],
    keys: Mapping[str, Ed25519PublicKey],
    report: LogReport,
) -> list[Checkpoint]:
    """The checkpoints whose signature holds (file first: it is the copy kept outside)."""
    valid: dict[int, Checkpoint] = {}
    for where, cps in ((_("exportfilen"), file_cps), (_("databasen"), db_cps)):
        for cp in cps.values():
            state = cp.signed_by(keys) if keys else "no_key"
            if state == "ok":
                valid.setdefault(cp.seq, cp)
            elif state == "unknown_key":
                report.add(
                    "checkpoint_other_key",
                    _(
                        "Kontrollpunkt %(seq)d i %(where)s är signerad med en annan nyckel "
                        "(%(key)s) än granskningsnyckeln: den är förfalskad eller nyckeln har "
                        "bytts ut.",
                        seq=cp.seq,
                        where=where,
                        key=cp.key,
                    ),
                )
            elif state == "bad":
                report.add(
                    "checkpoint_forged",
                    _(
                        "Kontrollpunkt %(seq)d i %(where)s har en ogiltig signatur: den har "
                        "ändrats eller förfalskats.",
                        seq=cp.seq,
                        where=where,
                    ),
                )
    ordered = [valid[s] for s in sorted(valid)]
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.count < before.count or after.head_id < before.head_id:
            report.add(
                "checkpoint_order",
                _(
                    "Kontrollpunkt %(b)d och %(a)d går baklänges: loggen har skrivits om mellan "
                    "dem.",
                    b=before.seq,
                    a=after.seq,
                ),
            )
    if db_cps:
        gaps = sorted(set(range(1, max(db_cps) + 1)) - set(db_cps))
        if gaps:
            report.add(
                "checkpoint_deleted",
                _(
                    "Kontrollpunkt %(list)s saknas i databasen: den har tagits bort.",
                    list=_listed(gaps),
                ),
            )
    return ordered


def _listed(seqs: list[int]) -> str:
    return ", ".join(str(s) for s in seqs[:10]) + (" …" if len(seqs) > 10 else "")


def _compare_file(
    db_cps: dict[int, Checkpoint],
    file_cps: dict[int, Checkpoint],
    anchor: Anchor,
    report: LogReport,
) -> None:
    if anchor.file is None:
        return
    if not file_cps:
        if db_cps:
            report.add(
                "file_missing",
                _(
                    "Exportfilen %(path)s saknas eller är tom, fast databasen har %(n)d "
                    "kontrollpunkter.",
                    path=str(anchor.file),
                    n=len(db_cps),
                ),
            )
        return
    last_exported = max(file_cps)
    for seq, cp in sorted(file_cps.items()):
        if seq not in db_cps:
            report.add(
                "checkpoint_deleted",
                _(
                    "Kontrollpunkt %(seq)d (%(at)s) finns i exportfilen men inte i databasen: "
                    "den har tagits bort ur databasen.",
                    seq=seq,
                    at=_when(cp),
                ),
            )
        elif db_cps[seq] != cp:
            report.add(
                "file_mismatch",
                _(
                    "Kontrollpunkt %(seq)d i databasen skiljer sig från den i exportfilen.",
                    seq=seq,
                ),
            )
    removed = [s for s in db_cps if s <= last_exported and s not in file_cps]
    if removed:
        report.add(
            "file_line_removed",
            _(
                "Kontrollpunkt %(list)s saknas i exportfilen: rader har tagits bort ur filen.",
                list=_listed(removed),
            ),
        )
    waiting = [s for s in db_cps if s > last_exported]
    if waiting:
        report.notes.append(
            _(
                "%(n)d kontrollpunkt(er) är ännu inte exporterade (skrivs vid nästa).",
                n=len(waiting),
            )
        )


def _walk_chain(checkpoints: list[Checkpoint], report: LogReport) -> None:
    """Check each row's hash and link, and the chain at each checkpoint's position."""
    at_count: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        at_count.setdefault(cp.count, []).append(cp)
    prev_hash, prev_id = GENESIS, 0
    position = 0
    shown = 0
    rows = db.session.scalars(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
    )
    for ev in rows:
        position += 1
        found: list[Problem] = []
        if _digest(ev.prev_hash, ev) != ev.hash:
            found.append(
                Problem(
                    "row_edited",
                    _(
                        "Loggen är bruten vid händelse %(id)d (%(at)s, %(action)s): den har "
                        "ändrats efter att den skrevs.",
                        id=ev.id,
                        at=f"{ev.created_at:%Y-%m-%d %H:%M:%S}",
                        action=ev.action,
                    ),
                )
            )
        if ev.prev_hash != prev_hash:
            found.append(_link_problem(ev, prev_id))
        matched = at_count.pop(position, [])
        for cp in matched:
            if cp.head_hash != ev.hash or cp.head_id != ev.id:
                found.append(
                    Problem(
                        "rechained",
                        _(
                            "Loggen har skrivits om: kontrollpunkt %(seq)d (%(at)s) intygar att "
                            "händelse nummer %(count)d var %(head)d med ett annat kontrollvärde "
                            "än det som finns nu (%(now)d). Händelser fram till dit har ändrats, "
                            "tagits bort, lagts till eller räknats om.",
                            seq=cp.seq,
                            at=_when(cp),
                            count=cp.count,
                            head=cp.head_id,
                            now=ev.id,
                        ),
                    )
                )
        if (
            not found
            and shown == 0
            and any(cp.head_id == ev.id and cp.head_hash == ev.hash for cp in matched)
        ):
            report.anchored_upto = ev.id
        for problem in found:
            shown += 1
            if shown <= 50:
                report.problems.append(problem)
        prev_hash, prev_id = ev.hash, ev.id
    if shown > 50:
        report.add("more", _("… och %(n)d fel till.", n=shown - 50))
    report.events = position
    for count in sorted(at_count):
        for cp in at_count[count]:
            report.add(
                "truncated",
                _(
                    "Loggen har kortats: kontrollpunkt %(seq)d (%(at)s) intygar %(count)d "
                    "händelser, men loggen har nu %(now)d. De senaste händelserna har tagits bort.",
                    seq=cp.seq,
                    at=_when(cp),
                    count=cp.count,
                    now=position,
                ),
            )
    if checkpoints:
        report.unanchored = max(0, position - max(cp.count for cp in checkpoints))
    else:
        report.unanchored = position


def _link_problem(ev: AuditEvent, prev_id: int) -> Problem:
    if ev.prev_hash == GENESIS:
        return Problem(
            "row_inserted",
            _(
                "Loggen är bruten vid händelse %(id)d (en ny kedja börjar mitt i loggen): den "
                "har lagts in i efterhand.",
                id=ev.id,
            ),
        )
    other = db.session.scalar(select(AuditEvent.id).where(AuditEvent.hash == ev.prev_hash))
    if other is None:
        return Problem(
            "row_missing",
            _(
                "Loggen är bruten vid händelse %(id)d (efter %(prev)d): händelsen före den "
                "saknas eller har ändrats.",
                id=ev.id,
                prev=prev_id,
            ),
        )
    return Problem(
        "reordered",
        _(
            "Loggen är bruten vid händelse %(id)d (efter %(prev)d): den hör hemma direkt efter "
            "händelse %(other)d; händelser har flyttats eller lagts in.",
            id=ev.id,
            other=other,
            prev=prev_id,
        ),
    )


# --------------------------------------------------------------------------- one event


def anchored(ev: AuditEvent, keys: Mapping[str, Ed25519PublicKey]) -> bool:
    """Whether *ev* is intact and covered by a validly signed checkpoint: the nearest checkpoint
    at or after it, with every link from *ev* up to that checkpoint's head unbroken."""
    if _digest(ev.prev_hash, ev) != ev.hash:
        return False
    rows = db.session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.head_id >= ev.id)
        .order_by(AuditCheckpoint.head_id)
        .limit(5)
    )
    for row in rows:
        cp = Checkpoint.from_row(row)
        if cp.signed_by(keys) != "ok":
            continue
        if cp.head_id == ev.id:
            return cp.head_hash == ev.hash
        return _segment_intact(ev, cp)
    return False


def _segment_intact(start: AuditEvent, cp: Checkpoint) -> bool:
    prev = start.hash
    last: AuditEvent | None = None
    for ev in db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.id > start.id, AuditEvent.id <= cp.head_id)
        .order_by(AuditEvent.id)
    ):
        if ev.prev_hash != prev or _digest(ev.prev_hash, ev) != ev.hash:
            return False
        prev, last = ev.hash, ev
    return last is not None and last.id == cp.head_id and last.hash == cp.head_hash
