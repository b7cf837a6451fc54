"""What each role sees first on the start page. Knows nothing of HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import Document, User
from formsvc.services import access, consents

#: Who counts as operative staff for security-talk compliance (they meet clients).
OPERATIVE = ("caseworker", "manager")
#: A security talk is due at least once every 12 months (bilaga 2.0).
TALK_INTERVAL_DAYS = 365
#: Threat levels, most urgent first.
LEVEL_ORDER = {"high": 0, "elevated": 1, "none": 2, "": 3}


@dataclass(frozen=True)
class TalkStatus:
    """One employee's last signed security talk."""

    employee: User
    last_talk: date | None  #: date of the last signed talk, None when never
    document_id: int | None  #: that talk's document
    overdue: bool  #: never, or more than 12 months ago


def caseworker(user: User, registry: dict[str, DocumentType], today: date) -> dict[str, Any]:
    """Waiting for signatures, consents ending within 30 days, the user's own drafts."""
    visible = access.visible_documents(user, registry)
    base = select(Document).options(joinedload(Document.participant)).where(visible)
    waiting = db.session.scalars(
        base.where(Document.status == "awaiting_signatures").order_by(Document.sent_at)
    ).all()
    drafts = db.session.scalars(
        base.where(Document.status == "draft", Document.created_by_id == user.id)
        .order_by(Document.updated_at.desc())
        .limit(50)
    ).all()
    expiring = []
    horizon = today + timedelta(days=30)
    for doc in db.session.scalars(
        base.where(Document.type_slug == "consent", Document.status == "active")
    ):
        end = _date(doc.data.get("period_to"))
        if end and today <= end <= horizon and consents.valid_on(doc, today):
            expiring.append((end, doc))
    expiring.sort(key=lambda pair: pair[0])
    return {"waiting": waiting, "expiring": expiring, "drafts": drafts}


def threat_assessments_to_decide(district_id: int) -> list[Document]:
    """The district's threat assessments without a manager's decision, high level first."""
    docs = db.session.scalars(
        select(Document)
        .options(joinedload(Document.participant))
        .where(
            Document.district_id == district_id,
            Document.type_slug == "threat_assessment",
            Document.status.in_(("draft", "awaiting_signatures")),
        )
    ).all()
    open_ = [d for d in docs if not d.data.get("decision") or d.status == "awaiting_signatures"]
    return sorted(
        open_, key=lambda d: (LEVEL_ORDER.get(d.data.get("level") or "", 3), d.created_at)
    )


def talk_compliance(district_id: int | None, today: date) -> list[TalkStatus]:
    """Every active operative employee (of one district, or all) with their last signed talk;
    overdue ones (never, or over 12 months) first."""
    q = select(User).where(User.active.is_(True), User.role.in_(OPERATIVE))
    if district_id is not None:
        q = q.where(User.district_id == district_id)
    staff = db.session.scalars(q.order_by(User.full_name)).all()
    talks = db.session.scalars(
        select(Document).where(
            Document.type_slug == "security_talk",
            Document.status == "signed",
            Document.subject_user_id.in_([u.id for u in staff]),
        )
    ).all()
    last: dict[int, tuple[date, int]] = {}
    for doc in talks:
        day = _date(doc.data.get("talk_date")) or (doc.sealed_at.date() if doc.sealed_at else None)
        if day and (doc.subject_user_id not in last or day > last[doc.subject_user_id][0]):
            last[doc.subject_user_id] = (day, doc.id)
    out = []
    for u in staff:
        day, doc_id = last.get(u.id, (None, None))
        overdue = day is None or (today - day).days > TALK_INTERVAL_DAYS
        out.append(TalkStatus(u, day, doc_id, overdue))
    return sorted(out, key=lambda s: (not s.overdue, s.last_talk or date.min, s.employee.full_name))


def signed_security_talks(limit: int = 200) -> list[Document]:
    """Signed security talks of every district, newest first (what the security function gets)."""
    return list(
        db.session.scalars(
            select(Document)
            .options(joinedload(Document.subject_user), joinedload(Document.district))
            .where(and_(Document.type_slug == "security_talk", Document.status == "signed"))
            .order_by(Document.sealed_at.desc())
            .limit(limit)
        )
    )


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None
