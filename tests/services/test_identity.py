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
