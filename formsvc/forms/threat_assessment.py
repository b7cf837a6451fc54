"""Hotbildsbedömning (bilaga 3.3): the threat assessment a manager decides on with the police."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, Field, FieldList, FormField, SelectField
from wtforms.validators import DataRequired, Optional, Regexp

from formsvc.doctypes import (
    Decision,
    DocumentType,
    FormContext,
    RenderInput,
    Required,
    SignerSlot,
    Subject,
    printed_subject,
    signer_lines,
)
from formsvc.forms._base import SubForm, choices, long_text, text

#: The form's own three-level scale: the guidance names no scale, and it is not the police's.
LEVELS: dict[str, Any] = {
    "none": _l("Ingen förhöjd risk"),
    "elevated": _l("Förhöjd risk"),
    "high": _l("Hög risk"),
}
RELIABILITY: dict[str, Any] = {
    "high": _l("Hög"),
    "medium": _l("Medel"),
    "low": _l("Låg"),
    "unknown": _l("Okänd"),
}
MEASURE_KINDS: dict[str, Any] = {
    "protection": _l("Skydd"),
    "support": _l("Stöd"),
    "police": _l("Polisiär åtgärd"),
}
THREATENED: dict[str, Any] = {
    "threatened_participant": _l("Deltagaren"),
    "threatened_family": _l("Familj eller närstående"),
    "threatened_staff": _l("Personal"),
}
CAPACITY: dict[str, Any] = {
    "capacity_weapons": _l("Tillgång till vapen"),
    "capacity_network": _l("Nätverk som kan agera"),
    "capacity_violence": _l("Tidigare våld"),
}
#: What the police think of the assessment: the decision is made with them (guidance l. 626-628).
POLICE_VIEWS: dict[str, Any] = {
    "agrees": _l("Polisen delar bedömningen"),
    "differs": _l("Polisen gör en annan bedömning"),
    "not_assessed": _l("Ej bedömd av polisen"),
}
#: The police's assessment of whether the person suits a SIG, decisive for going on (l. 574-577).
SUITABILITY: dict[str, Any] = {
    "suitable": _l("Lämplig"),
    "not_suitable": _l("Inte lämplig"),
    "pending": _l("Polisen har inte lämnat någon bedömning än"),
}
#: The outcome of a guardian's request to read the assessment (menprövning, OSL 12:3 and 26:1).
GUARDIAN_OUTCOMES: dict[str, Any] = {
    "disclose": _l("Kan lämnas ut till vårdnadshavare"),
    "partly": _l("Kan lämnas ut till vårdnadshavare delvis"),
    "withhold": _l("Lämnas inte ut till vårdnadshavare"),
}
GUARDIAN_FIELDS = (
    "guardian_outcome",
    "guardian_assessed_on",
    "guardian_assessed_by",
    "guardian_reasoning",
)
LEVEL_SCALE = _l(
    "Skalan är stadens egen indelning för den här blanketten: vägledningen anger ingen skala, "
    "och det är inte polisens bedömningsskala."
)
DECISION_FIELDS = ("decision", "decided_on", "decided_by")
GUIDANCE = _l(
    "Arbetsledare ska alltid informeras om bedömd hotbild och besluta om vilka åtgärder som ska "
    "vidtas. Beslut ska fattas i samarbete med polismyndigheten."
)
_DATE = _l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD).")
_PHONE = Regexp(
    r"^[0-9+\-() ]*$", message=_l("Ange telefonnumret med siffror, mellanslag, + eller -.")
)


class SourceRow(SubForm):
    source = text(_l("Källa"), 300)
    reliability = SelectField(
        _l("Tillförlitlighet"), choices=choices(RELIABILITY), default="unknown"
    )
    comment = text(_l("Kommentar"), 500)


class MeasureRow(SubForm):
    measure = text(_l("Åtgärd"), 500)
    kind = SelectField(
        _l("Slag av åtgärd"),
        choices=choices([("", _l("– välj –")), *MEASURE_KINDS.items()]),
        default="",
    )
    responsible = text(_l("Ansvarig"), 200)
    due = DateField(_l("Datum"), validators=[Optional()])


class ThreatAssessmentForm(FlaskForm):
    assessed_on = DateField(_l("Datum för bedömningen"), validators=[DataRequired(_DATE)])
    threatened_participant = BooleanField(THREATENED["threatened_participant"])
    threatened_family = BooleanField(THREATENED["threatened_family"])
    threatened_staff = BooleanField(THREATENED["threatened_staff"])
    threatened_description = long_text(_l("Beskriv vem eller vilka som är hotade"), 2000)
    threat_actors = long_text(_l("Hotaktör eller hotaktörer"), 2000)
    capacity_weapons = BooleanField(CAPACITY["capacity_weapons"])
    capacity_network = BooleanField(CAPACITY["capacity_network"])
    capacity_violence = BooleanField(CAPACITY["capacity_violence"])
    capacity_description = long_text(_l("Beskriv hotaktörens förmåga"), 2000)
    threat_description = long_text(
        _l("Vad har hänt eller befaras, när och hur?"), 4000, [DataRequired(_l("Beskriv hotet."))]
    )
    sources = FieldList(FormField(SourceRow), min_entries=0)
    vulnerabilities = long_text(_l("Sårbarheter"), 2000)
    protective_factors = long_text(_l("Skyddsfaktorer"), 2000)
    level = SelectField(
        _l("Bedömd nivå (stadens egen skala)"),
        choices=choices([("", _l("– välj nivå –")), *LEVELS.items()]),
        default="",
        validators=[DataRequired(_l("Välj den bedömda nivån."))],
    )
    level_reasoning = long_text(_l("Motivering av bedömningen"), 2000)
    police_view = SelectField(
        _l("Polisens bedömning av hotbilden"),
        choices=choices([("", _l("– välj –")), *POLICE_VIEWS.items()]),
        default="",
        validators=[DataRequired(_l("Ange om polisen har bedömt hotbilden."))],
    )
    police_view_note = long_text(_l("Polisens bedömning med polisens egna ord"), 2000)
    protective_needs = long_text(_l("Skyddsbehov"), 2000)
    measures = FieldList(FormField(MeasureRow), min_entries=0)
    police_name = text(_l("Kontaktperson hos polisen"), 200)
    police_unit = text(_l("Polisens enhet"), 200)
    police_phone = text(_l("Telefon"), 40, [Optional(), _PHONE])
    suitability = SelectField(
        _l("Polisens bedömning av lämpligheten att delta i en social insatsgrupp"),
        choices=choices(
            [("", _l("– inte aktuellt i den här bedömningen –")), *SUITABILITY.items()]
        ),
        default="",
    )
    suitability_on = DateField(
        _l("Datum för polisens lämplighetsbedömning"), validators=[Optional()]
    )
    suitability_note = long_text(_l("Polisens motivering"), 2000)
    crime_debut = text(_l("Brottsdebut (ålder eller år)"), 200)
    crime_confirmed = long_text(_l("Konstaterad brottslighet: typ och mängd"), 2000)
    crime_self_reported = long_text(_l("Självrapporterad brottslighet: typ och mängd"), 2000)
    crime_recent = long_text(_l("Brottslighet de senaste sex månaderna"), 2000)
    guardian_outcome = SelectField(
        _l("Utfall av menprövningen"),
        choices=choices([("", _l("– ingen prövning gjord –")), *GUARDIAN_OUTCOMES.items()]),
        default="",
    )
    guardian_assessed_on = DateField(_l("Datum för prövningen"), validators=[Optional()])
    guardian_assessed_by = text(_l("Prövad av (namn och befattning)"), 200)
    guardian_reasoning = long_text(_l("Kort motivering"), 2000)
    next_review = DateField(_l("Datum för nästa bedömning"), validators=[Optional()])
    decision = long_text(_l("Beslut om åtgärder"), 4000)
    decided_on = DateField(_l("Beslutsdatum"), validators=[Optional()])
    decided_by = text(_l("Beslutet fattat av (arbetsledare)"), 200)

    sections = [
        (_l("Bedömning"), ["assessed_on"]),
        (
            _l("Vem är hotad?"),
            [*THREATENED, "threatened_description"],
        ),
        (
            _l("Hotaktör och förmåga"),
            ["threat_actors", *CAPACITY, "capacity_description"],
        ),
        (_l("Hotet"), ["threat_description"]),
        (_l("Källor och deras tillförlitlighet"), ["sources"]),
        (_l("Sårbarheter och skyddsfaktorer"), ["vulnerabilities", "protective_factors"]),
        (_l("Bedömd nivå"), ["level", "level_reasoning", "police_view", "police_view_note"]),
        (_l("Skyddsbehov och föreslagna åtgärder"), ["protective_needs", "measures"]),
        (_l("Kontakt hos polisen"), ["police_name", "police_unit", "police_phone"]),
        (
            _l("Underlag inför inskrivning"),
            [
                "suitability",
                "suitability_on",
                "suitability_note",
                "crime_debut",
                "crime_confirmed",
                "crime_self_reported",
                "crime_recent",
            ],
        ),
        (_l("Uppföljning"), ["next_review"]),
        (_l("Vårdnadshavares insyn (menprövning)"), list(GUARDIAN_FIELDS)),
        (_l("Arbetsledarens beslut"), list(DECISION_FIELDS)),
    ]
    intro = _l(
        "Sekretess enligt 26 kap. 1 § OSL. Hotbildsbedömningen görs tidigt i utredningen utifrån "
        "samtal med deltagaren och polisen. Arbetsledare ska alltid informeras om "
        "bedömd hotbild och besluta om vilka åtgärder som ska vidtas. Beslut ska fattas i "
        "samarbete med polismyndigheten. Vårdnadshavare har ingen åtkomst till bedömningen i "
        "tjänsten. Begär en vårdnadshavare att få ta del av den prövas det i varje enskilt fall "
        "(menprövning); dokumentera prövningen i bedömningen."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """No whereabouts of a threatened person; the decision part is the manager's."""
        out = [
            _(
                "Skriv inte var en hotad person bor eller vistas, till exempel adressen till ett "
                "skyddat boende. Beskriv åtgärden utan platsen."
            )
        ]
        if ctx.role != "manager":
            out.append(
                _(
                    "Beslutsdelen fylls i av arbetsledaren. Ändras en bedömning som redan har ett "
                    "beslut måste beslutet tas bort och fattas på nytt av arbetsledaren."
                )
            )
        return out

    def check(self, ctx: FormContext) -> bool:
        """Only a manager records the decision; dates follow the assessment."""
        ok = True
        if ctx.role != "manager":
            for name in DECISION_FIELDS:
                field = self[name]
                if _filled(field):
                    field.errors.append(_("Bara arbetsledare kan registrera beslutet."))
                    ok = False
        start = self.assessed_on.data
        later = (
            (self.decided_on, _("Beslutet kan inte vara fattat före bedömningen.")),
            (self.next_review, _("Nästa bedömning kan inte vara före den här bedömningen.")),
        )
        for field, message in later:
            if start and field.data and field.data < start:
                field.errors.append(message)
                ok = False
        ok = self._check_police() and ok
        ok = self._check_guardian(ctx, start) and ok
        for row in self.measures:
            sub = row.form
            if sub.measure.data and not sub.kind.data:
                sub.kind.errors.append(_("Välj slag av åtgärd."))
                ok = False
            elif not sub.measure.data and (sub.kind.data or sub.responsible.data or sub.due.data):
                sub.measure.errors.append(_("Beskriv åtgärden."))
                ok = False
        return ok

    def _check_police(self) -> bool:
        """A differing police view is written down; a suitability outcome has its date."""
        ok = True
        if self.police_view.data == "differs" and not self.police_view_note.data:
            self.police_view_note.errors.append(_("Skriv polisens bedömning."))
            ok = False
        if self.suitability.data in ("suitable", "not_suitable") and not self.suitability_on.data:
            if not self.suitability_on.errors:
                self.suitability_on.errors.append(_("Ange när polisen gjorde bedömningen."))
            ok = False
        return ok

    def _check_guardian(self, ctx: FormContext, start: date | None) -> bool:
        """A recorded menprövning says who, when, the outcome and why; never in the future."""
        if not any(_filled(self[name]) for name in GUARDIAN_FIELDS):
            return True
        if ctx.subject and start and ctx.subject.age_on(start) >= 18:
            self.guardian_outcome.errors.append(
                _(
                    "Deltagaren är myndig: vårdnadshavare har ingen rätt till uppgifterna. "
                    "Lämna fälten om menprövning tomma."
                )
            )
            return False
        ok = True
        missing = (
            (self.guardian_outcome, _("Välj utfallet av prövningen.")),
            (self.guardian_assessed_on, _("Ange när prövningen gjordes.")),
            (self.guardian_assessed_by, _("Ange vem som gjorde prövningen.")),
            (self.guardian_reasoning, _("Motivera utfallet kort.")),
        )
        for field, message in missing:
            if not field.data and not field.errors:
                field.errors.append(message)
                ok = False
        day = self.guardian_assessed_on.data
        if day and start and day < start:
            self.guardian_assessed_on.errors.append(
                _("Prövningen kan inte vara gjord före bedömningen.")
            )
            ok = False
        elif day and day > ctx.today:
            self.guardian_assessed_on.errors.append(_("Datumet kan inte vara senare än i dag."))
            ok = False
        return ok


