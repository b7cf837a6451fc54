"""Closed statistics periods (issue 17): a reported half-year whose figures never change.

Closing
    An analyst closes a period for the whole city (docs: views/periods.py says why managers do
    not). Closing stores a frozen, de-identified snapshot of what the follow-up report reads
    (statistics' people: the chosen assessments' report keys, no names, ids, free text), its
    SHA-256, and an audit event with the same digest. The report of a query whose dates are
    exactly a closed period's is made from the snapshot (closed_period_for + statistics.report),
    so it reads the same whenever it is taken. A period overlapping a closed one is refused:
    the months in the overlap would have two "final" figures that could disagree. Closing is not
    undone (no reopening): the closed report is the one that was published.

Locking
    A follow-up counts in a period by the date that puts it in the report: an enrolment
    assessment by its enrolled_on, a discharge assessment by its discharged_on. A follow-up whose
    date (before or after the change) lies in a closed period of its district's scope is locked:
    it is no longer edited as a draft. The change is made instead as a correction — a new
    version of the same document with a required reason, recorded as a PeriodCorrection and in
    the audit log — shown on the document and counted on the closed period's report. A new
    follow-up dated inside a closed period (a late entry) is saved and recorded the same way.
    Voiding: formsvc has no way to void a follow-up today (lifecycle allows it, no view does);
    lifecycle.transition refuses to void a locked follow-up, so a future one cannot bypass this.

Races
    Closing and every save of a follow-up take one lock (serialise()) before they read: on
    PostgreSQL a transaction-level advisory lock, on SQLite the write lock (BEGIN IMMEDIATE). So an
    edit racing with a close either commits before the snapshot is read (and is in it) or waits
    and then sees the closed period (and is refused). Two closes of the same period: the second
    waits and is told the period is closed; the unique constraint holds even without the lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, or_, select, text, true
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import ClosedPeriod, Document, PeriodCorrection, User
from formsvc.models._base import utcnow
from formsvc.services import audit, statistics

SLUG = "follow_up"
#: The PostgreSQL advisory lock closing and follow-up saves share (audit.record uses 4242001).
LOCK_KEY = 4242017
#: The longest reason a correction may give (the column's size).
MAX_REASON = 1000


class PeriodError(ValueError):
    """A period cannot be closed; *message* says why, in Swedish, for the form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlreadyClosed(PeriodError):
    """The same period is already closed (perhaps a moment ago, by a parallel request)."""


class Locked(Exception):
    """A follow-up counts in a closed period: it changes only as a correction with a reason."""

    def __init__(self, document_id: int | None, periods: list[ClosedPeriod]) -> None:
        super().__init__(f"document {document_id}: in closed period(s) {[p.id for p in periods]}")
        self.periods = periods


# --------------------------------------------------------------------------- the lock


def serialise() -> None:
    """Take the lock that orders closes and follow-up saves, until the transaction ends."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif conn.dialect.name == "sqlite" and not conn.connection.driver_connection.in_transaction:
        # a transaction that has written already holds SQLite's write lock (see audit.record)
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# --------------------------------------------------------------------------- snapshot


def _assessment_json(a: statistics.Assessment | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "kind": a.kind,
        "district_id": a.district_id,
        "data": {k: a.data[k] for k in statistics.KEPT if k in a.data},
    }


def _assessment_from(raw: Mapping[str, Any] | None) -> statistics.Assessment | None:
    if raw is None:
        return None
    # the order only chose the newest assessment before the snapshot was taken
    order = (date.min, datetime.min, 0)
    return statistics.Assessment(raw["kind"], raw["district_id"], dict(raw["data"]), order)


def _dates(person: statistics.Person) -> list[date]:
    out = []
    for a in (person.enrolment, person.discharge):
        if a is not None:
            out += [d for d in (a.day("enrolled_on"), a.day("discharged_on")) if d is not None]
    return out


def _may_count(person: statistics.Person, start: date, end: date) -> bool:
    """False only for someone no figure of the period can count: every date after its end, or
    discharged with every date before its start. (Data minimisation; undated people stay.)"""
    days = _dates(person)
    if not days:
        return True
    if min(days) > end:
        return False
    discharged = person.discharge is not None and person.discharge.day("discharged_on")
    return not (discharged and max(days) < start)


def snapshot(start: date, end: date, district_id: int | None) -> list[dict[str, Any]]:
    """The de-identified people the report of the period reads, as JSON-ready dicts.

    Not Person.to_json(): that keeps participant and document ids and change times, which
    link the frozen data back to people. Here a running number stands for each person (the row
    export pseudonymises with a throw-away key anyway) and only the report's keys are kept.
    Sorted, so equal data give an equal digest.
    """
    people = [p for p in statistics.people(district_id) if _may_count(p, start, end)]
    rows = [
        {
            "target_group": p.target_group,
            "enrolment": _assessment_json(p.enrolment),
            "discharge": _assessment_json(p.discharge),
        }
        for p in people
    ]
    rows.sort(key=_canonical)
    return [{"person": i + 1, **row} for i, row in enumerate(rows)]


def people_of(cp: ClosedPeriod) -> list[statistics.Person]:
    """The snapshot's people, as statistics.report reads them."""
    return [
        statistics.Person(
            row["person"],
            row["target_group"],
            _assessment_from(row["enrolment"]),
            _assessment_from(row["discharge"]),
        )
        for row in cp.snapshot
    ]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def digest(rows: list[dict[str, Any]]) -> str:
    """SHA-256 of a snapshot in canonical JSON."""
    return hashlib.sha256(_canonical(rows).encode()).hexdigest()


