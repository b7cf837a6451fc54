"""Proaktivt säkerhetssamtal (bilaga 2.0): a manager with one employee, at least once a year."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FieldList, FormField
from wtforms.validators import DataRequired, Optional

from formsvc.checklist_defaults import CHECKLISTS, OWN_DRAFTS
from formsvc.doctypes import (
    Author,
    DocumentType,
    FormContext,
    RenderInput,
    Required,
    SignerSlot,
    signer_lines,
)
from formsvc.forms._base import YES_NO_NA, SubForm, checklist, long_text, text

#: The guidance: a security talk with every operative employee at least once a year.
INTERVAL_MONTHS = 12

#: Risk factors asked about in every talk: form field -> label.
RISKS: dict[str, Any] = {
    "risk_public": _l("Förekommer i media eller är på annat sätt offentligt exponerad"),
    "risk_lives_near": _l("Bor i eller nära det område där hen arbetar"),
    "risk_protected": _l("Har skyddade personuppgifter"),
    "risk_threats": _l("Har tidigare utsatts för hot eller våld"),
}

_DATE = _l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD).")

DEFAULT_THREAT = (
    "Avbryt samtalet eller mötet och lämna platsen om det går. Berätta för arbetsledaren samma "
    "dag. Händelsen dokumenteras och rapporteras som tillbud eller arbetsskada. Arbetsledaren "
    "bedömer tillsammans med medarbetaren om händelsen ska polisanmälas och om det behövs "
    "säkerhetsåtgärder, till exempel att inte träffa personen ensam."
)
DEFAULT_VIOLENCE = (
    "Sätt dig själv och andra i säkerhet och ring 112. Larma kollegor med överfallslarmet om "
    "det finns. Kontakta arbetsledaren så snart det går. Arbetsledaren ser till att händelsen "
    "polisanmäls och rapporteras som arbetsskada, att medarbetaren erbjuds stöd genom "
    "företagshälsovården och att förvaltningens säkerhetsfunktion informeras."
)
DEFAULT_ALERT = (
    "Vid akut fara: 112. Därefter närmaste arbetsledare och, om hen inte nås, enhetschef eller "
    "avdelningschef. Arbetsledaren informerar förvaltningens säkerhetschef eller "
    "säkerhetsstrateg. Polisen nås på 114 14 när det inte är akut."
)


class MeasureRow(SubForm):
    measure = text(_l("Åtgärd"), 500)
    responsible = text(_l("Ansvarig"), 200)
    due = DateField(_l("Klart senast"), validators=[Optional()])


class SecurityTalkForm(FlaskForm):
    talk_date = DateField(_l("Datum för samtalet"), validators=[DataRequired(_DATE)])
    manager_name = text(
        _l("Arbetsledare"), 200, [DataRequired(_l("Ange vem som håller samtalet."))]
    )
    manager_title = text(_l("Arbetsledarens befattning"), 120)
    risk_public = BooleanField(RISKS["risk_public"])
    risk_lives_near = BooleanField(RISKS["risk_lives_near"])
    risk_protected = BooleanField(RISKS["risk_protected"])
    risk_threats = BooleanField(RISKS["risk_threats"])
    risk_comment = long_text(_l("Kommentar om riskfaktorerna"), 2000)
    general = checklist(YES_NO_NA)
    social_media = checklist(YES_NO_NA)
    routine_threat = long_text(_l("Vid hot"), 2000)
    routine_violence = long_text(_l("Vid våld"), 2000)
    routine_alert = long_text(_l("Vem larmas och kontaktas"), 2000)
    measures = FieldList(FormField(MeasureRow), min_entries=0)
    no_measures = BooleanField(_l("Inga åtgärder behövs (vi har gått igenom punkterna ovan)"))
    next_talk = DateField(_l("Nästa säkerhetssamtal senast"), validators=[DataRequired(_DATE)])
    notes = long_text(_l("Övriga anteckningar"), 4000)

    sections = [
        (_l("Samtalet"), ["talk_date", "manager_name", "manager_title"]),
        (_l("Riskfaktorer"), [*RISKS, "risk_comment"]),
        (CHECKLISTS["security_general"][0], ["general"]),
        (CHECKLISTS["security_social_media"][0], ["social_media"]),
        (
            _l("Reaktiva rutiner"),
            ["routine_threat", "routine_violence", "routine_alert"],
        ),
        (_l("Överenskomna åtgärder"), ["measures", "no_measures"]),
        (_l("Uppföljning"), ["next_talk", "notes"]),
    ]
    intro = _l(
        "Säkerhetssamtalet hålls av arbetsledaren med varje medarbetare minst en gång om året. "
        "Gå igenom riskfaktorerna och de egna checklistorna för generella säkerhetsåtgärder och "
        "för sociala medier punkt för punkt, kom överens om "
        "åtgärder och bestäm när nästa samtal ska hållas. Dokumentet skrivs under av arbetsledaren "
        "och medarbetaren och delges sedan säkerhetschefen."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """A reminder that the document travels: no private contact details in it."""
        return [
            _(
                "Skriv inte medarbetarens privata adress, privata telefonnummer eller andra "
                "uppgifter som gör hen lätt att hitta. Dokumentet delges säkerhetsfunktionen."
            )
        ]

    def check(self, ctx: FormContext) -> bool:
        """Measures or an explicit "none", not both; the next talk within the guidance's year."""
        has_rows = any(row.form.measure.data for row in self.measures)
        if self.no_measures.data and has_rows:
            self.no_measures.errors.append(
                _("Ni har skrivit åtgärder: ta bort dem eller kryssa ur Inga åtgärder behövs.")
            )
            return False
        talk, nxt = self.talk_date.data, self.next_talk.data
        if not (talk and nxt):
            return True
        if nxt <= talk:
            self.next_talk.errors.append(_("Nästa samtal måste ligga efter dagens samtal."))
            return False
        latest = add_months(talk, INTERVAL_MONTHS)
        if nxt > latest:
            self.next_talk.errors.append(
                _(
                    "Säkerhetssamtal ska hållas minst en gång per år: nästa samtal får ligga "
                    "högst %(n)d månader fram, alltså senast %(d)s.",
                    n=INTERVAL_MONTHS,
                    d=latest.isoformat(),
                )
            )
            return False
        return True


