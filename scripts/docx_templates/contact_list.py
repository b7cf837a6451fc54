"""Kontaktlista för samverkan (bilaga 1)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.oxml import OxmlElement
from docx.shared import Mm, Pt
from docx_kit import (
    GREY,
    b,
    cell_text,
    header_row,
    label_value_table,
    letterhead,
    new_document,
    new_table,
    para,
    tag,
)

FILENAME = "contact_list.docx"


def build() -> DocumentObject:
    """The district's list of actors and their function contacts (no signature)."""
    title = "Kontaktlista för samverkan"
    doc = new_document(title, "Bilaga 1 – Sociala insatsgrupper")
    letterhead(
        doc, [f"{title}, bilaga 1 · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"]
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Bilaga 1 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Förteckningen visar de verksamheter och kontaktpersoner som är viktiga för samverkan i "
        "stadsdelens sociala insatsgrupper, på strategisk och operativ nivå. Den uppdateras "
        "fortlöpande i samband med ordinarie verksamhetsuppföljning. Kontrollera alltid att du "
        "har den senaste versionen.",
    )

    doc.add_heading("Om listan", level=1)
    label_value_table(
        doc,
        [
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Senast uppdaterad",
             "{{ last_updated }}"),
            ("Ansvarig för listan", "{{ responsible }}", "Antal kontakter",
             "{{ contact_count }} (varav {{ strategic_count }} på strategisk nivå)"),
        ],
    )  # fmt: skip

    doc.add_heading("Kontakter", level=1)
    tag(doc, "{%p if contacts %}")
    _contacts_table(doc)
    tag(doc, "{%p else %}")
    para(doc, "Inga kontakter har förts in i listan.")
    tag(doc, "{%p endif %}")

    para(
        doc,
        b("Endast uppgifter i tjänsten. "),
        "Listan innehåller funktionsnummer, funktionsbrevlådor och kontaktpersoner i deras "
        "yrkesroll. Privata telefonnummer och e-postadresser ska inte föras in. Hör av dig till "
        "den som är ansvarig för listan om en uppgift är fel eller saknas.",
        style="Liten text",
    ).paragraph_format.space_before = Pt(6)
    return doc


def _contacts_table(doc: DocumentObject) -> None:
    """One row per contact; a note, when there is one, on a full-width row under it."""
    table = new_table(doc, 7, [Mm(36), Mm(38), Mm(34), Mm(62)])
    header_row(table, "Aktör", "Funktion/roll", "Kontaktperson", "Telefon och e-post")
    cell_text(table.rows[1].cells[0], "{%tr for row in contacts %}")
    actor, function, person, reach = table.rows[2].cells
    cell_text(actor, "{{ row.actor }}")
    _small(actor, "{{ row.level }}")
    cell_text(function, "{{ row.function }}")
    cell_text(person, "{{ row.contact_person }}")
    tag(person, "{%p if row.deputy %}")
    _small(person, "Ersättare: ", "{{ row.deputy }}")
    tag(person, "{%p endif %}")
    cell_text(reach, "{{ row.phone }}")
    reach.add_paragraph("{{ row.email }}", style="Tabelltext")
    cell_text(table.rows[3].cells[0], "{%tr if row.note %}")
    note = table.rows[4].cells[0].merge(table.rows[4].cells[3])
    cell_text(note, ("Anteckning: ", {"size": 8.5, "grey": True}), "{{ row.note }}")
    cell_text(table.rows[5].cells[0], "{%tr endif %}")
    cell_text(table.rows[6].cells[0], "{%tr endfor %}")
    table.rows[2]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    for cell in table.rows[2].cells:
        for paragraph in cell.paragraphs:
            paragraph.paragraph_format.keep_with_next = True


def _small(cell, *runs: str) -> None:
    """A grey second line in a table cell (level, deputy)."""
    paragraph = cell.add_paragraph(style="Tabelltext")
    for value in runs:
        run = paragraph.add_run(value)
        run.font.size = Pt(8.5)
        run.font.color.rgb = GREY
