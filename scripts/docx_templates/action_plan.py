"""Handlingsplan (bilaga 3.5)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.shared import Mm
from docx_kit import (
    LABEL_FILL,
    b,
    cell_text,
    keep_rows_together,
    label_value_table,
    letterhead,
    loop_table,
    new_document,
    new_table,
    para,
    shade,
    signature_block,
    tag,
)

FILENAME = "action_plan.docx"
LABEL_WIDTH, VALUE_WIDTH = Mm(32), Mm(53)


def _goal_table(doc: DocumentObject) -> None:
    """One goal: long values across the table, short ones two to a row."""
    wide = [
        ("Mätbart mål", "{{ g.goal }}"),
        ("Aktivitet", "{{ g.activity }}"),
        ("Hur", "{{ g.how }}"),
    ]
    narrow = [
        ("När", "{{ g.when }}", "Var", "{{ g.where }}"),
        ("Ansvarig aktör", "{{ g.responsible }}", "Kontaktperson", "{{ g.contact }}"),
        ("Vilka medverkar", "{{ g.involved }}", "Status", "{{ g.status }}"),
    ]
    table = new_table(doc, len(wide) + len(narrow), [LABEL_WIDTH, VALUE_WIDTH] * 2)
    for row, (label, value) in zip(table.rows, wide, strict=False):
        cell_text(row.cells[0], label)
        shade(row.cells[0], LABEL_FILL)
        cell_text(row.cells[1].merge(row.cells[3]), value)
    for row, values in zip(table.rows[len(wide) :], narrow, strict=True):
        for index, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
            cell_text(cell, value)
            if index % 2 == 0:
                shade(cell, LABEL_FILL)
    keep_rows_together(table)


def build() -> DocumentObject:
    """A participant's action plan, signed by the participant and the caseworker."""
    title = "Handlingsplan"
    doc = new_document(title, "Bilaga 3.5 – Sociala insatsgrupper")
    letterhead(
        doc, [f"{title}, bilaga 3.5 · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"]
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Bilaga 3.5 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Handlingsplanen har upprättats tillsammans med den inskrivna personen. Den visar vilka "
        "mål arbetet i den sociala insatsgruppen har, vilka aktiviteter som ska genomföras, när, "
        "var och hur de ska ske, vilka som medverkar och vem som ansvarar för vad. Planen följs "
        "upp fortlöpande tillsammans med den inskrivna personen.",
    )

    doc.add_heading("Uppgifter om den enskilde", level=1)
    label_value_table(
        doc,
        [
            ("Namn", "{{ participant.name }}", "{{ participant.id_label }}",
             "{{ participant.id_value }}"),
            ("Datum för planen", "{{ plan_date }}", "Lots/samordnare", "{{ caseworker.name }}"),
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Nästa uppföljning",
             "{{ next_follow_up }}"),
        ],
    )  # fmt: skip

    doc.add_heading("Långsiktigt mål", level=1)
    para(doc, "{{ long_term_goal }}")

    doc.add_heading("Mål och aktiviteter", level=1)
    tag(doc, "{%p for g in goals %}")
    doc.add_heading("Mål {{ g.number }}: {{ g.area }}", level=2)
    _goal_table(doc)
    tag(doc, "{%p endfor %}")

    doc.add_heading("Egna åtaganden", level=1)
    doc.add_heading("Deltagarens åtaganden", level=2)
    tag(doc, "{%p if own_commitments %}")
    para(doc, "{{ own_commitments }}")
    tag(doc, "{%p else %}")
    para(doc, "Inga egna åtaganden har skrivits in.", style="Liten text")
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if guardian_commitments %}")
    doc.add_heading("Vårdnadshavarnas åtaganden", level=2)
    para(doc, "{{ guardian_commitments }}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Uppföljning", level=1)
    tag(doc, "{%p if followed_up %}")
    para(
        doc,
        "Planen följdes upp ",
        b("{{ follow_up_date }}"),
        ". Varje måls status vid uppföljningen står i tabellen för målet ovan.",
    )
    tag(doc, "{%p else %}")
    para(doc, "Planen har inte följts upp än.")
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if follow_up_note %}")
    para(doc, b("Anteckningar: "), "{{ follow_up_note }}")
    tag(doc, "{%p endif %}")
    para(doc, "Nästa uppföljningsmöte: ", b("{{ next_follow_up }}"), ".")

    doc.add_heading("Sändlista", level=1)
    para(
        doc,
        "Handlingsplanen lämnas till de aktörer som är berörda och ingår i den sociala "
        "insatsgruppen, och bara till aktörer som ett sekretessbrytande medgivande (bilaga 3.2) "
        "som gäller låter ta emot uppgifter från socialtjänsten om allt planen innehåller: ",
        b("{{ plan_kinds }}"),
        ".",
        keep_next=True,
    )
    tag(doc, "{%p if distribution_basis %}")
    para(doc, "{{ distribution_basis }}", keep_next=True)
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if distribution %}")
    loop_table(
        doc,
        ["Aktör", "Kontaktperson/enhet"],
        [Mm(70), Mm(100)],
        "r in distribution",
        ["{{ r.actor }}", "{{ r.contact }}"],
    )
    tag(doc, "{%p else %}")
    para(doc, "Planen lämnas inte till några andra aktörer.", style="Liten text")
    tag(doc, "{%p endif %}")

    doc.add_heading("Underskrifter", level=1)
    para(
        doc,
        "Vi har gjort handlingsplanen tillsammans och är överens om målen, aktiviteterna och "
        "vem som ansvarar för vad.",
        keep_next=True,
    )
    tag(doc, "{%p for signer in signers %}")
    signature_block(doc)
    tag(doc, "{%p endfor %}")
    return doc
