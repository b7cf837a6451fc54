"""Handlingsplan (bilaga 3.5): the participant's goals, activities and who receives the plan."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_wtf import FlaskForm
from wtforms import DateField, FieldList, FormField, SelectField
from wtforms.validators import DataRequired, Optional

from formsvc.doctypes import (
    DocumentType,
    FormContext,
    RenderInput,
    SignerSlot,
    Subject,
    printed_subject,
    signer_lines,
)
from formsvc.forms._base import SubForm, choices, long_text, row_is_blank, text
from formsvc.forms.consent import INFO_KINDS, TO_ACTOR
from formsvc.forms.needs_inventory import AREAS

#: The life areas of the guidance (those of the needs inventory, bilaga 3.1) and "other".
NEED_AREAS: dict[str, Any] = {**AREAS, "other": _l("Annat")}
#: A goal's status at a follow-up; "" until the plan is first followed up.
STATUSES: dict[str, Any] = {
    "": _l("Inte uppföljt"),
    "achieved": _l("Uppnått"),
    "ongoing": _l("Pågår"),
    "not_achieved": _l("Ej uppnått"),
}
#: The kinds of information (forms.consent.INFO_KINDS) a goal in each need area contains. The
#: plan goes only to actors that a consent in force today lets receive every kind of every goal.
#: An area spanning two kinds needs both, since a goal does not say which one it touches
#: ("Sysselsättning/skola" is school attendance for one participant and work for another).
#: "Kriminalitet" is information about crimes and suspicions: the police's kind. "other" maps to
#: no kind: information described only in free text is never covered automatically (neither by a
#: consent's free-text "other information"), so a plan with such a goal goes to nobody until
#: the goal names its area.
NEED_AREA_KINDS: dict[str, tuple[str, ...]] = {
    "housing": ("housing",),
    "physical_health": ("health",),
    "mental_health": ("health",),
    "occupation": ("school", "employment"),
    "economy": ("economy",),
    "network": ("network",),
    "leisure": ("leisure",),
    "crime": ("police",),
    "substance_use": ("substance",),
    "other": (),
}
if set(NEED_AREA_KINDS) != set(NEED_AREAS) or not {
    k for kinds in NEED_AREA_KINDS.values() for k in kinds
} <= set(INFO_KINDS):
    raise RuntimeError("NEED_AREA_KINDS must map every need area to kinds of INFO_KINDS")
CONSENT_STATES: dict[str, Any] = {
    "draft": _l("utkast"),
    "awaiting_signatures": _l("väntar på underskrift"),
    "pending_start": _l("undertecknat men börjar gälla senare"),
}
_DATE = _l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD).")


class GoalRow(SubForm):
    area = SelectField(
        _l("Behovsområde"),
        choices=choices([("", _l("– välj –")), *NEED_AREAS.items()]),
        default="",
    )
    goal = text(_l("Mätbart mål"), 500)
    activity = text(_l("Aktivitet"), 500)
    start = DateField(_l("Från"), validators=[Optional()])
    end = DateField(_l("Till"), validators=[Optional()])
    where = text(_l("Var"), 200)
    how = text(_l("Hur"), 500)
    responsible = text(_l("Ansvarig aktör"), 200)
    contact = text(_l("Kontaktperson"), 200)
    involved = text(_l("Vilka medverkar"), 300)
    status = SelectField(_l("Status"), choices=choices(STATUSES), default="")


class DistributionRow(SubForm):
    actor = text(_l("Aktör"), 200)
    contact = text(_l("Kontaktperson eller enhet"), 200)


class ActionPlanForm(FlaskForm):
    plan_date = DateField(_l("Datum för handlingsplanen"), validators=[DataRequired(_DATE)])
    long_term_goal = long_text(
        _l("Långsiktigt mål"), 2000, [DataRequired(_l("Skriv det långsiktiga målet."))]
    )
    goals = FieldList(FormField(GoalRow), min_entries=0)
    own_commitments = long_text(_l("Deltagarens egna åtaganden"), 2000)
    guardian_commitments = long_text(_l("Vårdnadshavarnas åtaganden"), 2000)
    follow_up_date = DateField(_l("Datum för uppföljningen"), validators=[Optional()])
    follow_up_note = long_text(_l("Anteckningar från uppföljningen"), 4000)
    next_follow_up = DateField(
        _l("Nästa uppföljningsmöte"),
        validators=[DataRequired(_l("Ange datum för nästa uppföljningsmöte (ÅÅÅÅ-MM-DD)."))],
    )
    distribution = FieldList(FormField(DistributionRow), min_entries=0)

    sections = [
        (_l("Handlingsplan"), ["plan_date", "long_term_goal"]),
        (_l("Mål och aktiviteter"), ["goals"]),
        (_l("Egna åtaganden"), ["own_commitments", "guardian_commitments"]),
        (_l("Uppföljning"), ["follow_up_date", "follow_up_note", "next_follow_up"]),
        (_l("Sändlista: aktörer som får handlingsplanen"), ["distribution"]),
    ]
    intro = _l(
        "Handlingsplanen upprättas tillsammans med den inskrivna personen. Målen ska vara mätbara "
        "och det ska framgå när, var och hur aktiviteterna ska ske, vilka som medverkar och vem "
        "som ansvarar för vad. Vid uppföljning anger du varje måls status och datum för "
        "uppföljningen; varje sparad ändring blir en ny version. Planen får bara lämnas till "
        "aktörer som omfattas av deltagarens sekretessbrytande medgivande."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """Which consent the distribution list is checked against, and consents that do not
        count yet."""
        consents = ctx.facts.get("consents")
        if consents is None:
            return []
        out: list[str] = []
        if not consents.valid:
            out.append(
                _(
                    "Det finns inget sekretessbrytande medgivande (bilaga 3.2) som gäller i dag "
                    "(%(d)s). Handlingsplanen får inte lämnas till någon aktör förrän ett "
                    "medgivande är undertecknat och gäller; lämna sändlistan tom tills dess.",
                    d=consents.on.isoformat(),
                )
            )
        else:
            out.append(
                _(
                    "Sändlistan kontrolleras mot medgivandet som gäller i dag (%(refs)s): en "
                    "aktör får planen bara om medgivandet låter aktören ta emot uppgifter om "
                    "varje behovsområde i planen. Får ta emot uppgifter: %(names)s.",
                    refs=", ".join(doc.reference for doc, _cover in consents.valid),
                    names=", ".join(consents.actors(TO_ACTOR)) or "–",
                )
            )
        for doc, state in consents.pending:
            out.append(
                _(
                    "Medgivandet %(ref)s räknas inte (%(state)s): bara ett undertecknat "
                    "medgivande som gäller i dag gör det.",
                    ref=doc.reference,
                    state=str(CONSENT_STATES.get(state, state)),
                )
            )
        return out

    def check(self, ctx: FormContext) -> bool:
        """Goals complete, dates in order, recipients covered by the consent."""
        ok = self._check_goals()
        start = self.plan_date.data
        followed = self.follow_up_date.data
        if start and followed and followed < start:
            self.follow_up_date.errors.append(
                _("Uppföljningen kan inte vara före handlingsplanens datum.")
            )
            ok = False
        earliest = max(d for d in (start, followed, date.min) if d)
        nxt = self.next_follow_up.data
        if nxt and nxt < earliest:
            self.next_follow_up.errors.append(
                _("Nästa uppföljningsmöte kan inte vara före %(d)s.", d=earliest.isoformat())
            )
            ok = False
        statuses = [row.form.status.data for row in self.goals if row.form.status.data]
        if statuses and not followed:
            self.follow_up_date.errors.append(
                _("Ange datum för uppföljningen när du anger målens status.")
            )
            ok = False
        return self._check_distribution(ctx) and ok

    def _check_goals(self) -> bool:
        ok = True
        filled = 0
        for row in self.goals:
            sub = row.form
            if row_is_blank(sub):
                continue
            filled += 1
            if not sub.area.data:
                sub.area.errors.append(_("Välj behovsområde."))
                ok = False
            if not sub.goal.data:
                sub.goal.errors.append(_("Skriv ett mätbart mål."))
                ok = False
            if sub.start.data and sub.end.data and sub.end.data < sub.start.data:
                sub.end.errors.append(_("Slutdatumet kan inte vara före startdatumet."))
                ok = False
        if not filled:
            self.goals.errors.append(_("Ange minst ett mål."))
            ok = False
        return ok

    def plan_kinds(self) -> list[str | None]:
        """The kinds of information the plan's goals contain (None: a goal in "other")."""
        kinds: list[str | None] = []
        for row in self.goals:
            area = row.form.area.data
            if row_is_blank(row.form) or area not in NEED_AREA_KINDS:
                continue
            kinds += list(NEED_AREA_KINDS[area]) or [None]
        return list(dict.fromkeys(kinds))

    def _check_distribution(self, ctx: FormContext) -> bool:
        """Every recipient may receive, from us, every kind of information the plan contains,
        under a consent in force today; with no such consent, nobody may."""
        recipients = [row.form.actor for row in self.distribution if row.form.actor.data]
        kinds = self.plan_kinds()
        if not recipients or not kinds or ctx.facts.get("offline"):
            return True  # no goals is its own error; offline (`flask render`) sends nothing
        consents = ctx.facts.get("consents")
        ok = True
        for actor in recipients:
            if consents is None:
                reason = _("Det finns inget medgivande att kontrollera mot.")
            else:
                answer = consents.may_share_all(actor.data, kinds, TO_ACTOR)
                if answer.allowed:
                    continue
                reason = answer.reason
            message = _(
                "%(name)s får inte handlingsplanen: %(reason)s", name=actor.data, reason=reason
            )
            if None in kinds:
                message += " " + _(
                    "Välj det behovsområde målet gäller i stället för ”Annat”, eller ta bort "
                    "aktören från sändlistan."
                )
            else:
                message += " " + _(
                    "Ta bort aktören från sändlistan, eller ändra medgivandet först."
                )
            actor.errors.append(message)
            ok = False
        return ok


