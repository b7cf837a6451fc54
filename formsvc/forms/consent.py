"""Sekretessbrytande medgivande (bilaga 3.2): consent to lift secrecy between SIG actors."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_wtf import FlaskForm
from wtforms import DateField, Field, FieldList, FormField, SelectField, SelectMultipleField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from formsvc.doctypes import (
    Author,
    DocumentType,
    FormContext,
    RenderInput,
    SignerSlot,
    Subject,
    printed_number,
    printed_subject,
    signer_lines,
)
from formsvc.forms._base import SubForm, choices, long_text, text
from formsvc.legal_texts import keys, snapshot, text_of
from formsvc.services.identity import Identity, IdentityError, parse_identity

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
    "civil": _l("Civilsamhället (förening, stiftelse, trossamfund)"),
    "company": _l("Privat företag eller arbetsgivare"),
    "relative": _l("Närstående (familj, släkt)"),
    "network": _l("Annan person i deltagarens nätverk"),
    "other": _l("Annan aktör (ange namn)"),
}
#: Actor types that are never bound by secrecy under OSL (companies, associations, private
#: persons): the form and the printed consent warn, and every signer confirms having been told.
NO_SECRECY_ACTORS = frozenset({"civil", "company", "relative", "network"})
#: Actor types that may be public or private: the caseworker says which (``secrecy``).
ASK_SECRECY_ACTORS = frozenset({"housing", "other"})
SECRECY: dict[str, Any] = {
    "public": _l("Myndighet eller kommunal verksamhet med sekretess"),
    "private": _l("Företag, förening eller privatperson – ingen sekretess"),
}
POLICE = _l("Polismyndigheten")
MAX_ACTORS = 40

#: Direction of an actor, as seen from the actor: it gives information (to social services and,
#: in SIG meetings, to the others present), receives it, or both.
DIRECTIONS: dict[str, Any] = {
    "both": _l("Båda hållen"),
    "to_social": _l("Aktören lämnar uppgifter"),
    "from_social": _l("Aktören tar emot uppgifter"),
}
#: The police take part in both directions; their direction is not a choice (issue 18).
POLICE_DIRECTION = "both"
#: The two one-way directions, named from social services' side: the actor gives information
#: to us (FROM_ACTOR) or receives it from us (TO_ACTOR). "both" is the two together.
FROM_ACTOR = "to_social"
TO_ACTOR = "from_social"

INFO_KINDS: dict[str, Any] = {
    "police": _l("Polisens uppgifter om misstankar om brott och domar"),
    "school": _l("Skolgång och skolnärvaro"),
    "health": _l("Hälsa, vård och behandling"),
    "substance": _l("Drogtester och missbruk"),
    "employment": _l("Sysselsättning, arbete och studier"),
    "corrections": _l("Uppgifter från Kriminalvården och Frivården"),
    "economy": _l("Ekonomi och skulder"),
    "housing": _l("Boende"),
    "threats": _l("Hot och säkerhet (hot mot deltagaren eller närstående, skyddsbehov)"),
    "network": _l("Familj, nätverk och närstående"),
    "leisure": _l("Fritid"),
}

CUSTODY: dict[str, Any] = {
    "joint": _l("Gemensam vårdnad (båda vårdnadshavarna skriver under)"),
    "sole": _l("Ensam vårdnad"),
    "appointed": _l("Särskilt förordnad vårdnadshavare"),
}

DEFAULT_WITHDRAW = (
    "Säg det till din kontaktperson på socialtjänsten, muntligt eller skriftligt. Du kan "
    "återkalla hela medgivandet eller bara för en viss aktör eller ett visst slags uppgifter."
)
#: The named legal texts (formsvc/legal_texts.py) the consent prints.
TEXT_KEYS = keys("consent.")
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
    secrecy = SelectField(
        _l("Har mottagaren sekretess?"),
        choices=_choices(SECRECY, _l("– anges för bostadsbolag och annan aktör –")),
        default="",
    )

    def is_blank(self) -> bool:
        return not (self.actor.data or self.other_name.data or self.contact.data)


class GuardianRow(SubForm):
    name = text(_l("Vårdnadshavarens namn"), 200)
    contact = text(_l("Telefon eller e-post"), 254)
    #: optional; printed with the name and in the signature evidence (issue 10)
    personnummer = text(
        _l("Personnummer eller samordningsnummer (frivilligt)"),
        20,
        [Optional(), Regexp(r"^[0-9+\- ]*$", message=_l("Ange numret som ÅÅÅÅMMDD-NNNN."))],
    )

    def validate_personnummer(self, field: Field) -> None:
        """A valid personnummer or samordningsnummer, stored in its long form."""
        if not field.data:
            return
        field.data = guardian_identity(field.data).number


def guardian_identity(value: str) -> Identity:
    """A guardian's number: a personnummer, else a samordningsnummer; ValidationError if neither."""
    try:
        return parse_identity(value, coordination=False)
    except IdentityError as first:
        try:
            return parse_identity(value, coordination=True)
        except IdentityError:
            raise ValidationError(str(first)) from None


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
    actors = FieldList(FormField(ActorRow), min_entries=0)
    info_kinds = MultiCheckboxField(_l("Vilka uppgifter får lämnas"), choices=_choices(INFO_KINDS))
    info_other = long_text(_l("Andra uppgifter (beskriv)"), 2000)
    custody = SelectField(
        _l("Vårdnad"),
        choices=_choices(CUSTODY, _l("– välj vårdnad (inte aktuellt från 18 år) –")),
        default="",
    )
    guardians = FieldList(FormField(GuardianRow), min_entries=2, max_entries=2)
    withdraw_how = long_text(_l("Så återkallar du medgivandet"), 1000, [DataRequired()])
    contact_name = text(_l("Kontaktperson på socialtjänsten"), 200, [DataRequired()])
    contact_title = text(_l("Titel"), 120)
    contact_phone = text(_l("Telefon"), 40, [Optional(), _PHONE])
    contact_email = text(_l("E-post"), 254, [Optional(), Email(_l("Ange en giltig e-postadress."))])

    def _period_notices(self, ctx: FormContext) -> list[str]:
        """Warn when the whole period has already passed, or (for a minor) custody is not given."""
        found = []
        start, end = self.period_from.data, self.period_to.data
        if isinstance(end, date) and end < ctx.today:
            found.append(
                _(
                    "Hela perioden (till och med %(end)s) har redan passerat: medgivandet "
                    "skulle inte gälla någon dag framåt. Kontrollera datumen.",
                    end=end.isoformat(),
                )
            )
        on = start if isinstance(start, date) else ctx.today
        if ctx.subject is not None and ctx.subject.age_on(on) < 18 and not self.custody.data:
            found.append(
                _(
                    "Deltagaren är %(age)d år när medgivandet börjar gälla: ange vårdnaden, "
                    "så att vårdnadshavarna får skriva under.",
                    age=ctx.subject.age_on(on),
                )
            )
        return found

    def notices(self, ctx: FormContext) -> list[str]:
        """Warn when a recipient has no secrecy under OSL (the signers are told and confirm it),
        when the period has passed, and when a minor's custody is missing."""
        rows = [
            {"actor": r.form.actor.data, "other_name": r.form.other_name.data,
             "secrecy": r.form.secrecy.data}
            for r in self.actors
        ]  # fmt: skip
        found = self._period_notices(ctx)
        names = no_secrecy_names({"actors": rows})
        if not names:
            return found
        return found + [
            _(
                "Mottagare utan sekretess: %(names)s. Företag, föreningar och privatpersoner har "
                "inte sekretess enligt offentlighets- och sekretesslagen; uppgifter som lämnas dit "
                "skyddas inte av sekretess där. Medgivandet säger det, och varje undertecknare "
                "kryssar i att hen har fått veta det.",
                names=", ".join(names),
            )
        ]

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
            if sub.actor.data in ASK_SECRECY_ACTORS and not sub.secrecy.data:
                sub.secrecy.errors.append(
                    _(
                        "Ange om mottagaren har sekretess (myndighet) eller inte (företag, "
                        "förening)."
                    )
                )
                ok = False
        if not self.info_kinds.data and not self.info_other.data:
            self.info_kinds.errors.append(_("Välj minst ett slags uppgifter eller beskriv dem."))
            ok = False
        if ctx.subject and start and ctx.subject.age_on(start) < 18:
            ok = self._check_guardians() and ok
        for row in self.guardians:
            if row.form.personnummer.data and not row.form.name.data:
                row.form.name.errors.append(_("Ange vårdnadshavarens namn."))
                ok = False
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


