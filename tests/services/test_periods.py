"""Closed statistics periods: the frozen snapshot, the lock on follow-ups, corrections, races."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.forms.follow_up import sample
from formsvc.models import AuditEvent, ClosedPeriod, Document, PeriodCorrection, User
from formsvc.models.document import DocumentStatus
from formsvc.runtime import runtime
from formsvc.services import audit, documents, lifecycle, periods, statistics
from formsvc.services.statistics import Query
from tests.conftest import World
from tests.follow_up_data import PERIOD, City, generate

TODAY = date(2026, 12, 7)
H1 = (date(2025, 1, 1), date(2025, 6, 30))


@pytest.fixture
def city(app: Flask, world: World) -> City:
    return generate(app, world)


def follow_up(app: Flask, world: World, **data: Any) -> Document:
    """A saved follow-up draft for the home district's participant (the form's sample data)."""
    dtype = runtime(app).registry["follow_up"]
    return documents.create(
        dtype,
        {**sample(), **data},
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
    )


def edit(app: Flask, world: World, doc: Document, correction: str | None = None, **data: Any):
    dtype = runtime(app).registry["follow_up"]
    return documents.update(
        doc,
        {**doc.data, **data},
        actor=world.users["caseworker"],
        store=runtime(app).store,
        dtype=dtype,
        correction=correction,
    )


def enrolment(on: str) -> dict[str, Any]:
    return {
        "assessment": "enrolment",
        "enrolled_on": on,
        "discharged_on": None,
        "discharge_reason": "",
        "discharge_comment": "",
    }


def close(world: World, start: date = H1[0], end: date = H1[1], **kw: Any) -> ClosedPeriod:
    return periods.close(start, end, actor=world.users["analyst"], today=TODAY, **kw)


def _people_key(people: list[Any]) -> list[str]:
    """The people as the report reads them, comparable across the live data and a snapshot."""

    def one(a: Any) -> Any:
        if a is None:
            return None
        return [a.kind, a.district_id, {k: a.data.get(k) for k in statistics.KEPT}]

    return sorted(
        json.dumps([p.target_group, one(p.enrolment), one(p.discharge)], sort_keys=True)
        for p in people
    )


# --------------------------------------------------------------------------- closing


def test_closing_freezes_what_the_report_reads_without_identifying_anyone(
    app: Flask, world: World, city: City
) -> None:
    cp = close(world, *PERIOD)

    live = [p for p in statistics.people() if periods._may_count(p, *PERIOD)]
    assert _people_key(cp.people) == _people_key(live)
    assert len(cp.snapshot) >= 100
    frozen = json.dumps(cp.snapshot, ensure_ascii=False)
    for secret in city.secrets():
        assert secret not in frozen
    assert {tuple(sorted(row)) for row in cp.snapshot} == {
        ("discharge", "enrolment", "person", "target_group")
    }
    assert [row["person"] for row in cp.snapshot] == list(range(1, len(cp.snapshot) + 1))
    assert "participant" not in frozen and "comment" not in frozen and "_source" not in frozen
    assert periods.intact(cp)


def test_the_close_is_audited_with_the_snapshot_digest_and_the_chain_holds(
    world: World, city: City
) -> None:
    cp = close(world, *PERIOD)
    ev = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "period_close")).one()
    assert ev.actor_label == "analyst" and ev.object_id == str(cp.id)
    assert ev.details["snapshot_sha256"] == cp.snapshot_sha256 == periods.digest(cp.snapshot)
    assert ev.details["from"] == "2025-01-01" and ev.details["to"] == "2025-12-31"
    assert audit.verify()[1] is None


def test_a_snapshot_changed_behind_the_application_is_found(world: World, city: City) -> None:
    cp = close(world, *PERIOD)
    cp.snapshot = [*cp.snapshot[1:]]
    db.session.commit()
    assert not periods.intact(db.session.get(ClosedPeriod, cp.id))


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [
        (date(2025, 6, 30), date(2025, 1, 1), "före startdatumet"),
        (date(2026, 7, 1), TODAY, "tagit slut"),
        (date(2026, 7, 1), date(9999, 12, 31), "tagit slut"),
    ],
)
def test_a_period_that_cannot_be_closed_is_refused_with_a_reason(
    world: World, start: date, end: date, why: str
) -> None:
    with pytest.raises(periods.PeriodError, match=why):
        close(world, start, end)
    assert db.session.scalar(select(func.count(ClosedPeriod.id))) == 0


def test_the_same_period_twice_is_already_closed_and_an_overlap_is_refused(world: World) -> None:
    first = close(world)
    with pytest.raises(periods.AlreadyClosed, match="redan stängd"):
        close(world)
    with pytest.raises(periods.PeriodError, match="överlappar") as exc:
        close(world, date(2025, 6, 30), date(2025, 12, 31))
    assert not isinstance(exc.value, periods.AlreadyClosed)
    # a district's period inside the city's closed one overlaps it too
    with pytest.raises(periods.PeriodError, match="redan stängd|överlappar"):
        close(world, *H1, district_id=world.home.id)
    # the next half-year is free
    second = close(world, date(2025, 7, 1), date(2025, 12, 31))
    assert [cp.id for cp in periods.all_closed()] == [second.id, first.id]


def test_the_database_keeps_one_closed_period_per_dates_and_scope(world: World) -> None:
    close(world)
    db.session.add(
        ClosedPeriod(
            start=H1[0],
            end=H1[1],
            scope="city",
            closed_by="x",
            snapshot=[],
            snapshot_sha256=periods.digest([]),
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_closed_period_for_matches_the_exact_dates_and_the_city_covers_every_district(
    world: World,
) -> None:
    cp = close(world)
    assert periods.closed_period_for(Query(*H1)) == cp
    assert periods.closed_period_for(Query(*H1, district_id=world.home.id)) == cp
    assert periods.closed_period_for(Query(H1[0], date(2025, 6, 29))) is None
    assert periods.closed_period_for(Query(date(2025, 1, 2), H1[1])) is None


def test_a_district_period_is_found_only_for_its_own_district(world: World) -> None:
    cp = close(world, district_id=world.home.id)
    assert cp.scope == f"district:{world.home.id}"
    assert periods.closed_period_for(Query(*H1, district_id=world.home.id)) == cp
    assert periods.closed_period_for(Query(*H1, district_id=world.other.id)) is None
    assert periods.closed_period_for(Query(*H1)) is None


# --------------------------------------------------------------------------- the lock


def test_a_follow_up_in_a_closed_period_is_locked_and_left_unchanged(
    app: Flask, world: World
) -> None:
    doc = follow_up(app, world, **enrolment("2025-03-01"))
    close(world)
    with pytest.raises(periods.Locked) as exc:
        edit(app, world, doc, gender="female")
    assert [cp.start for cp in exc.value.periods] == [H1[0]]
    db.session.expire_all()
    again = db.session.get(Document, doc.id)
    assert again.version == 1 and again.data["gender"] == "male"


def test_the_date_that_puts_it_in_the_report_decides(app: Flask, world: World) -> None:
    close(world)
    # a discharge counts by its discharge date: enrolled in the closed half-year, discharged later
    later = follow_up(app, world, enrolled_on="2025-02-01", discharged_on="2025-09-01")
    assert periods.locked_by(later) == []
    edit(app, world, later, gender="female")
    # an enrolment by its enrolment date; outside the period it stays a draft to edit
    outside = follow_up(app, world, **enrolment("2025-07-01"))
    edit(app, world, outside, gender="female")
    assert (later.version, outside.version) == (2, 2)


def test_an_edit_that_moves_a_follow_up_into_a_closed_period_is_locked(
    app: Flask, world: World
) -> None:
    doc = follow_up(app, world, **enrolment("2025-07-01"))
    close(world)
    with pytest.raises(periods.Locked):
        edit(app, world, doc, enrolled_on="2025-06-30")


def test_a_correction_is_a_new_audited_version_and_the_snapshot_does_not_change(
    app: Flask, world: World
) -> None:
    doc = follow_up(app, world, **enrolment("2025-03-01"))
    cp = close(world)
    frozen, digest = json.dumps(cp.snapshot), cp.snapshot_sha256

    edit(app, world, doc, correction="  Fel kön registrerat  ", gender="female")

    assert doc.version == 2 and doc.data["gender"] == "female"
    assert [r.version for r in documents.revisions(doc)] == [2, 1]  # the old data is kept
    ((c, of),) = periods.corrections_for(doc)
    assert (c.kind, c.reason, c.version, c.created_by, of.id) == (
        "correction",
        "Fel kön registrerat",
        2,
        "caseworker",
        cp.id,
    )
    ev = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "period_correction")
    ).one()
    assert ev.object_id == str(doc.id) and ev.details["reason"] == "Fel kön registrerat"
    assert periods.correction_count(cp) == 1
    assert periods.correction_count(cp, world.other.id) == 0
    db.session.expire_all()
    cp = db.session.get(ClosedPeriod, cp.id)
    assert json.dumps(cp.snapshot) == frozen and cp.snapshot_sha256 == digest
    assert audit.verify()[1] is None


def test_a_blank_reason_is_no_correction(app: Flask, world: World) -> None:
    doc = follow_up(app, world, **enrolment("2025-03-01"))
    close(world)
    with pytest.raises(periods.Locked):
        edit(app, world, doc, correction="   ", gender="female")
    assert db.session.scalar(select(func.count(PeriodCorrection.id))) == 0


def test_a_new_follow_up_dated_in_a_closed_period_is_recorded_as_a_late_entry(
    app: Flask, world: World
) -> None:
    cp = close(world)
    doc = follow_up(app, world, **enrolment("2025-05-05"))
    ((c, of),) = periods.corrections_for(doc)
    assert (c.kind, c.reason, of.id) == ("late_entry", "", cp.id)
    assert periods.correction_count(cp) == 1
    assert db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "period_late_entry")
    ).all() == ["period_late_entry"]


def test_other_document_types_are_never_locked(
    app: Flask, world: World, consent_doc: Document
) -> None:
    close(world)
    assert periods.locked_by(consent_doc) == []


def test_a_locked_follow_up_cannot_be_voided(app: Flask, world: World) -> None:
    locked = follow_up(app, world, **enrolment("2025-03-01"))
    free = follow_up(app, world, **enrolment("2025-08-01"))
    close(world)
    actor: User = world.users["manager"]
    with pytest.raises(lifecycle.ForbiddenTransition, match="closed period"):
        lifecycle.transition(locked, DocumentStatus.VOIDED, actor=actor)
    db.session.rollback()
    lifecycle.transition(free, DocumentStatus.VOIDED, actor=actor)
    db.session.commit()
    assert db.session.get(Document, free.id).status == "voided"
    assert db.session.get(Document, locked.id).status == "draft"


@pytest.mark.parametrize(
    "data",
    [
        {"assessment": "enrolment", "enrolled_on": "2025-02-30"},
        {"assessment": "enrolment", "enrolled_on": 20250301},
        {"assessment": "discharge", "enrolled_on": "2025-03-01", "discharged_on": None},
        {"assessment": "something", "enrolled_on": "2025-03-01"},
        {},
    ],
)
def test_stored_data_without_a_report_date_in_the_period_is_not_locked(
    app: Flask, world: World, data: dict[str, Any]
) -> None:
    doc = follow_up(app, world, **enrolment("2025-08-01"))
    close(world)
    doc.data = data  # as if stored by an older version or by hand
    db.session.commit()
    assert periods.locked_by(doc) == []
