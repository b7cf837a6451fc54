"""What the service knows about a district, for answers it can propose (district checklist)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import Document, User
from formsvc.models._base import utcnow

#: Roles counted as operative staff who should have a security talk each year.
OPERATIVE = ("caseworker", "manager")


def for_district(district_id: int | None) -> dict[str, Any]:
    """Facts about a district: contact list, security talks, competence checklists."""
    if district_id is None:
        return {}
    year_ago = utcnow() - timedelta(days=365)
    staff = list(
        db.session.scalars(
            select(User.id).where(
                User.district_id == district_id, User.active.is_(True), User.role.in_(OPERATIVE)
            )
        )
    )

    def subjects(slug: str, since: Any = None) -> set[int]:
        q = select(Document.subject_user_id).where(
            Document.district_id == district_id,
            Document.type_slug == slug,
            Document.subject_user_id.is_not(None),
        )
        if since is not None:
            q = q.where(Document.updated_at >= since)
        return set(db.session.scalars(q))

    talked = subjects("security_talk", year_ago)
    checked = subjects("competence")
    contact_lists = db.session.scalar(
        select(func.count(Document.id)).where(
            Document.district_id == district_id, Document.type_slug == "contact_list"
        )
    )
    return {
        "contact_list_exists": bool(contact_lists),
        "operative_staff": len(staff),
        "staff_with_security_talk": len(talked & set(staff)),
        "staff_with_competence_checklist": len(checked & set(staff)),
    }


def for_participant(participant_id: int | None) -> dict[str, Any]:
    """Facts about a participant: which actors their consent (bilaga 3.2) covers.

    Until consents can be signed, the newest consent that is not withdrawn, declined or voided
    counts "by its content"; ``consent_status`` says which state it is in.
    """
    if participant_id is None:
        return {}
    from formsvc.forms.consent import ACTORS, POLICE

    consent = db.session.scalar(
        select(Document)
        .where(
            Document.participant_id == participant_id,
            Document.type_slug == "consent",
            Document.status.not_in(("withdrawn", "declined", "voided", "expired")),
        )
        .order_by(Document.updated_at.desc())
        .limit(1)
    )
    if consent is None:
        return {"consent_actors": [], "consent_status": None}
    names = [str(POLICE)] + [
        (
            row.get("other_name")
            if row.get("actor") == "other"
            else str(ACTORS.get(row.get("actor"), ""))
        )
        or ""
        for row in consent.data.get("actors", [])
    ]
    return {
        "consent_actors": [n for n in names if n],
        "consent_status": consent.status,
        "consent_period": (consent.data.get("period_from"), consent.data.get("period_to")),
    }
