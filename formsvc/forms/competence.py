"""Checklista kompetenskrav lots/samordnare (bilaga 2.3), per employee."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import DataRequired

from formsvc.doctypes import Author, DocumentType, FormContext, RenderInput
from formsvc.forms._base import MET, checklist, long_text


class CompetenceForm(FlaskForm):
    assessed_on = DateField(
        _l("Datum för genomgången"),
        validators=[DataRequired(_l("Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."))],
    )
    requirements = checklist(MET)
    training_plan = long_text(_l("Plan för kompetensutveckling (vad, hur, när)"), 4000)
    sections = [
        (_l("Genomgång"), ["assessed_on"]),
        (_l("Kompetenskrav enligt vägledningen"), ["requirements"]),
        (_l("Kompetensutveckling"), ["training_plan"]),
    ]
    intro = _l(
        "Gå igenom vägledningens kompetenskrav för lotsar och samordnare tillsammans med "
        "medarbetaren. Underlaget används vid rekrytering och för att planera kompetensutveckling."
    )


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The Word template's values."""
    d = ri.data
    employee = ri.employee or Author(name="")
    rows = [
        {
            "text": r.get("text", ""),
            "answer": str(MET.get(r.get("answer") or "", "–")),
            "comment": r.get("comment") or "",
        }
        for r in d.get("requirements", [])
    ]
    return {
        "district": ri.district,
        "unit": f"Socialtjänsten, {ri.district}",
        "document_ref": ri.reference,
        "printed_at": ri.printed_at.isoformat(),
        "employee": {"name": employee.name, "title": employee.title},
        "manager": {"name": ri.author.name, "title": ri.author.title},
        "assessed_on": d.get("assessed_on") or "",
        "requirements": rows,
        "met_count": str(sum(1 for r in d.get("requirements", []) if r.get("answer") == "met")),
        "total_count": str(len(rows)),
        "training_plan": d.get("training_plan") or "",
    }


def initial(ctx: FormContext) -> dict[str, Any]:
    """Today's date; the checklist rows come from the active items."""
    return {"assessed_on": ctx.today}


def sample() -> dict[str, Any]:
    """A lots with most requirements met and one training planned."""
    texts = [
        "Adekvat högskoleutbildning eller av arbetsledningen bedömd likvärdig utbildning.",
        "Kunskaper om målgruppen och kriminologi.",
        "Kunskaper om våldsbejakande extremism.",
    ]
    answers = ["met", "met", "planned"]
    comments = ["Socionomexamen 2019", "", "Kurs hos Länsstyrelsen våren 2027"]
    return {
        "assessed_on": "2026-11-20",
        "requirements": [
            {"item_id": i + 1, "text": t, "answer": a, "comment": c}
            for i, (t, a, c) in enumerate(zip(texts, answers, comments, strict=True))
        ],
        "training_plan": "Utbildning i våldsbejakande extremism under våren 2027.",
    }


DOCUMENT_TYPE = DocumentType(
    slug="competence",
    annex="2.3",
    title=_l("Checklista kompetenskrav lots/samordnare"),
    form_class=CompetenceForm,
    template="competence.docx",
    subject="employee",
    build_context=build_context,
    sample=sample,
    initial=initial,
    editors=("manager",),
    access="employee",
    checklists={"requirements": "competence"},
    sample_expect=(
        "Exempel Anställd",
        "Socionomexamen 2019",
        "Kurs hos Länsstyrelsen våren 2027",
        "Utbildning planerad",
        "2026-11-20",
    ),
)