class DecisionForm(FlaskForm):
    """The manager's decision, posted with their signature ("Besluta och skriv under")."""

    class Meta:
        csrf = False  # the signature form it is posted with carries the CSRF token

    decision = long_text(
        _l("Beslut om åtgärder"), 4000, [DataRequired(_l("Skriv beslutet om åtgärder."))]
    )
    decided_on = DateField(_l("Beslutsdatum"), validators=[DataRequired(_DATE)])
    level = SelectField(
        _l("Bedömd nivå (stadens egen skala)"),
        choices=choices([("", _l("– välj nivå –")), *LEVELS.items()]),
        default="",
        validators=[DataRequired(_l("Välj den bedömda nivån."))],
    )


def decision_initial(data: Any, name: str, today: date) -> dict[str, Any]:
    """The decision page starts from what is stored, dated today."""
    return {"decision": data.get("decision") or "", "decided_on": today, "level": data.get("level")}


def decision_data(form: DecisionForm, name: str) -> dict[str, Any]:
    """The decision as stored: its text, date and level, decided by the manager who signs."""
    return {
        "decision": form.decision.data,
        "decided_on": form.decided_on.data.isoformat(),
        "level": form.level.data,
        "decided_by": name,
    }


def _filled(field: Field) -> bool:
    """Anything typed, also a date that could not be read."""
    return bool(field.data) or any(str(v).strip() for v in (field.raw_data or []))


