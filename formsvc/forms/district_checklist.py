"""Checklista för stadsdelsförvaltningen: the guidance's yes/no questions to its management."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import DataRequired

from formsvc.doctypes import Author, DocumentType, FormContext, RenderInput
from formsvc.forms._base import YES_NO, checklist, long_text, text
from formsvc.services.facts import Basis, CompetenceFacts, ContactListFacts, TalkFacts

#: Where the service proposes an answer: a word the item's text contains (items are data an
#: administrator may reword, so they are recognised by their text, not by id or position).
_CONTACT_LIST, _SECURITY_TALK, _COMPETENCE = "kontaktlista", "säkerhetssamtal", "kompetenskrav"


class DistrictChecklistForm(FlaskForm):
    answered_on = DateField(
        _l("Datum då checklistan besvarades"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    answered_by = text(
        _l("Besvarad av (namn och befattning)"),
        200,
        [DataRequired(_l("Ange vem som besvarade checklistan."))],
    )
    questions = checklist(YES_NO)
    comments = long_text(_l("Övriga kommentarer och planerade åtgärder"), 4000)
    sections = [
        (_l("Besvarad"), ["answered_on", "answered_by"]),
        (_l("Frågor till stadsdelsförvaltningen"), ["questions"]),
        (_l("Kommentarer"), ["comments"]),
    ]
    intro = _l(
        "Stadsdelsförvaltningens ledning besvarar vägledningens frågor om samverkan, "
        "säkerhetssamtal och kompetens i arbetet med sociala insatsgrupper. Där tjänsten känner "
        "till svaret föreslår den ett; kontrollera förslaget innan du sparar."
    )

    def notices(self, ctx: FormContext) -> list[str]:
        """What the service knows: its proposed answer to each question it can answer."""
        out = []
        for entry in ctx.checklists.get("questions", []):
            answer, reason = proposal(entry.text, ctx.facts) or (None, "")
            if answer:
                out.append(
                    _(
                        "%(question)s Tjänstens förslag: %(answer)s. %(reason)s",
                        question=entry.text,
                        answer=YES_NO[answer],
                        reason=reason,
                    )
                )
            elif reason:
                out.append(f"{entry.text} {reason}")
        return out


#: At most this many documents are named in a proposal (a comment holds 1000 characters).
MAX_NAMED = 4


def _named(items: tuple[Basis, ...], label: Callable[[Basis], str]) -> str:
    """ "SIG-2026-000012 v1 (Anna, 2026-03-04), …" – the first MAX_NAMED and how many more."""
    shown = ", ".join(label(b) for b in items[:MAX_NAMED])
    more = len(items) - MAX_NAMED
    return _("%(shown)s och %(n)d till", shown=shown, n=more) if more > 0 else shown


def _by_person(b: Basis) -> str:
    return f"{b.reference} ({b.who}, {b.day})" if b.day else f"{b.reference} ({b.who})"


def _contact_list(facts: Mapping[str, Any]) -> tuple[str | None, str] | None:
    if "contact_list" not in facts:
        return None
    cl: ContactListFacts | None = facts["contact_list"]
    if cl is None:
        return "no", _("Det finns ingen kontaktlista för samverkan (bilaga 1) för stadsdelen.")
    based = _(
        "Kontaktlistan %(ref)s uppdaterades senast %(day)s och har %(n)d kontakter på strategisk "
        "nivå.",
        ref=cl.basis.reference,
        day=cl.basis.day or _("(datum saknas)"),
        n=cl.strategic_rows,
    )
    if cl.basis.day < cl.oldest_current:
        return "no", based + " " + _(
            "Den räknas inte som aktuell: den ska ha uppdaterats under de senaste %(m)d "
            "månaderna (senast %(since)s eller senare).",
            m=cl.max_age_months,
            since=cl.oldest_current,
        )
    if not cl.strategic_rows:
        return "no", based + " " + _(
            "Frågan gäller en kontaktlista på strategisk nivå: ange nivå för kontakterna i listan."
        )
    return "yes", based


def _security_talk(facts: Mapping[str, Any]) -> tuple[str | None, str] | None:
    talks: TalkFacts | None = facts.get("security_talks")
    if talks is None:
        return None
    if not talks.staff:
        return None, _("Det finns ingen operativ personal registrerad i tjänsten.")
    done = len(talks.sealed)
    reason = _(
        "%(done)d av %(staff)d medarbetare har ett undertecknat och förseglat säkerhetssamtal "
        "(bilaga 2.0) som hölls %(since)s eller senare.",
        done=done,
        staff=talks.staff,
        since=talks.since,
    )
    if talks.sealed:
        reason += " " + _("Underlag: %(docs)s.", docs=_named(talks.sealed, _by_person))
    if talks.not_counted:
        reason += " " + _(
            "%(n)d samtal som är utkast eller inte undertecknade av alla räknas inte.",
            n=talks.not_counted,
        )
    return ("yes" if done >= talks.staff else "no"), reason


def _competence(facts: Mapping[str, Any]) -> tuple[str | None, str] | None:
    comp: CompetenceFacts | None = facts.get("competence")
    if comp is None:
        return None
    if not comp.staff:
        return None, _("Det finns ingen operativ personal registrerad i tjänsten.")
    reason = _(
        "Checklistan för kompetenskrav (bilaga 2.3) är ifylld för %(filled)d av %(staff)d "
        "medarbetare. Alla krav är uppfyllda för %(met)d av %(staff)d enligt deras senaste "
        "checklista.",
        filled=len(comp.filled),
        met=len(comp.met),
        staff=comp.staff,
    )
    if comp.filled:
        reason += " " + _("Underlag: %(docs)s.", docs=_named(comp.filled, _by_person))
    return ("yes" if len(comp.met) >= comp.staff else "no"), reason


_PROPOSERS: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...] = (
    (_CONTACT_LIST, _contact_list),
    (_SECURITY_TALK, _security_talk),
    (_COMPETENCE, _competence),
)


def proposal(item_text: str, facts: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """The answer ("yes"/"no"/None) and reason the service proposes for an item, if it knows."""
    lowered = item_text.lower()
    for word, propose in _PROPOSERS:
        if word in lowered:
            return propose(facts)
    return None


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today, the author, and the service's proposed answers where it knows them."""
    author = ctx.author or Author(name="")
    rows = []
    for entry in ctx.checklists.get("questions", []):
        answer, reason = proposal(entry.text, ctx.facts) or (None, "")
        comment = _("Förslag från tjänsten: %(reason)s", reason=reason) if reason else ""
        comment = comment[:1000]  # what a checklist comment holds
        rows.append({"item_id": entry.item_id, "answer": answer, "comment": comment})
    answered_by = ", ".join(p for p in (author.name, author.title) if p)
    return {"answered_on": ctx.today, "answered_by": answered_by, "questions": rows}


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values, all formatted here (the template only places them)."""
    d = ri.data
    rows = d.get("questions", [])
    questions = [
        {
            "number": str(i),
            "text": r.get("text", ""),
            "answer": str(YES_NO.get(r.get("answer") or "", _("Ej besvarad"))),
            "yes": "☒" if r.get("answer") == "yes" else "☐",
            "no": "☒" if r.get("answer") == "no" else "☐",
            "comment": r.get("comment") or "",
        }
        for i, r in enumerate(rows, start=1)
    ]
    return {
        "district": ri.district,
        "unit": _("Socialtjänsten, %(district)s – sociala insatsgrupper", district=ri.district),
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "answered_on": d.get("answered_on") or "",
        "answered_by": d.get("answered_by") or "",
        "questions": questions,
        "yes_count": str(sum(1 for r in rows if r.get("answer") == "yes")),
        "no_count": str(sum(1 for r in rows if r.get("answer") == "no")),
        "open_count": str(sum(1 for r in rows if r.get("answer") not in ("yes", "no"))),
        "total_count": str(len(rows)),
        "comments": d.get("comments") or "",
    }


def sample() -> dict[str, Any]:
    """A district that has the structures in place but not yet all security talks."""
    answers = [
        ("yes", "Lokalt BRÅ, Rinkeby-Kista, möts varje kvartal"),
        ("yes", "Lägesbild antagen i stadsdelsnämnden i mars 2026"),
        ("yes", "Samverkansöverenskommelse med lokalpolisområdet 2025–2027"),
        ("yes", "Förslag från tjänsten: Det finns en kontaktlista för samverkan (bilaga 1)."),
        ("no", "5 av 6 medarbetare; samtal med den sjätte bokat i december"),
        ("yes", ""),
        ("no", "Uppföljning efterfrågas inte regelbundet av förvaltningsledningen"),
        ("yes", "Alla lotsar uppfyller kraven enligt sin checklista för kompetenskrav (2.3)"),
    ]
    texts = [
        "Finns det ett samverkansforum på övergripande strukturell nivå?",
        "Har det tagits fram en lokal lägesbild av tryggheten i stadsdelen de senaste två åren?",
        "Finns det lokala överenskommelser med relevanta aktörer?",
        "Har en kontaktlista för samverkan upprättats på strategisk nivå?",
        "Genomförs minst ett säkerhetssamtal med operativ personal per år?",
        "Finns det tydliga strukturer för samverkan på olika nivåer i stadsdelens organisation?",
        "Finns det en efterfrågan på uppföljning från ledningshåll inom stadsdelen?",
        "Uppfylls de kompetenskrav för lotsar/samordnare som beskrivs i vägledningen?",
    ]
    return {
        "answered_on": "2026-11-16",
        "answered_by": "Maria Lindqvist, avdelningschef individ- och familjeomsorg",
        "questions": [
            {"item_id": i + 1, "text": t, "answer": a, "comment": c}
            for i, (t, (a, c)) in enumerate(zip(texts, answers, strict=True))
        ],
        "comments": "Ledningsgruppen tar upp uppföljningen av SIG-arbetet två gånger per år "
        "från och med våren 2027.",
    }


DOCUMENT_TYPE = DocumentType(
    slug="district_checklist",
    annex="checklista",
    title=_l("Checklista för stadsdelsförvaltningen"),
    form_class=DistrictChecklistForm,
    template="district_checklist.docx",
    subject="district",
    build_context=build_context,
    sample=sample,
    initial=initial,
    editors=("manager",),
    access="district",
    checklists={"questions": "district"},
    sample_expect=(
        "Checklista för stadsdelsförvaltningen",
        "Maria Lindqvist, avdelningschef individ- och familjeomsorg",
        "Lokalt BRÅ, Rinkeby-Kista, möts varje kvartal",
        "5 av 6 medarbetare; samtal med den sjätte bokat i december",
        "två gånger per år",
        "2026-11-16",
    ),
)
