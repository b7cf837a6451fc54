"""Uppföljning (bilaga 3.4): the city-wide follow-up, assessed at enrolment and at discharge.

The statistics (per district and overall, enrolment vs discharge, by gender and period) read the
stored data, so its keys are stable. Stored data (JSON), one flat object::

    {
      "assessment": "enrolment" | "discharge",
      "assessed_on": "YYYY-MM-DD",
      "enrolled_on": "YYYY-MM-DD",
      "discharged_on": "YYYY-MM-DD" | null,     # only at discharge (then required)
      "discharge_reason": "" | "planned" | "own_request" | "crime" | "substance"
                          | "not_following_plan" | "unreachable" | "moved" | "other",
                                                # only at discharge (required); the keys are
                                                # stored, so a new reason gets a new key and a
                                                # relabelled one keeps its key ("crime" was
                                                # "Avbrott – fortsatt brottslighet")
      "discharge_comment": str,                 # required when the reason is "other"
      "gender": "female" | "male" | "other" | "unknown",
      # the eight indicators (keys of INDICATORS), each an answer and its source:
      "<indicator>": "yes" | "no" | "unknown",
      "<indicator>_source": "" | "self" | "police" | "social_services" | "other_actor" | "other"
    }

The source is required when the answer is yes or no. The target group and the district are not
in the data: they come from the participant and the document (see build_context).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired, Optional

from formsvc.doctypes import DocumentType, FormContext, RenderInput, Subject
from formsvc.forms._base import choices, long_text
from formsvc.forms.needs_inventory import target_group_label

ASSESSMENTS: dict[str, Any] = {
    "enrolment": _l("Första bedömning – vid inskrivning"),
    "discharge": _l("Andra bedömning – vid utskrivning"),
}
DISCHARGE_REASONS: dict[str, Any] = {
    "planned": _l("Planenligt avslut"),
    "own_request": _l("Avbrott på egen begäran"),
    "crime": _l("Avbrott – återfall i brott"),
    "substance": _l("Avbrott – återfall i missbruk"),
    "not_following_plan": _l("Avbrott – följer inte planen"),
    "unreachable": _l("Avbrott – ej nåbar under längre tid"),
    "moved": _l("Flytt"),
    "other": _l("Annat"),
}
GENDERS: dict[str, Any] = {
    "female": _l("Kvinna"),
    "male": _l("Man"),
    "other": _l("Annat"),
    "unknown": _l("Uppgift saknas"),
}
ANSWERS: dict[str, Any] = {"yes": _l("Ja"), "no": _l("Nej"), "unknown": _l("Vet ej")}
SOURCES: dict[str, Any] = {
    "self": _l("Egen uppgift"),
    "police": _l("Polisen"),
    "social_services": _l("Socialtjänsten"),
    "other_actor": _l("Annan aktör"),
    "other": _l("Annat"),
}
#: The city's indicators, in the order of its follow-up reports (key -> question).
INDICATORS: dict[str, Any] = {
    "suspected_crime": _l("Misstänkt för brottslighet under de senaste sex månaderna"),
    "debts_criminals": _l("Har skulder till kriminella"),
    "debts_enforcement": _l("Har skulder hos Kronofogden"),
    "substance_use": _l("Är i missbruk"),
    "non_criminal_friends": _l("Umgås med icke-kriminella kamrater"),
    "occupation": _l("Har arbete, praktik eller studerar"),
    "housing": _l("Har bostad"),
    "structured_leisure": _l("Har en strukturerad fritid"),
}
_DATE = _l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD).")


def _select(label: Any, options: dict[str, Any], blank: Any, **kw: Any) -> SelectField:
    return SelectField(label, choices=choices([("", blank), *options.items()]), default="", **kw)


def _answer() -> SelectField:
    return _select(
        _l("Svar"),
        ANSWERS,
        _l("– välj –"),
        validators=[DataRequired(_l("Svara ja, nej eller vet ej."))],
    )


def _source() -> SelectField:
    return _select(_l("Källa"), SOURCES, _l("– välj källa –"))


class FollowUpForm(FlaskForm):
    assessment = SelectField(
        _l("Bedömningstillfälle"), choices=choices(ASSESSMENTS), default="enrolment"
    )
    assessed_on = DateField(_l("Datum för bedömningen"), validators=[DataRequired(_DATE)])
    enrolled_on = DateField(_l("Inskrivningsdatum"), validators=[DataRequired(_DATE)])
    gender = _select(
        _l("Kön"),
        GENDERS,
        _l("– välj –"),
        validators=[DataRequired(_l("Välj kön (eller ”uppgift saknas”)."))],
    )
    discharged_on = DateField(_l("Utskrivningsdatum"), validators=[Optional()])
    discharge_reason = _select(_l("Orsak till utskrivningen"), DISCHARGE_REASONS, _l("– välj –"))
    discharge_comment = long_text(_l("Kommentar om utskrivningen (vid ”annat”: beskriv orsaken)"))
    # One answer and one source per key of INDICATORS (sections and check() rely on the names).
    suspected_crime, suspected_crime_source = _answer(), _source()
    debts_criminals, debts_criminals_source = _answer(), _source()
    debts_enforcement, debts_enforcement_source = _answer(), _source()
    substance_use, substance_use_source = _answer(), _source()
    non_criminal_friends, non_criminal_friends_source = _answer(), _source()
    occupation, occupation_source = _answer(), _source()
    housing, housing_source = _answer(), _source()
    structured_leisure, structured_leisure_source = _answer(), _source()

    sections = [
        (_l("Bedömning"), ["assessment", "assessed_on", "enrolled_on", "gender"]),
        (
            _l("Utskrivning (fylls bara i vid den andra bedömningen)"),
            ["discharged_on", "discharge_reason", "discharge_comment"],
        ),
        *((question, [key, f"{key}_source"]) for key, question in INDICATORS.items()),
    ]
    intro = _l(
        "Den första bedömningen görs vid inskrivningen och den andra vid utskrivningen, av "
        "lotsen eller samordnaren, gärna tillsammans med arbetsledaren. Svara utifrån deltagarens "
        "situation vid bedömningen och ange varifrån uppgiften kommer. Uppgifterna lämnas "
        "avidentifierade till socialförvaltningen för uppföljning per stadsdel och för hela staden."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """The printed copy is de-identified: free text must not undo that."""
        return [
            _(
                "Utskriften är avidentifierad: den visar inte deltagarens namn, vem som gjorde "
                "bedömningen, dokumentnumret eller exakta datum. Skriv inga namn eller andra "
                "uppgifter som pekar ut deltagaren i kommentaren."
            )
        ]

    def check(self, ctx: FormContext) -> bool:
        """Discharge details exactly at discharge; a source for every yes or no."""
        ok = True
        if self.assessment.data == "discharge":
            if not self.discharged_on.data and not self.discharged_on.errors:
                self.discharged_on.errors.append(_("Ange utskrivningsdatum vid utskrivning."))
                ok = False
            if not self.discharge_reason.data:
                self.discharge_reason.errors.append(_("Ange orsak till utskrivningen."))
                ok = False
            elif self.discharge_reason.data == "other" and not self.discharge_comment.data:
                self.discharge_comment.errors.append(_("Beskriv orsaken till utskrivningen."))
                ok = False
        else:
            for field in (self.discharged_on, self.discharge_reason, self.discharge_comment):
                if field.data:
                    field.errors.append(
                        _(
                            "Fyll bara i utskrivningsuppgifter vid den andra bedömningen "
                            "(utskrivning)."
                        )
                    )
                    ok = False
        start, end = self.enrolled_on.data, self.discharged_on.data
        if start and end and end < start:
            self.discharged_on.errors.append(
                _("Utskrivningsdatumet kan inte vara före inskrivningsdatumet.")
            )
            ok = False
        for key in INDICATORS:
            if self[key].data in ("yes", "no") and not self[f"{key}_source"].data:
                self[f"{key}_source"].errors.append(_("Ange varifrån uppgiften kommer."))
                ok = False
        return ok


def _label(options: dict[str, Any], key: Any) -> str:
    return str(options[key]) if key in options else ""


def _month(value: Any) -> str:
    """An ISO date as year and month ("2026-11"): the printed copy gives no exact dates."""
    return value[:7] if isinstance(value, str) and len(value) >= 7 else ""


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, de-identified as the copy sent to the social administration.

    No name, identity number, document number or assessor, and dates by month only; the stored
    data keeps the exact dates for the district and for the statistics.
    """
    d = ri.data
    discharge = d.get("assessment") == "discharge"
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "printed_at": _month(ri.printed_at.isoformat()),
        "assessment": _label(ASSESSMENTS, d.get("assessment")),
        "is_discharge": discharge,
        "assessed_on": _month(d.get("assessed_on")),
        "enrolled_on": _month(d.get("enrolled_on")),
        "discharged_on": _month(d.get("discharged_on")) if discharge else "",
        "discharge_reason": _label(DISCHARGE_REASONS, d.get("discharge_reason"))
        if discharge
        else "",
        "discharge_comment": d.get("discharge_comment") or "",
        "gender": _label(GENDERS, d.get("gender")),
        "target_group": target_group_label(ri.subject.target_group) if ri.subject else "",
        "indicators": [
            {
                "question": str(question),
                "answer": _label(ANSWERS, d.get(key)),
                "source": _label(SOURCES, d.get(f"{key}_source")),
            }
            for key, question in INDICATORS.items()
        ],
    }