def add_months(day: date, months: int) -> date:
    """The same day *months* calendar months later (the month's last day if it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _checklist_rows(rows: Any) -> list[dict[str, str]]:
    return [
        {
            "text": r.get("text", ""),
            "answer": str(YES_NO_NA.get(r.get("answer") or "", "–")),
            "comment": r.get("comment") or "",
        }
        for r in rows or []
    ]


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here."""
    d = ri.data
    employee = ri.employee or Author(name="")
    manager = {
        "name": d.get("manager_name") or ri.author.name,
        "title": d.get("manager_title") or "",
    }
    general = _checklist_rows(d.get("general"))
    social = _checklist_rows(d.get("social_media"))
    answered = [r for r in [*d.get("general", []), *d.get("social_media", [])] if r.get("answer")]
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "employee": {"name": employee.name, "title": employee.title},
        "manager": manager,
        "talk_date": d.get("talk_date") or "",
        "risks": [
            {
                "label": str(label),
                "present": bool(d.get(name)),
                "answer": _("Ja") if d.get(name) else _("Nej"),
            }
            for name, label in RISKS.items()
        ],
        "risk_comment": d.get("risk_comment") or "",
        "general": general,
        "social_media": social,
        "general_note": str(OWN_DRAFTS["security_general"]),
        "social_media_note": str(OWN_DRAFTS["security_social_media"]),
        "checklist_summary": _(
            "%(a)d av %(n)d punkter besvarade, varav %(no)d med svaret Nej.",
            a=len(answered),
            n=len(general) + len(social),
            no=sum(1 for r in answered if r.get("answer") == "no"),
        ),
        "routine_threat": d.get("routine_threat") or "",
        "routine_violence": d.get("routine_violence") or "",
        "routine_alert": d.get("routine_alert") or "",
        "measures": [
            {
                "measure": m.get("measure") or "",
                "responsible": m.get("responsible") or "",
                "due": m.get("due") or "",
            }
            for m in d.get("measures", [])
        ]
        or (
            [{"measure": _("Inga åtgärder behövs."), "responsible": "", "due": ""}]
            if d.get("no_measures")
            else []
        ),
        "next_talk": d.get("next_talk") or "",
        "notes": d.get("notes") or "",
        "signers": signer_lines(ri, signers(ri)),
    }


