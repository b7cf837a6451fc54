"""Sekretessbrytande medgivande (bilaga 3.2): consent to lift secrecy between SIG actors."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_wtf import FlaskForm
from wtforms import DateField, FieldList, FormField, SelectField, SelectMultipleField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from formsvc.doctypes import (
    Author,
    DocumentType,
    FormContext,
    RenderInput,
    SignerSlot,
    Subject,
    printed_subject,
    signer_lines,
)
from formsvc.forms._base import SubForm, choices, long_text, text

#: Actors of the guidance (PRODUCT.md, bilaga 1); the police always take part, so are not listed.
ACTORS: dict[str, Any] = {
    "soc_unit": _l("Socialtjänsten, annan enhet"),
    "school": _l("Skola/elevhälsa"),
    "jobbtorg": _l("Jobbtorg Stockholm"),
    "af": _l("Arbetsförmedlingen"),
    "krim": _l("Kriminalvården"),
    "frivard": _l("Frivården"),
    "sis": _l("Statens institutionsstyrelse (SiS)"),
    "addiction": _l("Beroendevården"),
    "bup": _l("BUP"),
    "maria": _l("Maria Ungdom"),
    "field": _l("Fältassistenter"),
    "housing": _l("Bostadsbolag"),
    "defector": _l("Avhopparverksamheten"),
    "civil": _l("Civilsamhället"),
    "other": _l("Annan aktör (ange namn)"),
}
POLICE = _l("Polismyndigheten")
MAX_ACTORS = 40

DIRECTIONS: dict[str, Any] = {
    "both": _l("Båda hållen"),
    "to_social": _l("Från aktören till socialtjänsten"),
    "from_social": _l("Från socialtjänsten till aktören"),
}

INFO_KINDS: dict[str, Any] = {
    "police": _l("Polisens uppgifter om misstankar om brott och domar"),
    "school": _l("Skolgång och skolnärvaro"),
    "health": _l("Hälsa, vård och behandling"),
    "substance": _l("Drogtester och missbruk"),
    "employment": _l("Sysselsättning, arbete och studier"),
    "corrections": _l("Uppgifter från Kriminalvården och Frivården"),
    "economy": _l("Ekonomi och skulder"),
    "housing": _l("Boende"),
}

CUSTODY: dict[str, Any] = {
    "joint": _l("Gemensam vårdnad (båda vårdnadshavarna skriver under)"),
    "sole": _l("Ensam vårdnad"),
    "appointed": _l("Särskilt förordnad vårdnadshavare"),
}

DEFAULT_WITHDRAW = (
    "Du kan när som helst återkalla medgivandet, helt eller för en viss aktör, genom att säga "
    "det till din kontaktperson på socialtjänsten muntligt eller skriftligt."
)
_PHONE = Regexp(
    r"^[0-9+\-() ]*$", message=_l("Ange telefonnumret med siffror, mellanslag, + eller -.")
)


def _choices(options: dict[str, Any], blank: Any = None) -> list[SelectChoice]:
    head = [("", blank)] if blank is not None else []
    return choices(head + list(options.items()))


class ActorRow(SubForm):
    actor = SelectField(_l("Aktör"), choices=_choices(ACTORS, _l("– välj aktör –")), default="")
    other_name = text(_l("Namn på annan aktör"), 200)
    contact = text(_l("Kontaktperson eller enhet"), 300)
    direction = SelectField(_l("Riktning"), choices=_choices(DIRECTIONS), default="both")

    def is_blank(self) -> bool:
        return not (self.actor.data or self.other_name.data or self.contact.data)


class GuardianRow(SubForm):
    name = text(_l("Vårdnadshavarens namn"), 200)
    contact = text(_l("Telefon eller e-post"), 254)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConsentForm(FlaskForm):
    period_from = DateField(
        _l("Gäller från"), validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))]
    )
    period_to = DateField(
        _l("Gäller till och med"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    police_contact = text(_l("Kontaktperson hos Polismyndigheten"), 300)
    police_direction = SelectField(_l("Riktning"), choices=_choices(DIRECTIONS), default="both")
    actors = FieldList(FormField(ActorRow), min_entries=0)
    info_kinds = MultiCheckboxField(_l("Vilka uppgifter får lämnas"), choices=_choices(INFO_KINDS))
    info_other = long_text(_l("Andra uppgifter (beskriv)"), 2000)
    custody = SelectField(
        _l("Vårdnad"),
        choices=_choices(CUSTODY, _l("– inte aktuellt (deltagaren är 18 år eller äldre) –")),
        default="",
    )
    guardians = FieldList(FormField(GuardianRow), min_entries=2, max_entries=2)
    withdraw_how = long_text(_l("Så återkallar du medgivandet"), 1000, [DataRequired()])
    contact_name = text(_l("Kontaktperson på socialtjänsten"), 200, [DataRequired()])
    contact_title = text(_l("Titel"), 120)
    contact_phone = text(_l("Telefon"), 40, [Optional(), _PHONE])
    contact_email = text(_l("E-post"), 254, [Optional(), Email(_l("Ange en giltig e-postadress."))])

    def check(self, ctx: FormContext) -> bool:
        """Rules across fields: the period, the actors, and guardians for a participant under 18."""
        ok = True
        start, end = self.period_from.data, self.period_to.data
        if start and end:
            if end < start:
                self.period_to.errors.append(_("Slutdatumet kan inte vara före startdatumet."))
                ok = False
            months = int(ctx.settings.get("CONSENT_MAX_MONTHS", 12))
            latest = last_day(start, months)
            if end > latest:
                self.period_to.errors.append(
                    _(
                        "Medgivandet får gälla i högst %(n)d månader, alltså till och med %(d)s.",
                        n=months,
                        d=latest.isoformat(),
                    )
                )
                ok = False
        if len(self.actors) > MAX_ACTORS:
            self.actors.errors.append(_("Högst %(n)d aktörer får anges.", n=MAX_ACTORS))
            ok = False
        for row in self.actors:
            sub = row.form
            if sub.is_blank():
                continue
            if not sub.actor.data:
                sub.actor.errors.append(_("Välj vilken aktör raden gäller."))
                ok = False
            elif sub.actor.data == "other" and not sub.other_name.data:
                sub.other_name.errors.append(_("Skriv namnet på aktören."))
                ok = False
        if not self.info_kinds.data and not self.info_other.data:
            self.info_kinds.errors.append(_("Välj minst ett slags uppgifter eller beskriv dem."))
            ok = False
        if ctx.subject and start and ctx.subject.age_on(start) < 18:
            ok = self._check_guardians() and ok
        return ok

    def _check_guardians(self) -> bool:
        if not self.custody.data:
            self.custody.errors.append(
                _("Deltagaren är under 18 år när medgivandet börjar gälla: ange vårdnaden.")
            )
            return False
        needed = 2 if self.custody.data == "joint" else 1
        ok = True
        for row in list(self.guardians)[:needed]:
            if not row.form.name.data:
                row.form.name.errors.append(_("Ange vårdnadshavarens namn."))
                ok = False
        return ok


def last_day(start: date, months: int) -> date:
    """The last day of a period of *months* calendar months starting on *start*."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)