def initial(ctx: FormContext) -> dict[str, Any]:
    """A first assessment made today."""
    return {"assessment": "enrolment", "assessed_on": ctx.today}


def sample() -> dict[str, Any]:
    """A discharge after a plan that was followed: most indicators improved."""
    answers = {
        "suspected_crime": ("no", "police"),
        "debts_criminals": ("unknown", ""),
        "debts_enforcement": ("yes", "other_actor"),
        "substance_use": ("no", "self"),
        "non_criminal_friends": ("yes", "self"),
        "occupation": ("yes", "social_services"),
        "housing": ("yes", "other"),
        "structured_leisure": ("no", "self"),
    }
    data: dict[str, Any] = {
        "assessment": "discharge",
        "assessed_on": "2026-11-20",
        "enrolled_on": "2025-12-03",
        "gender": "male",
        "discharged_on": "2026-11-27",
        "discharge_reason": "planned",
        "discharge_comment": "Målen i handlingsplanen är uppnådda; fortsatt kontakt med Jobbtorg.",
    }
    for key, (answer, source) in answers.items():
        data[key], data[f"{key}_source"] = answer, source
    return data


def sample_subject() -> Subject:
    """The participant the sample is written for: 24, SIG unga vuxna."""
    return Subject(
        name="Mikael Nyström",
        id_kind="personnummer",
        id_number="20020618-2396",
        birth_date=date(2002, 6, 18),
        target_group="sig_unga_vuxna",
    )


DOCUMENT_TYPE = DocumentType(
    slug="follow_up",
    annex="3.4",
    title=_l("Uppföljning"),
    form_class=FollowUpForm,
    template="follow_up.docx",
    subject="participant",
    build_context=build_context,
    sample=sample,
    sample_subject=sample_subject,
    initial=initial,
    editors=("caseworker", "manager"),
    sample_expect=(
        "Andra bedömning – vid utskrivning",
        "Planenligt avslut",
        "Målen i handlingsplanen är uppnådda; fortsatt kontakt med Jobbtorg.",
        "Har skulder hos Kronofogden",
        "Annan aktör",
        "2025-12",
        "SIG unga vuxna",
        "Avidentifierad utskrift",
    ),
)
