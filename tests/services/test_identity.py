"""Personnummer and samordningsnummer validation."""

from __future__ import annotations

from datetime import date

import pytest

from formsvc.services.identity import IdentityError, parse_identity


@pytest.mark.parametrize(
    ("value", "number", "born"),
    [
        ("19900101-1239", "19900101-1239", date(1990, 1, 1)),
        ("900101-1239", "19900101-1239", date(1990, 1, 1)),
        (" 199001011239 ", "19900101-1239", date(1990, 1, 1)),
    ],
)
def test_personnummer(value: str, number: str, born: date) -> None:
    ident = parse_identity(value, coordination=False)
    assert (ident.number, ident.birth_date) == (number, born)


def test_samordningsnummer_birth_date_is_day_minus_60() -> None:
    ident = parse_identity("20050175-1234", coordination=True)
    assert ident.birth_date == date(2005, 1, 15) and ident.coordination


@pytest.mark.parametrize(
    "value",
    ["19900101-1230", "19901301-1234", "abc", "", "1" * 40, "19900101-123", "1990-01-01-1239"],
)
def test_invalid(value: str) -> None:
    with pytest.raises(IdentityError):
        parse_identity(value, coordination=False)


REGISTERED = date(2026, 12, 7)


@pytest.mark.parametrize(
    ("value", "born"),
    [
        ("251207+1230", date(1925, 12, 7)),  # 101 today: '+'
        ("251208+1239", date(1925, 12, 8)),  # 100, turns 101 tomorrow
        ("261208-1238", date(1926, 12, 8)),  # '-': 99, not born tomorrow
        ("2612081238", date(1926, 12, 8)),  # no separator reads as '-'
        ("261207-1239", date(2026, 12, 7)),  # born on the registration day
        ("196201011233", date(1962, 1, 1)),  # 12 digits state the century
    ],
)
def test_century_is_read_relative_to_the_registration_date(value: str, born: date) -> None:
    assert parse_identity(value, coordination=False, today=REGISTERED).birth_date == born


@pytest.mark.parametrize(
    ("value", "coordination", "message"),
    [
        ("620101+1233", False, "1862-01-01 ger en ålder på 164 år"),
        ("186201011233", False, "164 år"),
        ("202612081238", False, "ligger i framtiden"),
        ("19620101+1233", False, "Skriv ett bindestreck"),
        ("050175+1234", True, "1905-01-15 ger en ålder på 121 år"),
    ],
)
def test_implausible_numbers_are_refused(value: str, coordination: bool, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        parse_identity(value, coordination=coordination, today=REGISTERED)