# --------------------------------------------------------------------------- closing


def _scope(district_id: int | None) -> str:
    return "city" if district_id is None else f"district:{district_id}"


def _touching(district_id: int | None) -> ColumnElement[bool]:
    """Closed periods whose scope meets *district_id*'s (the city meets every district)."""
    if district_id is None:
        return true()
    return or_(ClosedPeriod.district_id.is_(None), ClosedPeriod.district_id == district_id)


def validate(start: date, end: date, today: date) -> None:
    """Raise PeriodError unless start..end is a period that can be closed on *today*."""
    if end < start:
        raise PeriodError(_("Slutdatumet kan inte vara före startdatumet."))
    if end >= today:
        raise PeriodError(
            _("Bara en period som har tagit slut kan stängas (slutdatumet ska vara före i dag).")
        )


def close(
    start: date,
    end: date,
    *,
    actor: User,
    today: date,
    district_id: int | None = None,
    origin: audit.Origin | None = None,
) -> ClosedPeriod:
    """Close start..end (for the city, or one district): freeze its data and lock its follow-ups.

    Raises PeriodError (AlreadyClosed for the same period) with a message for the form.
    """
    validate(start, end, today)
    serialise()
    clash = db.session.scalars(
        select(ClosedPeriod)
        .where(ClosedPeriod.start <= end, ClosedPeriod.end >= start, _touching(district_id))
        .order_by(ClosedPeriod.start)
    ).first()
    if clash is not None:
        db.session.rollback()
        if (clash.start, clash.end, clash.district_id) == (start, end, district_id):
            raise AlreadyClosed(
                _(
                    "Perioden %(p)s är redan stängd (av %(who)s).",
                    p=label(clash),
                    who=clash.closed_by,
                )
            )
        raise PeriodError(
            _(
                "Perioden överlappar den stängda perioden %(p)s. Stängda perioder får inte "
                "överlappa: samma månader skulle få två slutliga rapporter som kan skilja sig.",
                p=label(clash),
            )
        )
    rows = snapshot(start, end, district_id)
    cp = ClosedPeriod(
        start=start,
        end=end,
        scope=_scope(district_id),
        district_id=district_id,
        closed_at=utcnow().replace(microsecond=0),
        closed_by_id=actor.id,
        closed_by=actor.username,
        snapshot=rows,
        snapshot_sha256=digest(rows),
    )
    db.session.add(cp)
    try:
        db.session.flush()
    except IntegrityError:  # only without the lock (another process, another code path)
        db.session.rollback()
        raise AlreadyClosed(_("Perioden är redan stängd.")) from None
    audit.record(
        "period_close",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="statistics",
        object_id=cp.id,
        district_id=district_id,
        details={
            "from": start.isoformat(),
            "to": end.isoformat(),
            "scope": cp.scope,
            "people": len(rows),
            "snapshot_sha256": cp.snapshot_sha256,
        },
        origin=origin,
    )
    db.session.commit()
    return cp


def label(cp: ClosedPeriod) -> str:
    """The period as the pages write it: 2025-01-01–2025-06-30."""
    return f"{cp.start.isoformat()}\u2013{cp.end.isoformat()}"


def all_closed() -> list[ClosedPeriod]:
    """Every closed period, the latest first."""
    return list(db.session.scalars(select(ClosedPeriod).order_by(ClosedPeriod.start.desc())))


def closed_period_for(query: statistics.Query) -> ClosedPeriod | None:
    """The closed period whose dates are exactly the query's, for its district or the city.

    A city query is answered only by a city period (a district's snapshot holds one district).
    """
    scope = (
        ClosedPeriod.district_id.is_(None)
        if query.district_id is None
        else _touching(query.district_id)
    )
    return db.session.scalars(
        select(ClosedPeriod)
        .where(ClosedPeriod.start == query.start, ClosedPeriod.end == query.end, scope)
        .order_by(ClosedPeriod.id)
    ).first()


