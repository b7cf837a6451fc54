"""Swedish identity numbers: personnummer and samordningsnummer, Luhn-checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from personnummer import personnummer as pnr

_ALLOWED = re.compile(r"^[0-9+\- ]{10,15}$")


class IdentityError(ValueError):
    """The identity number is not valid; str(err) is a Swedish sentence."""


@dataclass(frozen=True)
class Identity:
    number: str  #: long form YYYYMMDD-NNNN
    birth_date: date  #: for a samordningsnummer the day minus 60
    coordination: bool  #: True for a samordningsnummer


def parse_identity(value: str, *, coordination: bool) -> Identity:
    """Validate *value* as a personnummer (or samordningsnummer when *coordination*)."""
    raw = value.strip()
    if not _ALLOWED.match(raw):
        raise IdentityError(_l("Ange numret som ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN."))
    try:
        parsed = pnr.parse(raw.replace(" ", ""))
    except pnr.PersonnummerException:
        raise IdentityError(
            _l("Numret är inte giltigt (kontrollsiffran eller datumet stämmer inte).")
        ) from None
    if parsed.is_coordination_number() != coordination:
        if coordination:
            raise IdentityError(_l("Det här är ett personnummer, inte ett samordningsnummer."))
        raise IdentityError(_l("Det här är ett samordningsnummer, inte ett personnummer."))
    long_form = parsed.format(long_format=True)
    return Identity(
        number=f"{long_form[:8]}-{long_form[8:]}",
        birth_date=parsed.get_date(),
        coordination=coordination,
    )