def _yes_no(value: Any) -> str:
    return _("Ja") if value else _("Nej")


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    s = ri.subject
    decided_by = d.get("decided_by") or ""
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "participant": _participant(s, d),
        "author": {"name": ri.author.name, "title": ri.author.title},
        "assessed_on": d.get("assessed_on") or "",
        "threatened": {k.removeprefix("threatened_"): _yes_no(d.get(k)) for k in THREATENED},
        "threatened_description": d.get("threatened_description") or "",
        "threat_actors": d.get("threat_actors") or "",
        "capacity": {k.removeprefix("capacity_"): _yes_no(d.get(k)) for k in CAPACITY},
        "capacity_description": d.get("capacity_description") or "",
        "threat_description": d.get("threat_description") or "",
        "sources": [
            {
                "source": r.get("source") or "",
                "reliability": str(RELIABILITY.get(r.get("reliability") or "", "")),
                "comment": r.get("comment") or "",
            }
            for r in d.get("sources", [])
        ],
        "vulnerabilities": d.get("vulnerabilities") or "",
        "protective_factors": d.get("protective_factors") or "",
        "level": str(LEVELS.get(d.get("level") or "", "")),
        "level_reasoning": d.get("level_reasoning") or "",
        "level_scale": str(LEVEL_SCALE),
        "police_view": str(POLICE_VIEWS.get(d.get("police_view") or "", "")),
        "police_view_note": d.get("police_view_note") or "",
        "protective_needs": d.get("protective_needs") or "",
        "measures": [
            {
                "measure": r.get("measure") or "",
                "kind": str(MEASURE_KINDS.get(r.get("kind") or "", "")),
                "responsible": r.get("responsible") or "",
                "due": r.get("due") or "",
            }
            for r in d.get("measures", [])
        ],
        "police": {
            "name": d.get("police_name") or "",
            "unit": d.get("police_unit") or "",
            "phone": d.get("police_phone") or "",
        },
        "suitability": str(SUITABILITY.get(d.get("suitability") or "", "")),
        "suitability_on": d.get("suitability_on") or "",
        "suitability_note": d.get("suitability_note") or "",
        "crime": _crime(d),
        "guardian": _guardian(s, d),
        "next_review": d.get("next_review") or "",
        "guidance": str(GUIDANCE),
        "decision": d.get("decision") or "",
        "decided_on": d.get("decided_on") or "",
        "decided_by": decided_by,
        "signers": signer_lines(ri, signers(ri)),
    }


