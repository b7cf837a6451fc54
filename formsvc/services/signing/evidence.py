"""The evidence of a version: what the evidence page and record say."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import AuditCheckpoint, AuditEvent, Document, SignatureRequest, StoredFile
from formsvc.models._base import utcnow
from formsvc.services import eid
from formsvc.services.checkpoints import Checkpoint
from formsvc.services.evidence import (
    Evidence,
    EvidenceEvent,
    EvidenceSigner,
)
from formsvc.services.signature_places import Place
from formsvc.services.signing._common import METHOD_LABELS, _aware, requests

#: The evidence record's format (docs/adr/014-final-pdf.md).
RECORD_FORMAT = "formsvc-evidence/1"

#: Method labels as the document page and the evidence print them.
EVENT_TEXTS = {
    "send": _l("Skickat för underskrift"),
    "link_sent": _l("Personlig länk skickad"),
    "code_sent": _l("Engångskod skickad"),
    "code_failed": _l("Fel engångskod angiven"),
    "code_verified": _l("Engångskod godkänd"),
    "eid_identified": _l("Legitimerad med e-legitimation"),
    "sign": _l("Underskrift registrerad"),
    "decline": _l("Avböjt"),
    "paper_upload": _l("Skannad blankett uppladdad"),
    "decide": _l("Beslut registrerat och skickat för underskrift"),
}


def evidence_for(
    doc: Document,
    dtype: DocumentType,
    settings: Mapping[str, Any],
    *,
    copy_for: SignatureRequest | None = None,
    finalised_at: datetime | None = None,
) -> Evidence:
    """The evidence page's content, from the requests and the audit log of this version.

    *finalised_at* is when the document is sealed (default: its sealed_at, else now).

    For *copy_for*'s own copy, only that signer's address and browser are printed (a guardian
    does not learn where the other guardian signed from); the archive copy keeps all."""

    def own(request_id: object) -> bool:
        return copy_for is None or request_id == copy_for.id

    reqs = [r for r in requests(doc) if r.status == "signed"]
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "document",
            AuditEvent.object_id == str(doc.id),
            AuditEvent.action.in_(tuple(EVENT_TEXTS)),
            AuditEvent.created_at >= (doc.sent_at or datetime.min).replace(microsecond=0),
        )
        .order_by(AuditEvent.id)
    )
    events = list(events)
    # a paper signature's event keeps the hash of the scan as uploaded (the row: as stored)
    received = {
        e.details.get("request"): e.details.get("scan_received_sha256")
        for e in events
        if e.action == "sign" and e.details.get("scan_received_sha256")
    }
    tv = doc.template_version
    return Evidence(
        organisation=str(settings.get("ORGANISATION_NAME", "")),
        title=str(dtype.title),
        reference=doc.reference,
        document_sha256=doc.frozen_pdf_sha256 or "",
        template=f"{doc.type_slug} v{tv.version} (sha256 {tv.file_sha256})",
        sent_at=_aware(doc.sent_at or utcnow()),
        sent_by=doc.sent_by.full_name if doc.sent_by else "",
        finalised_at=_finalised_at(doc, finalised_at),
        signers=tuple(
            EvidenceSigner(
                role=r.role,
                name=r.signed_name or "",
                method=str(METHOD_LABELS.get(r.method or "", r.method or "")),
                outcome="signed",
                signed_at=_aware(r.signed_at or utcnow()),
                verification=r.verification or "",
                ip=r.ip if own(r.id) else None,
                user_agent=r.user_agent if own(r.id) else None,
                witness=r.actor.full_name if r.actor and r.method == "in_person" else None,
                statements=tuple(r.statements or ()),
                has_image=bool(r.signature_sha256),
                scan_sha256=r.scan_sha256,
                scan_received_sha256=received.get(r.id) if r.scan_sha256 else None,
                typed_name=r.typed_name,
                id_number=r.expected_id,
                eid=r.eid if isinstance(r.eid, dict) else None,
            )
            for r in reqs
        ),
        events=tuple(
            EvidenceEvent(
                at=_aware(e.created_at),
                # a signer's copy shows an address only where that signer acted
                text=_event_text(
                    e,
                    with_ip=copy_for is None
                    or (e.actor_id is None and own(e.details.get("request"))),
                ),
            )
            for e in events
        ),
        copy_for=copy_for.role if copy_for else None,
    )


def _event_text(e: AuditEvent, *, with_ip: bool = True) -> str:
    base = str(EVENT_TEXTS.get(e.action, e.action))
    who = e.details.get("role") or e.actor_label
    parts = [base]
    if who:
        parts.append(f"– {who}")
    if e.action in ("link_sent", "code_sent") and e.details.get("to"):
        # the masked address a link or code went to (a status change's "to" is a status)
        parts.append(_("till %(to)s", to=e.details["to"]))
    if e.ip and with_ip:
        parts.append(f"({e.ip})")
    return " ".join(parts)


def evidence_record(
    doc: Document,
    dtype: DocumentType,
    settings: Mapping[str, Any],
    *,
    copy_for: SignatureRequest | None = None,
    places: Mapping[str, Place] | None = None,
    finalised_at: datetime | None = None,
) -> dict[str, Any]:
    """The machine-readable evidence record embedded in the final PDF (ADR 014), as a dict.

    *places* are the signature places the marks were drawn in (none on the legacy path). On
    *copy_for*'s own copy only that signer's address and browser are given."""
    reqs = sorted(
        (r for r in requests(doc) if r.status == "signed"),
        key=lambda r: (_aware(r.signed_at or utcnow()), r.id),
    )
    events = _version_events(doc)
    received = {
        e.details.get("request"): e.details.get("scan_received_sha256")
        for e in events
        if e.action == "sign" and e.details.get("scan_received_sha256")
    }
    frozen = db.session.get(StoredFile, doc.frozen_pdf_sha256) if doc.frozen_pdf_sha256 else None
    tv = doc.template_version
    places = places or {}

    def signer(r: SignatureRequest) -> dict[str, Any]:
        own = copy_for is None or r.id == copy_for.id
        place = places.get(r.slot)
        return {
            "request": r.id,
            "slot": r.slot,
            "role": r.role,
            "designated": {"name": r.expected_name, "id_number": r.expected_id},
            "signed_name": r.signed_name,
            "typed_name": r.typed_name,
            "method": r.method,
            "identity_check": r.verification,
            "witness": r.actor.full_name if r.actor and r.method == "in_person" else None,
            "signed_at": _iso(r.signed_at),
            "statements": list(r.statements or ()),
            "signature_image_sha256": r.signature_sha256,
            "scan_sha256": r.scan_sha256,
            "scan_received_sha256": received.get(r.id) if r.scan_sha256 else None,
            "place": {
                "page": place.page,
                "rect": [round(v, 3) for v in (place.x0, place.y0, place.x1, place.y1)],
            }
            if place
            else None,
            "ip": r.ip if own else None,
            "user_agent": r.user_agent if own else None,
            # the e-ID proof (docs/adr/018): whole in the archive copy and the signer's own;
            # another signer's copy gets its facts and digests, not the token or signature
            "proofs": [p] if (p := eid.embedded(r.eid, full=own)) else [],
        }

    return {
        "format": RECORD_FORMAT,
        "organisation": str(settings.get("ORGANISATION_NAME", "")),
        "document": {
            "id": doc.id,
            "reference": doc.reference,
            "type": doc.type_slug,
            "title": str(dtype.title),
            "version": doc.version,
        },
        "template": {"version": tv.version, "sha256": tv.file_sha256},
        "frozen_pdf": {
            "sha256": doc.frozen_pdf_sha256,
            "size": frozen.size if frozen else None,
        },
        "sent_at": _iso(doc.sent_at),
        "sent_by": doc.sent_by.full_name if doc.sent_by else None,
        "finalised_at": _iso(_finalised_at(doc, finalised_at)),
        "copy_for": copy_for.role if copy_for else None,
        "signers": [signer(r) for r in reqs],
        "audit": {
            "events": [
                {"id": e.id, "at": _iso(e.created_at), "action": e.action, "hash": e.hash}
                for e in events
            ],
            "checkpoint": _checkpoint_after(events),
        },
    }


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """*record* as the canonical UTF-8 JSON that is embedded (sorted keys, no spaces)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def _version_events(doc: Document) -> list[AuditEvent]:
    """The document's events of its current version: from its `send` to its last `sign`."""
    mine = (AuditEvent.object_type == "document", AuditEvent.object_id == str(doc.id))
    sends = db.session.scalars(
        select(AuditEvent).where(*mine, AuditEvent.action == "send").order_by(AuditEvent.id)
    )
    start = [e.id for e in sends if (e.details or {}).get("version") == doc.version]
    if not start:
        return []
    events = list(
        db.session.scalars(
            select(AuditEvent).where(*mine, AuditEvent.id >= start[-1]).order_by(AuditEvent.id)
        )
    )
    signs = [i for i, e in enumerate(events) if e.action == "sign"]
    return events[: signs[-1] + 1] if signs else events


def _checkpoint_after(events: list[AuditEvent]) -> dict[str, Any] | None:
    """The signed checkpoint covering the last `sign` event, as the exported file has it."""
    signs = [e for e in events if e.action == "sign"]
    if not signs:
        return None
    row = db.session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.head_id >= signs[-1].id)
        .order_by(AuditCheckpoint.head_id, AuditCheckpoint.seq)
        .limit(1)
    )
    return json.loads(Checkpoint.from_row(row).line()) if row is not None else None


def _finalised_at(doc: Document, finalised_at: datetime | None) -> datetime:
    if finalised_at is not None:
        return _aware(finalised_at)
    return _aware(doc.sealed_at) if doc.sealed_at else datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return _aware(value).astimezone(UTC).isoformat() if value is not None else None
