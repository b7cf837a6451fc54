"""Informationsbrev (bilaga 3.0): the letter a prospective participant gets before consenting."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FieldList, FormField, SelectField
from wtforms.validators import DataRequired, Email, Optional, Regexp

from formsvc.doctypes import (
    Author,
    DocumentType,
    FormContext,
    RenderInput,
    SignerSlot,
    Subject,
    signer_lines,
)
from formsvc.forms._base import SubForm, choices, long_text, text
from formsvc.legal_texts import keys, snapshot, text_of

#: The two target groups a letter is written for: value -> (label, youngest, oldest).
VARIANTS: dict[str, tuple[Any, int, int]] = {
    "sig_unga": (_l("SIG unga (12–20 år)"), 12, 20),
    "sig_unga_vuxna": (_l("SIG unga vuxna (19–29 år)"), 19, 29),
}
DEFAULT_VARIANT = "sig_unga_vuxna"

DEFAULT_POLICE_ROLE = (
    "Polisen deltar alltid i en social insatsgrupp. Polisen bedömer om SIG passar dig, ger sin "
    "bild av din situation på mötena och kan hjälpa dig om du blir utsatt för hot."
)
_SOCIAL = (
    "Socialtjänsten, din lots/samordnare",
    "Leder arbetet i SIG, kallar till möten, gör din handlingsplan tillsammans med dig och är "
    "din kontaktperson.",
)
#: Actors a letter starts with, per variant (the caseworker edits them to the person's needs).
DEFAULT_ACTORS: dict[str, list[tuple[str, str]]] = {
    "sig_unga": [
        _SOCIAL,
        (
            "Skolan och elevhälsan",
            "Hjälper dig med skolgång, närvaro och stöd i skolarbetet.",
        ),
        (
            "Fältassistenterna",
            "Finns ute i området och kan stötta dig i vardagen och på fritiden.",
        ),
    ],
    "sig_unga_vuxna": [
        _SOCIAL,
        (
            "Jobbtorg Stockholm",
            "Hjälper dig att hitta arbete, praktik eller studier och att planera vägen till "
            "egen försörjning.",
        ),
        (
            "Kriminalvården och Frivården",
            "Samarbetar med SIG om du avtjänar ett straff eller har en påföljd i frivård.",
        ),
    ],
}
#: The named legal texts (formsvc/legal_texts.py) the letter prints.
TEXT_KEYS = keys("letter.")
DEFAULT_DPO = (
    "Stadsdelsförvaltningens dataskyddsombud nås via Stockholms stads växel, 08-508 000 00."
)
_PHONE = Regexp(
    r"^[0-9+\-() ]*$", message=_l("Ange telefonnumret med siffror, mellanslag, + eller -.")
)


class ActorRow(SubForm):
    actor = text(_l("Aktör"), 200)
    role = text(_l("Vad aktören gör"), 500)


class InfoLetterForm(FlaskForm):
    letter_date = DateField(
        _l("Brevets datum"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    variant = SelectField(
        _l("Målgrupp"),
        choices=choices({k: v[0] for k, v in VARIANTS.items()}),
        default=DEFAULT_VARIANT,
    )
    personal_note = long_text(
        _l("Personligt meddelande (valfritt, t.ex. förslag på första möte)"), 1000
    )
    police_role = text(
        _l("Vad polisen gör"), 500, [DataRequired(_l("Beskriv vad polisen gör i SIG."))]
    )
    actors = FieldList(FormField(ActorRow), min_entries=0)
    expectations_extra = long_text(_l("Det här gäller särskilt för dig (valfritt)"), 1000)
    dpo_contact = text(
        _l("Kontaktuppgifter till dataskyddsombudet"),
        300,
        [DataRequired(_l("Ange hur dataskyddsombudet nås."))],
    )
    contact_name = text(
        _l("Kontaktperson"), 200, [DataRequired(_l("Ange vem deltagaren kan kontakta."))]
    )
    contact_title = text(_l("Titel"), 120)
    contact_phone = text(_l("Telefon"), 40, [Optional(), _PHONE])
    contact_email = text(_l("E-post"), 254, [Optional(), Email(_l("Ange en giltig e-postadress."))])
    with_receipt = BooleanField(
        _l("Med mottagningskvitto: deltagaren skriver under att hen har tagit emot brevet")
    )

    sections = [
        (_l("Brevet"), ["letter_date", "variant", "personal_note"]),
        (_l("Vilka deltar och vad gör de"), ["police_role", "actors"]),
        (_l("Vad vi förväntar oss"), ["expectations_extra"]),
        (_l("Personuppgifter"), ["dpo_contact"]),
        (
            _l("Kontaktperson"),
            ["contact_name", "contact_title", "contact_phone", "contact_email"],
        ),
        (_l("Mottagningskvitto"), ["with_receipt"]),
    ]
    intro = _l(
        "Brevet ger den som kan bli aktuell för en social insatsgrupp information om vad SIG är, "
        "att det är frivilligt, vilka som deltar, vad som krävs och när arbetet kan avslutas. "
        "Texten väljs efter målgrupp; anpassa aktörerna efter personens behov."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """Remind that a participant under 18 has guardians who get the same information."""
        subject = ctx.subject
        if subject is None:
            return []
        age = subject.age_on(ctx.today)
        if age < 18:
            return [
                _(
                    "Deltagaren är under 18 år: ge vårdnadshavarna samma information och ett "
                    "eget exemplar av brevet."
                )
            ]
        return []

    def check(self, ctx: FormContext) -> bool:
        """The participant's age on the letter's date must fit the chosen target group."""
        subject, day = ctx.subject, self.letter_date.data
        if subject is None or day is None or self.variant.data not in VARIANTS:
            return True
        label, youngest, oldest = VARIANTS[self.variant.data]
        age = subject.age_on(day)
        if youngest <= age <= oldest:
            return True
        self.variant.errors.append(
            _(
                "Deltagaren är %(age)d år den %(day)s, men %(label)s gäller den som är "
                "%(low)d–%(high)d år. Välj den andra målgruppen.",
                age=age,
                day=day.isoformat(),
                label=str(label),
                low=youngest,
                high=oldest,
            )
        )
        return False


def stamp(ctx: FormContext) -> dict[str, Any]:
    """Stored with the letter when saved: its legal texts and the retention it states."""
    return {
        "texts": snapshot(TEXT_KEYS, ctx.settings),
        "retention_years": int(ctx.settings.get("RETENTION_YEARS", 5)),
    }


def greeting(s: Subject | None) -> str:
    """ "Hej Förnamn!" (never the full name), or "Hej!" without a name."""
    first = s.name.split()[0] if s and s.name.split() else ""
    return _("Hej %(name)s!", name=first) if first else _("Hej!")


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values; the letter's fixed text lives in the template, per variant."""
    d = ri.data
    s = ri.subject
    variant = d.get("variant") if d.get("variant") in VARIANTS else DEFAULT_VARIANT
    letter_date = d.get("letter_date") or ""
    minor = bool(s and letter_date and s.age_on(date.fromisoformat(letter_date)) < 18)
    actors = [{"name": _("Polisen"), "role": d.get("police_role") or ""}]
    actors += [
        {"name": r.get("actor") or "", "role": r.get("role") or ""} for r in d.get("actors", [])
    ]
    receipt = bool(d.get("with_receipt"))
    participant = s.name if s else ""
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "participant": participant,
        "greeting": greeting(s),
        "letter_date": letter_date,
        "is_unga": variant == "sig_unga",
        "variant_label": str(VARIANTS[variant][0]),
        "minor": minor,
        "personal_note": d.get("personal_note") or "",
        "actors": actors,
        "expectations_extra": d.get("expectations_extra") or "",
        "controller": _("%(district)s stadsdelsnämnd", district=ri.district),
        "dpo_contact": d.get("dpo_contact") or "",
        "contact": {
            "name": d.get("contact_name") or ri.author.name,
            "title": d.get("contact_title") or "",
            "phone": d.get("contact_phone") or "",
            "email": d.get("contact_email") or "",
        },
        "with_receipt": receipt,
        "texts": {
            key.removeprefix("letter."): text_of(d, key, years=d.get("retention_years") or 5)
            for key in TEXT_KEYS
        },
        "signers": signer_lines(ri, signers(ri)),
    }


