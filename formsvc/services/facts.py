"""What the service knows about a district or a participant, for answers a form can propose
(district checklist, follow-up pre-fill) and for the checks it makes against other documents."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import Document, User
from formsvc.services import consents

#: Roles counted as operative staff who should have a security talk each year.
OPERATIVE = ("caseworker", "manager")
#: A security talk counts for 12 months (bilaga 2.0; the district checklist's question 5).
TALK_MONTHS = 12
#: Statuses of a document that no longer says anything (left out of every fact).
GONE = ("voided", "purged")


@dataclass(frozen=True)
class Basis:
    """One document a proposal rests on, as the proposal names it."""

    reference: str  #: e.g. SIG-2026-000012 v1
    day: str  #: the date the document is about (talk held, list updated, checklist gone through)
    who: str = ""  #: the employee, for 2.0 and 2.3


@dataclass(frozen=True)
class TalkFacts:
    """Security talks of the district's operative staff (question 5)."""

    staff: int  #: active operative employees
    sealed: tuple[Basis, ...]  #: each employee's newest sealed talk held within TALK_MONTHS
    not_counted: int  #: talks within TALK_MONTHS that are drafts or not yet signed by everyone
    since: str  #: the earliest talk date that counts (ISO)


@dataclass(frozen=True)
class CompetenceFacts:
    """Competence checklists (2.3) of the district's operative staff (question 8)."""

    staff: int  #: active operative employees
    filled: tuple[Basis, ...]  #: each employee's newest checklist
    met: tuple[Basis, ...]  #: those of them in which every requirement is met


@dataclass(frozen=True)
class ContactListFacts:
    """The district's newest contact list (question 4)."""

    basis: Basis  #: the list and its "last updated" date
    strategic_rows: int  #: contacts at strategic level (or strategic and operative)
    max_age_months: int  #: how old "last updated" may be and the list still be current
    oldest_current: str  #: the earliest "last updated" that is current (ISO)


def months_before(day: date, months: int) -> date:
    """The same day *months* calendar months earlier (the month's last day if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def for_district(
    district_id: int | None, *, today: date, contact_list_months: int = 12
) -> dict[str, Any]:
    """Facts about a district for the checklist's proposals, each with what it rests on."""
    if district_id is None:
        return {}
    staff = {
        u.id: u.full_name
        for u in db.session.scalars(
            select(User).where(
                User.district_id == district_id, User.active.is_(True), User.role.in_(OPERATIVE)
            )
        )
    }
    return {
        "security_talks": _talks(district_id, staff, today),
        "competence": _competence(district_id, staff),
        "contact_list": _contact_list(district_id, today, contact_list_months),
    }


def _documents(district_id: int, slug: str) -> list[Document]:
    return list(
        db.session.scalars(
            select(Document).where(
                Document.district_id == district_id,
                Document.type_slug == slug,
                Document.status.not_in(GONE),
            )
        )
    )


def _day(value: Any) -> str:
    """An ISO date from stored data, or "" when there is none or it cannot be read."""
    try:
        return date.fromisoformat(value).isoformat() if isinstance(value, str) else ""
    except ValueError:
        return ""


def _newest(docs: list[tuple[str, Document]]) -> dict[int, tuple[str, Document]]:
    """Per employee, the document with the latest date (then the latest edit)."""
    out: dict[int, tuple[str, Document]] = {}
    for day, doc in sorted(docs, key=lambda pair: (pair[0], pair[1].updated_at)):
        if doc.subject_user_id is not None:
            out[doc.subject_user_id] = (day, doc)
    return out


def _talks(district_id: int, staff: dict[int, str], today: date) -> TalkFacts:
    since = months_before(today, TALK_MONTHS).isoformat()
    sealed, not_counted = [], 0
    for doc in _documents(district_id, "security_talk"):
        if doc.subject_user_id not in staff:
            continue
        day = _day(doc.data.get("talk_date"))
        if not day or not since <= day <= today.isoformat():
            continue
        if doc.status == "signed" and doc.sealed_pdf_sha256:
            sealed.append((day, doc))
        else:
            not_counted += 1
    newest = _newest(sealed)
    return TalkFacts(
        staff=len(staff),
        sealed=tuple(
            Basis(doc.reference, day, staff[uid]) for uid, (day, doc) in sorted(newest.items())
        ),
        not_counted=not_counted,
        since=since,
    )


