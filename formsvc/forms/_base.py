"""Shared form pieces: safe text fields and conversion between stored JSON data and form data."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from formsvc.services import glyphs

#: C0/C1 control characters and non-characters that cannot live in Word's XML (tab/newline are fine
#: in multi-line text and are checked separately).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_LINEBREAKS = re.compile(r"[\t\r\n]")
_ZWJ, _BLACK_FLAG = "\u200d", "\U0001f3f4"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _codes(chars: list[str]) -> str:
    return ", ".join(f"U+{ord(c):04X}" for c in chars)


def _emoji_part(ch: str) -> bool:
    """A character that may stand next to a zero-width joiner in an emoji sequence."""
    return unicodedata.category(ch) in ("So", "Sk") or ch == "\ufe0f"


def _invisible(value: str) -> list[str]:
    """Invisible formatting characters of *value*: bidi controls (U+202A–202E, U+2066–2069,
    U+200E/F, U+061C), zero-width characters, soft hyphen, BOM, line/paragraph separators.

    They make the printed text differ from what the user sees or typed (a name printed reversed,
    a hyphen that appears at a line end). Allowed only where emoji need them: a zero-width joiner
    between two emoji, tag characters of a flag sequence.
    """
    found: list[str] = []
    for i, ch in enumerate(value):
        cat = unicodedata.category(ch)
        if cat not in ("Cf", "Zl", "Zp") or ch in found:
            continue
        between_emoji = 0 < i < len(value) - 1 and (
            _emoji_part(value[i - 1]) and _emoji_part(value[i + 1])
        )
        if ch == _ZWJ and between_emoji:
            continue
        if 0xE0020 <= ord(ch) <= 0xE007F and _BLACK_FLAG in value[:i]:
            continue
        found.append(ch)
    return found


def char_problem(value: str, multiline: bool = False, label: Any = None) -> str | None:
    """Why *value* would not print as typed (control, invisible, damaged or unprintable
    characters), naming the field *label*; None when it prints as typed."""
    name = f"«{label}»" if label else str(_l("Fältet"))
    control = _CONTROL.findall(value) + ([] if multiline else _LINEBREAKS.findall(value))
    if control:
        # a browser shows most of them as \ufffd or not at all: say which and where they went
        return str(
            _l(
                "%(field)s innehåller osynliga kontrolltecken som inte kan skrivas ut "
                "(%(codes)s). I rutan syns de som \ufffd eller inte alls. Ta bort dem, till "
                "exempel genom att skriva texten på nytt.",
                field=name,
                codes=_codes(list(dict.fromkeys(control))),
            )
        )
    if invisible := _invisible(value):
        return str(
            _l(
                "%(field)s innehåller osynliga tecken som styr textens riktning eller "
                "formatering (%(codes)s). De gör att texten skrivs ut annorlunda än den ser ut. "
                "Ta bort dem, till exempel genom att skriva texten på nytt i stället för att "
                "klistra in den.",
                field=name,
                codes=_codes(invisible),
            )
        )
    if "\ufffd" in value:
        return str(
            _l(
                "%(field)s innehåller tecknet \ufffd (U+FFFD), som betyder att texten skadats "
                "vid kopiering. Skriv texten på nytt.",
                field=name,
            )
        )
    if missing := glyphs.unprintable(value):
        return str(
            _l(
                "%(field)s innehåller tecknen %(chars)s (%(codes)s), som inget installerat "
                "typsnitt kan skriva ut. Ta bort dem eller skriv dem på annat sätt.",
                field=name,
                chars=" ".join(missing),
                codes=_codes(missing),
            )
        )
    return None


class NoControlChars:
    """Refuse text that would not print as typed (kept in the field so the user can fix it)."""

    def __init__(self, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, form: Form, field: Field) -> None:
        value = field.data or ""
        if not isinstance(value, str):
            return
        if problem := char_problem(value, self.multiline, field.label.text):
            raise ValidationError(problem)


def text_problem(
    value: str, max_length: int, multiline: bool = False, label: Any = None
) -> str | None:
    """The message a text field would give *value* (too long, control characters), or None."""
    if len(value) > max_length:
        return str(_l("Högst %(max)d tecken.", max=max_length))
    return char_problem(value, multiline, label)


def text(
    label: Any, max_length: int = 200, validators: list | None = None, **kw: Any
) -> StringField:
    """A one-line text field with length and control-character checks."""
    return StringField(
        label,
        validators=[
            *(validators or [Optional()]),
            Length(max=max_length, message=_l("Högst %(max)d tecken.")),
            NoControlChars(),
        ],
        filters=[_strip],
        **kw,
    )


def long_text(
    label: Any, max_length: int = 4000, validators: list | None = None, **kw: Any
) -> TextAreaField:
    """A multi-line text field with length and control-character checks."""
    return TextAreaField(
        label,
        validators=[
            *(validators or [Optional()]),
            Length(max=max_length, message=_l("Högst %(max)d tecken.")),
            NoControlChars(multiline=True),
        ],
        filters=[_strip],
        **kw,
    )


def choices(pairs: Any) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs or a dict."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [SelectChoice(value, label) for value, label in items]


class SubForm(Form):
    """A row in a repeatable table; CSRF lives on the outer form only."""


#: Answers of the checklists: 2.1/2.2 and the district checklist, and 2.3.
YES_NO_NA = {"yes": _l("Ja"), "no": _l("Nej"), "na": _l("Ej aktuellt")}
YES_NO = {"yes": _l("Ja"), "no": _l("Nej")}
MET = {"met": _l("Uppfyllt"), "not_met": _l("Inte uppfyllt"), "planned": _l("Utbildning planerad")}


def checklist(answers: dict[str, Any]) -> FieldList:
    """A checklist gone through item by item: answer + comment per item (items are data)."""

    class ChecklistRow(SubForm):
        item_id = HiddenField()
        answer = RadioField(_l("Svar"), choices=choices(answers.items()), validate_choice=False)
        comment = StringField(
            _l("Kommentar"),
            validators=[
                Optional(),
                Length(max=1000, message=_l("Högst %(max)d tecken.")),
                NoControlChars(),
            ],
            filters=[_strip],
        )

        def validate_answer(self, field: Field) -> None:
            if field.data and field.data not in answers:
                raise ValidationError(_l("Välj ett av svaren."))

    ChecklistRow.answers = answers
    return FieldList(FormField(ChecklistRow), min_entries=0)


def is_checklist(field: Field) -> bool:
    """True for a field made by checklist()."""
    return (
        isinstance(field, FieldList)
        and issubclass(field.unbound_field.field_class, FormField)
        and hasattr(field.unbound_field.args[0], "answers")
    )


def is_row_table(field: Field) -> bool:
    """True for a table of repeatable rows (FieldList of FormField) that is not a checklist."""
    return (
        isinstance(field, FieldList)
        and issubclass(field.unbound_field.field_class, FormField)
        and not is_checklist(field)
    )


def row_is_blank(row: Form) -> bool:
    """A row the user left empty: no text typed, choices at their defaults."""
    for field in row:
        if field.type in ("SelectField", "RadioField"):
            if field.data not in (None, "", field.default):
                return False
        elif field.type == "HiddenField":
            continue
        elif field.data not in (None, "", False, []):
            return False
    return True


def form_to_data(form: Form) -> dict[str, Any]:
    """Turn a validated form into JSON-safe data (dates as ISO strings), without buttons/CSRF.

    Empty rows of repeatable tables are dropped: that is how a row is removed without JavaScript.
    """
    out: dict[str, Any] = {}
    for field in form:
        if field.type in ("CSRFTokenField", "SubmitField"):
            continue
        out[field.short_name] = _field_value(field)
    return out


def _field_value(field: Field) -> Any:
    if is_row_table(field):
        return [_field_value(e) for e in field.entries if not row_is_blank(e.form)]
    if isinstance(field, FieldList):
        return [_field_value(entry) for entry in field.entries]
    if isinstance(field, FormField):
        return form_to_data(field.form)
    if isinstance(field, DateField):
        return field.data.isoformat() if field.data else None
    return field.data


def data_to_formdata(form_class: type[Form], data: dict[str, Any]) -> MultiDict:
    """Flatten stored data into what a browser would post, so one validation path serves both."""
    md: MultiDict = MultiDict()
    _flatten(form_class(formdata=None, meta={"csrf": False}), data, "", md)
    return md


def _flatten(form: Form, data: Any, prefix: str, md: MultiDict) -> None:
    if not isinstance(data, dict):
        return
    for field in form:
        key = field.short_name
        if key not in data:
            continue
        name = f"{prefix}{key}"
        value = data[key]
        if isinstance(field, FieldList):
            rows = value if isinstance(value, list) else []
            inner = field.unbound_field
            for i, row in enumerate(rows):
                if issubclass(inner.field_class, FormField):
                    _flatten(inner.args[0](), row, f"{name}-{i}-", md)
                else:
                    md.add(f"{name}-{i}", "" if row is None else str(row))
        elif isinstance(field, FormField):
            _flatten(field.form, value, f"{name}-", md)
        elif isinstance(field, BooleanField):
            if value:
                md.add(name, "y")
        elif isinstance(field, SelectMultipleField):
            for item in value if isinstance(value, list) else [value]:
                md.add(name, str(item))
        elif isinstance(value, date):
            md.add(name, value.isoformat())
        else:
            md.add(name, "" if value is None else str(value))
