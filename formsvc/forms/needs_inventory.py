"""Individuell behovs- och resursinventering (bilaga 3.1): the participant's own rating per area.

Stored data (JSON)::

    {
      "conducted_on": "YYYY-MM-DD",
      "present": str,                   # who took part
      "areas": [                        # always the nine AREAS, in that order
        {
          "area": "housing" | "physical_health" | ... (keys of AREAS),
          "rating": "" | "1" … "5",      # the participant's own rating, 1 = very bad
          "description": str,
          "resources": str,              # resources and protective factors
          "wants_change": "" | "yes" | "no",
          "priority": "" | "1" | "2" | "3"   # 1 = most important to change; each used once
        }, …
      ],
      "motivation": str
    }
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DateField, Field, FieldList, FormField, SelectField
from wtforms.fields import Label
from wtforms.utils import unset_value
from wtforms.validators import DataRequired
from wtforms.widgets import HiddenInput

from formsvc.doctypes import (
    TARGET_GROUPS,
    Author,
    DocumentType,
    FormContext,
    RenderInput,
    Subject,
    printed_subject,
)
from formsvc.forms._base import YES_NO, SubForm, choices, long_text, text

#: The life areas of the guidance, in the order the form and the document show them.
AREAS: dict[str, Any] = {
    "housing": _l("Boende"),
    "physical_health": _l("Fysisk hälsa"),
    "mental_health": _l("Psykisk hälsa"),
    "occupation": _l("Sysselsättning/skola"),
    "economy": _l("Ekonomi och skulder"),
    "network": _l("Nätverk, familj och vänner"),
    "leisure": _l("Fritid"),
    "crime": _l("Kriminalitet"),
    "substance_use": _l("Missbruk"),
}
_ORDER = {key: index for index, key in enumerate(AREAS)}

RATINGS: dict[str, Any] = {
    "1": _l("1 – mycket dåligt"),
    "2": _l("2 – dåligt"),
    "3": _l("3 – varken bra eller dåligt"),
    "4": _l("4 – bra"),
    "5": _l("5 – mycket bra"),
}
#: 1 is the area the participant most wants to change; the form's intro and the document say so.
PRIORITIES: dict[str, Any] = {"1": "1", "2": "2", "3": "3"}


def _blank(options: dict[str, Any], blank: Any) -> list:
    return choices([("", blank), *options.items()])


def empty_row(area: str) -> dict[str, str]:
    """An area's row before anything is filled in, as stored."""
    blank = dict.fromkeys(("rating", "description", "resources", "wants_change", "priority"), "")
    return {"area": area, **blank}


class AreaWidget:
    """The row's area as text the user reads, with its key posted in a hidden input."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        value = field.data or ""
        hidden = HiddenInput()(field, value=value, **kwargs)
        return Markup("{}<strong>{}</strong>").format(hidden, AREAS.get(value, ""))


class AreaField(SelectField):
    """A fixed row key: shown as text, not chosen; check() refuses unknown and duplicate keys."""

    widget = AreaWidget()

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, choices=choices(AREAS), validate_choice=False, default="", **kwargs)


class _RowLabel(Label):
    """A label that names its row ("Egen skattning – Boende") but keeps the column's text.

    The generic table takes its column headings from ``label.text`` and renders each cell's
    (visually hidden) label in full, so screen readers hear which area a field belongs to.
    """

    def __init__(self, label: Label, row_name: str) -> None:
        super().__init__(label.field_id, label.text)
        self.row_name = row_name

    def __call__(self, text: str | None = None, **kwargs: Any) -> Markup:
        return super().__call__(text or f"{self.text} – {self.row_name}", **kwargs)


class AreaRow(SubForm):
    area = AreaField(_l("Livsområde"))
    rating = SelectField(_l("Egen skattning"), choices=_blank(RATINGS, "–"), default="")
    description = long_text(_l("Beskrivning med deltagarens egna ord"), 2000)
    resources = long_text(_l("Resurser och skyddsfaktorer"), 2000)
    wants_change = SelectField(_l("Vill förändra"), choices=_blank(YES_NO, "–"), default="")
    priority = SelectField(_l("Prioritet"), choices=_blank(PRIORITIES, "–"), default="")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name = AREAS.get(self.area.data or "")
        if name:
            for field in self:
                if field is not self.area:
                    field.label = _RowLabel(field.label, str(name))

    def is_empty(self) -> bool:
        """Nothing rated, typed or chosen for the area."""
        return not any(field.data for field in self if field is not self.area)


class FixedRows(FieldList):
    """The nine area rows: the generic page's blank extra row is not added.

    No max_entries on purpose: WTForms would silently drop a row added in the browser beyond it;
    posted, the extra row is refused by check() as a duplicate area and what was typed is kept.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.type = "FieldList"  # the generic page picks its table layout by this name

    def append_entry(self, data: Any = unset_value) -> Field | None:
        if data is unset_value and len(self.entries) >= len(AREAS):
            return None
        return super().append_entry(data)


