"""Återkallelse av sekretessbrytande medgivande (bilaga 3.2): the record of a withdrawn consent.

Nobody creates it through the generic form: the signing service makes it when a consent is
withdrawn, from the caseworker's WithdrawalForm (or from a signer's receipt link) plus keys it
copies from the consent (reference, period, actors, kinds of information).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, Field, RadioField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from formsvc.doctypes import DocumentType, FormContext, RenderInput, printed_subject
from formsvc.forms import consent
from formsvc.forms._base import choices, long_text

#: How the withdrawal reached the social services; "link" is what the signing service records
#: when a signer withdraws through the personal link in their receipt.
HOW: dict[str, Any] = {
    "oral": _l("Muntligt"),
    "written": _l("Skriftligt"),
    "link": _l("Via sin personliga länk"),
}


class WithdrawalForm(FlaskForm):
    withdrawn_on = DateField(
        _l("Datum för återkallelsen"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    # Choices are checked in validate_how, so a forged value gets a Swedish message
    # and not WTForms' English "Not a valid choice".
    how = RadioField(
        _l("Hur återkallades medgivandet"),
        choices=choices(HOW),
        validate_choice=False,
        validators=[InputRequired(_l("Välj hur medgivandet återkallades."))],
    )
    details = long_text(_l("Närmare uppgifter (valfritt)"), 2000)

    def validate_how(self, field: Field) -> None:
        if field.data not in HOW:
            raise ValidationError(_l("Välj hur medgivandet återkallades."))

    def check(self, ctx: FormContext) -> bool:
        """The withdrawal cannot be dated in the future (as services.consents words it)."""
        if self.withdrawn_on.data and self.withdrawn_on.data > ctx.today:
            self.withdrawn_on.errors.append(_("Datumet kan inte ligga i framtiden."))
            return False
        return True


def _period(value: Any) -> str:
    """The consent's period as printed: "2026-12-01 – 2027-11-30" (or what is known of it)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        start, end = (str(v or "") for v in value)
        return f"{start} – {end}" if start and end else start or end
    return ""


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    withdrawn_on = d.get("withdrawn_on") or ""
    # The caseworker who wrote the record informs the actors, also when the participant withdrew
    # through their link (the service then makes the consent's caseworker the author).
    informer = ri.author.name
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "participant": printed_subject(ri.subject, withdrawn_on or None),
        "consent_id": d.get("consent_id"),
        "consent_reference": d.get("consent_reference") or "",
        "consent_period": _period(d.get("consent_period")),
        "withdrawn_on": withdrawn_on,
        "how": str(HOW.get(d.get("how") or "", "")),
        "details": d.get("details") or "",
        "recorded_by": d.get("recorded_by") or ri.author.name,
        "actors": [
            {"name": str(a.get("name") or ""), "contact": str(a.get("contact") or "")}
            for a in d.get("actors") or []
            if isinstance(a, dict)
        ],
        "info_kinds": [str(k) for k in d.get("info_kinds") or []],
        "effect": _(
            "Från och med %(date)s får inga uppgifter om den enskilde lämnas mellan "
            "socialtjänsten och aktörerna med stöd av det här medgivandet. Uppgifter som redan "
            "har lämnats kan inte tas tillbaka.",
            date=withdrawn_on,
        ),
        "inform": (
            _(
                "Handläggaren %(name)s ska utan dröjsmål informera varje aktör i listan om att "
                "medgivandet har återkallats och anteckna när det skedde.",
                name=informer,
            )
            if informer
            else _(
                "Ansvarig handläggare ska utan dröjsmål informera varje aktör i listan om att "
                "medgivandet har återkallats och anteckna när det skedde."
            )
        ),
    }


def initial(ctx: FormContext) -> dict[str, Any]:
    """Defaults: withdrawn today; how it came in is left for the caseworker to choose."""
    return {"withdrawn_on": ctx.today}


def sample() -> dict[str, Any]:
    """Valid stored data: an oral withdrawal of a consent naming the police and two actors."""
    return {
        "withdrawn_on": "2026-11-20",
        "how": "oral",
        "details": "Åsa ringde och sade att hon inte längre vill att skolan och föreningen "
        "får uppgifter om henne.\nHennes mamma Maria Öberg var med i samtalet.",
        "consent_id": 12,
        "consent_reference": "SIG-2026-000012 v1",
        "consent_period": ["2026-03-01", "2027-02-28"],
        "recorded_by": "Karin Lind",
        "actors": [
            {"name": "Polismyndigheten", "contact": "Kommunpolis Rinkeby-Kista, Anders Berg"},
            {"name": "Skola/elevhälsa", "contact": "Elevhälsan, Husbygårdsskolan"},
            {"name": "Fotbollsföreningen IK Kista", "contact": "Tränare Sara Nilsson"},
        ],
        "info_kinds": [
            "Polisens uppgifter om misstankar om brott och domar",
            "Skolgång och skolnärvaro",
            "Boende",
        ],
    }


DOCUMENT_TYPE = DocumentType(
    slug="consent_withdrawal",
    annex="3.2",
    title=_l("Återkallelse av sekretessbrytande medgivande"),
    form_class=WithdrawalForm,
    template="consent_withdrawal.docx",
    subject="participant",
    build_context=build_context,
    sample=sample,
    sample_subject=consent.sample_subject,
    initial=initial,
    # the signing service creates it when a consent is withdrawn; nobody fills it generically
    editors=(),
    # copied from the consent by the signing service (kept by `flask render`)
    service_data=(
        "consent_id",
        "consent_reference",
        "consent_period",
        "recorded_by",
        "actors",
        "info_kinds",
    ),
    sample_expect=(
        "Åsa Öberg",
        "2026-11-20",
        "Muntligt",
        "Hennes mamma Maria Öberg var med i samtalet.",
        "Informerad (datum, av vem)",
        "SIG-2026-000012 v1",
        "2026-03-01 – 2027-02-28",
        "Fotbollsföreningen IK Kista",
        "Skolgång och skolnärvaro",
    ),
)