def intact(cp: ClosedPeriod) -> bool:
    """Whether the snapshot still has the digest recorded when the period was closed."""
    return digest(cp.snapshot) == cp.snapshot_sha256


# --------------------------------------------------------------------------- locking


def report_day(data: Mapping[str, Any] | None) -> date | None:
    """The date that puts a follow-up in the report: enrolled_on at enrolment, discharged_on at
    discharge."""
    if not isinstance(data, Mapping):
        return None
    key = {"enrolment": "enrolled_on", "discharge": "discharged_on"}.get(data.get("assessment"))
    value = data.get(key) if key else None
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def closing(district_id: int, datas: Iterable[Mapping[str, Any] | None]) -> list[ClosedPeriod]:
    """The closed periods a follow-up of *district_id* with any of *datas* counts in."""
    days = {d for d in map(report_day, datas) if d is not None}
    if not days:
        return []
    candidates = db.session.scalars(
        select(ClosedPeriod)
        .where(
            ClosedPeriod.start <= max(days),
            ClosedPeriod.end >= min(days),
            _touching(district_id),
        )
        .order_by(ClosedPeriod.start)
    )
    return [cp for cp in candidates if any(cp.start <= d <= cp.end for d in days)]


def locked_message(periods: list[ClosedPeriod]) -> str:
    """What an edit of a locked follow-up is told, in Swedish."""
    return _(
        "Uppföljningen räknas i den stängda perioden %(p)s och kan inte längre ändras som "
        "utkast. Gör en rättelse i stället: den sparas som en ny version med ditt skäl och "
        "visas som rättelse efter stängd period.",
        p=", ".join(label(cp) for cp in periods),
    )


def locked_by(doc: Document) -> list[ClosedPeriod]:
    """The closed periods that lock *doc* as it is stored (none for other types)."""
    if doc.type_slug != SLUG:
        return []
    return closing(doc.district_id, [doc.data])


def guard(
    doc: Document | None,
    slug: str,
    district_id: int,
    data: Mapping[str, Any],
    correction: str | None,
) -> list[ClosedPeriod]:
    """Before a follow-up is saved: take the lock, and the closed periods the save touches.

    *doc* is None for a new document (a late entry, allowed). An edit that touches a closed
    period raises Locked unless it is a *correction* with a reason.
    """
    if slug != SLUG:
        return []
    serialise()
    hit = closing(district_id, [data] if doc is None else [doc.data, data])
    if hit and doc is not None and not (correction or "").strip():
        raise Locked(doc.id, hit)
    return hit


def record_change(
    hit: list[ClosedPeriod],
    doc: Document,
    *,
    actor: User,
    reason: str | None,
    origin: audit.Origin | None = None,
) -> None:
    """After a saved change to a follow-up in closed periods: the correction rows and audit."""
    kind = "correction" if (reason or "").strip() else "late_entry"
    text_ = (reason or "").strip()[:MAX_REASON]
    for cp in hit:
        db.session.add(
            PeriodCorrection(
                closed_period_id=cp.id,
                document_id=doc.id,
                version=doc.version,
                kind=kind,
                reason=text_,
                created_by_id=actor.id,
                created_by=actor.username,
            )
        )
        audit.record(
            f"period_{kind}",
            actor_id=actor.id,
            actor_label=actor.username,
            object_type="document",
            object_id=doc.id,
            district_id=doc.district_id,
            details={
                "closed_period": cp.id,
                "period": label(cp),
                "version": doc.version,
                "reason": text_,
            },
            origin=origin,
        )


def corrections_for(doc: Document) -> list[tuple[PeriodCorrection, ClosedPeriod]]:
    """The corrections and late entries recorded for *doc*, oldest first, with their period."""
    rows = db.session.execute(
        select(PeriodCorrection, ClosedPeriod)
        .join(ClosedPeriod, ClosedPeriod.id == PeriodCorrection.closed_period_id)
        .where(PeriodCorrection.document_id == doc.id)
        .order_by(PeriodCorrection.id)
    )
    return [(c, cp) for c, cp in rows]


def correction_count(cp: ClosedPeriod, district_id: int | None = None) -> int:
    """How many corrections and late entries were saved in *cp* after it closed (optionally
    only those of one district's follow-ups)."""
    q = select(func.count(PeriodCorrection.id)).where(PeriodCorrection.closed_period_id == cp.id)
    if district_id is not None:
        q = q.join(Document, Document.id == PeriodCorrection.document_id).where(
            Document.district_id == district_id
        )
    return db.session.scalar(q) or 0