class NeedsInventoryForm(FlaskForm):
    conducted_on = DateField(
        _l("Datum för inventeringen"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    present = text(_l("Medverkande"), 500)
    areas = FixedRows(FormField(AreaRow), min_entries=0)
    motivation = long_text(_l("Deltagarens motivation att förändra sin livssituation"), 4000)
    sections = [
        (_l("Inventeringen"), ["conducted_on", "present"]),
        (_l("Deltagarens skattning per livsområde"), ["areas"]),
        (_l("Motivation"), ["motivation"]),
    ]
    intro = _l(
        "Inventeringen utgår från deltagarens egen upplevelse och skattning av sin "
        "livssituation. Gå igenom varje livsområde tillsammans med deltagaren: skattning från "
        "1 (mycket dåligt) till 5 (mycket bra), en beskrivning med deltagarens egna ord, "
        "resurser och skyddsfaktorer, om deltagaren vill förändra något och vilka områden som "
        "är viktigast att förändra (prioritet 1–3, där 1 är viktigast)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._complete_areas()

    def _complete_areas(self) -> None:
        """Every area once, in order: missing ones added, untouched copies dropped.

        A row removed in the browser comes back empty; a row added there copies the last area
        and is dropped if left empty, or refused by check() as a duplicate if filled in.
        """
        seen: set[str | None] = set()
        kept = []
        for row in self.areas.entries:
            key = row.form.area.data
            if key in seen and row.form.is_empty():
                continue
            seen.add(key)
            kept.append(row)
        self.areas.entries = kept
        for key in AREAS:
            if key not in seen:
                self.areas.append_entry(empty_row(key))
        self.areas.entries.sort(key=lambda row: _ORDER.get(row.form.area.data or "", len(AREAS)))

    def check(self, ctx: FormContext) -> bool:
        """Each row is one known area, once; each priority is given to one area only."""
        ok = True
        seen: set[str] = set()
        ranked: dict[str, str] = {}
        for row in self.areas:
            sub = row.form
            key = sub.area.data or ""
            if key not in AREAS:
                sub.area.errors.append(_("Okänt livsområde. Ladda om sidan och fyll i igen."))
                ok = False
                continue
            if key in seen:
                sub.area.errors.append(
                    _("Livsområdet %(area)s finns redan i tabellen.", area=AREAS[key])
                )
                ok = False
            seen.add(key)
            rank = sub.priority.data
            if rank in ranked:
                sub.priority.errors.append(
                    _("Prioritet %(n)s är redan given åt %(area)s.", n=rank, area=ranked[rank])
                )
                ok = False
            elif rank:
                ranked[rank] = str(AREAS[key])
        return ok


def _label(options: dict[str, Any], key: Any) -> str:
    return str(options[key]) if key in options else ""


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values: all nine areas in order, whatever the stored rows hold."""
    d = ri.data
    stored = {r.get("area"): r for r in d.get("areas", []) if isinstance(r, dict)}
    areas = []
    for key, name in AREAS.items():
        row = stored.get(key, {})
        areas.append(
            {
                "name": str(name),
                "rating": _label(RATINGS, row.get("rating")),
                "description": row.get("description") or "",
                "resources": row.get("resources") or "",
                "wants_change": _label(YES_NO, row.get("wants_change")),
                "priority": row.get("priority") if row.get("priority") in PRIORITIES else "",
            }
        )
    priorities = sorted(
        ({"rank": a["priority"], "name": a["name"]} for a in areas if a["priority"]),
        key=lambda p: p["rank"],
    )
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "participant": participant_context(ri.subject),
        "author": ", ".join(p for p in (ri.author.name, ri.author.title) if p),
        "conducted_on": d.get("conducted_on") or "",
        "present": d.get("present") or "",
        "areas": areas,
        "priorities": priorities,
        "motivation": d.get("motivation") or "",
    }


def participant_context(s: Subject | None) -> dict[str, str]:
    """Name, identity and target group as printed."""
    return printed_subject(s)


def target_group_label(key: str) -> str:
    """The target group as printed."""
    return str(TARGET_GROUPS.get(key, ""))


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today, the participant and the author as present, and the nine areas in order."""
    author = ctx.author or Author(name="")
    people = [
        _("%(name)s (deltagare)", name=ctx.subject.name) if ctx.subject else "",
        f"{author.name} ({author.title.lower()})" if author.title else author.name,
    ]
    return {
        "conducted_on": ctx.today,
        "present": ", ".join(p for p in people if p),
        "areas": [empty_row(key) for key in AREAS],
    }


def sample() -> dict[str, Any]:
    """A 22-year-old who wants to change occupation, debts and crime first."""
    rows = {
        "housing": (
            "2",
            "Bor hos mamma i en tvåa, trångt och mycket bråk.",
            "Mamma vill att han bor kvar tills han har ett eget kontrakt.",
            "yes",
            "",
        ),
        "physical_health": ("4", "Tränar ibland, sover dåligt.", "", "no", ""),
        "mental_health": (
            "3",
            "Orolig på nätterna sedan skjutningen i området.",
            "Har haft kontakt med vårdcentralen tidigare.",
            "yes",
            "",
        ),
        "occupation": (
            "1",
            "Hoppade av gymnasiet i årskurs 2, ingen sysselsättning.",
            "Vill bli elektriker; kusin jobbar på en elfirma.",
            "yes",
            "1",
        ),
        "economy": (
            "1",
            "Skulder hos Kronofogden på cirka 40 000 kronor.",
            "",
            "yes",
            "2",
        ),
        "network": (
            "3",
            "Umgås mest med gamla vänner från området.",
            "Morbror Hassan och fotbollstränaren i IK Tensta.",
            "yes",
            "",
        ),
        "leisure": ("2", "Inga fasta aktiviteter.", "Har spelat fotboll i många år.", "yes", ""),
        "crime": (
            "2",
            "Misstänkt för narkotikabrott i våras, vill lämna kretsen.",
            "",
            "yes",
            "3",
        ),
        "substance_use": ("3", "Röker cannabis några gånger i veckan.", "", "no", ""),
    }
    return {
        "conducted_on": "2026-11-12",
        "present": "Daniel Karlsson (deltagare), Karin Lind (lots/samordnare)",
        "areas": [
            {
                "area": key,
                "rating": rating,
                "description": description,
                "resources": resources,
                "wants_change": wants,
                "priority": priority,
            }
            for key, (rating, description, resources, wants, priority) in rows.items()
        ],
        "motivation": (
            "Daniel säger att han är trött på att se sig över axeln och vill ha ett vanligt "
            "jobb. Han är beredd att träffa lotsen varje vecka."
        ),
    }


def sample_subject() -> Subject:
    """The participant the sample is written for: 22, SIG unga vuxna."""
    return Subject(
        name="Daniel Karlsson",
        id_kind="personnummer",
        id_number="20040502-1239",
        birth_date=date(2004, 5, 2),
        target_group="sig_unga_vuxna",
    )


DOCUMENT_TYPE = DocumentType(
    slug="needs_inventory",
    annex="3.1",
    title=_l("Individuell behovs- och resursinventering"),
    form_class=NeedsInventoryForm,
    template="needs_inventory.docx",
    subject="participant",
    build_context=build_context,
    sample=sample,
    sample_subject=sample_subject,
    initial=initial,
    editors=("caseworker", "manager"),
    sample_expect=(
        "Daniel Karlsson",
        "Sysselsättning/skola",
        "Vill bli elektriker; kusin jobbar på en elfirma.",
        "Skulder hos Kronofogden på cirka 40 000 kronor.",
        "1 – mycket dåligt",
        "2026-11-12",
        "trött på att se sig över axeln",
    ),
)