def signers(ri: RenderInput) -> list[SignerSlot]:
    """Only a letter with a receipt page is signed: the participant confirms having received it."""
    if not ri.data.get("with_receipt"):
        return []
    s = ri.subject
    receipt = _("Jag har tagit emot och läst informationen i detta brev.")
    return [
        SignerSlot(
            "participant",
            pgettext("signer role", "Deltagare"),
            name=s.name if s else "",
            statements=(receipt,),
        )
    ]


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today's letter for the participant's target group, from the author."""
    author = ctx.author or Author(name="")
    variant = DEFAULT_VARIANT
    if ctx.subject is not None and ctx.subject.target_group in VARIANTS:
        variant = ctx.subject.target_group
    return {
        "letter_date": ctx.today,
        "variant": variant,
        "police_role": DEFAULT_POLICE_ROLE,
        "actors": [{"actor": a, "role": r} for a, r in DEFAULT_ACTORS[variant]],
        "dpo_contact": DEFAULT_DPO,
        "contact_name": author.name,
        "contact_title": author.title,
        "contact_phone": author.phone,
        "contact_email": author.email,
        "with_receipt": False,
    }


def sample() -> dict[str, Any]:
    """A letter to a 16-year-old, handed over with a receipt to sign."""
    return {
        "letter_date": "2026-11-16",
        "variant": "sig_unga",
        "personal_note": "Välkommen till ett första möte på socialkontoret den 25 november kl. 15.",
        "police_role": DEFAULT_POLICE_ROLE,
        "actors": [
            {"actor": _SOCIAL[0], "role": _SOCIAL[1]},
            {
                "actor": "Elevhälsan, Husbygårdsskolan",
                "role": "Hjälper dig med skolgång, närvaro och stöd i skolarbetet.",
            },
            {
                "actor": "Fältassistenterna i Rinkeby-Kista",
                "role": "Finns ute i området och kan stötta dig i vardagen och på fritiden.",
            },
        ],
        "expectations_extra": "Att du kommer till skolan varje dag och hör av dig till mig om "
        "du inte kan komma på ett möte.",
        "dpo_contact": DEFAULT_DPO,
        "contact_name": "Jonas Ek",
        "contact_title": "Lots/samordnare",
        "contact_phone": "08-508 250 10",
        "contact_email": "jonas.ek@example.se",
        "with_receipt": True,
        # stamped when saved (see stamp): the texts printed and the retention stated
        "texts": snapshot(TEXT_KEYS, {}),
        "retention_years": 5,
    }


def sample_subject() -> Subject:
    """The participant the sample is written to: 16, SIG unga."""
    return Subject(
        name="Noah Lindqvist",
        id_kind="birth_date",
        id_number=None,
        birth_date=date(2010, 6, 2),
        target_group="sig_unga",
    )


DOCUMENT_TYPE = DocumentType(
    slug="info_letter",
    annex="3.0",
    title=_l("Informationsbrev"),
    form_class=InfoLetterForm,
    template="info_letter.docx",
    subject="participant",
    build_context=build_context,
    signers=signers,
    sample=sample,
    sample_subject=sample_subject,
    initial=initial,
    editors=("caseworker", "manager"),
    stamp=stamp,
    sample_expect=(
        "Noah Lindqvist",
        "Fältassistenterna i Rinkeby-Kista",
        "Elevhälsan, Husbygårdsskolan",
        "Integritetsskyddsmyndigheten",
        "Mottagningskvitto",
        "Jonas Ek",
        "SIG unga (12–20 år)",
        "Hej Noah!",
        "artikel 21",
        "10 kap. 18 a §",
        "5 år efter den sista anteckningen",
    ),
)
