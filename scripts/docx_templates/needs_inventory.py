"""Individuell behovs- och resursinventering (bilaga 3.1)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.shared import Mm, Pt
from docx_kit import b, label_value_table, letterhead, loop_table, new_document, para, tag

FILENAME = "needs_inventory.docx"


def build() -> DocumentObject:
    """The participant's own rating of nine life areas, their resources and motivation."""
    title = "Individuell behovs- och resursinventering"
    doc = new_document(title, "Bilaga 3.1 – Sociala insatsgrupper")
    letterhead(
        doc, [f"{title}, bilaga 3.1 · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"]
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Bilaga 3.1 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Inventeringen är en del av den inledande utredningen. Den bygger på deltagarens egen "
        "upplevelse och skattning av sin livssituation, och visar vilka områden deltagaren vill "
        "förändra och vilka resurser som finns att bygga vidare på.",
    )

    doc.add_heading("Uppgifter om deltagaren", level=1)
    label_value_table(
        doc,
        [
            ("Namn", "{{ participant.name }}", "{{ participant.id_label }}",
             "{{ participant.id_value }}"),
            ("Målgrupp", "{{ participant.target_group }}", "Stadsdels\u00adförvaltning",
             "{{ district }}"),
            ("Datum", "{{ conducted_on }}", "Upprättad av", "{{ author }}"),
        ],
    )  # fmt: skip
    para(doc, b("Medverkande: "), "{{ present }}").paragraph_format.space_before = Pt(4)

    doc.add_heading("Deltagarens skattning", level=1)
    para(
        doc,
        "Deltagaren skattar själv hur det fungerar inom varje område på en skala från 1 "
        "(mycket dåligt) till 5 (mycket bra). Prioritet anger vilka områden deltagaren helst "
        "vill förändra, där 1 är viktigast.",
        keep_next=True,
    )
    loop_table(
        doc,
        ["Livsområde", "Egen skattning", "Vill förändra", "Prioritet"],
        [Mm(55), Mm(55), Mm(30), Mm(30)],
        "area in areas",
        ["{{ area.name }}", "{{ area.rating }}", "{{ area.wants_change }}", "{{ area.priority }}"],
    )

    doc.add_heading("Prioriterade områden", level=2)
    tag(doc, "{%p if priorities %}")
    tag(doc, "{%p for p in priorities %}")
    para(doc, b("{{ p.rank }}. "), "{{ p.name }}").paragraph_format.left_indent = Mm(5)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p else %}")
    para(doc, "Deltagaren har inte prioriterat något område.")
    tag(doc, "{%p endif %}")

    doc.add_heading("Beskrivning, resurser och skyddsfaktorer", level=1)
    loop_table(
        doc,
        ["Livsområde", "Deltagarens beskrivning", "Resurser och skyddsfaktorer"],
        [Mm(40), Mm(65), Mm(65)],
        "area in areas",
        ["{{ area.name }}", "{{ area.description }}", "{{ area.resources }}"],
    )

    doc.add_heading("Motivation till förändring", level=1)
    tag(doc, "{%p if motivation %}")
    para(doc, "{{ motivation }}")
    tag(doc, "{%p else %}")
    para(doc, "Ingen beskrivning av motivationen har förts in.")
    tag(doc, "{%p endif %}")
    para(
        doc,
        "Inventeringen ligger till grund för bedömningen av om utredningen ska fortsätta och "
        "för den handlingsplan som upprättas vid en inskrivning (bilaga 3.5).",
        style="Liten text",
    ).paragraph_format.space_before = Pt(8)
    return doc