def _crime(d: Any) -> list[dict[str, str]]:
    """The crime history rows that were filled in (printed only when there are any)."""
    rows = (
        (_("Brottsdebut"), d.get("crime_debut")),
        (_("Konstaterad brottslighet"), d.get("crime_confirmed")),
        (_("Självrapporterad brottslighet"), d.get("crime_self_reported")),
        (_("De senaste sex månaderna"), d.get("crime_recent")),
    )
    return [{"label": label, "text": value} for label, value in rows if value]


def _guardian(s: Subject | None, d: Any) -> dict[str, Any]:
    """The guardians' access as printed: not applicable to adults, else the recorded prövning."""
    day = d.get("assessed_on")
    adult = bool(s and day and s.age_on(date.fromisoformat(day)) >= 18)
    return {
        "adult": adult,
        "recorded": bool(d.get("guardian_outcome")) and not adult,
        "outcome": str(GUARDIAN_OUTCOMES.get(d.get("guardian_outcome") or "", "")),
        "assessed_on": d.get("guardian_assessed_on") or "",
        "assessed_by": d.get("guardian_assessed_by") or "",
        "reasoning": d.get("guardian_reasoning") or "",
    }


def signers(ri: RenderInput) -> list[SignerSlot]:
    """The manager who made the decision signs it."""
    return [
        SignerSlot(
            "manager",
            pgettext("signer role", "Arbetsledare, beslut"),
            kind="staff",
            staff_role="manager",
            name=ri.data.get("decided_by") or "",
        )
    ]


