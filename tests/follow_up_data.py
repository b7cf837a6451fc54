"""Generated follow-ups (bilaga 3.4) for the statistics tests: a seeded, reproducible city.

Four large districts, one small one (exactly three participants, all discharged in PERIOD), a
few participants who moved between districts, superseded and voided assessments. Every
participant has a distinctive name, identity number, birth date and discharge comment, so a test
can search a response for them. Plain records are kept beside the rows for hand computations.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Flask

from formsvc.extensions import db
from formsvc.forms.follow_up import INDICATORS
from formsvc.models import District, Document, Participant
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import users
from formsvc.services.templates import active_version
from tests.conftest import World

PERIOD = (date(2025, 1, 1), date(2025, 12, 31))
SMALL_DISTRICT = "Skarpnäck"
#: Chance of "yes" at enrolment and at discharge, per indicator (the city's direction of change).
YES = {
    "suspected_crime": (0.8, 0.35),
    "debts_criminals": (0.4, 0.2),
    "debts_enforcement": (0.5, 0.4),
    "substance_use": (0.55, 0.3),
    "non_criminal_friends": (0.3, 0.6),
    "occupation": (0.2, 0.55),
    "housing": (0.6, 0.8),
    "structured_leisure": (0.15, 0.45),
}
GENDERS = ("male",) * 16 + ("female",) * 3 + ("other", "unknown")
REASONS = ("planned", "own_request", "crime", "not_following_plan", "unreachable", "moved", "other")
SOURCES = ("self", "police", "social_services", "other_actor", "other")


@dataclass
class Assessment:
    """One follow-up document as generated."""

    district_id: int
    status: str
    data: dict[str, Any]


@dataclass
class Person:
    """One generated participant with everything identifying about them."""

    id: int
    district_id: int
    target_group: str
    first_name: str
    last_name: str
    id_number: str
    birth_date: date
    comments: list[str] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)


@dataclass
class City:
    """The generated data: districts by name and the people."""

    districts: dict[str, District]
    people: list[Person]

    def secrets(self) -> list[str]:
        """Every identifying string that must never reach an analyst."""
        out: list[str] = []
        for p in self.people:
            compact = p.birth_date.strftime("%Y%m%d")
            out += [p.first_name, p.last_name, p.id_number, p.id_number[2:], compact]
            out += [p.birth_date.isoformat(), *p.comments]
        return out


def _answers(rng: random.Random, when: int) -> dict[str, str]:
    data = {}
    for key, chances in YES.items():
        answer = "yes" if rng.random() < chances[when] else "no"
        if rng.random() < 0.1:
            answer = "unknown"
        data[key] = answer
        data[f"{key}_source"] = "" if answer == "unknown" else rng.choice(SOURCES)
    assert set(YES) == set(INDICATORS)
    return data


def _enrolment(rng: random.Random, enrolled: date, assessed: date, gender: str) -> dict[str, Any]:
    return {
        "assessment": "enrolment",
        "assessed_on": assessed.isoformat(),
        "enrolled_on": enrolled.isoformat(),
        "discharged_on": None,
        "discharge_reason": "",
        "discharge_comment": "",
        "gender": gender,
        **_answers(rng, 0),
    }


def _discharge(
    rng: random.Random, enrolled: date, discharged: date, gender: str, comment: str
) -> dict[str, Any]:
    return {
        "assessment": "discharge",
        "assessed_on": (discharged - timedelta(days=rng.randint(0, 10))).isoformat(),
        "enrolled_on": enrolled.isoformat(),
        "discharged_on": discharged.isoformat(),
        "discharge_reason": rng.choice(REASONS),
        "discharge_comment": comment,
        "gender": gender,
        **_answers(rng, 1),
    }


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def generate(app: Flask, world: World, seed: int = 34, per_district: int = 45) -> City:
    """Participants and follow-up documents in five districts; returns the plain records."""
    rng = random.Random(seed)
    districts = {"Rinkeby-Kista": world.home, "Farsta": world.other}
    for name in ("Skärholmen", "Spånga-Tensta", SMALL_DISTRICT):
        districts[name] = users.create_district(name, actor=None)
    big = [d for name, d in districts.items() if name != SMALL_DISTRICT]
    people: list[Person] = []
    plan = [(d, "big") for d in big for _ in range(per_district)]
    plan += [(districts[SMALL_DISTRICT], "small")] * 3
    for i, (district, kind) in enumerate(plan):
        born = _day(rng, date(1996, 1, 1), date(2012, 12, 31))
        p = Person(
            id=0,
            district_id=district.id,
            target_group="sig_unga" if born.year >= 2006 else "sig_unga_vuxna",
            first_name=f"Xerxandra{i:03d}",
            last_name=f"Qvornström{i:03d}",
            id_number=f"{born:%Y%m%d}-{9000 - i:04d}",
            birth_date=born,
        )
        gender = rng.choice(GENDERS)
        if kind == "small":
            enrolled = _day(rng, date(2024, 3, 1), date(2024, 12, 31))
            discharged = _day(rng, date(2025, 2, 1), date(2025, 11, 30))
        else:
            enrolled = _day(rng, date(2023, 10, 1), date(2025, 12, 31))
            discharged = enrolled + timedelta(days=rng.randint(60, 520))
        assessed = enrolled + timedelta(days=rng.randint(0, 14))
        if kind == "small" or rng.random() < 0.9:
            if kind == "big" and rng.random() < 0.15:  # an older first assessment, superseded
                older = assessed - timedelta(days=rng.randint(1, 20))
                p.assessments.append(
                    Assessment(district.id, "draft", _enrolment(rng, enrolled, older, gender))
                )
            p.assessments.append(
                Assessment(district.id, "draft", _enrolment(rng, enrolled, assessed, gender))
            )
        if kind == "small" or (rng.random() < 0.75 and discharged <= date(2026, 10, 31)):
            # a few moved: discharged by another district than the one that enrolled them
            where = rng.choice(big).id if kind == "big" and rng.random() < 0.04 else district.id
            comment = f"Hemlig kommentar Zorblax{i:03d}"
            p.comments.append(comment)
            p.assessments.append(
                Assessment(where, "draft", _discharge(rng, enrolled, discharged, gender, comment))
            )
        if kind == "big" and rng.random() < 0.1:  # a voided discharge in the period: not counted
            voided = _discharge(rng, enrolled, _day(rng, *PERIOD), "female", f"Makulerad {i}")
            p.comments.append(voided["discharge_comment"])
            p.assessments.append(Assessment(district.id, "voided", voided))
        people.append(p)
    _store(app, world, people)
    return City(districts, people)


def _store(app: Flask, world: World, people: list[Person]) -> None:
    dtype = runtime(app).registry["follow_up"]
    tv = active_version(dtype, runtime(app).store)
    author = world.users["caseworker"].id
    for p in people:
        row = Participant(
            district_id=p.district_id,
            first_name=p.first_name,
            last_name=p.last_name,
            id_kind="personnummer",
            id_number=p.id_number,
            birth_date=p.birth_date,
            target_group=p.target_group,
            created_by_id=author,
        )
        db.session.add(row)
        db.session.flush()
        p.id = row.id
        now = utcnow()
        for a in p.assessments:
            db.session.add(
                Document(
                    type_slug="follow_up",
                    district_id=a.district_id,
                    participant_id=row.id,
                    status=a.status,
                    version=1,
                    template_version_id=tv.id,
                    data=a.data,
                    created_by_id=author,
                    updated_by_id=author,
                    created_at=now,
                    updated_at=now,
                )
            )
    db.session.commit()


# --------------------------------------------------------------------------- hand computation
# Plain Python over the generated records, written from the rules in the issue, not from the
# service's helpers: newest non-voided assessment of each kind by assessed_on, the enrolment date
# from the enrolment assessment (else the discharge), "unknown" outside the denominator.


def _newest(p: Person, kind: str) -> Assessment | None:
    live = [a for a in p.assessments if a.status != "voided" and a.data["assessment"] == kind]
    return max(live, key=lambda a: a.data["assessed_on"], default=None)


def hand(city: City, district_id: int | None = None) -> dict[str, Any]:
    """The numbers for PERIOD in *district_id* (None: the city), without any suppression."""
    start, end = (d.isoformat() for d in PERIOD)  # ISO dates compare as strings

    def here(a: Assessment) -> bool:
        return district_id is None or a.district_id == district_id

    out: dict[str, Any] = {
        "enrolled_gender": Counter(),
        "enrolled_group": Counter(),
        "active_gender": Counter(),  # enrolled at some time during the period
        "discharged_gender": Counter(),
        "discharged_group": Counter(),
        "reasons": Counter(),
        "cohort": 0,
        "yes": Counter(),  # (indicator, "enrolment"/"discharge") -> answered yes
        "n": Counter(),  # (indicator, "enrolment"/"discharge") -> answered yes or no
    }
    for p in city.people:
        enrolment, discharge = _newest(p, "enrolment"), _newest(p, "discharge")
        first = enrolment or discharge
        if first and here(first) and start <= first.data["enrolled_on"] <= end:
            out["enrolled_gender"][first.data["gender"]] += 1
            out["enrolled_group"][p.target_group] += 1
        left = discharge.data["discharged_on"] if discharge else None
        if (
            first
            and here(first)
            and first.data["enrolled_on"] <= end
            and (not left or left >= start)
        ):
            out["active_gender"][first.data["gender"]] += 1
        if not (discharge and here(discharge) and start <= discharge.data["discharged_on"] <= end):
            continue
        out["discharged_gender"][discharge.data["gender"]] += 1
        out["discharged_group"][p.target_group] += 1
        out["reasons"][discharge.data["discharge_reason"]] += 1
        if enrolment is None:
            continue
        out["cohort"] += 1
        for key in INDICATORS:
            for when, a in (("enrolment", enrolment), ("discharge", discharge)):
                answer = a.data[key]
                out["n"][key, when] += answer in ("yes", "no")
                out["yes"][key, when] += answer == "yes"
    return out
