"""Uppföljning (bilaga 3.4), issue 17: the pre-fill of a new follow-up and the cross-checks
against the participant's other assessments, as pure functions of the facts the form is given
(cases the HTTP tests in test_follow_up_entry.py do not reach one by one)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask import Flask

from formsvc.doctypes import FormContext, Subject
from formsvc.forms.follow_up import Finding, Values, cross_checks, initial
from formsvc.services.facts import FollowUp

TODAY = date(2026, 12, 7)
SUBJECT = Subject(
    name="Test Person",
    id_kind="birth_date",
    id_number=None,
    birth_date=date(2006, 5, 1),
    target_group="sig_unga_vuxna",
)


def enrolment(enrolled: str, gender: str = "male", ref: str = "SIG-2025-000001 v1") -> FollowUp:
    day = date.fromisoformat(enrolled)
    return FollowUp(ref, "enrolment", day, day, None, gender, datetime(2025, 1, 1))


def discharge(
    enrolled: str, out: str, gender: str = "male", ref: str = "SIG-2025-000002 v1"
) -> FollowUp:
    day = date.fromisoformat(out)
    return FollowUp(
        ref, "discharge", day, date.fromisoformat(enrolled), day, gender, datetime(2025, 1, 2)
    )


def values(
    assessment: str, enrolled: str | None, out: str | None = None, gender: str = "male"
) -> Values:
    return Values(
        assessment=assessment,
        enrolled_on=date.fromisoformat(enrolled) if enrolled else None,
        discharged_on=date.fromisoformat(out) if out else None,
        gender=gender,
    )


def start(*others: FollowUp) -> dict:
    return initial(FormContext(subject=SUBJECT, today=TODAY, facts={"follow_ups": list(others)}))


def test_a_first_follow_up_is_an_enrolment_in_the_participants_group(app: Flask) -> None:
    assert start() == {
        "assessment": "enrolment",
        "assessed_on": TODAY,
        "target_group": "sig_unga_vuxna",
    }


def test_an_open_enrolment_proposes_its_discharge_with_its_gender_and_date(app: Flask) -> None:
    older = enrolment("2024-02-01", "female", "SIG-2024-000001 v1")
    newer = enrolment("2025-03-04", "other", "SIG-2025-000009 v1")
    got = start(discharge("2024-02-01", "2024-10-01"), newer, older)
    assert got["assessment"] == "discharge"
    assert got["enrolled_on"] == date(2025, 3, 4) and got["gender"] == "other"
    assert got["target_group"] == "sig_unga_vuxna"  # the participant's, not the enrolment's


def test_after_the_discharge_a_new_enrolment_is_proposed_without_the_old_date(
    app: Flask,
) -> None:
    got = start(enrolment("2025-03-04", "female"), discharge("2025-03-04", "2025-11-30"))
    assert got["assessment"] == "enrolment" and got["gender"] == "female"
    assert "enrolled_on" not in got  # a new enrolment has a new date


def test_an_unknown_stored_gender_is_not_proposed(app: Flask) -> None:
    got = start(enrolment("2025-03-04", "<script>"))
    assert "gender" not in got and got["assessment"] == "discharge"


def test_offline_there_is_nothing_to_compare_with(app: Flask) -> None:
    ctx = FormContext(subject=SUBJECT, today=TODAY, facts={"offline": True})
    assert initial(ctx)["assessment"] == "enrolment"


def _only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_a_discharge_before_every_enrolment_is_an_error(app: Flask) -> None:
    found = cross_checks(
        values("discharge", "2025-01-10", "2025-02-01", gender="female"), [enrolment("2025-03-04")]
    )
    error, *warnings = found
    assert error.blocking and error.field == "discharged_on"
    assert "2025-02-01" in error.message and "2025-03-04" in error.message
    assert "SIG-2025-000001 v1" in error.message
    # and how the form differs from the enrolment it was meant to end
    assert [(w.field, w.blocking) for w in warnings] == [
        ("gender", False),
        ("enrolled_on", False),
    ]


def test_a_discharge_before_its_own_enrolment_date_is_said_once(app: Flask) -> None:
    """check() refuses a discharge before the form's own enrolment date; no second error."""
    found = cross_checks(values("discharge", "2025-03-04", "2025-02-01"), [enrolment("2025-03-04")])
    assert found == []


