"""Checklista kompetenskrav (bilaga 2.3) for a recruitment candidate.

The guidance (l. 737–740) uses the competence checklist both when recruiting and for current
staff. A candidate has no account, so this is a district document naming the applicant: only the
district's managers see it (``access="employee"`` with no employee), and it is never counted in the
district checklist's "filled for N of M staff" (that counts the ``competence`` type only).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.validators import DataRequired

from formsvc.doctypes import DocumentType, RenderInput
from formsvc.forms._base import text
from formsvc.forms.competence import CompetenceForm
from formsvc.forms.competence import build_context as _employee_context
from formsvc.forms.competence import initial as _initial
from formsvc.forms.competence import sample as _employee_sample

_REQUIRED = DataRequired(_l("Fältet måste fyllas i."))


class CandidateCompetenceForm(CompetenceForm):
    candidate_name = text(_l("Den sökandes namn"), 200, [_REQUIRED])
    position = text(_l("Sökt tjänst (t.ex. lots eller samordnare)"), 200, [_REQUIRED])
    sections = [
        (_l("Sökande"), ["candidate_name", "position"]),
        *CompetenceForm.sections,
    ]
    intro = _l(
        "Gå igenom vägledningens kompetenskrav för lotsar och samordnare med en sökande vid "
        "rekrytering, gärna tillsammans med HR. Checklistan räknas inte i uppföljningen av "
        "personalens kompetens. Bara chefer i stadsdelsförvaltningen ser den."
    )


def build_context(ri: RenderInput) -> dict[str, Any]:
    """The employee checklist's values, with the applicant in the employee's place."""
    d = ri.data
    return _employee_context(ri) | {
        "employee": {"name": d.get("candidate_name") or "", "title": d.get("position") or ""}
    }


def sample() -> dict[str, Any]:
    """An applicant for a lots post, assessed at the interview."""
    return _employee_sample() | {
        "candidate_name": "Exempel Sökande",
        "position": "Lots, SIG unga",
        "training_plan": "Introduktion i SIG-arbetet och kurs i våldsbejakande extremism "
        "under de första sex månaderna.",
    }


DOCUMENT_TYPE = DocumentType(
    slug="competence_candidate",
    annex="2.3",
    title=_l("Checklista kompetenskrav – sökande vid rekrytering"),
    form_class=CandidateCompetenceForm,
    template="competence_candidate.docx",
    subject="district",
    build_context=build_context,
    sample=sample,
    initial=_initial,
    editors=("manager",),
    access="employee",
    checklists={"requirements": "competence"},
    sample_expect=(
        "Exempel Sökande",
        "Lots, SIG unga",
        "Underlag vid rekrytering",
        "Socionomexamen 2019",
        "2026-11-20",
    ),
)
