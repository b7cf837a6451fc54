"""A generated city like the one in the city's half-year report (seed 000, "Resultat SIG unga
vuxna").

Built so that for SIG unga vuxna in HALF_YEAR (2020-01-01 – 2020-06-30) the report's figures come
out: 46 new (43 men, 3 women), 35 discharged (33 men, 2 women), 108 enrolled at some time during
the half-year. The SIG unga vuxna participants fall in six kinds (see PLAN):

    before_out  enrolled before the half-year, discharged in it    counted: active, discharged
    before_on   enrolled before, still enrolled after it            counted: active
    new_out     enrolled and discharged in it                       counted: new, active, out
    new_on      enrolled in it, still enrolled after it             counted: new, active
    earlier     enrolled and discharged before it                   not counted
    later       enrolled after it                                   not counted

so new = new_out + new_on, discharged = before_out + new_out, active = the first four. SIG unga
participants (some in each kind) are added beside them and must not shift those figures; a few
participants' target group in the assessment differs from the participant record (they had
turned 20), which the report must follow. Five districts, one of them small.

Part of it is entered as a caseworker does, through HTTP (the follow-up form's posts for
ENTERED_BY_HTTP's district); the rest is inserted as stored rows in one commit (a commit per
document through documents.create took ten seconds on SQLite).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.follow_up import DISCHARGE_REASONS, INDICATORS, FollowUpForm
from formsvc.models import District, Document, Participant
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import users
from formsvc.services.templates import active_version
from tests.conftest import PASSWORD, World
from tests.helpers import post_data

HALF_YEAR = (date(2020, 1, 1), date(2020, 6, 30))
#: The city's published figures for SIG unga vuxna in HALF_YEAR.
PUBLISHED = {
    "new": {"male": 43, "female": 3, "total": 46},
    "discharged": {"male": 33, "female": 2, "total": 35},
    "active": {"total": 108},
}
VUXNA, UNGA = "sig_unga_vuxna", "sig_unga"
SMALL_DISTRICT = "Skarpnäck"
#: kind -> (men, women) of SIG unga vuxna.
PLAN = {
    "before_out": (29, 1),
    "before_on": (31, 1),
    "new_out": (4, 1),
    "new_on": (39, 2),
    "earlier": (3, 0),
    "later": (2, 0),
}
#: kind -> (men, women) of SIG unga: they must not change the SIG unga vuxna figures.
PLAN_UNGA = {"before_out": (3, 1), "new_out": (2, 0), "new_on": (5, 1), "before_on": (2, 0)}
#: The district whose follow-ups are posted through the form, as its caseworker does it.
ENTERED_BY_HTTP = "Rinkeby-Kista"
#: Chance of "yes" at enrolment and at discharge (the direction of the city's diagrams).
YES = {
    "suspected_crime": (0.75, 0.4),
    "debts_criminals": (0.35, 0.2),
    "debts_enforcement": (0.5, 0.45),
    "substance_use": (0.5, 0.3),
    "non_criminal_friends": (0.3, 0.55),
    "occupation": (0.2, 0.5),
    "housing": (0.55, 0.7),
    "structured_leisure": (0.15, 0.4),
}
REASONS = ("planned", "planned", "own_request", "crime", "substance", "unreachable", "other")
SOURCES = ("self", "police", "social_services", "other_actor")


@dataclass
class Person:
    """One generated participant: what the report must count them as."""

    district: str
    kind: str
    gender: str
    group: str  #: the target group in the assessments
    record_group: str  #: the target group on the participant record
    enrolled: date
    discharged: date | None
    id: int = 0
    answers: list[dict[str, str]] = field(default_factory=list)  #: enrolment, discharge


@dataclass
class City:
    districts: dict[str, District]
    people: list[Person]

    def expected(self, group: str | None, district: str | None = None) -> dict[str, Counter[str]]:
        """Counts by gender for HALF_YEAR, computed from the plan (no service code)."""
        start, end = HALF_YEAR
        out: dict[str, Counter[str]] = {k: Counter() for k in ("new", "active", "discharged")}
        for p in self.people:
            if (group and p.group != group) or (district and p.district != district):
                continue
            if start <= p.enrolled <= end:
                out["new"][p.gender] += 1
            if p.enrolled <= end and (p.discharged is None or p.discharged >= start):
                out["active"][p.gender] += 1
            if p.discharged and start <= p.discharged <= end:
                out["discharged"][p.gender] += 1
        return out


def _dates(rng: random.Random, kind: str) -> tuple[date, date | None]:
    start, end = HALF_YEAR

    def day(a: date, b: date) -> date:
        return a + timedelta(days=rng.randint(0, (b - a).days))

    if kind == "before_out":
        return day(date(2019, 1, 1), date(2019, 12, 31)), day(start, end)
    if kind == "before_on":
        left = day(date(2020, 7, 1), date(2021, 3, 31)) if rng.random() < 0.5 else None
        return day(date(2018, 9, 1), date(2019, 12, 31)), left
    if kind == "new_out":
        enrolled = day(start, date(2020, 3, 31))
        return enrolled, day(enrolled + timedelta(days=30), end)
    if kind == "new_on":
        enrolled = day(start, end)
        return enrolled, day(date(2020, 7, 1), date(2021, 6, 30)) if rng.random() < 0.4 else None
    if kind == "earlier":
        return date(2019, 2, 1), date(2019, 12, 31)  # out the day before the half-year begins
    return date(2020, 7, 1), None  # "later": in the day after it ends


def plan(seed: int = 2020) -> list[Person]:
    """Who is in the city, spread over five districts (the small one gets three)."""
    rng = random.Random(seed)
    big = [ENTERED_BY_HTTP, "Farsta", "Skärholmen", "Spånga-Tensta"]
    people: list[Person] = []
    for group, table in ((VUXNA, PLAN), (UNGA, PLAN_UNGA)):
        for kind, (men, women) in table.items():
            for gender in ["male"] * men + ["female"] * women:
                enrolled, discharged = _dates(rng, kind)
                people.append(
                    Person(rng.choice(big), kind, gender, group, group, enrolled, discharged)
                )
    # the small district: three SIG unga vuxna men discharged in the half-year
    small = [
        p for p in people if p.group == VUXNA and p.kind == "before_out" and p.gender == "male"
    ]
    for p in small[:3]:
        p.district = SMALL_DISTRICT
    # turned 20: the record still says SIG unga, the assessments say SIG unga vuxna (and back)
    by_service = [p for p in people if p.district != ENTERED_BY_HTTP]
    for p in [p for p in by_service if p.group == VUXNA and p.kind == "new_on"][:2]:
        p.record_group = UNGA
    for p in [p for p in by_service if p.group == UNGA and p.kind == "before_out"][:1]:
        p.record_group = VUXNA
    for p in people:
        p.answers = [_answers(rng, 0), _answers(rng, 1)]
    return people


def _answers(rng: random.Random, when: int) -> dict[str, str]:
    data = {}
    for key, chances in YES.items():
        answer = "yes" if rng.random() < chances[when] else "no"
        if rng.random() < 0.08:
            answer = "unknown"
        data[key] = answer
        data[f"{key}_source"] = "" if answer == "unknown" else rng.choice(SOURCES)
    assert set(YES) == set(INDICATORS)
    return data


def _forms(p: Person, index: int, rng: random.Random) -> list[dict[str, Any]]:
    """The follow-up data of *p*: the enrolment assessment, and the discharge one if out."""
    base = {"gender": p.gender, "enrolled_on": p.enrolled.isoformat(), "target_group": p.group}
    out = [
        {
            **base,
            "assessment": "enrolment",
            "assessed_on": (p.enrolled + timedelta(days=rng.randint(0, 10))).isoformat(),
            "discharged_on": None,
            "discharge_reason": "",
            "discharge_comment": "",
            **p.answers[0],
        }
    ]
    if p.discharged is not None:
        reason = REASONS[index % len(REASONS)]
        assert reason in DISCHARGE_REASONS
        out.append(
            {
                **base,
                "assessment": "discharge",
                "assessed_on": p.discharged.isoformat(),
                "discharged_on": p.discharged.isoformat(),
                "discharge_reason": reason,
                "discharge_comment": "Annan orsak." if reason == "other" else "",
                **p.answers[1],
            }
        )
    return out


def generate(app: Flask, world: World, seed: int = 2020) -> City:
    """Store the planned city: ENTERED_BY_HTTP through the form, the rest through the service."""
    rng = random.Random(seed + 1)
    districts = {ENTERED_BY_HTTP: world.home, "Farsta": world.other}
    for name in ("Skärholmen", "Spånga-Tensta", SMALL_DISTRICT):
        districts[name] = users.create_district(name, actor=None)
    people = plan(seed)
    dtype = runtime(app).registry["follow_up"]
    version = active_version(dtype, runtime(app).store)
    now = utcnow()
    author = world.users["caseworker"]
    rows = []
    for index, p in enumerate(people):
        age = 24 if p.record_group == VUXNA else 16
        row = Participant(
            district_id=districts[p.district].id,
            first_name=f"Deltagare{index:03d}",
            last_name="Halvårsson",
            id_kind="birth_date",
            id_number=None,
            birth_date=date(2020 - age, 1 + index % 12, 1 + index % 28),
            target_group=p.record_group,
            created_by_id=author.id,
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    posts: list[tuple[int, dict[str, Any]]] = []
    for index, (p, row) in enumerate(zip(people, rows, strict=True)):
        p.id = row.id
        for data in _forms(p, index, rng):
            if p.district == ENTERED_BY_HTTP:
                posts.append((row.id, data))
                continue
            db.session.add(  # one commit for all: a commit per document made the set slow
                Document(
                    type_slug="follow_up",
                    district_id=row.district_id,
                    participant_id=row.id,
                    status="draft",
                    version=1,
                    template_version_id=version.id,
                    data=data,
                    created_by_id=author.id,
                    updated_by_id=author.id,
                    created_at=now,
                    updated_at=now,
                )
            )
    db.session.commit()
    client = _caseworker(app)
    for pid, data in posts:  # enrolment before discharge, as the caseworker enters them
        resp = client.post(
            f"/participants/{pid}/documents/new/follow_up", data=post_data(FollowUpForm, data)
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return City(districts, people)


def _caseworker(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    return client
