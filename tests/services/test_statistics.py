"""Follow-up statistics: the numbers match a hand computation, small groups never show."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from datetime import date
from typing import Any

import pytest
from flask import Flask

from formsvc.forms.follow_up import DISCHARGE_REASONS, GENDERS, INDICATORS, sample
from formsvc.services import documents, statistics
from formsvc.services.statistics import Query, protect
from tests.conftest import World
from tests.follow_up_data import PERIOD, SMALL_DISTRICT, City, generate, hand


@pytest.fixture
def city(app: Flask, world: World) -> City:
    return generate(app, world)


# --------------------------------------------------------------------------- tests


def test_the_generated_city_is_large_enough_to_mean_something(city: City) -> None:
    follow_ups = sum(len(p.assessments) for p in city.people)
    expected = hand(city)
    assert follow_ups >= 250 and len(city.districts) >= 4
    assert sum(expected["discharged_gender"].values()) >= 60
    assert any(a.status == "voided" for p in city.people for a in p.assessments)
    assert any(len({a.district_id for a in p.assessments}) > 1 for p in city.people)  # moved


@pytest.mark.parametrize("where", [None, "Rinkeby-Kista", "Farsta", "Skärholmen", "Spånga-Tensta"])
def test_counts_and_shares_match_a_hand_computation(city: City, where: str | None) -> None:
    district_id = city.districts[where].id if where else None
    rep = statistics.report(Query(*PERIOD, district_id=district_id, minimum=1))
    expected = hand(city, district_id)

    assert rep.enrolled_gender.cells == {g: expected["enrolled_gender"][g] for g in GENDERS}
    assert rep.enrolled_gender.total == sum(expected["enrolled_gender"].values())
    assert rep.discharged_gender.cells == {g: expected["discharged_gender"][g] for g in GENDERS}
    assert rep.enrolled_target_group.cells == {
        t: expected["enrolled_group"][t] for t in ("sig_unga", "sig_unga_vuxna")
    }
    assert rep.discharged_target_group.total == sum(expected["discharged_group"].values())
    assert rep.discharge_reasons.cells == {r: expected["reasons"][r] for r in DISCHARGE_REASONS}
    assert rep.cohort == expected["cohort"]
    assert [r.key for r in rep.indicators] == list(INDICATORS)
    for r in rep.indicators:
        for when in ("enrolment", "discharge"):
            got, n, yes = getattr(r, when), expected["n"][r.key, when], expected["yes"][r.key, when]
            assert (got.n, got.yes) == (n, yes), (r.key, when)
            assert got.share == pytest.approx(yes / n)


def test_the_shares_show_the_generated_improvement(city: City) -> None:
    rep = statistics.report(Query(*PERIOD))
    by_key = {r.key: r for r in rep.indicators}
    crime, work = by_key["suspected_crime"], by_key["occupation"]
    assert crime.enrolment.share is not None and crime.discharge.share is not None
    assert crime.discharge.share < crime.enrolment.share  # generated 80 % -> 35 %
    assert work.change() is not None and work.change() > 0


def test_with_the_default_minimum_only_groups_of_five_or_more_show(city: City) -> None:
    rep = statistics.report(Query(*PERIOD, minimum=5))
    expected = hand(city)
    for r in rep.indicators:
        for when in ("enrolment", "discharge"):
            got = getattr(r, when)
            n, yes = expected["n"][r.key, when], expected["yes"][r.key, when]
            if n < 5:
                assert got == statistics.Share(None, None, None)
            elif 0 < yes < 5 or 0 < n - yes < 5:
                assert (got.n, got.yes, got.share) == (n, None, None)
            else:
                assert (got.n, got.yes) == (n, yes)
    for row, counts in (
        (rep.discharged_gender, expected["discharged_gender"]),
        (rep.discharge_reasons, expected["reasons"]),
    ):
        assert row.total == sum(counts.values())
        for key, value in row.cells.items():
            if 0 < counts[key] < 5:
                assert value is None, key
            assert value in (None, counts[key])
        hidden = [key for key, value in row.cells.items() if value is None]
        assert len(hidden) != 1  # one hidden cell would be the total minus the others


def test_a_district_with_three_discharged_shows_no_numbers(city: City) -> None:
    small = city.districts[SMALL_DISTRICT].id
    assert sum(hand(city, small)["discharged_gender"].values()) == 3
    rep = statistics.report(Query(*PERIOD, district_id=small))
    for row in (rep.discharged_gender, rep.discharged_target_group, rep.discharge_reasons):
        assert row.total is None and set(row.cells.values()) == {None}
    assert rep.cohort is None
    for r in rep.indicators:
        assert r.enrolment == r.discharge == statistics.Share(None, None, None)
    assert statistics.export_rows(Query(*PERIOD, district_id=small)) == []


def test_voided_and_superseded_assessments_do_not_count(app: Flask, world: World) -> None:
    dtype = app.extensions["formsvc.registry"]["follow_up"]
    store = app.extensions["formsvc.store"]

    def add(changes: dict[str, Any], status: str = "draft") -> None:
        doc = documents.create(
            dtype,
            {**sample(), **changes},
            actor=world.users["caseworker"],
            store=store,
            participant=world.participant,
        )
        doc.status = status

    enrolment = {"assessment": "enrolment", "discharged_on": None, "discharge_reason": ""}
    add({**enrolment, "assessed_on": "2025-01-05", "housing": "no"})
    add({**enrolment, "assessed_on": "2025-01-20", "housing": "yes"})  # newest: counts
    add({**enrolment, "assessed_on": "2025-02-01", "housing": "no"}, status="voided")
    add({"assessed_on": "2025-09-01", "discharged_on": "2025-09-03", "discharge_reason": "crime"})
    add(
        {"assessed_on": "2025-10-01", "discharged_on": "2025-10-02", "discharge_reason": "moved"},
        status="voided",
    )
    rep = statistics.report(Query(*PERIOD, minimum=1))
    housing = next(r for r in rep.indicators if r.key == "housing")
    assert (housing.enrolment.yes, housing.enrolment.n) == (1, 1)
    assert rep.discharge_reasons.cells["crime"] == 1 and rep.discharge_reasons.total == 1
    assert rep.cohort == 1


def _outputs(cells: list[int], m: int) -> tuple[tuple[int | None, ...], int | None]:
    row = protect({f"c{i}": v for i, v in enumerate(cells)}, m)
    return tuple(row.cells.values()), row.total


def _splits(total: int, parts: int) -> list[tuple[int, ...]]:
    """Every way to share *total* among *parts* cells (zero allowed)."""
    if parts == 1:
        return [(total,)]
    return [
        (first, *rest) for first in range(total + 1) for rest in _splits(total - first, parts - 1)
    ]


@pytest.mark.parametrize("m", [3, 5])
def test_no_hidden_cell_can_be_worked_out_from_what_is_shown(m: int) -> None:
    """Someone who knows the rule tries every value the hidden cells could have had."""
    rng = random.Random(6)
    rows = [list(v) for size in (2, 3) for v in itertools.product(range(m + 4), repeat=size)]
    rows += [list(v) for v in itertools.product(range(m + 2), repeat=4)] if m == 3 else []
    rows += [[rng.randint(0, m + 3) for _ in range(4)] for _ in range(150)]
    rows += [[rng.randint(0, m + 3) for _ in range(5)] for _ in range(20)]
    rows += [[1] * 7, [1] * 6 + [0], [2, 1, 1, 1, 0, 0, 0], [m - 1, m - 1, m, m, 9]]
    for values in rows:
        shown, total = _outputs(values, m)
        hidden = [i for i, v in enumerate(shown) if v is None]
        if total is None:
            assert sum(values) < m  # the total itself is below m: every cell is, too
            continue
        assert total == sum(values)
        assert all(values[i] >= m or values[i] == 0 for i, v in enumerate(shown) if v is not None)
        if not hidden:
            continue
        assert len(hidden) >= 2
        possible: list[set[int]] = [set() for _ in hidden]
        for guess in _splits(total - sum(v for v in shown if v is not None), len(hidden)):
            trial = list(values)
            for i, v in zip(hidden, guess, strict=True):
                trial[i] = v
            if _outputs(trial, m) == (shown, total):
                for slot, v in zip(possible, guess, strict=True):
                    slot.add(v)
        assert all(len(slot) >= 2 for slot in possible), (values, shown, possible)


def test_the_row_export_is_pseudonymous_and_leaves_out_small_districts(city: City) -> None:
    query = Query(*PERIOD)
    rows = statistics.export_rows(query)
    again = statistics.export_rows(query)
    per_district = {
        name: sum(hand(city, d.id)["discharged_gender"].values())
        for name, d in city.districts.items()
    }
    assert per_district[SMALL_DISTRICT] == 3
    assert len(rows) == sum(n for n in per_district.values() if n >= 5)
    assert Counter(r["district"] for r in rows) == {k: n for k, n in per_district.items() if n >= 5}
    assert list(rows[0]) == list(statistics.ROW_COLUMNS)
    pseudonyms = [r["pseudonym"] for r in rows]
    assert all(re.fullmatch(r"[0-9a-f]{16}", p) for p in pseudonyms)
    assert len(set(pseudonyms)) == len(rows)  # one per participant
    assert not set(pseudonyms) & {r["pseudonym"] for r in again}  # not linkable across exports
    assert pseudonyms == sorted(pseudonyms)  # random order, not participant order
    assert all(re.fullmatch(r"\d{4}-\d{2}", r["discharged_month"]) for r in rows)
    # the rows carry the same answers as the aggregates of the districts they come from
    for key in INDICATORS:
        for when in ("enrolment", "discharge"):
            answered = [r[f"{key}_{when}"] for r in rows if r[f"{key}_enrolment"]]
            yes = answered.count("yes")
            expected = [
                hand(city, d.id) for name, d in city.districts.items() if per_district[name] >= 5
            ]
            assert (yes, yes + answered.count("no")) == (
                sum(e["yes"][key, when] for e in expected),
                sum(e["n"][key, when] for e in expected),
            )


def test_the_default_period_is_the_last_full_half_year() -> None:
    assert statistics.default_period(date(2026, 11, 22)) == (date(2026, 1, 1), date(2026, 6, 30))
    assert statistics.default_period(date(2026, 6, 30)) == (date(2025, 7, 1), date(2025, 12, 31))
    assert statistics.default_period(date(2026, 7, 1)) == (date(2026, 1, 1), date(2026, 6, 30))
