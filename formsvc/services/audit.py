"""Append-only, hash-chained audit log (each row carries the hash of the previous one)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from formsvc.extensions import db
from formsvc.models import AuditEvent
from formsvc.models._base import utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Origin:
    """Where an action came from; the view fills it from the request."""

    ip: str = ""  #: client address as the app sees it
    user_agent: str = ""  #: browser, truncated
    extra: dict[str, Any] = field(default_factory=dict)  #: reserved for later evidence


def _digest(prev_hash: str, ev: AuditEvent) -> str:
    payload = json.dumps(
        [
            prev_hash,
            ev.created_at.isoformat(),
            ev.actor_id,
            ev.actor_label,
            ev.action,
            ev.object_type,
            ev.object_id,
            ev.district_id,
            ev.ip,
            ev.user_agent,
            ev.details,
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    action: str,
    *,
    actor_id: int | None,
    actor_label: str,
    object_type: str,
    object_id: object = None,
    district_id: int | None = None,
    details: dict[str, Any] | None = None,
    origin: Origin | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; the chain is serialised per database."""
    # one writer at a time reads the head and appends, until its commit or rollback
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
    elif conn.dialect.name == "sqlite" and not conn.connection.driver_connection.in_transaction:
        # pysqlite opens a transaction only at the first write, so an open one already holds
        # SQLite's write lock; otherwise take it now, before reading the head (docs/adr/012)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    prev = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    origin = origin or Origin()
    ev = AuditEvent(
        actor_id=actor_id,
        actor_label=actor_label[:200],
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        district_id=district_id,
        ip=origin.ip[:64],
        user_agent=origin.user_agent[:300],
        details=details or {},
        prev_hash=prev or GENESIS,
    )
    ev.created_at = utcnow().replace(microsecond=0)
    ev.hash = _digest(ev.prev_hash, ev)
    db.session.add(ev)
    db.session.flush()
    return ev


def verify() -> tuple[int, AuditEvent | None]:
    """Walk the chain; return (events checked, first broken event or None)."""
    prev = GENESIS
    count = 0
    for ev in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if ev.prev_hash != prev or _digest(prev, ev) != ev.hash:
            return count, ev
        prev = ev.hash
        count += 1
    return count, None


#: Object types of client work: managers see these for their district.
CLIENT_OBJECTS = ("document", "participant")
#: What administrators see: sign-ins and administration, never client work.
ADMIN_OBJECTS = (
    "user",
    "district",
    "template_version",
    "checklist_item",
    "seal",
    "statistics",
    "storage_keyring",
)


def trail(
    *,
    district_id: int | None = None,
    object_types: tuple[str, ...],
    object_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Events of the given object types, newest first, paged by id (keyset, no total count)."""
    q = select(AuditEvent).where(AuditEvent.object_type.in_(object_types))
    if district_id is not None:
        q = q.where(AuditEvent.district_id == district_id)
    if object_id is not None:
        q = q.where(AuditEvent.object_id == object_id)
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    return list(db.session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Finding:
    """A document whose row or sealed file does not match what the log recorded."""

    document_id: int
    problem: str  #: Swedish sentence


def verify_documents(read_file: Any, check_seal: Any, digest: Any) -> tuple[int, list[Finding]]:
    """Compare every document row with the log: its data with the last recorded data hash, its
    sealed PDF with the one the seal event recorded, and that PDF's seal itself.

    *read_file(sha) -> bytes*, *check_seal(pdf) -> bool* and *digest(data) -> str* come from the
    caller (storage, sealing and documents know nothing of each other here).
    """
    from formsvc.models import Document

    recorded: dict[str, dict[str, str]] = {}
    events = db.session.execute(
        select(AuditEvent.object_id, AuditEvent.action, AuditEvent.details)
        .where(AuditEvent.object_type == "document")
        .order_by(AuditEvent.id)
    )
    for object_id, action, details in events:
        entry = recorded.setdefault(object_id or "", {})
        if isinstance(details, dict) and details.get("data_sha256"):
            entry["data"] = details["data_sha256"]
        if action == "seal" and isinstance(details, dict):
            entry["sealed"] = details.get("pdf_sha256", "")
    findings: list[Finding] = []
    checked = 0
    for doc in db.session.scalars(select(Document).order_by(Document.id)):
        checked += 1
        entry = recorded.get(str(doc.id), {})
        if "data" in entry and digest(doc.data) != entry["data"]:
            findings.append(Finding(doc.id, "Dokumentets innehåll stämmer inte med loggen."))
        if doc.sealed_pdf_sha256 or entry.get("sealed"):
            if doc.sealed_pdf_sha256 != entry.get("sealed") and doc.status != "purged":
                findings.append(
                    Finding(doc.id, "Den förseglade filen är inte den som loggen registrerade.")
                )
            elif doc.sealed_pdf_sha256:
                try:
                    intact = check_seal(read_file(doc.sealed_pdf_sha256))
                except OSError:
                    intact = False
                if not intact:
                    findings.append(
                        Finding(doc.id, "Den förseglade PDF-filen är skadad eller ändrad.")
                    )
    return checked, findings