def guardians_required(subject: Subject | None, data: dict[str, Any]) -> bool:
    """True when the participant is under 18 on the consent's start date."""
    start = data.get("period_from")
    return bool(subject and start and subject.age_on(date.fromisoformat(start)) < 18)


def _actor_name(row: dict[str, Any]) -> str:
    if row.get("actor") == "other":
        return row.get("other_name") or ""
    return str(ACTORS.get(row.get("actor", ""), ""))


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    s = ri.subject
    need_guardians = guardians_required(s, dict(d))
    custody = d.get("custody") or ""
    guardians = [g for g in d.get("guardians", []) if g.get("name")]
    if custody != "joint":
        guardians = guardians[:1]
    actors = [
        {
            "name": str(POLICE),
            "contact": d.get("police_contact") or "",
            "direction": str(DIRECTIONS.get(d.get("police_direction", "both"), "")),
        }
    ]
    actors += [
        {
            "name": _actor_name(r),
            "contact": r.get("contact") or "",
            "direction": str(DIRECTIONS.get(r.get("direction", "both"), "")),
        }
        for r in d.get("actors", [])
    ]
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "participant": _participant(s, d),
        "period_from": d.get("period_from") or "",
        "period_to": d.get("period_to") or "",
        "actors": actors,
        "info_kinds": [str(INFO_KINDS[k]) for k in d.get("info_kinds", []) if k in INFO_KINDS],
        "info_other": d.get("info_other") or "",
        "guardians_required": need_guardians,
        "custody": str(CUSTODY.get(custody, "")).split(" (")[0] if need_guardians else "",
        "guardians": guardians if need_guardians else [],
        "withdraw_how": d.get("withdraw_how") or "",
        "caseworker": {
            "name": d.get("contact_name") or ri.author.name,
            "title": d.get("contact_title") or "",
            "phone": d.get("contact_phone") or "",
            "email": d.get("contact_email") or "",
        },
        "signers": signer_lines(ri, signers(ri)),
    }


