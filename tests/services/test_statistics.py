"""Follow-up statistics: the numbers match a hand computation, small groups never show."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import pytest
from flask import Flask

from formsvc.forms.follow_up import DISCHARGE_REASONS, GENDERS, INDICATORS, sample
from formsvc.runtime import runtime
from formsvc.services import documents, statistics
from formsvc.services.report_export import Table
from formsvc.services.statistics import Counts, Query
from tests.conftest import World
from tests.follow_up_data import PERIOD, SMALL_DISTRICT, City, generate, hand


@pytest.fixture
def city(app: Flask, world: World) -> City:
    return generate(app, world)


def _cells(counts: Counts, row: str | None) -> dict[str, int | None]:
    return {c: counts.cell(row, c) for c in counts.columns}


# --------------------------------------------------------------------------- tests


def test_the_generated_city_is_large_enough_to_mean_something(city: City) -> None:
    follow_ups = sum(len(p.assessments) for p in city.people)
    expected = hand(city)
    assert follow_ups >= 250 and len(city.districts) >= 4
    assert sum(expected["discharged_gender"].values()) >= 60
    assert any(a.status == "voided" for p in city.people for a in p.assessments)
    assert any(len({a.district_id for a in p.assessments}) > 1 for p in city.people)  # moved


def test_every_district_and_the_city_match_a_hand_computation(city: City) -> None:
    rep = statistics.report(Query(*PERIOD, minimum=1))
    assert rep.rows == sorted(city.districts) and rep.show_city and rep.scope is None
    assert rep.lines == [*sorted(city.districts), None]
    for where in rep.lines:
        expected = hand(city, city.districts[where].id if where else None)
        new, active = rep.figures["new"], rep.figures["active"]
        out = rep.figures["discharged"]
        assert _cells(new.by_gender, where) == {g: expected["enrolled_gender"][g] for g in GENDERS}
        assert _cells(active.by_gender, where) == {g: expected["active_gender"][g] for g in GENDERS}
        assert _cells(out.by_gender, where) == {
            g: expected["discharged_gender"][g] for g in GENDERS
        }
        assert new.by_target_group is not None and out.by_target_group is not None
        assert _cells(new.by_target_group, where) == {
            t: expected["enrolled_group"][t] for t in ("sig_unga", "sig_unga_vuxna")
        }
        assert out.by_target_group.total(where) == sum(expected["discharged_group"].values())
        assert _cells(rep.reasons, where) == {r: expected["reasons"][r] for r in DISCHARGE_REASONS}
        assert rep.cohort.total(where) == expected["cohort"]
        assert [r.key for r in rep.indicators] == list(INDICATORS)
        for r in rep.indicators:
            for when in ("enrolment", "discharge"):
                got = r.share(when, where)
                n, yes = expected["n"][r.key, when], expected["yes"][r.key, when]
                assert (got.n, got.yes) == (n, yes), (where, r.key, when)
                assert got.share == pytest.approx(yes / n)
                assert rep.unknown(r.key, when, where) == expected["cohort"] - n


def test_the_shares_show_the_generated_improvement(city: City) -> None:
    rep = statistics.report(Query(*PERIOD))
    by_key = {r.key: r for r in rep.indicators}
    crime, work = by_key["suspected_crime"], by_key["occupation"]
    assert crime.share("enrolment").share is not None
    assert crime.share("discharge").share is not None
    assert crime.share("discharge").share < crime.share("enrolment").share  # 80 % -> 35 %
    assert work.change() is not None and work.change() > 0


def _lines(counts: Counts) -> list[list[int | None]]:
    """Every row and column of a published table with its margin, last."""
    rows = [[*(counts.cell(r, c) for c in counts.columns), counts.total(r)] for r in counts.rows]
    rows.append([*(counts.cell(None, c) for c in counts.columns), counts.total(None)])
    columns = [
        [counts.cell(r, c) for r in counts.rows] + [counts.cell(None, c)] for c in counts.columns
    ]
    columns.append([counts.total(r) for r in counts.rows] + [counts.total(None)])
    return rows + columns


def _published(rep: statistics.Report) -> list[tuple[Counts, bool]]:
    out: list[tuple[Counts, bool]] = []
    for fig in rep.figures.values():
        out += [(fig.by_gender, False)]
        out += [(fig.by_target_group, False)] if fig.by_target_group else []
    out += [(rep.reasons, False), (rep.cohort, False)]
    out += [(getattr(r, when), True) for r in rep.indicators for when in ("enrolment", "discharge")]
    return out


@pytest.mark.parametrize("m", [3, 5])
def test_with_a_minimum_no_small_value_shows_and_no_line_has_one_hidden_value(
    city: City, m: int
) -> None:
    """Shown values are 0 or at least m; yes/no tables show no 0 % or 100 % of a group below m.

    A row or column with one hidden value would give it away (its total minus the others).
    Recovery by trying every value is disclosure.py's tests' job; this checks the report uses it.
    """
    rep = statistics.report(Query(*PERIOD, minimum=m))
    exact = statistics.report(Query(*PERIOD, minimum=1))
    hidden_somewhere = 0
    for (counts, binary), (truth, _b) in zip(_published(rep), _published(exact), strict=True):
        for line, true_line in zip(_lines(counts), _lines(truth), strict=True):
            shown = [v for v in line if v is not None]
            assert all(v == 0 or v >= m for v in shown), line
            for v, t in zip(line, true_line, strict=True):
                assert v is None or t is None or v == t, (line, true_line)
            hidden = sum(v is None for v in line)
            hidden_somewhere += hidden
            if line[-1] is not None and hidden == 1:  # a shown total: one hidden part is known
                assert line[-1] == sum(shown[:-1]), line  # ... harmless only if it is 0
        if binary:
            for row in [*counts.rows, None]:
                yes, no, n = counts.cell(row, "yes"), counts.cell(row, "no"), counts.total(row)
                if yes is not None and n:
                    assert yes >= m and n - yes >= m, (row, yes, no, n)
    assert hidden_somewhere > 0


def test_a_district_with_three_discharged_is_hidden_with_a_complement(city: City) -> None:
    small = SMALL_DISTRICT
    assert sum(hand(city, city.districts[small].id)["discharged_gender"].values()) == 3
    rep = statistics.report(Query(*PERIOD))
    out = rep.figures["discharged"]
    for counts in (out.by_gender, out.by_target_group, rep.reasons):
        assert counts is not None
        # zeros of categories nobody in the city is in may show; nothing else
        assert counts.total(small) is None and set(_cells(counts, small).values()) <= {None, 0}
        assert None in _cells(counts, small).values()
    hidden_totals = [r for r in rep.rows if out.by_gender.total(r) is None]
    assert small in hidden_totals  # and the city minus the others must not give it:
    assert len(hidden_totals) >= 2 or out.by_gender.total(None) is None
    assert rep.rows_left_out == hidden_totals
    for r in rep.indicators:
        assert r.share("enrolment", small).share is None
    # a manager's report of the small district alone: "fewer than m" throughout
    alone = statistics.report(Query(*PERIOD, district_id=city.districts[small].id, alone=True))
    assert alone.rows == [small] and not alone.show_city and alone.lines == [small]
    assert alone.figures["discharged"].by_gender.total(None) is None


def test_the_target_group_stored_in_the_assessment_comes_first(app: Flask, world: World) -> None:
    """The participant record says SIG unga (world.participant is 16); the assessment says not."""
    dtype = runtime(app).registry["follow_up"]
    store = runtime(app).store
    dates = {"enrolled_on": "2025-01-10", "discharged_on": "2025-05-02"}
    data = {**sample(), **dates, "target_group": "sig_unga_vuxna"}
    documents.create(
        dtype, data, actor=world.users["caseworker"], store=store, participant=world.participant
    )
    documents.create(  # the record's target group where the assessment stores none
        dtype,
        {**sample(), **dates},
        actor=world.users["other_caseworker"],
        store=store,
        participant=world.foreign,
    )
    assert world.participant.target_group == "sig_unga"
    assert world.foreign.target_group == "sig_unga_vuxna"
    for group, expected in (("sig_unga_vuxna", 2), ("sig_unga", 0), (None, 2)):
        query = Query(date(2025, 1, 1), date(2025, 6, 30), minimum=1, target_group=group)
        rep = statistics.report(query)
        assert rep.figures["discharged"].by_gender.total(None) == expected, group
    rep = statistics.report(Query(date(2025, 1, 1), date(2025, 6, 30), minimum=1))
    groups = rep.figures["discharged"].by_target_group
    assert groups is not None and _cells(groups, None)["sig_unga_vuxna"] == 2


def test_people_survive_json_and_give_the_same_report(city: City) -> None:
    people = statistics.people()
    text = json.dumps([p.to_json() for p in people])
    again = [statistics.Person.from_json(v) for v in json.loads(text)]
    assert again == people
    assert "Hemlig kommentar" not in text and "Zorblax" not in text  # no free text in a snapshot
    query = Query(*PERIOD, minimum=3)
    assert statistics.report(query, again) == statistics.report(query)
    # a snapshot stays as it was: the database may change, the frozen people do not
    assert statistics.report(query, again[: len(again) // 2]) != statistics.report(query)


def test_voided_and_superseded_assessments_do_not_count(app: Flask, world: World) -> None:
    dtype = runtime(app).registry["follow_up"]
    store = runtime(app).store

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
    housing = next(r for r in rep.indicators if r.key == "housing").share("enrolment")
    assert (housing.yes, housing.n) == (1, 1)
    assert rep.reasons.cell(None, "crime") == 1 and rep.reasons.total(None) == 1
    assert rep.cohort.total(None) == 1


def test_a_district_without_follow_ups_shows_zero(app: Flask, world: World) -> None:
    rep = statistics.report(Query(*PERIOD))
    for fig in rep.figures.values():
        assert fig.by_gender.total("Farsta") == 0 and fig.by_gender.total(None) == 0
    assert rep.rows_left_out == []
    [table] = [t for t in statistics.tables(rep) if t.key == "discharged_by_gender"]
    assert table.rows[0] == ["Farsta", 0, 0, 0, 0, 0]


def test_the_row_export_follows_the_tables(city: City) -> None:
    rep = statistics.report(Query(*PERIOD))
    rows = statistics.export_rows(rep)
    again = statistics.export_rows(rep)
    out = rep.figures["discharged"]
    kept = [r for r in rep.rows if r not in rep.rows_left_out]
    assert SMALL_DISTRICT in rep.rows_left_out and kept
    assert Counter(r["district"] for r in rows) == {d: out.by_gender.total(d) for d in kept}
    # every count taken from the rows is the table's, or "hidden" where the table hides it
    for d in kept:
        mine = [r for r in rows if r["district"] == d]
        for column, counts in (
            ("gender", out.by_gender),
            ("target_group", out.by_target_group),
            ("discharge_reason", rep.reasons),
        ):
            assert counts is not None
            tally = Counter(r[column] for r in mine)
            for key in counts.columns:
                value = counts.cell(d, key)
                assert tally[key] == (0 if value is None else value), (d, column, key)
        for r in rep.indicators:
            for when in ("enrolment", "discharge"):
                answers = Counter(x[f"{r.key}_{when}"] for x in mine if x[f"{r.key}_enrolment"])
                s = r.share(when, d)
                if s.yes is None:
                    assert answers["yes"] == answers["no"] == 0
                else:
                    assert (answers["yes"], answers["yes"] + answers["no"]) == (s.yes, s.n)
    assert list(rows[0]) == list(statistics.ROW_COLUMNS)
    pseudonyms = [r["pseudonym"] for r in rows]
    assert len(set(pseudonyms)) == len(rows) and pseudonyms == sorted(pseudonyms)
    assert not set(pseudonyms) & {r["pseudonym"] for r in again}  # not linkable across exports
    notes = statistics.rows_notes(rep, rows)
    assert any(SMALL_DISTRICT in n and "tas inte med" in n for n in notes)
    if out.by_gender.total(None) is not None:
        assert f"Filen har {len(rows)} av {out.by_gender.total(None)} utskrivna." in notes


def test_tables_are_the_report_for_the_exports(city: City) -> None:
    rep = statistics.report(Query(*PERIOD, minimum=1))
    tables = statistics.tables(rep)
    assert all(isinstance(t, Table) for t in tables)
    keys = [t.key for t in tables]
    assert keys[:7] == [
        "new_by_gender",
        "new_by_target_group",
        "active_by_gender",
        "active_by_target_group",
        "discharged_by_gender",
        "discharged_by_target_group",
        "discharge_reasons",
    ]
    assert keys[7:] == [f"indicator_{k}" for k in INDICATORS]
    for t in tables:
        assert [r[0] for r in t.rows] == [*sorted(city.districts), "Hela staden"]
        assert all(len(r) == len(t.columns) for r in t.rows)
        assert any("inskrivna senast periodens sista dag" in n for n in t.notes)
        assert any("”vet ej” räknas inte in i basen" in n for n in t.notes)
    expected = hand(city)
    [out] = [t for t in tables if t.key == "discharged_by_gender"]
    assert out.rows[-1][-1] == sum(expected["discharged_gender"].values())
    # one target group: no target group tables
    one = statistics.tables(statistics.report(Query(*PERIOD, target_group="sig_unga")))
    assert "new_by_target_group" not in [t.key for t in one]


def test_the_default_period_is_the_last_full_half_year() -> None:
    assert statistics.default_period(date(2026, 11, 22)) == (date(2026, 1, 1), date(2026, 6, 30))
    assert statistics.default_period(date(2026, 6, 30)) == (date(2025, 7, 1), date(2025, 12, 31))
    assert statistics.default_period(date(2026, 7, 1)) == (date(2026, 1, 1), date(2026, 6, 30))
