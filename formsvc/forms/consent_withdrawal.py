"""Återkallelse av sekretessbrytande medgivande (bilaga 3.2): the record of a withdrawn consent.

Nobody creates it through the generic form: the signing service makes it when a consent is
withdrawn, from the caseworker's WithdrawalForm (or from a signer's receipt link) plus keys it
copies from the consent (reference, period, actors, kinds of information).
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, Field, RadioField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from formsvc.doctypes import DocumentType, FormContext, RenderInput, printed_subject
from formsvc.forms import consent
from formsvc.forms._base import choices, long_text, text
from formsvc.forms.consent import MultiCheckboxField

#: How the withdrawal reached the social services; "link" is what the signing service records
#: when a signer withdraws through the personal link in their receipt.
HOW: dict[str, Any] = {
    "oral": _l("Muntligt"),
    "written": _l("Skriftligt"),
    "link": _l("Via sin personliga länk"),
}

#: A withdrawal covers the whole consent or chosen actors and/or kinds of information.
SCOPE: dict[str, Any] = {
    "all": _l("Hela medgivandet"),
    "part": _l("Bara för vissa aktörer eller vissa slags uppgifter"),
}

#: Who withdrew, as stored; the form offers each guardian of the consent by name ("guardian:0").
WITHDRAWN_BY: dict[str, Any] = {
    "participant": _l("Den enskilde själv"),
    "guardian": _l("Vårdnadshavare"),
    "other": _l("Någon annan (ange namn)"),
}


#: Bidirectional controls and zero-width characters (issue 10, defect 9).
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _values(field: Field) -> set[str]:
    return {str(getattr(c, "value", None) or c[0]) for c in field.choices or []}


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
    withdrawn_by = RadioField(
        _l("Vem återkallade"),
        choices=choices(WITHDRAWN_BY),
        validate_choice=False,
        validators=[InputRequired(_l("Välj vem som återkallade medgivandet."))],
    )
    withdrawn_by_name = text(_l("Namn (om någon annan återkallade)"), 200)

    def validate_how(self, field: Field) -> None:
        if field.data not in HOW:
            raise ValidationError(_l("Välj hur medgivandet återkallades."))

    def validate_withdrawn_by_name(self, field: Field) -> None:
        # a name that prints reversed or with hidden characters is not the name that was said
        if _INVISIBLE.search(field.data or ""):
            raise ValidationError(
                _l("Namnet innehåller osynliga tecken eller riktningstecken. Ta bort dem.")
            )

    def validate_withdrawn_by(self, field: Field) -> None:
        if field.data not in _values(field):
            raise ValidationError(_l("Välj vem som återkallade medgivandet."))

    def check(self, ctx: FormContext) -> bool:
        """Not in the future; "someone else" is named."""
        ok = True
        if self.withdrawn_on.data and self.withdrawn_on.data > ctx.today:
            self.withdrawn_on.errors.append(_("Datumet kan inte ligga i framtiden."))
            ok = False
        if self.withdrawn_by.data == "other" and not self.withdrawn_by_name.data:
            self.withdrawn_by_name.errors.append(_("Skriv namnet på den som återkallade."))
            ok = False
        return ok


class ScopeForm(WithdrawalForm):
    """The caseworker's form: the record's fields plus what is withdrawn (all or a part)."""

    extent = RadioField(
        _l("Vad återkallas"),
        choices=choices(SCOPE),
        default="all",
        validate_choice=False,
    )
    # the view fills actors, kinds and withdrawn_by from the consent (what it still covers,
    # its guardians); every posted value is checked against those choices below
    scope_actors = MultiCheckboxField(
        _l("Aktörer som medgivandet återkallas för"), validate_choice=False
    )
    scope_kinds = MultiCheckboxField(
        _l("Uppgifter som medgivandet återkallas för"), validate_choice=False
    )

    def validate_extent(self, field: Field) -> None:
        if field.data not in SCOPE:
            raise ValidationError(_l("Välj om hela medgivandet eller en del återkallas."))

    def validate_scope_actors(self, field: Field) -> None:
        allowed = _values(field)
        if any(v not in allowed for v in field.data or []):
            raise ValidationError(_l("Välj bara bland aktörerna i listan. Ladda om sidan."))

    def validate_scope_kinds(self, field: Field) -> None:
        allowed = _values(field)
        if any(v not in allowed for v in field.data or []):
            raise ValidationError(_l("Välj bara bland uppgifterna i listan. Ladda om sidan."))

    def check(self, ctx: FormContext) -> bool:
        """A partial withdrawal names at least one actor or kind."""
        ok = super().check(ctx)
        if self.extent.data == "part" and not (self.scope_actors.data or self.scope_kinds.data):
            self.extent.errors.append(
                _("Kryssa i minst en aktör eller ett slags uppgifter som återkallas.")
            )
            ok = False
        return ok


def _period(value: Any) -> str:
    """The consent's period as printed: "2026-12-01 – 2027-11-30" (or what is known of it)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        start, end = (str(v or "") for v in value)
        return f"{start} – {end}" if start and end else start or end
    return ""


def _names(rows: Any, key: str) -> list[str]:
    return [str(r.get(key) or "") for r in rows or [] if isinstance(r, dict)]


