"""Proaktivt säkerhetssamtal (bilaga 2.0), with checklists 2.1 and 2.2."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.oxml import OxmlElement
from docx.shared import Mm, Pt
from docx.table import Table
from docx_kit import (
    b,
    label_value_table,
    letterhead,
    loop_table,
    new_document,
    para,
    signature_block,
    tag,
)

FILENAME = "security_talk.docx"


def unsplit(table: Table) -> Table:
    """Keep each repeated row of a loop table on one page (a checklist item reads as a unit)."""
    table.rows[2]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    return table


def _checklist(doc: DocumentObject, title: str, loop: str, note: str) -> None:
    doc.add_heading(title, level=1)
    para(doc, f"{{{{ {note} }}}}", style="Liten text", keep_next=True)
    unsplit(
        loop_table(
            doc,
            ["Punkt", "Svar", "Kommentar"],
            [Mm(92), Mm(22), Mm(56)],
            loop,
            ["{{ row.text }}", "{{ row.answer }}", "{{ row.comment }}"],
        )
    )


def build() -> DocumentObject:
    """One employee's yearly security talk, signed by the manager and the employee."""
    title = "Proaktivt säkerhetssamtal"
    doc = new_document(title, "Bilaga 2.0 – Sociala insatsgrupper")
    letterhead(
        doc, [f"{title}, bilaga 2.0 · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"]
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Bilaga 2.0 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Arbetsledaren håller ett säkerhetssamtal med varje medarbetare minst en gång om året. "
        "Under samtalet går arbetsledaren och medarbetaren igenom riskfaktorer, checklistor för "
        "proaktiva säkerhetsåtgärder och de reaktiva rutinerna vid hot och våld, och kommer "
        "överens om åtgärder. Checklistorna är stadsdelens egna i stället för vägledningens "
        "bilaga 2.1 och 2.2.",
    )

    doc.add_heading("Samtalet", level=1)
    label_value_table(
        doc,
        [
            ("Medarbetare", "{{ employee.name }}", "Befattning", "{{ employee.title }}"),
            ("Arbetsledare", "{{ manager.name }}", "Befattning", "{{ manager.title }}"),
            ("Datum för samtalet", "{{ talk_date }}", "Stadsdels\u00adförvaltning",
             "{{ district }}"),
        ],
    )  # fmt: skip

    doc.add_heading("Riskfaktorer", level=1)
    para(doc, "Faktorer som kan öka risken för hot eller våld mot medarbetaren:", keep_next=True)
    loop_table(
        doc,
        ["Riskfaktor", "Bedömning"],
        [Mm(140), Mm(30)],
        "risk in risks",
        ["{{ risk.label }}", "{{ risk.answer }}"],
    )
    tag(doc, "{%p if risk_comment %}")
    para(doc, b("Kommentar: "), "{{ risk_comment }}").paragraph_format.space_before = Pt(4)
    tag(doc, "{%p endif %}")

    _checklist(doc, "Generella proaktiva säkerhetsåtgärder", "row in general", "general_note")
    _checklist(
        doc,
        "Proaktiva säkerhetsåtgärder i sociala medier",
        "row in social_media",
        "social_media_note",
    )
    para(doc, "{{ checklist_summary }}", style="Liten text").paragraph_format.space_before = Pt(3)

    doc.add_heading("Reaktiva rutiner", level=1)
    para(doc, "Så här gör medarbetaren och arbetsledaren om något händer:", keep_next=True)
    for heading, value in (
        ("Vid hot", "routine_threat"),
        ("Vid våld", "routine_violence"),
        ("Vem larmas och kontaktas", "routine_alert"),
    ):
        doc.add_heading(heading, level=2)
        para(doc, f"{{{{ {value} }}}}")

    doc.add_heading("Överenskomna åtgärder", level=1)
    tag(doc, "{%p if measures %}")
    unsplit(
        loop_table(
            doc,
            ["Åtgärd", "Ansvarig", "Klart senast"],
            [Mm(100), Mm(45), Mm(25)],
            "m in measures",
            ["{{ m.measure }}", "{{ m.responsible }}", "{{ m.due }}"],
        )
    )
    tag(doc, "{%p else %}")
    para(doc, "Inga särskilda åtgärder har bestämts.")
    tag(doc, "{%p endif %}")

    doc.add_heading("Nästa säkerhetssamtal", level=1)
    para(doc, "Nästa säkerhetssamtal ska hållas senast ", b("{{ next_talk }}"), ".")
    tag(doc, "{%p if notes %}")
    doc.add_heading("Övriga anteckningar", level=1)
    para(doc, "{{ notes }}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Dokumentets hantering", level=1)
    para(
        doc,
        "När arbetsledaren och medarbetaren har skrivit under arkiveras dokumentet och ",
        b("delges säkerhetschef"),
        ", säkerhetsstrateg eller motsvarande funktion inom förvaltningen. Uppgifterna kan "
        "omfattas av sekretess enligt offentlighets- och sekretesslagen (2009:400).",
    )

    doc.add_heading("Underskrifter", level=1)
    para(
        doc,
        "Vi har gått igenom innehållet i detta dokument tillsammans och är överens om åtgärderna.",
        keep_next=True,
    )
    tag(doc, "{%p for signer in signers %}")
    signature_block(doc)
    tag(doc, "{%p endfor %}")
    return doc
