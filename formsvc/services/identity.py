"""Swedish identity numbers: personnummer and samordningsnummer, Luhn-checked and plausible."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from personnummer import personnummer as pnr

_ALLOWED = re.compile(r"^[0-9+\- ]{10,15}$")
_SHAPE = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{4})$")
#: Nobody registered is older than this; an older birth date is a typing mistake.
MAX_AGE = 120


class IdentityError(ValueError):
    """The identity number is not valid; str(err) is a Swedish sentence."""


@dataclass(frozen=True)
class Identity:
    number: str  #: long form YYYYMMDD-NNNN
    birth_date: date  #: for a samordningsnummer the day minus 60
    coordination: bool  #: True for a samordningsnummer


def age_on(born: date, day: date) -> int:
    """Age in whole years on *day*."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_birth_date(born: date, today: date) -> None:
    """Refuse a birth date in the future or more than MAX_AGE years before *today*."""
    if born > today:
        raise IdentityError(
            _l(
                "Födelsedatumet %(born)s ligger i framtiden. Kontrollera uppgiften.",
                born=born.isoformat(),
            )
        )
    if age_on(born, today) > MAX_AGE:
        raise IdentityError(
            _l(
                "Födelsedatumet %(born)s ger en ålder på %(age)d år. Kontrollera uppgiften "
                "(i ett personnummer betyder tecknet + att personen har fyllt 100 år).",
                born=born.isoformat(),
                age=age_on(born, today),
            )
        )


def _birth_day(month: int, day: int, coordination: bool) -> tuple[int, int]:
    return month, day - 60 if coordination else day


def _full_year(yy: int, month: int, day: int, plus: bool, today: date) -> int:
    """The century of a 10-digit number: '-' = under 100 years old on *today*, '+' = 100 or more."""
    year = today.year - (today.year - yy) % 100
    try:
        if date(year, month, day) > today:
            year -= 100
    except ValueError:  # 29 February of a year that has none: the day is checked later
        pass
    return year - 100 if plus else year


def parse_identity(value: str, *, coordination: bool, today: date | None = None) -> Identity:
    """Validate *value* as a personnummer (or samordningsnummer when *coordination*).

    A 10-digit number gets its century from *today* (the registration date): with '-' the person is
    under 100, with '+' 100 or older; a 12-digit number states the century. The birth date may not
    be in the future or more than MAX_AGE years ago.
    """
    today = today or date.today()
    raw = value.strip()
    if not _ALLOWED.match(raw):
        raise IdentityError(_l("Ange numret som ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN."))
    shape = _SHAPE.match(raw.replace(" ", ""))
    if shape is None:
        raise IdentityError(_l("Ange numret som ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN."))
    century, yy, mm, dd, sep, tail = shape.groups()
    coordination_shape = int(dd) > 60
    month, day = _birth_day(int(mm), int(dd), coordination_shape)
    year = int(century + yy) if century else _full_year(int(yy), month, day, sep == "+", today)
    try:
        parsed = pnr.parse(f"{year:04d}{mm}{dd}{tail}")
        born = parsed.get_date()
    except (pnr.PersonnummerException, ValueError):
        raise IdentityError(
            _l("Numret är inte giltigt (kontrollsiffran eller datumet stämmer inte).")
        ) from None
    if parsed.is_coordination_number() != coordination:
        if coordination:
            raise IdentityError(_l("Det här är ett personnummer, inte ett samordningsnummer."))
        raise IdentityError(_l("Det här är ett samordningsnummer, inte ett personnummer."))
    if century and sep == "+" and born <= today and age_on(born, today) < 100:
        raise IdentityError(
            _l(
                "Tecknet + betyder att personen har fyllt 100 år, men %(born)s ger %(age)d år. "
                "Skriv ett bindestreck i stället.",
                born=born.isoformat(),
                age=age_on(born, today),
            )
        )
    check_birth_date(born, today)
    long_form = parsed.format(long_format=True)
    return Identity(
        number=f"{long_form[:8]}-{long_form[8:]}",
        birth_date=born,
        coordination=coordination,
    )
