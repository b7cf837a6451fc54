"""Kontaktlista för samverkan (bilaga 1): the district's actors and their function contacts."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import DateField, FieldList, FormField, SelectField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Optional, Regexp

from formsvc.doctypes import Author, DocumentType, FormContext, RenderInput
from formsvc.forms._base import SubForm, choices, row_is_blank, text

#: The standard actors (PRODUCT.md, bilaga 1), in the order a district usually lists them.
ACTORS: dict[str, Any] = {
    "social": _l("Socialtjänst (enheter)"),
    "police": _l("Polisen/kommunpolis"),
    "school": _l("Skola/elevhälsa"),
    "jobbtorg": _l("Jobbtorg"),
    "af": _l("Arbetsförmedlingen"),
    "krim": _l("Kriminalvården"),
    "frivard": _l("Frivården"),
    "sis": _l("SiS"),
    "addiction": _l("Beroendevård"),
    "bup": _l("BUP"),
    "maria": _l("Maria Ungdom"),
    "field": _l("Fältassistenter"),
    "housing": _l("Bostadsbolag"),
    "defector": _l("Avhopparverksamheten"),
    "civil": _l("Civilsamhället"),
    "other": _l("Annan (ange)"),
}

#: The guidance separates structural (strategic) cooperation from operative cooperation, and the
#: district checklist asks for a contact list "på strategisk nivå".
LEVELS: dict[str, Any] = {
    "operative": _l("Operativ nivå"),
    "strategic": _l("Strategisk nivå"),
    "both": _l("Strategisk och operativ nivå"),
}

#: Free e-mail services: an address there is a private address, never a function address.
PRIVATE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.se",
        "outlook.com",
        "outlook.se",
        "live.com",
        "live.se",
        "msn.com",
        "yahoo.com",
        "yahoo.se",
        "icloud.com",
        "me.com",
        "mac.com",
        "telia.com",
        "spray.se",
        "bredband.net",
        "comhem.se",
        "tele2.se",
        "protonmail.com",
        "proton.me",
    }
)
_ADDRESS = re.compile(r"[^\s@<>()\"',;]+@([A-Za-z0-9.-]+)")
#: Swedish mobile numbers (07x): often a function mobile, but worth a second look.
_MOBILE = re.compile(r"^(?:\+46|0046|0)\s*-?\s*7\d")
_PHONE = Regexp(
    r"^[0-9+\-() ]*$", message=_l("Ange telefonnumret med siffror, mellanslag, + eller -.")
)
MAX_ROWS = 100
PRIVATE_WARNING = _l(
    "Ange funktionsnummer och funktionsadresser, inte privata uppgifter. Listan sprids till "
    "samverkansparterna och ska gå att använda även när en kontaktperson slutar."
)


def _with_blank(options: dict[str, Any], blank: Any) -> list[SelectChoice]:
    return choices([("", blank), *options.items()])


class ContactRow(SubForm):
    actor = SelectField(_l("Aktör"), choices=_with_blank(ACTORS, _l("– välj aktör –")), default="")
    other_name = text(_l("Annan aktör/enhet (ange)"), 200)
    level = SelectField(_l("Nivå"), choices=choices(LEVELS), default="operative")
    function = text(_l("Funktion/roll"), 200)
    contact_person = text(_l("Kontaktperson"), 200)
    phone = text(_l("Funktionstelefon"), 40, [Optional(), _PHONE])
    email = text(
        _l("Funktionsbrevlåda"),
        254,
        [Optional(), Email(_l("Ange en giltig e-postadress."))],
    )
    deputy = text(_l("Ersättare"), 200)
    note = text(_l("Anteckning"), 500)


class ContactListForm(FlaskForm):
    last_updated = DateField(
        _l("Senast uppdaterad"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    responsible = text(_l("Ansvarig för listan (namn eller funktion)"), 200)
    contacts = FieldList(FormField(ContactRow), min_entries=0)
    sections = [
        (_l("Om listan"), ["last_updated", "responsible"]),
        (_l("Kontakter"), ["contacts"]),
    ]
    intro = _l(
        "Lista de verksamheter och kontaktpersoner som är viktiga för samverkan i de sociala "
        "insatsgrupperna. Uppdatera listan fortlöpande, i samband med ordinarie "
        "verksamhetsuppföljning; varje sparad ändring blir en ny version."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """The warning against private details, and mobile numbers worth a second look."""
        out = [str(PRIVATE_WARNING)]
        mobiles = [
            row.form.phone.data
            for row in self.contacts
            if row.form.phone.data and _MOBILE.match(row.form.phone.data)
        ]
        if mobiles:
            out.append(
                ngettext(
                    "Numret %(numbers)s är ett mobilnummer. Kontrollera att det är en "
                    "tjänstetelefon och inte ett privat nummer.",
                    "Numren %(numbers)s är mobilnummer. Kontrollera att de är tjänstetelefoner "
                    "och inte privata nummer.",
                    len(mobiles),
                    numbers=", ".join(mobiles),
                )
            )
        return out

    def check(self, ctx: FormContext) -> bool:
        """Each row names its actor; no private e-mail addresses; the date is not in the future."""
        ok = True
        if self.last_updated.data and self.last_updated.data > ctx.today:
            self.last_updated.errors.append(_("Datumet kan inte vara senare än i dag."))
            ok = False
        if len(self.contacts) > MAX_ROWS:
            self.contacts.errors.append(_("Högst %(n)d kontakter får anges.", n=MAX_ROWS))
            ok = False
        for row in self.contacts:
            sub = row.form
            if row_is_blank(sub):
                continue
            if not sub.actor.data:
                sub.actor.errors.append(_("Välj vilken aktör raden gäller."))
                ok = False
            elif sub.actor.data == "other" and not sub.other_name.data:
                sub.other_name.errors.append(_("Skriv namnet på aktören."))
                ok = False
            for field in (sub.email, sub.contact_person, sub.deputy, sub.note):
                address = private_address(field.data or "")
                if address:
                    field.errors.append(
                        _(
                            "%(address)s ser ut att vara en privat e-postadress. Ange "
                            "verksamhetens funktionsbrevlåda eller en e-postadress i tjänsten.",
                            address=address,
                        )
                    )
                    ok = False
        return ok


def private_address(value: str) -> str | None:
    """The first e-mail address in *value* at a free e-mail service, if any."""
    for match in _ADDRESS.finditer(value):
        if match.group(1).lower().rstrip(".") in PRIVATE_MAIL_DOMAINS:
            return match.group(0)
    return None


def actor_name(row: dict[str, Any]) -> str:
    """The actor as printed: the standard name, the typed one, or the standard name and unit."""
    other = row.get("other_name") or ""
    if row.get("actor") == "other":
        return other
    name = str(ACTORS.get(row.get("actor") or "", ""))
    return f"{name} – {other}" if other and name else (name or other)


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    rows = [
        {
            "actor": actor_name(r),
            "level": str(LEVELS.get(r.get("level") or "", "")),
            "function": r.get("function") or "",
            "contact_person": r.get("contact_person") or "",
            "phone": r.get("phone") or "",
            "email": r.get("email") or "",
            "deputy": r.get("deputy") or "",
            "note": r.get("note") or "",
        }
        for r in d.get("contacts", [])
    ]
    strategic = sum(1 for r in d.get("contacts", []) if r.get("level") in ("strategic", "both"))
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "last_updated": d.get("last_updated") or "",
        "responsible": d.get("responsible") or "",
        "contacts": rows,
        "contact_count": str(len(rows)),
        "strategic_count": str(strategic),
    }


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today's date and the author as the one responsible for the list."""
    author = ctx.author or Author(name="")
    return {"last_updated": ctx.today, "responsible": author.name, "contacts": [{}]}


