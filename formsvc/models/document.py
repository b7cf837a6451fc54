"""Documents (one per filled annex), their saved revisions and Word template versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, event, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from formsvc.extensions import db
from formsvc.models._base import utcnow
from formsvc.models.district import District
from formsvc.models.participant import Participant
from formsvc.models.user import User


class DocumentStatus(StrEnum):
    """A document's lifecycle state; the stored value is the string (see services/lifecycle.py
    for the allowed moves and docs/adr/001-data-model.md for the why)."""

    DRAFT = "draft"
    FINAL = "final"  # complete without signatures (e.g. a recorded withdrawal)
    AWAITING_SIGNATURES = "awaiting_signatures"
    SIGNED = "signed"
    ACTIVE = "active"  # a sealed consent in force (its period refines it, see consents.state)
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    DECLINED = "declined"
    VOIDED = "voided"
    PURGED = "purged"  # content deleted under a retention rule (gallrad); the row is the receipt

    @property
    def label(self) -> LazyString:
        """The state in Swedish, as the pages show it (translated when rendered)."""
        return _LABELS[self]


_LABELS = {
    DocumentStatus.DRAFT: _l("Utkast"),
    DocumentStatus.FINAL: _l("Fastställd"),
    DocumentStatus.AWAITING_SIGNATURES: _l("Väntar på underskrift"),
    DocumentStatus.SIGNED: _l("Signerad"),
    DocumentStatus.ACTIVE: _l("Gäller"),
    DocumentStatus.EXPIRED: _l("Har upphört"),
    DocumentStatus.WITHDRAWN: _l("Återkallad"),
    DocumentStatus.DECLINED: _l("Avböjd"),
    DocumentStatus.VOIDED: _l("Makulerad"),
    DocumentStatus.PURGED: _l("Gallrad"),
}


class TemplateVersion(db.Model):
    """One uploaded or built-in .docx for a document type; documents pin the version they used."""

    __table_args__ = (UniqueConstraint("type_slug", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type_slug: Mapped[str] = mapped_column(String(60), index=True)
    version: Mapped[int] = mapped_column()
    file_sha256: Mapped[str] = mapped_column(ForeignKey("stored_file.sha256"))
    source: Mapped[str] = mapped_column(String(20))  # "builtin" or "upload"
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(db.Model):
    __table_args__ = (
        Index("ix_document_district_type_updated", "district_id", "type_slug", "updated_at"),
        Index("ix_document_district_status_updated", "district_id", "status", "updated_at"),
        Index("ix_document_district_updated", "district_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type_slug: Mapped[str] = mapped_column(String(60))
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id"), index=True)
    #: the employee a security talk (2.0) or competence checklist (2.3) is about
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default=DocumentStatus.DRAFT.value)
    version: Mapped[int] = mapped_column(default=1)
    template_version_id: Mapped[int] = mapped_column(ForeignKey("template_version.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: signing (docs/adr/004-signing-evidence.md): the frozen PDF signers read; the sealed one
    sent_at: Mapped[datetime | None] = mapped_column()
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    frozen_pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_file.sha256"))
    sealed_pdf_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("stored_file.sha256"), index=True
    )
    sealed_at: Mapped[datetime | None] = mapped_column()
    #: set by the one worker finalising; a stale claim, or one whose holder has died, is taken
    #: over (by `flask reseal` or the finalise button); the holder is services.holders' name
    finalise_claimed_at: Mapped[datetime | None] = mapped_column()
    finalise_claimed_by: Mapped[str | None] = mapped_column(String(200))
    #: a legal hold stops retention (gallring) from deleting it
    legal_hold: Mapped[bool] = mapped_column(default=False)

    district: Mapped[District] = relationship()
    participant: Mapped[Participant | None] = relationship()
    template_version: Mapped[TemplateVersion] = relationship()
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User] = relationship(foreign_keys=[updated_by_id])
    sent_by: Mapped[User | None] = relationship(foreign_keys=[sent_by_id])

    @property
    def reference(self) -> str:
        """Human reference printed on the document, e.g. SIG-2026-000123 v2."""
        return f"SIG-{self.created_at:%Y}-{self.id:06d} v{self.version}"


class DocumentRevision(db.Model):
    """Every saved version's data, so an edit never loses what was there before."""

    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    version: Mapped[int] = mapped_column()
    template_version_id: Mapped[int] = mapped_column(ForeignKey("template_version.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(Document, "before_update")
def _sealed_is_immutable(_mapper: object, _conn: object, target: Document) -> None:
    """A sealed document's content never changes through the ORM (retention uses a core UPDATE)."""
    state = inspect(target)
    sealed_before = state.attrs.sealed_pdf_sha256.history.deleted or [target.sealed_pdf_sha256]
    if not any(sealed_before):
        return
    for name in ("data", "version", "template_version_id", "sealed_pdf_sha256"):
        if state.attrs[name].history.has_changes():
            raise RuntimeError(f"document {target.id} is sealed; {name} cannot change")