def guardian_signs(subject: Subject | None, data: dict[str, Any]) -> bool:
    """True when the participant is under 18 on the plan's date."""
    day = data.get("plan_date")
    return bool(subject and day and subject.age_on(date.fromisoformat(day)) < 18)


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    s = ri.subject
    goals = [
        {
            "number": str(i),
            "area": str(NEED_AREAS.get(g.get("area") or "", "")),
            "goal": g.get("goal") or "",
            "activity": g.get("activity") or "",
            "when": _period(g.get("start"), g.get("end")),
            "where": g.get("where") or "",
            "how": g.get("how") or "",
            "responsible": g.get("responsible") or "",
            "contact": g.get("contact") or "",
            "involved": g.get("involved") or "",
            "status": str(STATUSES.get(g.get("status") or "", "")),
        }
        for i, g in enumerate(d.get("goals", []), start=1)
    ]
    distribution = [
        {"actor": r.get("actor") or "", "contact": r.get("contact") or ""}
        for r in d.get("distribution", [])
    ]
    checked = d.get("distribution_checked") or {}
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "participant": _participant(s),
        "plan_kinds": ", ".join(_kind_labels(d.get("goals", []))),
        "distribution_basis": _(
            "Sändlistan kontrollerades %(d)s mot medgivande %(refs)s.",
            d=checked.get("on", ""),
            refs=", ".join(checked.get("consents", [])),
        )
        if distribution and checked.get("consents")
        else "",
        "caseworker": {"name": ri.author.name, "title": ri.author.title},
        "plan_date": d.get("plan_date") or "",
        "long_term_goal": d.get("long_term_goal") or "",
        "goals": goals,
        "own_commitments": d.get("own_commitments") or "",
        "guardian_commitments": d.get("guardian_commitments") or "",
        "followed_up": bool(d.get("follow_up_date")),
        "follow_up_date": d.get("follow_up_date") or "",
        "follow_up_note": d.get("follow_up_note") or "",
        "next_follow_up": d.get("next_follow_up") or "",
        "distribution": distribution,
        "signers": signer_lines(ri, signers(ri)),
    }