def sample() -> dict[str, Any]:
    """A district's list with strategic and operative contacts and one actor outside the list."""

    def row(actor: str, level: str, function: str, person: str, phone: str, email: str, **kw: str):
        return {
            "actor": actor,
            "other_name": kw.get("other_name", ""),
            "level": level,
            "function": function,
            "contact_person": person,
            "phone": phone,
            "email": email,
            "deputy": kw.get("deputy", ""),
            "note": kw.get("note", ""),
        }

    return {
        "last_updated": "2026-11-02",
        "responsible": "Enhetschef sociala insatsgrupper",
        "contacts": [
            row(
                "police",
                "both",
                "Kommunpolis",
                "Anders Berg",
                "114 14",
                "kommunpolis.rinkeby-kista@polisen.se",
                deputy="Sara Holm, områdespolis",
                note="Deltar i SIG-möten varannan tisdag",
            ),
            row(
                "social",
                "operative",
                "Mottagningen barn och unga",
                "Lena Ekström",
                "08-508 01 100",
                "mottagning.bou.rinkeby-kista@stockholm.se",
                other_name="Barn och ungdom",
                deputy="Jourhavande socialsekreterare",
            ),
            row(
                "school",
                "strategic",
                "Rektor",
                "Mikael Nordin",
                "08-508 42 000",
                "husbygardsskolan@edu.stockholm.se",
            ),
            row(
                "field",
                "operative",
                "Fältassistenter kvällstid",
                "",
                "076-123 45 67",
                "faltassistenter.rinkeby-kista@stockholm.se",
                note="Nås fredagar och lördagar till kl. 01",
            ),
            row(
                "other",
                "operative",
                "Föreningssamordnare",
                "Fatima Ali",
                "08-555 123 40",
                "kontakt@ikkista.se",
                other_name="Fotbollsföreningen IK Kista",
            ),
        ],
    }


DOCUMENT_TYPE = DocumentType(
    slug="contact_list",
    annex="1",
    title=_l("Kontaktlista för samverkan"),
    form_class=ContactListForm,
    template="contact_list.docx",
    subject="district",
    build_context=build_context,
    sample=sample,
    initial=initial,
    editors=("caseworker", "manager"),
    access="district",
    sample_expect=(
        "Kontaktlista för samverkan",
        "Polisen/kommunpolis",
        "kommunpolis.rinkeby-kista@polisen.se",
        "Sara Holm, områdespolis",
        "Socialtjänst (enheter) – Barn och ungdom",
        "Fotbollsföreningen IK Kista",
        "2026-11-02",
    ),
)
