"""Checklista för stadsdelsförvaltningen (the guidance's yes/no questions)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.shared import Mm
from docx_kit import (
    cell_text,
    header_row,
    label_value_table,
    letterhead,
    new_document,
    new_table,
    para,
    tag,
)

FILENAME = "district_checklist.docx"


def build() -> DocumentObject:
    """The district management's answers, one row per question, comments under the question."""
    title = "Checklista för stadsdelsförvaltningen"
    doc = new_document(title, "Sociala insatsgrupper")
    letterhead(doc, [f"{title} · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"])
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Vägledning för sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Stadsdelsförvaltningens ledning besvarar vägledningens frågor om samverkan på "
        "strukturell och operativ nivå, säkerhetssamtal och kompetens. Svaren visar om "
        "förutsättningarna för arbetet med sociala insatsgrupper finns på plats och var "
        "det behövs åtgärder.",
    )

    doc.add_heading("Uppgifter", level=1)
    label_value_table(
        doc,
        [
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Datum", "{{ answered_on }}"),
            ("Besvarad av", "{{ answered_by }}", "Svar",
             "Ja {{ yes_count }}, nej {{ no_count }}, obesvarade {{ open_count }} "
             "(av {{ total_count }})"),
        ],
    )  # fmt: skip

    doc.add_heading("Frågor", level=1)
    _questions_table(doc)

    doc.add_heading("Övriga kommentarer och planerade åtgärder", level=1)
    tag(doc, "{%p if comments %}")
    para(doc, "{{ comments }}")
    tag(doc, "{%p else %}")
    para(doc, "Inga övriga kommentarer.")
    tag(doc, "{%p endif %}")
    return doc


def _questions_table(doc: DocumentObject) -> None:
    """Number, question, Ja/Nej boxes; a comment, when there is one, on a row under it."""
    table = new_table(doc, 7, [Mm(10), Mm(124), Mm(36)])
    header_row(table, "Nr", "Fråga", "Svar")
    cell_text(table.rows[1].cells[0], "{%tr for q in questions %}")
    number, question, answer = table.rows[2].cells
    cell_text(number, "{{ q.number }}", align=WD_ALIGN_PARAGRAPH.RIGHT)
    cell_text(question, "{{ q.text }}")
    cell_text(answer, "{{ q.yes }}", " Ja\u2003", "{{ q.no }}", " Nej")
    cell_text(table.rows[3].cells[0], "{%tr if q.comment %}")
    comment = table.rows[4].cells[1].merge(table.rows[4].cells[2])
    cell_text(comment, ("Kommentar: ", {"size": 8.5, "grey": True}), "{{ q.comment }}")
    cell_text(table.rows[5].cells[0], "{%tr endif %}")
    cell_text(table.rows[6].cells[0], "{%tr endfor %}")
    table.rows[2]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    for cell in table.rows[2].cells:
        for paragraph in cell.paragraphs:
            paragraph.paragraph_format.keep_with_next = True
