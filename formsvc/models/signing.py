"""Signature requests (one per required signer and document version) and sent reminders.

See docs/adr/004-signing-evidence.md: a request row is the evidence of one signer; it moves from
``open`` to exactly one of ``signed``, ``declined`` or ``voided`` by a conditional UPDATE, which is
what makes a double-submitted or concurrent signature count once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from formsvc.extensions import db
from formsvc.models._base import utcnow
from formsvc.models.document import Document
from formsvc.models.user import User

#: A request's states; only ``open`` ever changes.
REQUEST_STATUSES = ("open", "signed", "declined", "voided")
#: How a signature was given.
METHODS = ("in_person", "link", "paper", "staff")


class SignatureRequest(db.Model):
    __table_args__ = (UniqueConstraint("document_id", "document_version", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    #: the frozen version the signer reads (Document.version at sending)
    document_version: Mapped[int] = mapped_column()
    slot: Mapped[str] = mapped_column(String(40))  #: the type's signer key, e.g. "guardian1"
    role: Mapped[str] = mapped_column(String(120))  #: printed role, e.g. "Vårdnadshavare 1"
    kind: Mapped[str] = mapped_column(String(10))  #: "external" or "staff"
    #: for staff slots: "manager", "caseworker" or "employee" (the document's employee)
    staff_role: Mapped[str | None] = mapped_column(String(20))
    #: the designated signer, frozen at sending: the signature is attributed to this name
    expected_name: Mapped[str] = mapped_column(String(200), default="")
    #: the designated signer's personnummer or samordningsnummer, where the document gives one
    expected_id: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    method: Mapped[str | None] = mapped_column(String(12))
    #: personal link: where it was sent, the SHA-256 of the token, never the token itself
    email: Mapped[str | None] = mapped_column(String(254))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column()
    link_sent_at: Mapped[datetime | None] = mapped_column()
    #: one-time code: HMAC of the code, expiry, failed tries for this code, codes sent
    otp_hash: Mapped[str | None] = mapped_column(String(64))
    otp_expires_at: Mapped[datetime | None] = mapped_column()
    otp_attempts: Mapped[int] = mapped_column(default=0)
    otp_sends: Mapped[int] = mapped_column(default=0)
    #: the outcome
    signed_at: Mapped[datetime | None] = mapped_column()
    #: the name the signature is attributed to: the designated name (for staff: the account's)
    signed_name: Mapped[str | None] = mapped_column(String(200))
    #: what the signer typed, which matched the designated name in a tolerated way (names.py)
    typed_name: Mapped[str | None] = mapped_column(String(200))
    signature_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_file.sha256"))
    scan_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_file.sha256"))
    #: the signer's own sealed copy: the final document whose evidence page shows only this
    #: signer's technical details (address, browser); the archive copy keeps everyone's
    copy_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_file.sha256"))
    statements: Mapped[list[str] | None] = mapped_column(JSON)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    #: how the signer's identity was established, in words: witnessed in person by named staff,
    #: one-time code to a masked address, password of a staff account, paper upload by named staff
    verification: Mapped[str | None] = mapped_column(String(300))
    #: staff who witnessed (in person), signed (staff) or uploaded the scan (paper)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reminded_at: Mapped[datetime | None] = mapped_column()
    #: e-ID (issue 14): the signer must prove who they are with e-ID before signing (chosen at
    #: sending, or required for the type by EID_REQUIRED); the e-mail code is then not offered
    require_eid: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    #: the proof of identity behind the signature, as the evidence record embeds it: an e-ID
    #: broker's ID token, BankID's completionData, or a staff SSO re-authentication (see
    #: docs/adr/018-eid-evidence.md for the shapes); set when identified, kept when signed
    eid: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: a BankID order in progress (orderRef, qrStartToken/Secret, start time, what was given)
    eid_pending: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship()
    actor: Mapped[User | None] = relationship()

    @property
    def details(self) -> dict[str, Any]:
        """The outcome as plain values (for evidence and receipts)."""
        return {
            "slot": self.slot,
            "role": self.role,
            "status": self.status,
            "method": self.method,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
        }


class SentReminder(db.Model):
    """A reminder that went out; the unique key is what makes `flask reminders` send each once."""

    __table_args__ = (UniqueConstraint("kind", "object_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  #: "signature_request" or "consent_expiry"
    object_id: Mapped[int] = mapped_column()
    key: Mapped[str] = mapped_column(String(60))  #: e.g. the end date the reminder was about
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
