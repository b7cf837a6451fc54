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
    DocumentType,
    FormContext,
    RenderInput,
    SignerSlot,
    Subject,
    printed_subject,
    signer_lines,
)
from formsvc.forms._base import SubForm, choices, long_text, text

#: The police's three-level scale.
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
        _l("Bedömd nivå (polisens skala)"),
        choices=choices([("", _l("– välj nivå –")), *LEVELS.items()]),
        default="",
        validators=[DataRequired(_l("Välj den bedömda nivån."))],
    )
    level_reasoning = long_text(_l("Motivering av bedömningen"), 2000)
    protective_needs = long_text(_l("Skyddsbehov"), 2000)
    measures = FieldList(FormField(MeasureRow), min_entries=0)
    police_name = text(_l("Kontaktperson hos polisen"), 200)
    police_unit = text(_l("Polisens enhet"), 200)
    police_phone = text(_l("Telefon"), 40, [Optional(), _PHONE])
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
        (_l("Bedömd nivå"), ["level", "level_reasoning"]),
        (_l("Skyddsbehov och föreslagna åtgärder"), ["protective_needs", "measures"]),
        (_l("Kontakt hos polisen"), ["police_name", "police_unit", "police_phone"]),
        (_l("Uppföljning"), ["next_review"]),
        (_l("Arbetsledarens beslut"), list(DECISION_FIELDS)),
    ]
    intro = _l(
        "Sekretess enligt OSL 26 kap. Hotbildsbedömningen görs tidigt i utredningen utifrån "
        "samtal med den tilltänkta deltagaren och polisen. Arbetsledare ska alltid informeras om "
        "bedömd hotbild och besluta om vilka åtgärder som ska vidtas. Beslut ska fattas i "
        "samarbete med polismyndigheten. Bedömningen visas aldrig för vårdnadshavare."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """Tell staff other than managers that the decision part is the manager's."""
        if ctx.role == "manager":
            return []
        return [
            _(
                "Beslutsdelen fylls i av arbetsledaren. Ändras en bedömning som redan har ett "
                "beslut måste beslutet tas bort och fattas på nytt av arbetsledaren."
            )
        ]

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
        for row in self.measures:
            sub = row.form
            if sub.measure.data and not sub.kind.data:
                sub.kind.errors.append(_("Välj slag av åtgärd."))
                ok = False
            elif not sub.measure.data and (sub.kind.data or sub.responsible.data or sub.due.data):
                sub.measure.errors.append(_("Beskriv åtgärden."))
                ok = False
        return ok


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
        "next_review": d.get("next_review") or "",
        "guidance": str(GUIDANCE),
        "decision": d.get("decision") or "",
        "decided_on": d.get("decided_on") or "",
        "decided_by": decided_by,
        "signers": signer_lines(ri, signers(ri)),
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
        "protective_needs": "Trygg väg till skolan och möjlighet till tillfälligt boende.",
        "measures": [
            {
                "measure": "Tillfälligt skyddat boende hos släkting i Uppsala",
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
    sample_expect=(
        "Elias Haddad",
        "Sekretess enligt OSL 26 kap.",
        "Förhöjd risk",
        "Tillfälligt skyddat boende hos släkting i Uppsala",
        "Kommunpolis Rinkeby-Kista",
        "Lokalpolisområde Rinkeby",
        "2026-12-10",
    ),
)