def test_a_discharge_of_an_earlier_enrolment_is_not_an_error(app: Flask) -> None:
    """Enrolled twice: a discharge between them ends the first, without a finding."""
    others = [enrolment("2024-01-10", ref="A"), enrolment("2025-03-04", ref="B")]
    assert cross_checks(values("discharge", "2024-01-10", "2024-06-30"), others) == []


def test_a_discharge_without_an_enrolment_assessment_is_a_warning(app: Flask) -> None:
    f = _only(cross_checks(values("discharge", "2025-01-10", "2025-06-30"), []))
    assert not f.blocking and "indikatorerna kan inte jämföras" in f.message
    # a discharge is not an enrolment: that one counts neither
    assert (
        "indikatorerna"
        in _only(
            cross_checks(
                values("discharge", "2025-01-10", "2025-06-30"),
                [discharge("2024-01-01", "2024-06-01")],
            )
        ).message
    )


def test_gender_and_date_that_differ_from_the_enrolment_are_named(app: Flask) -> None:
    found = cross_checks(
        values("discharge", "2025-03-05", "2025-09-01", gender="female"),
        [enrolment("2025-03-04", "male")],
    )
    assert [f.field for f in found] == ["gender", "enrolled_on"]
    assert not any(f.blocking for f in found)
    assert "här Kvinna, där Man" in found[0].message
    assert "här 2025-03-05, där 2025-03-04" in found[1].message
    assert all("SIG-2025-000001 v1" in f.message for f in found)


def test_the_discharge_is_compared_with_the_enrolment_it_names(app: Flask) -> None:
    """Two enrolments before the discharge: the one with the discharge's enrolment date."""
    others = [enrolment("2024-01-10", "female", "A"), enrolment("2025-03-04", "male", "B")]
    assert cross_checks(values("discharge", "2024-01-10", "2025-09-01", "female"), others) == []
    f = _only(cross_checks(values("discharge", "2024-01-10", "2025-09-01", "male"), others))
    assert "första bedömningen A" in f.message


def test_a_second_open_enrolment_is_a_warning_naming_the_first(app: Flask) -> None:
    f = _only(
        cross_checks(values("enrolment", "2025-09-01"), [enrolment("2025-03-04", ref="SIG-1")])
    )
    assert not f.blocking and f.field == "enrolled_on"
    assert "Två öppna inskrivningar" in f.message and "SIG-1" in f.message
    assert "2025-03-04" in f.message


@pytest.mark.parametrize(
    ("enrolled", "others"),
    [
        ("2025-06-01", []),
        ("2025-06-01", [enrolment("2024-03-04"), discharge("2024-03-04", "2024-12-01")]),
        # the form's enrolment is an old one, ended by the discharge; the later one is open alone
        ("2024-03-04", [discharge("2024-03-04", "2024-12-01"), enrolment("2025-03-04")]),
    ],
)
def test_an_enrolment_after_a_discharge_is_not_two_open_ones(
    app: Flask, enrolled: str, others: list[FollowUp]
) -> None:
    assert cross_checks(values("enrolment", enrolled), others) == []


def test_an_enrolment_is_compared_with_the_discharge_that_ends_it(app: Flask) -> None:
    found = cross_checks(
        values("enrolment", "2025-03-04", gender="unknown"),
        [discharge("2025-03-04", "2025-11-01", "male", "SIG-D")],
    )
    f = _only(found)
    assert f.field == "gender" and "den andra bedömningen SIG-D" in f.message
    assert "här Uppgift saknas, där Man" in f.message


def test_unreadable_dates_are_not_compared(app: Flask) -> None:
    """An invalid date is the field's own error; the cross-checks say nothing about it."""
    broken = FollowUp("X", "enrolment", None, None, None, "", datetime(2025, 1, 1))
    assert cross_checks(values("enrolment", None), [enrolment("2025-03-04")]) == []
    assert cross_checks(values("discharge", "2025-03-04", "2025-09-01"), [broken]) == []
