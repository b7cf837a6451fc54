"""Checklista kompetenskrav (bilaga 2.3) for a recruitment candidate."""

from __future__ import annotations

from docx.document import Document as DocumentObject

from docx_templates.competence import build_for

FILENAME = "competence_candidate.docx"


def build() -> DocumentObject:
    """The competence checklist for someone who applies, before they have an account."""
    return build_for(candidate=True)
