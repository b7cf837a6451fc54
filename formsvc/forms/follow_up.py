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
      "target_group": "sig_unga" | "sig_unga_vuxna",   # the participant's group at the
                                                # assessment (missing in follow-ups saved
                                                # before issue 17: then the participant's)
      # the eight indicators (keys of INDICATORS), each an answer and its source:
      "<indicator>": "yes" | "no" | "unknown",
      "<indicator>_source": "" | "self" | "police" | "social_services" | "other_actor" | "other"
    }

The source is required when the answer is yes or no. The district is not in the data: it is the
document's. The target group is stored because it can change: someone in SIG unga who turns 20 may
be assessed at discharge in SIG unga vuxna; the form proposes the participant's current group.

A new follow-up is pre-filled from the participant and from their newest enrolment assessment in
the district (facts.follow_ups, passed in FormContext.facts): gender and enrolment date, and the
occasion "discharge" while that enrolment has no discharge yet (see initial). On saving, the form
is checked against those assessments (see cross_checks): what makes the data contradict itself is
an error, what may be true but needs a look is a warning (shown on the form and after saving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired, Optional

from formsvc.doctypes import TARGET_GROUPS, DocumentType, FormContext, RenderInput, Subject
from formsvc.forms._base import choices, long_text
from formsvc.forms.needs_inventory import target_group_label

if TYPE_CHECKING:  # facts imports the services that import this module
    from formsvc.services.facts import FollowUp

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
    """A select with a blank first option; a posted value not in the list gets a Swedish
    message (not WTForms' "Not a valid choice")."""
    return SelectField(
        label,
        choices=choices([("", blank), *options.items()]),
        default="",
        invalid_choice_message=_l("Välj ett av alternativen i listan."),
        **kw,
    )


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
    target_group = _select(
        _l("Målgrupp vid bedömningen"),
        TARGET_GROUPS,
        _l("– välj –"),
        validators=[DataRequired(_l("Välj målgrupp."))],
        description=_l(
            "Förifylld med deltagarens målgrupp. Ändra den om deltagaren hörde till den andra "
            "målgruppen vid bedömningen, till exempel efter att ha fyllt 20."
        ),
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
        (_l("Bedömning"), ["assessment", "assessed_on", "enrolled_on", "gender", "target_group"]),
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
        """The printed copy is de-identified: free text must not undo that. Then the warnings
        of the cross-checks (the errors are on the fields, from check)."""
        return [
            _(
                "Utskriften är avidentifierad: den visar inte deltagarens namn, vem som gjorde "
                "bedömningen, dokumentnumret eller exakta datum. Skriv inga namn eller andra "
                "uppgifter som pekar ut deltagaren i kommentaren."
            ),
            *(f.message for f in self._cross_checks(ctx) if not f.blocking),
        ]

    def _cross_checks(self, ctx: FormContext) -> list[Finding]:
        others = ctx.facts.get("follow_ups")
        if others is None:  # not known here (e.g. `flask render` without a database)
            return []
        return cross_checks(
            Values(
                assessment=self.assessment.data or "",
                enrolled_on=_valid_date(self.enrolled_on),
                discharged_on=_valid_date(self.discharged_on),
                gender=self.gender.data or "",
            ),
            others,
        )

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
        for finding in self._cross_checks(ctx):
            if finding.blocking:
                self[finding.field].errors.append(finding.message)
                ok = False
        return ok


def _valid_date(field: DateField) -> date | None:
    """The field's date, or None when it is empty or was not a valid date."""
    return field.data if isinstance(field.data, date) and not field.process_errors else None


# --------------------------------------------------------------------------- cross-checks


@dataclass(frozen=True)
class Values:
    """What the cross-checks read from the form being saved (None: empty or not a date)."""

    assessment: str
    enrolled_on: date | None
    discharged_on: date | None
    gender: str


@dataclass(frozen=True)
class Finding:
    """One way the form disagrees with the participant's other follow-ups.

    Blocking findings make the stored data contradict itself (a discharge before any enrolment
    it could end): the form refuses them at *field*. The others may be true (a forgotten
    discharge, a gender recorded differently) and are warnings: the form is saved and the
    warning shown with it, so that someone looks.
    """

    field: str  #: the form field the finding is about
    message: str
    blocking: bool = False


@dataclass(frozen=True)
class _Enrolment:
    """An enrolment date and the assessment that gives it (None: the form being saved)."""

    day: date
    source: FollowUp | None


def _ends(
    day: date, enrolled_on: date | None, enrolments: Sequence[_Enrolment]
) -> _Enrolment | None:
    """The enrolment a discharge on *day* ends: the one with the enrolment date the discharge
    names, else the latest enrolled on or before *day*; None when every one is later.

    *enrolments* are in date order."""
    named = [e for e in enrolments if e.day == enrolled_on and e.day <= day]
    before = named or [e for e in enrolments if e.day <= day]
    return before[-1] if before else None


def _open(enrolments: Sequence[_Enrolment], discharges: Sequence[date]) -> list[_Enrolment]:
    """The enrolments no discharge ends: in date order, each discharge ends the latest
    enrolment still open on its day (on the same day the enrolment comes first)."""
    events = sorted(
        [(e.day, 0, i) for i, e in enumerate(enrolments)] + [(d, 1, -1) for d in discharges]
    )
    still: list[int] = []
    for _day, kind, i in events:
        if kind == 0:
            still.append(i)
        elif still:
            still.pop()
    return [enrolments[i] for i in sorted(still)]


def _differences(values: Values, other: FollowUp) -> list[Finding]:
    """Warnings for a gender or enrolment date that differs between the form and *other*, the
    enrolment assessment of a discharge or the discharge assessment of an enrolment."""
    if other.assessment == "enrolment":
        name = _("den första bedömningen %(ref)s", ref=other.reference)
    else:
        name = _("den andra bedömningen %(ref)s", ref=other.reference)
    out = []
    if values.gender and other.gender and values.gender != other.gender:
        out.append(
            Finding(
                "gender",
                _(
                    "Könet skiljer sig från %(other)s: här %(here)s, där %(there)s. Statistiken "
                    "tar kön från respektive bedömning; kontrollera vilket som stämmer.",
                    other=name,
                    here=str(GENDERS.get(values.gender, values.gender)),
                    there=str(GENDERS.get(other.gender, other.gender)),
                ),
            )
        )
    if values.enrolled_on and other.enrolled_on and values.enrolled_on != other.enrolled_on:
        out.append(
            Finding(
                "enrolled_on",
                _(
                    "Inskrivningsdatumet skiljer sig från %(other)s: här %(here)s, där "
                    "%(there)s. Kontrollera vilket som stämmer.",
                    other=name,
                    here=values.enrolled_on.isoformat(),
                    there=other.enrolled_on.isoformat(),
                ),
            )
        )
    return out


def _enrolments(others: Sequence[FollowUp]) -> list[_Enrolment]:
    """The other enrolment assessments with an enrolment date, in date order (then as made)."""
    dated = [f for f in others if f.assessment == "enrolment" and f.enrolled_on]
    return [
        _Enrolment(f.enrolled_on, f)
        for f in sorted(dated, key=lambda f: (f.enrolled_on, *f.order))
        if f.enrolled_on  # for the type checker
    ]


def _discharge_day(f: FollowUp) -> date | None:
    return f.discharged_on or f.assessed_on


def cross_checks(values: Values, others: Sequence[FollowUp]) -> list[Finding]:
    """The form against the participant's other enrolment and discharge assessments.

    - A discharge dated before the enrolment it would end (before every enrolment assessment's
      enrolment date): an error. Saved, the statistics would count a stay that ends before it
      starts; the user can always correct one of the two assessments.
    - A discharge without any enrolment assessment: a warning. It is counted as a discharge,
      but its indicators cannot be compared with those at enrolment.
    - An enrolment while another enrolment is still open (no discharge after it): a warning,
      "two open enrolments". The new enrolment is a fact to record, and the open one usually
      lacks a discharge assessment that can be made afterwards (or the new one is a duplicate,
      which the user sees named).
    - Gender or enrolment date differing between an enrolment and the discharge that ends it:
      a warning naming both values, since either may be the wrong one.
    """
    enrolments = _enrolments(others)
    discharges = [f for f in others if f.assessment == "discharge"]
    out: list[Finding] = []
    if values.assessment == "discharge":
        if not any(f.assessment == "enrolment" for f in others):
            return [
                Finding(
                    "assessment",
                    _(
                        "Deltagaren har ingen första bedömning (vid inskrivning) i stadsdelen. "
                        "Utskrivningen räknas i statistiken, men indikatorerna kan inte "
                        "jämföras med läget vid inskrivningen."
                    ),
                )
            ]
        day = values.discharged_on
        if day is None:  # not given (yet): the enrolment the form names, else the newest
            named = [e for e in enrolments if e.day == values.enrolled_on]
            ended = (named or enrolments or [None])[-1]
        else:
            ended = _ends(day, values.enrolled_on, enrolments)
            first = enrolments[0] if enrolments else None
            # before the form's own enrolment date: check() says so already, once is enough
            own = values.enrolled_on is not None and day < values.enrolled_on
            if ended is None and first is not None and first.source is not None and not own:
                out.append(
                    Finding(
                        "discharged_on",
                        _(
                            "Utskrivningsdatumet %(day)s är före inskrivningen: deltagarens "
                            "första bedömning %(ref)s anger inskrivningsdatum %(enrolled)s. "
                            "Kontrollera datumen; är det den första bedömningen som är fel, "
                            "rätta den först.",
                            day=day.isoformat(),
                            ref=first.source.reference,
                            enrolled=first.day.isoformat(),
                        ),
                        blocking=True,
                    )
                )
            if ended is None:  # still say how it differs from the enrolment it was meant to end
                named = [e for e in enrolments if e.day == values.enrolled_on]
                ended = (named or [first])[-1]
        if ended is not None and ended.source is not None:
            out += _differences(values, ended.source)
    elif values.assessment == "enrolment" and values.enrolled_on:
        mine = _Enrolment(values.enrolled_on, None)
        # the form's enrolment after the others of the same day: it is the one made last
        every = sorted([*enrolments, mine], key=lambda e: (e.day, e.source is None))
        still = _open(every, [d for f in discharges if (d := _discharge_day(f))])
        if any(e is mine for e in still):
            for other in still:
                if other.source is None:
                    continue
                out.append(
                    Finding(
                        "enrolled_on",
                        _(
                            "Två öppna inskrivningar: deltagarens första bedömning %(ref)s "
                            "(inskriven %(enrolled)s) har ingen andra bedömning (utskrivning) "
                            "efter sig. Gör utskrivningen för den, eller rätta den i stället "
                            "för att göra en ny första bedömning om det är samma inskrivning.",
                            ref=other.source.reference,
                            enrolled=other.day.isoformat(),
                        ),
                    )
                )
        for discharge in discharges:
            day = _discharge_day(discharge)
            if day and (e := _ends(day, discharge.enrolled_on, every)) is not None and e is mine:
                out += _differences(values, discharge)
    return out


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
        "target_group": target_group_label(target_group(d, ri.subject)),
        "indicators": [
            {
                "question": str(question),
                "answer": _label(ANSWERS, d.get(key)),
                "source": _label(SOURCES, d.get(f"{key}_source")),
            }
            for key, question in INDICATORS.items()
        ],
    }


def target_group(data: Mapping[str, Any], subject: Subject | None) -> str:
    """The target group at the assessment: the stored one, else (a follow-up saved before it
    was stored) the participant's; "" when neither is known."""
    stored = data.get("target_group")
    if isinstance(stored, str) and stored in TARGET_GROUPS:
        return stored
    return subject.target_group if subject else ""


def initial(ctx: FormContext) -> dict[str, Any]:
    """An assessment made today, pre-filled from the participant and their enrolment.

    The target group is the participant's. Gender and enrolment date come from the newest
    enrolment assessment (by enrolment date, then as made), if there is one. While no
    discharge assessment ends that enrolment, the occasion proposed is "discharge": the only
    assessment that can follow an open enrolment is its discharge, and proposing a second
    enrolment would lead straight into the "two open enrolments" warning. Otherwise (no
    enrolment yet, or the last one is ended) it is "enrolment", the first assessment of a new
    enrolment -- then gender is still proposed, but not the old enrolment date.
    """
    data: dict[str, Any] = {"assessment": "enrolment", "assessed_on": ctx.today}
    if ctx.subject is not None:
        data["target_group"] = ctx.subject.target_group
    others: Sequence[FollowUp] = ctx.facts.get("follow_ups") or ()
    enrolments = _enrolments(others)
    if not enrolments:
        return data
    newest = enrolments[-1]
    if newest.source is not None and newest.source.gender in GENDERS:
        data["gender"] = newest.source.gender
    discharges = [d for f in others if f.assessment == "discharge" if (d := _discharge_day(f))]
    if any(e is newest for e in _open(enrolments, discharges)):
        data["assessment"] = "discharge"
        data["enrolled_on"] = newest.day
    return data


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
        "target_group": "sig_unga_vuxna",
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