def _kind_labels(goals: list[Any]) -> list[str]:
    """The kinds of information the goals contain, in words, in INFO_KINDS order."""
    areas = {g.get("area") for g in goals if isinstance(g, dict)}
    kinds = {k for a in areas for k in NEED_AREA_KINDS.get(a or "", ())}
    labels = [str(label) for key, label in INFO_KINDS.items() if key in kinds]
    if "other" in areas:
        labels.append(_("uppgifter som bara beskrivs i fritext (behovsområde Annat)"))
    return labels


def stamp(ctx: FormContext) -> dict[str, Any]:
    """Stored with the plan when saved: the day and the consents its distribution was checked
    against (printed under the distribution list)."""
    consents = ctx.facts.get("consents")
    if consents is None or not consents.valid:
        return {}
    return {
        "distribution_checked": {
            "on": consents.on.isoformat(),
            "consents": [doc.reference for doc, _cover in consents.valid],
        }
    }


def signers(ri: RenderInput) -> list[SignerSlot]:
    """The participant and the caseworker; a guardian too when under 18 on the plan's date."""
    s = ri.subject
    slots = [
        SignerSlot("participant", pgettext("signer role", "Deltagare"), name=s.name if s else ""),
        SignerSlot(
            "caseworker",
            pgettext("signer role", "Lots/samordnare"),
            kind="staff",
            staff_role="caseworker",
            name=ri.author.name,
        ),
    ]
    if guardian_signs(s, dict(ri.data)):
        slots.append(SignerSlot("guardian1", pgettext("signer role", "Vårdnadshavare")))
    return slots


