"""Append-only, hash-chained audit log (each row carries the hash of the previous one)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import has_app_context
from flask_babel import gettext as _
from sqlalchemy import select, text

from formsvc.extensions import db
from formsvc.models import AuditEvent, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.runtime import runtime

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
    _anchor_after(ev)
    return ev


def anchor() -> Any:
    """The app's checkpoint writer (services/checkpoints.Anchor), or None when turned off."""
    return runtime().anchor if has_app_context() else None


def _anchor_after(ev: AuditEvent) -> None:
    # still under the append lock taken above: the checkpoint's head is this event
    writer = anchor()
    if writer is not None:
        writer.after_append(ev)


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


# --------------------------------------------------------------------------- signatures


def signature_facts(
    signed_at: datetime, image_sha256: str | None, statements: list[str]
) -> dict[str, Any]:
    """What a `sign` event records so a signature row can be compared with it later."""
    return {
        "signed_at": signed_at.isoformat(),
        "signature_sha256": image_sha256,
        "statements_sha256": _statements_digest(statements),
    }


def _statements_digest(statements: list[str] | None) -> str:
    raw = json.dumps(list(statements or []), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def sign_events(document_id: int | None = None) -> dict[int, list[AuditEvent]]:
    """Request id -> its `sign` events, oldest first (of one document, or all)."""
    q = select(AuditEvent).where(AuditEvent.object_type == "document", AuditEvent.action == "sign")
    if document_id is not None:
        q = q.where(AuditEvent.object_id == str(document_id))
    out: dict[int, list[AuditEvent]] = {}
    for ev in db.session.scalars(q.order_by(AuditEvent.id)):
        details = ev.details if isinstance(ev.details, dict) else {}
        if isinstance(details.get("request"), int):
            out.setdefault(details["request"], []).append(ev)
    return out


def signature_mismatch(req: SignatureRequest, ev: AuditEvent) -> list[str]:
    """The fields in which a signed request row differs from the `sign` event that made it.

    Events written before these details were logged lack some keys; those are not compared.
    """
    d = ev.details if isinstance(ev.details, dict) else {}
    wrong = []
    if ev.object_id != str(req.document_id) or d.get("slot") != req.slot:
        wrong.append("dokument/plats")
    if d.get("method") != req.method:
        wrong.append("metod")
    if d.get("name") != req.signed_name:
        wrong.append("namn")
    if "typed" in d and d.get("typed") != req.typed_name:
        wrong.append("skrivet namn")
    if "signed_at" in d and d["signed_at"] != (
        req.signed_at.isoformat() if req.signed_at else None
    ):
        wrong.append("tidpunkt")
    if "signature_sha256" in d:
        if d["signature_sha256"] != req.signature_sha256:
            wrong.append("ritad underskrift")
    elif "drawn" in d and bool(d["drawn"]) != bool(req.signature_sha256):
        wrong.append("ritad underskrift")
    if (req.method == "paper" or "scan_sha256" in d) and d.get("scan_sha256") != req.scan_sha256:
        wrong.append("skanning")
    statements = d.get("statements_sha256")
    if statements and req.method != "paper" and statements != _statements_digest(req.statements):
        wrong.append("intyganden")
    return wrong


def signature_problem(
    req: SignatureRequest, events: list[AuditEvent], keys: Any | None
) -> str | None:
    """Why a signed request row cannot be trusted, or None: it must match its `sign` event, and
    that event must be intact and (when *keys* are given) anchored by a signed checkpoint."""
    from formsvc.services import checkpoints

    if not events:
        return _(
            "Underskriften för %(role)s (begäran %(id)d) har ingen händelse i granskningsloggen: "
            "raden har lagts in eller ändrats utanför tjänsten.",
            role=req.role,
            id=req.id,
        )
    ev = events[-1]
    wrong = signature_mismatch(req, ev)
    if wrong:
        return _(
            "Underskriften för %(role)s (begäran %(id)d) stämmer inte med granskningsloggen "
            "(%(fields)s).",
            role=req.role,
            id=req.id,
            fields=", ".join(wrong),
        )
    if _digest(ev.prev_hash, ev) != ev.hash or (
        keys is not None and not checkpoints.anchored(ev, keys)
    ):
        return _(
            "Händelsen som registrerade underskriften för %(role)s (begäran %(id)d) är ändrad "
            "eller saknar en signerad kontrollpunkt.",
            role=req.role,
            id=req.id,
        )
    return None


def untrusted_signatures(document_id: int, version: int) -> list[str]:
    """Problems with the signed requests of one document version (empty: all match the log)."""
    writer = anchor()
    keys = writer.trusted_keys() if writer is not None else None
    events = sign_events(document_id)
    reqs = db.session.scalars(
        select(SignatureRequest)
        .where(
            SignatureRequest.document_id == document_id,
            SignatureRequest.document_version == version,
            SignatureRequest.status == "signed",
        )
        .order_by(SignatureRequest.id)
    )
    return [p for r in reqs if (p := signature_problem(r, events.get(r.id, []), keys))]


def verify_signatures(
    read_file: Any, anchored_upto: int | None = None
) -> tuple[int, list[Finding]]:
    """Compare every signed request row with its `sign` event, and check that the drawn image
    and the scan it names can still be read (*read_file(sha) -> bytes* raises OSError).

    With *anchored_upto* (from checkpoints.verify_log) a `sign` event after the newest verified
    checkpoint is reported: the service writes a checkpoint at every signature, so such an event
    was added to the log by hand. A `sign` event whose row is gone (and whose document was not
    culled by retention) is reported too.
    """
    from formsvc.models import Document

    events = sign_events()
    findings: list[Finding] = []
    checked = 0
    existing = set(db.session.scalars(select(SignatureRequest.id)))
    purged = {
        str(i) for i in db.session.scalars(select(Document.id).where(Document.status == "purged"))
    }
    for request_id, evs in sorted(events.items()):
        last = evs[-1]
        if request_id not in existing and last.object_id not in purged:
            findings.append(
                Finding(
                    int(last.object_id or 0),
                    _(
                        "Underskriften i begäran %(id)d (händelse %(ev)d) finns i loggen men "
                        "raden har tagits bort ur databasen.",
                        id=request_id,
                        ev=last.id,
                    ),
                )
            )
        if anchored_upto is not None and last.id > anchored_upto:
            findings.append(
                Finding(
                    int(last.object_id or 0),
                    _(
                        "Underskriftshändelse %(ev)d saknar en signerad kontrollpunkt: den har "
                        "lagts till i loggen utanför tjänsten.",
                        ev=last.id,
                    ),
                )
            )
    for req in db.session.scalars(
        select(SignatureRequest)
        .where(SignatureRequest.status == "signed")
        .order_by(SignatureRequest.id)
    ):
        checked += 1
        problem = signature_problem(req, events.get(req.id, []), None)
        if problem:
            findings.append(Finding(req.document_id, problem))
        if req.copy_sha256 and copy_problem(req.document_id, req.id, req.copy_sha256):
            findings.append(
                Finding(
                    req.document_id,
                    _(
                        "Undertecknarens kopia för begäran %(id)d är inte den som loggen "
                        "registrerade.",
                        id=req.id,
                    ),
                )
            )
        for sha, what in (
            (req.signature_sha256, _("ritade underskriften")),
            (req.scan_sha256, _("skanningen")),
        ):
            if not sha:
                continue
            try:
                read_file(sha)
            except OSError:
                findings.append(
                    Finding(
                        req.document_id,
                        _(
                            "Filen med %(what)s för begäran %(id)d saknas eller har ändrats.",
                            what=what,
                            id=req.id,
                        ),
                    )
                )
    return checked, findings


def sealed_problem(document_id: int, version: int, sealed_sha256: str | None) -> str | None:
    """Why the document's sealed PDF must not be handed out, or None: the row must name the file
    its latest `seal` event recorded, and that event must be intact and anchored."""
    from formsvc.services import checkpoints

    if not sealed_sha256:
        return None
    ev = db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "document",
            AuditEvent.object_id == str(document_id),
            AuditEvent.action == "seal",
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    refused = _(
        "Den förseglade filen stämmer inte med granskningsloggen och lämnas inte ut. "
        "Kontakta systemförvaltaren (flask audit verify)."
    )
    if ev is None or not isinstance(ev.details, dict):
        return refused
    if ev.details.get("pdf_sha256") != sealed_sha256 or ev.details.get("version") != version:
        return refused
    writer = anchor()
    if _digest(ev.prev_hash, ev) != ev.hash:
        return refused
    if writer is not None and not checkpoints.anchored(ev, writer.trusted_keys()):
        return refused
    return None


def copy_problem(document_id: int, request_id: int, copy_sha256: str) -> str | None:
    """Why a signer's own sealed copy must not be handed out, or None: the request row must name
    the copy the `seal` event (or a later `signer_copy` event) recorded for that request."""
    recorded: set[str] = set()
    for action, details in db.session.execute(
        select(AuditEvent.action, AuditEvent.details).where(
            AuditEvent.object_type == "document",
            AuditEvent.object_id == str(document_id),
            AuditEvent.action.in_(("seal", "signer_copy")),
        )
    ):
        if not isinstance(details, dict):
            continue
        if action == "seal" and isinstance(details.get("copies"), dict):
            recorded.add(str(details["copies"].get(str(request_id), "")))
        elif action == "signer_copy" and details.get("request") == request_id:
            recorded.add(str(details.get("pdf_sha256", "")))
    if copy_sha256 in recorded:
        return None
    return _(
        "Den förseglade filen stämmer inte med granskningsloggen och lämnas inte ut. "
        "Kontakta systemförvaltaren (flask audit verify)."
    )