def signers(ri: RenderInput) -> list[SignerSlot]:
    """The manager who held the talk and the employee it was with."""
    employee = ri.employee or Author(name="")
    return [
        SignerSlot(
            "manager",
            pgettext("signer role", "Arbetsledare"),
            kind="staff",
            staff_role="manager",
            name=ri.data.get("manager_name") or ri.author.name,
        ),
        SignerSlot(
            "employee",
            pgettext("signer role", "Medarbetare"),
            kind="staff",
            staff_role="employee",
            name=employee.name,
        ),
    ]


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today's talk, the author as manager, next talk a year on, the usual routines."""
    author = ctx.author or Author(name="")
    alert = DEFAULT_ALERT
    if author.name:
        contact = ", ".join(p for p in (author.name, author.phone) if p)
        alert += " " + _("Arbetsledare i det här samtalet: %(c)s.", c=contact)
    return {
        "talk_date": ctx.today,
        "manager_name": author.name,
        "manager_title": author.title,
        "general": [{"item_id": e.item_id} for e in ctx.checklists.get("general", [])],
        "social_media": [{"item_id": e.item_id} for e in ctx.checklists.get("social_media", [])],
        "routine_threat": DEFAULT_THREAT,
        "routine_violence": DEFAULT_VIOLENCE,
        "routine_alert": alert,
        "next_talk": add_months(ctx.today, INTERVAL_MONTHS),
    }


def _sample_rows(
    slug: str, answers: str, comments: dict[int, str], first_id: int
) -> list[dict[str, Any]]:
    texts = CHECKLISTS[slug][1]
    codes = {"J": "yes", "N": "no", "E": "na"}
    return [
        {"item_id": first_id + i, "text": t, "answer": codes[a], "comment": comments.get(i, "")}
        for i, (t, a) in enumerate(zip(texts, answers, strict=True))
    ]


def sample() -> dict[str, Any]:
    """A talk with an employee who has been threatened and shows their employer online."""
    return {
        "talk_date": "2026-11-20",
        "manager_name": "Helena Sjöberg",
        "manager_title": "Enhetschef",
        "risk_public": True,
        "risk_lives_near": False,
        "risk_protected": False,
        "risk_threats": True,
        "risk_comment": "Hotades av en deltagares bror i mars 2026 (polisanmält). Har intervjuats "
        "i lokal-tv om SIG.",
        "general": _sample_rows(
            "security_general",
            "JJEJNJJJ",
            {2: "Inget behov i dag", 4: "Hembesök har gjorts ensam vid två tillfällen"},
            1,
        ),
        "social_media": _sample_rows(
            "security_social_media",
            "JNJJJNJJ",
            {1: "Arbetsgivaren framgår av LinkedIn-profilen", 5: "Sökbar via mobilnummer"},
            9,
        ),
        "routine_threat": DEFAULT_THREAT,
        "routine_violence": DEFAULT_VIOLENCE,
        "routine_alert": DEFAULT_ALERT,
        "measures": [
            {
                "measure": "Ta bort arbetsgivaren från LinkedIn-profilen",
                "responsible": "Medarbetaren",
                "due": "2026-12-15",
            },
            {
                "measure": "Stänga av sökbarhet via mobilnummer hos upplysningstjänsterna",
                "responsible": "Medarbetaren",
                "due": "2026-12-15",
            },
            {
                "measure": "Hembesök bokas alltid två och två; rutinen gås igenom på APT",
                "responsible": "Helena Sjöberg",
                "due": "2027-01-31",
            },
        ],
        "no_measures": False,
        "next_talk": "2027-11-20",
        "notes": "Medarbetaren erbjuds samtal med företagshälsovården efter hotet i mars.",
    }


DOCUMENT_TYPE = DocumentType(
    slug="security_talk",
    annex="2.0",
    title=_l("Proaktivt säkerhetssamtal"),
    form_class=SecurityTalkForm,
    template="security_talk.docx",
    subject="employee",
    build_context=build_context,
    signers=signers,
    sample=sample,
    initial=initial,
    editors=("manager",),
    access="employee",
    checklists={"general": "security_general", "social_media": "security_social_media"},
    # both attest the agreed measures: rows, or the explicit choice that none are needed
    required_before_signing={
        slot: (
            Required(
                ("measures", "no_measures"), _l("Överenskomna åtgärder eller Inga åtgärder behövs")
            ),
        )
        for slot in ("manager", "employee")
    },
    sample_expect=(
        "Exempel Anställd",
        "Helena Sjöberg",
        "Hotades av en deltagares bror i mars 2026",
        "Arbetsgivaren framgår av LinkedIn-profilen",
        "Ta bort arbetsgivaren från LinkedIn-profilen",
        "2027-11-20",
        "delges säkerhetschef",
    ),
)