def has_no_secrecy(row: Mapping[str, Any]) -> bool:
    """True when an actor row's recipient is not bound by secrecy under OSL."""
    actor = row.get("actor")
    if actor in NO_SECRECY_ACTORS:
        return True
    return actor in ASK_SECRECY_ACTORS and row.get("secrecy") == "private"


def no_secrecy_names(data: Mapping[str, Any]) -> list[str]:
    """The named recipients of a consent that have no secrecy under OSL, in order."""
    rows = data.get("actors") or []
    names = [
        _actor_name(r) or str(ACTORS.get(r.get("actor", ""), ""))
        for r in rows
        if isinstance(r, dict) and has_no_secrecy(r)
    ]
    return [n for n in dict.fromkeys(names) if n]


def stamp(ctx: FormContext) -> dict[str, Any]:
    """Stored with the consent when saved: its legal texts, the police's fixed direction and the
    longest period it was checked against (printed instead of a fixed number)."""
    return {
        "texts": snapshot(TEXT_KEYS, ctx.settings),
        "max_months": int(ctx.settings.get("CONSENT_MAX_MONTHS", 12)),
        "police_direction": POLICE_DIRECTION,
    }


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    s = ri.subject
    need_guardians = guardians_required(s, dict(d))
    custody = d.get("custody") or ""
    protected = bool(s and s.protected)
    guardians = [
        {"name": _guardian_name(g, protected), "contact": g.get("contact") or ""}
        for g in d.get("guardians", [])
        if g.get("name")
    ]
    if custody != "joint":
        guardians = guardians[:1]
    actors = [
        {
            "name": str(POLICE),
            "contact": d.get("police_contact") or "",
            # consents saved before issue 18 may hold a one-way police direction: print it as signed
            "direction": str(DIRECTIONS.get(d.get("police_direction") or POLICE_DIRECTION, "")),
            "note": "",
        }
    ]
    actors += [
        {
            "name": _actor_name(r),
            "contact": r.get("contact") or "",
            "direction": str(DIRECTIONS.get(r.get("direction", "both"), "")),
            "note": _(" (ingen sekretess enligt OSL)") if has_no_secrecy(r) else "",
        }
        for r in d.get("actors", [])
    ]
    private = no_secrecy_names(d)
    controller = _("%(district)s stadsdelsnämnd", district=ri.district)
    slots = signers(ri)
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
        "no_secrecy": ", ".join(private),
        "texts": {
            key.removeprefix("consent."): text_of(
                d,
                key,
                months=d.get("max_months") or 12,
                names=", ".join(private),
                controller=controller,
            )
            for key in TEXT_KEYS
        },
        "sign_texts": [
            {
                "role": _("Vårdnadshavare") if slot.key.startswith("guardian") else slot.role,
                "statements": list(slot.statements),
            }
            for slot in _distinct_statements(slots)
        ],
        "signers": signer_lines(ri, slots),
    }


