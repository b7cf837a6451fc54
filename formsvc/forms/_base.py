"""Shared form pieces: safe text fields and conversion between stored JSON data and form data."""

from __future__ import annotations

import re
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

#: C0/C1 control characters and non-characters that cannot live in Word's XML (tab/newline are fine
#: in multi-line text and are checked separately).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_LINEBREAKS = re.compile(r"[\t\r\n]")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class NoControlChars:
    """Refuse control characters (kept in the field so the user can see and fix them)."""

    def __init__(self, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, form: Form, field: Field) -> None:
        value = field.data or ""
        if not isinstance(value, str):
            return
        if _CONTROL.search(value) or (not self.multiline and _LINEBREAKS.search(value)):
            raise ValidationError(
                _l(
                    "Fältet innehåller osynliga kontrolltecken som inte kan skrivas ut. "
                    "Ta bort dem."
                )
            )


def text_problem(value: str, max_length: int, multiline: bool = False) -> str | None:
    """The message a text field would give *value* (too long, control characters), or None."""
    if len(value) > max_length:
        return str(_l("Högst %(max)d tecken.", max=max_length))
    if _CONTROL.search(value) or (not multiline and _LINEBREAKS.search(value)):
        return str(
            _l("Fältet innehåller osynliga kontrolltecken som inte kan skrivas ut. Ta bort dem.")
        )
    return None


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
