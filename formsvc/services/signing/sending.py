"""Sending a frozen document for signature and voiding open requests."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import update

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import audit, documents, lifecycle
from formsvc.services.conversion import ConverterPool
from formsvc.services.signing._common import SigningError, _log, slots
from formsvc.services.storage import FileStore

#: Method labels as the document page and the evidence print them.
# --------------------------------------------------------------------------- send


def send(
    doc: Document,
    dtype: DocumentType,
    *,
    actor: User,
    store: FileStore,
    converter: ConverterPool,
    origin: audit.Origin | None = None,
) -> list[SignatureRequest]:
    """Freeze the document (data, template version, PDF) and open one request per signer."""
    if doc.status != "draft":
        raise SigningError(_("Dokumentet är redan skickat för underskrift eller avslutat."))
    wanted = slots(doc, dtype)
    if not wanted:
        raise SigningError(_("Den här dokumenttypen ska inte skrivas under."))
    pdf = converter.convert(documents.render(doc, dtype, store), pdfa=True)
    frozen = store.put(pdf, "application/pdf")
    # the frozen PDF must exist before any row points at it
    db.session.flush()
    try:
        lifecycle.transition(
            doc,
            DocumentStatus.AWAITING_SIGNATURES,
            actor=actor,
            origin=origin,
            action="send",
            details={
                "version": doc.version,
                "pdf_sha256": frozen.sha256,
                "data_sha256": documents.data_digest(doc.data),
            },
            values={
                "sent_at": utcnow(),
                "sent_by_id": actor.id,
                "frozen_pdf_sha256": frozen.sha256,
                "sealed_pdf_sha256": None,
                "sealed_at": None,
                "finalise_claimed_at": None,
                "finalise_claimed_by": None,
            },
            where=(Document.version == doc.version,),
        )
    except lifecycle.TransitionError as exc:  # a second click, or an edit in between
        db.session.rollback()
        raise SigningError(
            _("Dokumentet är redan skickat för underskrift eller avslutat.")
        ) from exc
    created = [
        SignatureRequest(
            document_id=doc.id,
            document_version=doc.version,
            slot=s.key,
            role=s.role[:120],
            kind=s.kind,
            staff_role=s.staff_role,
            expected_name=s.name[:200],
            expected_id=s.id_number[:20] or None,
            status="open",
        )
        for s in wanted
    ]
    db.session.add_all(created)
    db.session.commit()
    db.session.refresh(doc)
    return created


def void_open(doc: Document, *, actor: User, origin: audit.Origin | None, why: str) -> int:
    """Void the document's open requests (an edit, a decline, a withdrawal); returns how many."""
    result = db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
        .values(status="voided", token_hash=None, otp_hash=None)
    )
    if result.rowcount:
        _log("void_requests", doc, actor, origin, {"count": result.rowcount, "why": why})
    return int(result.rowcount or 0)