def _guardian_name(g: Mapping[str, Any], protected: bool) -> str:
    """A guardian as the consent prints them: the name, and the number when it is known."""
    number = printed_number(g.get("personnummer"), protected=protected)
    return f"{g.get('name') or ''} ({number})" if number else str(g.get("name") or "")


def _distinct_statements(slots: list[SignerSlot]) -> list[SignerSlot]:
    """One slot per distinct set of statements (both guardians tick the same words)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for slot in slots:
        if slot.statements not in seen:
            seen.add(slot.statements)
            out.append(slot)
    return out


def statements(
    *, guardian: bool = False, child: str = "", private: list[str] | None = None
) -> tuple[str, ...]:
    """What a signer of a consent ticks: the participant speaks of "mig", a guardian of "mitt
    barn"; with recipients without secrecy, that the signer was told so."""
    if guardian:
        agree = _(
            "Jag är vårdnadshavare till %(child)s och lämnar mitt medgivande till att uppgifter "
            "om mitt barn lämnas på mötena i den sociala insatsgruppen och mellan socialtjänsten "
            "och varje aktör, för de aktörer, slags uppgifter, riktningar och den period som "
            "anges i dokumentet.",
            child=child,
        )
        told = _(
            "Jag har fått veta att medgivandet är frivilligt och att det när som helst kan "
            "återkallas."
        )
    else:
        agree = _(
            "Jag lämnar mitt medgivande till att uppgifter om mig lämnas på mötena i den sociala "
            "insatsgruppen och mellan socialtjänsten och varje aktör, för de aktörer, slags "
            "uppgifter, riktningar och den period som anges i dokumentet."
        )
        told = _(
            "Jag har fått veta att medgivandet är frivilligt och att jag när som helst kan "
            "återkalla det."
        )
    out = [agree, told]
    if private:
        whom = _("mitt barn") if guardian else _("mig")
        out.append(
            _(
                "Jag har fått veta att %(names)s inte har sekretess enligt offentlighets- och "
                "sekretesslagen, och att uppgifter om %(whom)s som lämnas dit inte skyddas av "
                "sekretess där.",
                names=", ".join(private),
                whom=whom,
            )
        )
    return tuple(out)


