"""Checklista kompetenskrav lots/samordnare (bilaga 2.3)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.shared import Mm
from docx_kit import b, label_value_table, letterhead, loop_table, new_document, para, tag

FILENAME = "competence.docx"


def build() -> DocumentObject:
    """One employee's assessment against the guidance's competence requirements."""
    return build_for(candidate=False)


def build_for(*, candidate: bool) -> DocumentObject:
    """The employee's checklist, or (candidate) the same checklist for a recruitment candidate
    who has no account: the guidance uses 2.3 both when recruiting and for current staff."""
    title = "Checklista kompetenskrav lots/samordnare"
    doc = new_document(title, "Bilaga 2.3 – Sociala insatsgrupper")
    letterhead(
        doc, [f"{title}, bilaga 2.3 · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"]
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Bilaga 2.3 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Checklistan utgår från vägledningens kompetenskrav för lotsar och samordnare. Den "
        "används vid rekrytering och för att inventera behovet av kompetensutveckling.",
    )
    if candidate:
        para(
            doc,
            b("Underlag vid rekrytering. "),
            "Checklistan gäller en sökande, inte en anställd. Den räknas inte i "
            "stadsdelsförvaltningens uppföljning av personalens kompetens.",
        )
    doc.add_heading("Sökande" if candidate else "Medarbetare", level=1)
    first = (
        ("Sökande", "{{ employee.name }}", "Sökt tjänst", "{{ employee.title }}")
        if candidate
        else ("Medarbetare", "{{ employee.name }}", "Befattning", "{{ employee.title }}")
    )
    label_value_table(
        doc,
        [
            first,
            ("Genomgången av", "{{ manager.name }}", "Datum", "{{ assessed_on }}"),
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Uppfyllda krav",
             "{{ met_count }} av {{ total_count }}"),
        ],
    )  # fmt: skip
    doc.add_heading("Kompetenskrav", level=1)
    loop_table(
        doc,
        ["Krav", "Bedömning", "Kommentar"],
        [Mm(85), Mm(30), Mm(55)],
        "row in requirements",
        ["{{ row.text }}", "{{ row.answer }}", "{{ row.comment }}"],
    )
    doc.add_heading("Plan för kompetensutveckling", level=1)
    tag(doc, "{%p if training_plan %}")
    para(doc, "{{ training_plan }}")
    tag(doc, "{%p else %}")
    para(doc, b("Ingen plan behövs: "), "alla krav är uppfyllda eller inte bedömda.")
    tag(doc, "{%p endif %}")
    return doc