def statements() -> tuple[str, ...]:
    """What each signer of a consent ticks (the form's own words)."""
    return (
        _(
            "Jag samtycker till att sekretessen hävs mellan socialtjänsten och de aktörer som "
            "anges i dokumentet, för de uppgifter och den period som anges där."
        ),
        _(
            "Jag har fått information om att medgivandet är frivilligt och att jag när som "
            "helst kan återkalla det."
        ),
    )


def signers(ri: RenderInput) -> list[SignerSlot]:
    """The participant, and guardians when under 18 on the start date (both when joint)."""
    d, s = ri.data, ri.subject
    agree = statements()
    slots = [
        SignerSlot(
            "participant",
            pgettext("signer role", "Deltagare"),
            name=s.name if s else "",
            statements=agree,
        )
    ]
    if guardians_required(s, dict(d)):
        custody = d.get("custody") or ""
        guardians = [g for g in d.get("guardians", []) if g.get("name")]
        count = 2 if custody == "joint" else 1
        for i in range(count):
            name = guardians[i]["name"] if i < len(guardians) else ""
            role = _("Vårdnadshavare %(n)d", n=i + 1) if count > 1 else _("Vårdnadshavare")
            slots.append(SignerSlot(f"guardian{i + 1}", role, name=name, statements=agree))
    return slots


def _participant(s: Subject | None, d: Any) -> dict[str, str]:
    printed = printed_subject(s, d.get("period_from"))
    return {**printed, "age_at_start": printed["age"]}


def initial(ctx: FormContext) -> dict[str, Any]:
    """Defaults for a new consent: today, 12 months, the author as contact person."""
    start = ctx.today
    author = ctx.author or Author(name="")
    return {
        "period_from": start,
        "period_to": last_day(start, 12),
        "police_direction": "both",
        "withdraw_how": DEFAULT_WITHDRAW,
        "contact_name": author.name,
        "contact_title": author.title,
        "contact_phone": author.phone,
        "contact_email": author.email,
        "actors": [{}],
    }


def sample() -> dict[str, Any]:
    """Valid stored data for a 16-year-old with joint custody."""
    return {
        "period_from": "2026-12-01",
        "period_to": "2027-11-30",
        "police_contact": "Kommunpolis Rinkeby-Kista, Anders Berg",
        "police_direction": "both",
        "actors": [
            {
                "actor": "school",
                "other_name": "",
                "contact": "Elevhälsan, Husbygårdsskolan",
                "direction": "both",
            },
            {
                "actor": "frivard",
                "other_name": "",
                "contact": "Frivården Sundbyberg",
                "direction": "to_social",
            },
            {
                "actor": "other",
                "other_name": "Fotbollsföreningen IK Kista",
                "contact": "Tränare Sara Nilsson",
                "direction": "from_social",
            },
        ],
        "info_kinds": ["police", "school", "employment", "housing"],
        "info_other": "Uppgifter om fritidsaktiviteter",
        "custody": "joint",
        "guardians": [
            {"name": "Maria Öberg", "contact": "070-111 22 33"},
            {"name": "Johan Öberg", "contact": "johan.oberg@example.se"},
        ],
        "withdraw_how": DEFAULT_WITHDRAW,
        "contact_name": "Karin Lind",
        "contact_title": "Lots/samordnare",
        "contact_phone": "08-508 250 00",
        "contact_email": "karin.lind@example.se",
    }


def sample_subject() -> Subject:
    """The participant the sample is written for: 16 at the start date."""
    return Subject(
        name="Åsa Öberg",
        id_kind="personnummer",
        id_number="20100315-1238",
        birth_date=date(2010, 3, 15),
        target_group="sig_unga",
    )


DOCUMENT_TYPE = DocumentType(
    slug="consent",
    annex="3.2",
    title=_l("Sekretessbrytande medgivande"),
    form_class=ConsentForm,
    template="consent.docx",
    subject="participant",
    build_context=build_context,
    sample=sample,
    sample_subject=sample_subject,
    initial=initial,
    signers=signers,
    signed_status="active",
    sample_expect=(
        "Åsa Öberg",
        "Fotbollsföreningen IK Kista",
        "Maria Öberg",
        "Johan Öberg",
        "2027-11-30",
        "Skolgång och skolnärvaro",
        "12 kap. 2 §",
    ),
    html="documents/consent.html",
)