def signers(ri: RenderInput) -> list[SignerSlot]:
    """The participant, and guardians when under 18 on the start date (both when joint)."""
    d, s = ri.data, ri.subject
    private = no_secrecy_names(d)
    protected = bool(s and s.protected)
    slots = [
        SignerSlot(
            "participant",
            pgettext("signer role", "Deltagare"),
            name=s.name if s else "",
            id_number=printed_number(
                s.id_number if s and s.id_kind != "birth_date" else None, protected=protected
            ),
            statements=statements(private=private),
        )
    ]
    if guardians_required(s, dict(d)):
        custody = d.get("custody") or ""
        guardians = [g for g in d.get("guardians", []) if g.get("name")]
        count = 2 if custody == "joint" else 1
        for_guardian = statements(guardian=True, child=s.name if s else "", private=private)
        for i in range(count):
            g = guardians[i] if i < len(guardians) else {}
            role = (
                pgettext("signer role", "Vårdnadshavare %(n)d", n=i + 1)
                if count > 1
                else pgettext("signer role", "Vårdnadshavare")
            )
            slots.append(
                SignerSlot(
                    f"guardian{i + 1}",
                    role,
                    name=g.get("name") or "",
                    id_number=printed_number(g.get("personnummer"), protected=protected),
                    statements=for_guardian,
                    email=_email_in(g.get("contact")),
                )
            )
    return slots


def _email_in(contact: object) -> str:
    """The e-mail address in a "telefon eller e-post" field, or "" when it holds none."""
    for word in str(contact or "").replace(",", " ").replace(";", " ").split():
        word = word.strip("<>()")
        if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", word):
            return word
    return ""


def _participant(s: Subject | None, d: Any) -> dict[str, str]:
    printed = printed_subject(s, d.get("period_from"))
    return {**printed, "age_at_start": printed["age"]}


def initial(ctx: FormContext) -> dict[str, Any]:
    """Defaults for a new consent: today, the longest period, the author as contact person."""
    start = ctx.today
    author = ctx.author or Author(name="")
    return {
        "period_from": start,
        "period_to": last_day(start, int(ctx.settings.get("CONSENT_MAX_MONTHS", 12))),
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
                "secrecy": "",
            },
            {
                "actor": "frivard",
                "other_name": "",
                "contact": "Frivården Sundbyberg",
                "direction": "to_social",
                "secrecy": "",
            },
            {
                "actor": "other",
                "other_name": "Fotbollsföreningen IK Kista",
                "contact": "Tränare Sara Nilsson",
                "direction": "from_social",
                "secrecy": "private",
            },
        ],
        "info_kinds": ["police", "school", "employment", "housing", "threats"],
        "info_other": "Uppgifter om fritidsaktiviteter",
        "custody": "joint",
        "guardians": [
            {"name": "Maria Öberg", "contact": "070-111 22 33", "personnummer": "19800101-1231"},
            {"name": "Johan Öberg", "contact": "johan.oberg@example.se", "personnummer": ""},
        ],
        "withdraw_how": DEFAULT_WITHDRAW,
        "contact_name": "Karin Lind",
        "contact_title": "Lots/samordnare",
        "contact_phone": "08-508 250 00",
        "contact_email": "karin.lind@example.se",
        # stamped when saved (see stamp): the texts printed and the longest period
        "texts": snapshot(TEXT_KEYS, {}),
        "max_months": 12,
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
    stamp=stamp,
    sample_expect=(
        "Åsa Öberg",
        "Fotbollsföreningen IK Kista",
        "Maria Öberg",
        "Johan Öberg",
        "2027-11-30",
        "Skolgång och skolnärvaro",
        "12 kap. 2 §",
        "12 kap. 3 §",
        "Hot och säkerhet",
        "inte har sekretess",
    ),
    html="documents/consent.html",
)
