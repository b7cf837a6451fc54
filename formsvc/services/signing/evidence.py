"""The evidence of a version: what the evidence page and record say."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.services.evidence import (
    Evidence,
    EvidenceEvent,
    EvidenceSigner,
)
from formsvc.services.signing._common import METHOD_LABELS, _aware, requests

#: Method labels as the document page and the evidence print them.
EVENT_TEXTS = {
    "send": _l("Skickat för underskrift"),
    "link_sent": _l("Personlig länk skickad"),
    "code_sent": _l("Engångskod skickad"),
    "code_failed": _l("Fel engångskod angiven"),
    "code_verified": _l("Engångskod godkänd"),
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
) -> Evidence:
    """The evidence page's content, from the requests and the audit log of this version.

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
        finalised_at=_aware(doc.sealed_at) if doc.sealed_at else datetime.now(UTC),
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