def _participant(s: Subject | None, d: Any) -> dict[str, str]:
    printed = printed_subject(s, d.get("assessed_on"))
    age = printed["age"]
    return {**printed, "age": _("%(n)d år", n=int(age)) if age else ""}


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today's date and one empty row per table."""
    return {"assessed_on": ctx.today, "sources": [{}], "measures": [{}]}


def sample() -> dict[str, Any]:
    """An assessment awaiting the manager's decision (only a manager may record it)."""
    return {
        "assessed_on": "2026-11-10",
        "threatened_participant": True,
        "threatened_family": True,
        "threatened_staff": False,
        "threatened_description": (
            "Deltagaren och hans yngre bror har fått hot via sociala medier efter en konflikt "
            "om en skuld."
        ),
        "threat_actors": "Två personer i ett lokalt nätverk i Husby, kända av polisen.",
        "capacity_weapons": True,
        "capacity_network": True,
        "capacity_violence": False,
        "capacity_description": "Polisen bedömer att nätverket har tillgång till skjutvapen.",
        "threat_description": (
            "Hot om våld framfördes i oktober 2026 i meddelanden och vid ett möte i centrum. "
            "Hotet gäller en skuld på cirka 20 000 kronor."
        ),
        "sources": [
            {
                "source": "Samtal med deltagaren 2026-11-03",
                "reliability": "medium",
                "comment": "Deltagaren har visat skärmbilder av meddelandena.",
            },
            {
                "source": "Kommunpolis Rinkeby-Kista",
                "reliability": "high",
                "comment": "Uppgifter ur polisens underrättelsearbete.",
            },
        ],
        "vulnerabilities": "Bor kvar i området och rör sig till skolan samma väg varje dag.",
        "protective_factors": "Stark relation till mamma och fotbollstränaren.",
        "level": "elevated",
        "level_reasoning": "Konkret hot och förmåga, men inget tecken på planerat angrepp.",
        "police_view": "agrees",
        "police_view_note": "Kommunpolisen delar bedömningen efter avstämning 2026-11-07.",
        "protective_needs": "Trygg väg till skolan och möjlighet till tillfälligt boende.",
        "measures": [
            {
                "measure": "Tillfälligt boende hos en släkting utanför stadsdelen",
                "kind": "protection",
                "responsible": "Lots Karin Lind",
                "due": "2026-11-15",
            },
            {
                "measure": "Samtal om skuldsituationen med budget- och skuldrådgivare",
                "kind": "support",
                "responsible": "Socialsekreterare ekonomiskt bistånd",
                "due": "2026-11-30",
            },
            {
                "measure": "Ökad närvaro vid skolan morgon och eftermiddag",
                "kind": "police",
                "responsible": "Kommunpolis",
                "due": "2026-11-12",
            },
        ],
        "police_name": "Anders Berg",
        "police_unit": "Lokalpolisområde Rinkeby",
        "police_phone": "0771-14 14 00",
        "suitability": "suitable",
        "suitability_on": "2026-11-05",
        "suitability_note": "Polisen ser inget som hindrar deltagande.",
        "crime_debut": "14 år",
        "crime_confirmed": "Två misstankar om ringa narkotikabrott 2025 (enligt polisen).",
        "crime_self_reported": "Berättar om att ha sålt narkotika åt andra under 2025.",
        "crime_recent": "Inga nya misstankar; säger själv att han har slutat sälja.",
        "guardian_outcome": "withhold",
        "guardian_assessed_on": "2026-11-12",
        "guardian_assessed_by": "Helena Sjöberg, enhetschef",
        "guardian_reasoning": "Pappan har kontakt med hotaktörernas nätverk. Elias kan antas "
        "lida betydande men om uppgifterna lämnas ut till honom.",
        "next_review": "2026-12-10",
        "decision": "",
        "decided_on": None,
        "decided_by": "",
    }