def _by(d: dict[str, Any]) -> str:
    """Who withdrew, in words: "Vårdnadshavare Maria Öberg"."""
    by = d.get("withdrawn_by") or ""
    name = str(d.get("withdrawn_by_name") or "")
    if by == "participant":
        label = str(WITHDRAWN_BY["participant"])
        return f"{label} ({name})" if name else label
    if by == "other":
        return _("Annan person: %(name)s", name=name) if name else _("Annan person")
    label = str(WITHDRAWN_BY.get(by, ""))
    return " ".join(p for p in (label, name) if p)


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    withdrawn_on = d.get("withdrawn_on") or ""
    # The caseworker who wrote the record informs the actors, also when the participant withdrew
    # through their link (the service then makes the consent's caseworker the author).
    informer = ri.author.name
    everything = (d.get("scope") or "all") == "all"
    covered_actors = [
        {"name": str(a.get("name") or ""), "contact": str(a.get("contact") or "")}
        for a in d.get("covered_actors") or d.get("actors") or []
        if isinstance(a, dict)
    ]
    info_kinds = [str(k) for k in d.get("info_kinds") or []]
    info_other = str(d.get("info_other") or "")
    covered_kinds = info_kinds + (
        [_("Andra uppgifter: %(text)s", text=info_other)] if info_other else []
    )
    withdrawn_actors = _names(d.get("withdrawn_actors"), "name")
    withdrawn_kinds = _names(d.get("withdrawn_kinds"), "label")
    if everything:
        scope_text = _("Hela medgivandet återkallas: för alla aktörer och alla uppgifter.")
        effect = _(
            "Från och med %(date)s får inga uppgifter om den enskilde lämnas mellan "
            "socialtjänsten och aktörerna med stöd av det här medgivandet. Uppgifter som redan "
            "har lämnats kan inte tas tillbaka.",
            date=withdrawn_on,
        )
    else:
        scope_text = _(
            "Medgivandet återkallas delvis. Det som inte räknas upp här gäller fortfarande."
        )
        effect = _(
            "Från och med %(date)s får de återkallade uppgifterna inte lämnas, och ingenting "
            "lämnas till eller från de återkallade aktörerna, med stöd av det här medgivandet. "
            "Resten av medgivandet gäller som förut. Uppgifter som redan har lämnats kan inte "
            "tas tillbaka.",
            date=withdrawn_on,
        )
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
        "withdrawn_by": _by(d),
        "everything": everything,
        "scope_text": scope_text,
        "withdrawn_actors": withdrawn_actors if not everything else [_("Alla aktörer")],
        "withdrawn_kinds": withdrawn_kinds if not everything else [_("Alla uppgifter")],
        "remaining_actors": ", ".join(str(x) for x in d.get("remaining_actors") or []),
        "remaining_kinds": "; ".join(str(x) for x in d.get("remaining_kinds") or []),
        "earlier": ", ".join(str(x) for x in d.get("earlier") or []) or "–",
        "covered_actors": covered_actors,
        "actors": [
            {"name": str(a.get("name") or ""), "contact": str(a.get("contact") or "")}
            for a in d.get("actors") or []
            if isinstance(a, dict)
        ],
        "info_kinds": covered_kinds,
        "effect": effect,
        "inform": (
            _(
                "Handläggaren %(name)s ska utan dröjsmål informera varje aktör i listan om "
                "återkallelsen och anteckna när det skedde.",
                name=informer,
            )
            if informer
            else _(
                "Ansvarig handläggare ska utan dröjsmål informera varje aktör i listan om "
                "återkallelsen och anteckna när det skedde."
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
        "scope": "part",
        "withdrawn_by": "guardian",
        "recorded_by": "Karin Lind",
        # the service writes these from the consent (service_data)
        "withdrawn_by_name": "Maria Öberg",
        "covered_actors": [
            {
                "key": "police",
                "name": "Polismyndigheten",
                "contact": "Kommunpolis Rinkeby-Kista, Anders Berg",
            },
            {"key": "a0", "name": "Skola/elevhälsa", "contact": "Elevhälsan, Husbygårdsskolan"},
            {"key": "a1", "name": "Fotbollsföreningen IK Kista", "contact": "Tränare Sara Nilsson"},
        ],
        "actors": [
            {"name": "Fotbollsföreningen IK Kista", "contact": "Tränare Sara Nilsson"},
            {"name": "Polismyndigheten", "contact": "Kommunpolis Rinkeby-Kista, Anders Berg"},
            {"name": "Skola/elevhälsa", "contact": "Elevhälsan, Husbygårdsskolan"},
        ],
        "info_kinds": [
            "Polisens uppgifter om misstankar om brott och domar",
            "Skolgång och skolnärvaro",
            "Boende",
        ],
        "info_other": "Uppgifter om fritidsaktiviteter",
        "withdrawn_actors": [{"key": "a1", "name": "Fotbollsföreningen IK Kista"}],
        "withdrawn_kinds": [
            {"key": "other", "label": "Andra uppgifter: Uppgifter om fritidsaktiviteter"}
        ],
        "remaining_actors": ["Polismyndigheten", "Skola/elevhälsa"],
        "remaining_kinds": [
            "Polisens uppgifter om misstankar om brott och domar",
            "Skolgång och skolnärvaro",
            "Boende",
        ],
        "earlier": [],
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
        "scope",
        "recorded_by",
        "recorded_by_id",
        "actors",
        "covered_actors",
        "info_kinds",
        "info_other",
        "withdrawn_actors",
        "withdrawn_kinds",
        "remaining_actors",
        "remaining_kinds",
        "earlier",
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
        "Andra uppgifter: Uppgifter om fritidsaktiviteter",
        "Vårdnadshavare Maria Öberg",
        "Medgivandet återkallas delvis",
    ),
)