def _period(start: str | None, end: str | None) -> str:
    if start and end:
        return f"{start} – {end}"
    if start:
        return _("från %(d)s", d=start)
    if end:
        return _("till %(d)s", d=end)
    return ""


def _participant(s: Subject | None) -> dict[str, str]:
    return printed_subject(s)


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today's date, one goal row, and as the distribution list the actors that today's
    consent lets receive information from us."""
    consents = ctx.facts.get("consents")
    actors = consents.actors(TO_ACTOR) if consents is not None else []
    return {
        "plan_date": ctx.today,
        "goals": [{}],
        "distribution": [{"actor": a} for a in actors] or [{}],
    }


def sample() -> dict[str, Any]:
    """A plan for a 16-year-old, followed up once."""
    return {
        "plan_date": "2026-12-07",
        "long_term_goal": (
            "Noah ska ha lämnat den kriminella livsstilen, gå i skolan varje dag och ha en "
            "meningsfull fritid med vänner utanför kriminaliteten."
        ),
        "goals": [
            {
                "area": "occupation",
                "goal": "Minst 90 procent närvaro i skolan under vårterminen",
                "activity": "Daglig närvarokontroll och veckovisa samtal med mentor",
                "start": "2027-01-08",
                "end": "2027-06-11",
                "where": "Husbygårdsskolan",
                "how": "Mentor sms:ar lotsen vid frånvaro samma dag",
                "responsible": "Skola/elevhälsa",
                "contact": "Mentor Lina Ahmadi",
                "involved": "Noah, mamma, mentor, lots",
                "status": "ongoing",
            },
            {
                "area": "leisure",
                "goal": "Träna med fotbollslaget två gånger i veckan",
                "activity": "Anmälan till IK Kista P16 och busskort",
                "start": "2026-12-14",
                "end": "2027-03-31",
                "where": "Kista sportcentrum",
                "how": "Lotsen följer med till första träningen",
                "responsible": "Socialtjänsten",
                "contact": "Lots Karin Lind",
                "involved": "Noah, tränare Sara Nilsson",
                "status": "achieved",
            },
            {
                "area": "economy",
                "goal": "En avbetalningsplan för skulden finns",
                "activity": "Möte med budget- och skuldrådgivare",
                "start": "2027-01-15",
                "end": "2027-02-28",
                "where": "Rinkeby-Kista stadsdelsförvaltning",
                "how": "Gemensamt möte, lotsen bokar",
                "responsible": "Socialtjänsten",
                "contact": "Budget- och skuldrådgivare Omar Saleh",
                "involved": "Noah, mamma",
                "status": "not_achieved",
            },
        ],
        "own_commitments": (
            "Jag går till skolan varje dag och hör av mig till min lots om något händer."
        ),
        "guardian_commitments": "Mamma väcker Noah på morgonen och följer med på skuldmötet.",
        "follow_up_date": "2027-02-01",
        "follow_up_note": (
            "Fotbollen fungerar bra. Skuldmötet blev inte av; nytt möte bokas i februari."
        ),
        "next_follow_up": "2027-03-01",
        "distribution": [
            {"actor": "Polismyndigheten", "contact": "Kommunpolis Anders Berg"},
            {"actor": "Skola/elevhälsa", "contact": "Husbygårdsskolan, mentor Lina Ahmadi"},
        ],
    }


def sample_subject() -> Subject:
    """The participant of the sample: 16 on the plan's date, SIG unga."""
    return Subject(
        name="Noah Lindqvist",
        id_kind="personnummer",
        id_number="20100914-1233",
        birth_date=date(2010, 9, 14),
        target_group="sig_unga",
    )


DOCUMENT_TYPE = DocumentType(
    slug="action_plan",
    annex="3.5",
    title=_l("Handlingsplan"),
    form_class=ActionPlanForm,
    template="action_plan.docx",
    subject="participant",
    build_context=build_context,
    signers=signers,
    sample=sample,
    sample_subject=sample_subject,
    initial=initial,
    stamp=stamp,
    editors=("caseworker", "manager"),
    sample_expect=(
        "Noah Lindqvist",
        "Minst 90 procent närvaro i skolan under vårterminen",
        "Mentor Lina Ahmadi",
        "Ej uppnått",
        "2027-03-01",
        "Husbygårdsskolan, mentor Lina Ahmadi",
        "Vårdnadshavare",
    ),
)
