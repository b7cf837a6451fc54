"""Consent (bilaga 3.2) states, withdrawal and "who may we share with today?"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from formsvc.doctypes import discover
from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import audit, documents, lifecycle
from formsvc.services.storage import FileStore

#: Consent states a withdrawal applies to.
WITHDRAWABLE = (DocumentStatus.AWAITING_SIGNATURES, DocumentStatus.ACTIVE)

#: How a consent's state reads on the page (computed from status and dates).
STATE_LABELS = {
    "draft": _l("Utkast"),
    "awaiting_signatures": _l("Väntar på underskrifter"),
    "pending_start": _l("Signerat – gäller från startdatum"),
    "active": _l("Gäller"),
    "expired": _l("Har upphört"),
    "declined": _l("Avböjt"),
    "voided": _l("Makulerat"),
    "withdrawn": _l("Återkallat"),
}


def _period(doc: Document) -> tuple[date | None, date | None]:
    def parse(value: Any) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except (TypeError, ValueError):
            return None

    return parse(doc.data.get("period_from")), parse(doc.data.get("period_to"))


def state(doc: Document, today: date) -> str:
    """The consent's state on *today*: the stored status refined by its period."""
    if doc.status not in ("active", "expired"):
        return doc.status
    start, end = _period(doc)
    if end is not None and today > end:
        return "expired"
    if start is not None and today < start:
        return "pending_start"
    return "active"


@dataclass(frozen=True)
class Sharing:
    """One consent in force today: with whom, about what, until when."""

    document: Document
    period_from: str
    period_to: str
    actors: list[dict[str, str]]  #: name, contact, direction
    info_kinds: list[str]
    info_other: str


def sharing(doc: Document) -> Sharing:
    """What a consent covers: actors (the police always), kinds of information, period."""
    from formsvc.forms.consent import ACTORS, DIRECTIONS, INFO_KINDS, POLICE

    d = doc.data
    actors = [
        {
            "name": str(POLICE),
            "contact": d.get("police_contact") or "",
            "direction": str(DIRECTIONS.get(d.get("police_direction", "both"), "")),
        }
    ]
    for row in d.get("actors", []):
        name = (
            row.get("other_name")
            if row.get("actor") == "other"
            else str(ACTORS.get(row.get("actor", ""), ""))
        )
        actors.append(
            {
                "name": name or "",
                "contact": row.get("contact") or "",
                "direction": str(DIRECTIONS.get(row.get("direction", "both"), "")),
            }
        )
    return Sharing(
        document=doc,
        period_from=d.get("period_from") or "",
        period_to=d.get("period_to") or "",
        actors=actors,
        info_kinds=[str(INFO_KINDS[k]) for k in d.get("info_kinds", []) if k in INFO_KINDS],
        info_other=d.get("info_other") or "",
    )


def share_today(participant_id: int, today: date) -> list[Sharing]:
    """The participant's consents in force on *today* and what each covers."""
    docs = db.session.scalars(
        select(Document)
        .where(
            Document.participant_id == participant_id,
            Document.type_slug == "consent",
            Document.status == "active",
        )
        .order_by(Document.id)
    )
    return [sharing(doc) for doc in docs if state(doc, today) == "active"]


class NotWithdrawable(ValueError):
    """The consent was already withdrawn or ended (e.g. by a parallel request)."""


def withdraw(
    doc: Document,
    *,
    withdrawn_on: date,
    how: str,
    details: str,
    recorded_by: str,
    actor: User | None,
    store: FileStore,
    origin: audit.Origin | None = None,
) -> Document:
    """Withdraw a consent: its status, its open requests, and a withdrawal document listing
    the actors to inform. Exactly once: a second withdrawal is refused."""
    if doc.status not in WITHDRAWABLE:
        raise NotWithdrawable(doc.id)
    try:
        lifecycle.transition(
            doc,
            DocumentStatus.WITHDRAWN,
            actor=actor,
            origin=origin,
            actor_label=None if actor else recorded_by,
            action="withdraw",
            details={"withdrawn_on": withdrawn_on.isoformat(), "how": how},
            values={"updated_at": utcnow()},
        )
    except lifecycle.TransitionError as exc:
        db.session.rollback()
        raise NotWithdrawable(doc.id) from exc
    db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
        .values(status="voided", token_hash=None, otp_hash=None)
    )
    covered = sharing(doc)
    data = {
        "withdrawn_on": withdrawn_on.isoformat(),
        "how": how,
        "details": details,
        "consent_id": doc.id,
        "consent_reference": doc.reference,
        "consent_period": [doc.data.get("period_from") or "", doc.data.get("period_to") or ""],
        "recorded_by": recorded_by,
        "actors": [{"name": a["name"], "contact": a["contact"]} for a in covered.actors],
        "info_kinds": covered.info_kinds,
    }
    wtype = discover()["consent_withdrawal"]
    author = actor or doc.created_by
    new = documents.create(
        wtype,
        data,
        actor=author,
        store=store,
        participant=doc.participant,
        origin=origin,
        status="final",
    )
    return new


def expire_due(today: date) -> list[Document]:
    """Mark consents whose period has ended as expired (idempotent); returns those changed."""
    docs = db.session.scalars(
        select(Document).where(Document.type_slug == "consent", Document.status == "active")
    ).all()
    changed = []
    for doc in docs:
        if state(doc, today) != "expired":
            continue
        try:
            lifecycle.transition(
                doc,
                DocumentStatus.EXPIRED,
                actor=None,
                from_=DocumentStatus.ACTIVE,
                action="expire",
                details={"period_to": doc.data.get("period_to")},
                values={"updated_at": utcnow()},
            )
        except lifecycle.StaleStatus:  # withdrawn or expired by a parallel run
            continue
        changed.append(doc)
    db.session.commit()
    return changed