def sample_subject() -> Subject:
    """The participant of the sample: 17 when assessed, SIG unga."""
    return Subject(
        name="Elias Haddad",
        id_kind="personnummer",
        id_number="20090602-1233",
        birth_date=date(2009, 6, 2),
        target_group="sig_unga",
    )


DOCUMENT_TYPE = DocumentType(
    slug="threat_assessment",
    annex="3.3",
    title=_l("Hotbildsbedömning"),
    form_class=ThreatAssessmentForm,
    template="threat_assessment.docx",
    subject="participant",
    build_context=build_context,
    signers=signers,
    sample=sample,
    sample_subject=sample_subject,
    initial=initial,
    access="assigned",
    editors=("caseworker", "manager"),
    # the manager attests "the decision above": it must be there (issue 10)
    required_before_signing={
        "manager": (
            "decision",
            "decided_on",
            "decided_by",
            "level",
            Required(("measures",), _l("Skyddsbehov och föreslagna åtgärder: minst en åtgärd")),
        )
    },
    decision=Decision(
        slot="manager",
        form_class=DecisionForm,
        initial=decision_initial,
        to_data=decision_data,
        supplies=("decision", "decided_on", "level", "decided_by"),
    ),
    sample_expect=(
        "Elias Haddad",
        "Sekretess enligt 26 kap. 1 § OSL",
        "Förhöjd risk",
        "stadens egen indelning",
        "Polisen delar bedömningen",
        "Tillfälligt boende hos en släkting utanför stadsdelen",
        "Lämnas inte ut till vårdnadshavare",
        "Helena Sjöberg, enhetschef",
        "Två misstankar om ringa narkotikabrott 2025",
        "Kommunpolis Rinkeby-Kista",
        "Lokalpolisområde Rinkeby",
        "2026-12-10",
    ),
)
