"""Uppföljning (bilaga 3.4)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.shared import Mm, Pt
from docx_kit import b, label_value_table, letterhead, loop_table, new_document, para, tag

FILENAME = "follow_up.docx"


def build() -> DocumentObject:
    """The city-wide follow-up of one participant, de-identified: no name or identity number."""
    title = "Uppföljning"
    doc = new_document(title, "Bilaga 3.4 – Sociala insatsgrupper")
    letterhead(
        doc,
        [f"{title}, bilaga 3.4 · Avidentifierad · Utskriven ", "{{ printed_at }}"],
        reference=["Avidentifierad utskrift"],
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph(
        "Bilaga 3.4 – Stadsgemensam uppföljning av sociala insatsgrupper (SIG)", style="Subtitle"
    )
    para(
        doc,
        "En första bedömning görs vid inskrivningen och en andra vid utskrivningen. Blanketten "
        "lämnas avidentifierad till socialförvaltningen, som följer upp arbetet per stadsdel och "
        "för hela staden. Den innehåller därför inte deltagarens namn eller personnummer, inte "
        "vem som gjorde bedömningen och inget dokumentnummer, och datum anges bara med år och "
        "månad.",
    )
    para(
        doc,
        "Avidentifierad betyder här att de direkta uppgifterna om vem det gäller är borttagna. "
        "Den som känner till ärendet kan ändå känna igen deltagaren, så blanketten hanteras "
        "med sekretess.",
        style="Liten text",
    )

    doc.add_heading("Bedömning", level=1)
    label_value_table(
        doc,
        [
            ("Bedömnings\u00adtillfälle", "{{ assessment }}", "Månad", "{{ assessed_on }}"),
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Målgrupp", "{{ target_group }}"),
            ("Kön", "{{ gender }}", "Inskrivnings\u00admånad", "{{ enrolled_on }}"),
        ],
    )

    tag(doc, "{%p if is_discharge %}")
    doc.add_heading("Utskrivning", level=1)
    label_value_table(
        doc,
        [("Utskrivnings\u00admånad", "{{ discharged_on }}", "Orsak", "{{ discharge_reason }}")],
    )
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if discharge_comment %}")
    para(doc, b("Kommentar: "), "{{ discharge_comment }}").paragraph_format.space_before = Pt(4)
    tag(doc, "{%p endif %}")

    doc.add_heading("Deltagarens situation vid bedömningen", level=1)
    loop_table(
        doc,
        ["Indikator", "Svar", "Källa"],
        [Mm(100), Mm(25), Mm(45)],
        "row in indicators",
        ["{{ row.question }}", "{{ row.answer }}", "{{ row.source }}"],
    )
    para(
        doc,
        "Svaren är ja, nej eller vet ej. Källa anger varifrån uppgiften kommer: deltagarens "
        "egen uppgift, polisen, socialtjänsten, en annan aktör eller annat.",
        style="Liten text",
    ).paragraph_format.space_before = Pt(3)
    return doc