def _competence(district_id: int, staff: dict[int, str]) -> CompetenceFacts:
    docs = [
        (_day(doc.data.get("assessed_on")), doc)
        for doc in _documents(district_id, "competence")
        if doc.subject_user_id in staff
    ]
    filled, met = [], []
    for uid, (day, doc) in sorted(_newest(docs).items()):
        basis = Basis(doc.reference, day, staff[uid])
        filled.append(basis)
        rows = doc.data.get("requirements") or []
        if rows and all(isinstance(r, dict) and r.get("answer") == "met" for r in rows):
            met.append(basis)
    return CompetenceFacts(staff=len(staff), filled=tuple(filled), met=tuple(met))


def _contact_list(district_id: int, today: date, months: int) -> ContactListFacts | None:
    docs = [(_day(d.data.get("last_updated")), d) for d in _documents(district_id, "contact_list")]
    if not docs:
        return None
    day, doc = max(docs, key=lambda pair: (pair[0], pair[1].updated_at))
    rows = doc.data.get("contacts") or []
    return ContactListFacts(
        basis=Basis(doc.reference, day),
        strategic_rows=sum(
            1 for r in rows if isinstance(r, dict) and r.get("level") in ("strategic", "both")
        ),
        max_age_months=months,
        oldest_current=months_before(today, months).isoformat(),
    )


def for_participant(
    participant_id: int | None,
    today: date,
    *,
    district_id: int | None = None,
    excluding: int | None = None,
) -> dict[str, Any]:
    """Facts about a participant: their consents (bilaga 3.2) as they stand *today*, and, when
    the district of the document being filled is given, their follow-ups there (bilaga 3.4).

    Only a consent in force today counts (signed, within its period, not withdrawn): a draft
    or unsigned consent covers nobody (issue 10). *excluding* is the document being edited: it
    is not compared with itself.
    """
    if participant_id is None:
        return {}
    out: dict[str, Any] = {"consents": consents.on_day(participant_id, today)}
    if district_id is not None:
        out["follow_ups"] = follow_ups(participant_id, district_id, excluding=excluding)
    return out


@dataclass(frozen=True)
class FollowUp:
    """One follow-up (bilaga 3.4) of a participant, as the follow-up form's pre-fill and
    cross-checks read it. Dates that are missing or unreadable in the stored data are None."""

    reference: str  #: e.g. SIG-2026-000012 v1, named in the form's messages
    assessment: str  #: "enrolment" or "discharge" (the stored key)
    assessed_on: date | None
    enrolled_on: date | None
    discharged_on: date | None
    gender: str  #: the stored key ("" when missing)
    updated_at: datetime  #: the last change, to order assessments made on the same day

    @property
    def order(self) -> tuple[date, datetime]:
        """Oldest first: by the assessment's date, then by the last change (as the statistics
        pick the newest assessment of a kind)."""
        return (self.assessed_on or date.min, self.updated_at)


def _date(value: Any) -> date | None:
    day = _day(value)
    return date.fromisoformat(day) if day else None


def follow_ups(
    participant_id: int, district_id: int, *, excluding: int | None = None
) -> list[FollowUp]:
    """The participant's enrolment and discharge assessments in *district_id*, oldest first.

    Only the district's documents: those are the ones its staff may open, and the statistics
    count an assessment in the district of its document. Voided and purged documents say
    nothing; drafts count, as they do in the statistics.
    """
    docs = db.session.scalars(
        select(Document).where(
            Document.participant_id == participant_id,
            Document.district_id == district_id,
            Document.type_slug == "follow_up",
            Document.status.not_in(GONE),
        )
    )
    out = []
    for doc in docs:
        data = doc.data if isinstance(doc.data, dict) else {}
        kind = data.get("assessment")
        if doc.id == excluding or kind not in ("enrolment", "discharge"):
            continue
        gender = data.get("gender")
        out.append(
            FollowUp(
                reference=doc.reference,
                assessment=kind,
                assessed_on=_date(data.get("assessed_on")),
                enrolled_on=_date(data.get("enrolled_on")),
                discharged_on=_date(data.get("discharged_on")),
                gender=gender if isinstance(gender, str) else "",
                updated_at=doc.updated_at,
            )
        )
    return sorted(out, key=lambda f: f.order)
