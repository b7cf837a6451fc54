"""Shared by the signing package: errors, labels, who signs, time and log helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from formsvc.doctypes import DocumentType, SignerSlot
from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.services import access, audit, documents

#: Method labels as the document page and the evidence print them.
METHOD_LABELS = {
    "in_person": _l("På plats"),
    "link": _l("Personlig länk"),
    "paper": _l("Papper"),
    "staff": _l("Inloggad personal"),
}
#: Request states as shown.
REQUEST_LABELS = {
    "open": _l("väntar"),
    "signed": _l("signerad"),
    "declined": _l("avböjd"),
    "voided": _l("makulerad"),
}


class SigningError(Exception):
    """Something a user can fix or needs to know; ``message`` is Swedish and safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Given:
    """What a signer gave: the typed name, ticked statements and (optionally) a drawn signature."""

    name: str  #: typed name
    statements: tuple[str, ...] = ()  #: the statements ticked (their text)
    signature_png: bytes | None = None  #: drawn signature, PNG
    ip: str = ""  #: client address
    user_agent: str = ""  #: browser


@dataclass
class Outcome:
    """What happened to a signing attempt."""

    request: SignatureRequest
    finalised: bool = False  #: this call sealed the document
    finalise_error: str | None = None  #: sealing failed; `flask reseal` will retry
    extra: dict[str, Any] = field(default_factory=dict)  #: "requests": all a paper scan signed


# --------------------------------------------------------------------------- who signs


@documents.in_document_language()  # roles and statements are stored as the document prints them
def slots(doc: Document, dtype: DocumentType) -> list[SignerSlot]:
    """The signatures the document's current data needs."""
    return dtype.signers(documents.render_input(doc))


def requests(doc: Document, version: int | None = None) -> list[SignatureRequest]:
    """The requests of the document's current (or given) version, in slot order of creation."""
    return list(
        db.session.scalars(
            select(SignatureRequest)
            .where(
                SignatureRequest.document_id == doc.id,
                SignatureRequest.document_version == (version or doc.version),
            )
            .order_by(SignatureRequest.id)
        )
    )


def may_sign_as_staff(user: User, req: SignatureRequest, dtype: DocumentType) -> bool:
    """Whether *user* is the staff member this staff slot wants."""
    doc = req.document
    if req.kind != "staff" or not access.can_see_document(user, doc, dtype):
        return False
    if req.staff_role == "manager":
        return user.role == "manager"
    if req.staff_role == "employee":
        return doc.subject_user_id == user.id
    return user.role in ("caseworker", "manager")


# --------------------------------------------------------------------------- helpers


def _title(doc: Document) -> str:
    from formsvc.doctypes import discover

    dtype = discover().get(doc.type_slug)
    return str(dtype.title) if dtype else doc.type_slug


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _local(value: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    return _aware(value).astimezone(ZoneInfo("Europe/Stockholm"))


def _log(
    action: str,
    doc: Document,
    actor: User | None,
    origin: audit.Origin | None,
    details: dict[str, Any],
) -> None:
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "",
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details=details,
        origin=origin,
    )


def _log_signer(
    action: str,
    req: SignatureRequest,
    origin: audit.Origin | None,
    details: dict[str, Any],
    *,
    actor: User | None = None,
) -> None:
    """An event on the request's document, labelled with the signer's role."""
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else req.role,
        object_type="document",
        object_id=req.document_id,
        district_id=req.document.district_id,
        details={"request": req.id, "slot": req.slot, "role": req.role, **details},
        origin=origin,
    )


def today_local() -> date:
    """Today in Stockholm."""
    return _local(utcnow()).date()
