"""Hotbildsbedömning (bilaga 3.3)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.shared import Mm, Pt
from docx_kit import (
    LABEL_FILL,
    Run,
    b,
    cell_text,
    header_row,
    keep_rows_together,
    label_value_table,
    letterhead,
    loop_table,
    new_document,
    new_table,
    nobreak,
    para,
    shade,
    signature_block,
    tag,
)

FILENAME = "threat_assessment.docx"
SECRECY = f"Sekretess enligt {nobreak('26 kap. 1 §')} OSL"


def _text_or_none(doc: DocumentObject, var: str, none: str = "Inget har angetts.") -> None:
    """The value of *var*, or a grey line saying nothing was entered."""
    tag(doc, f"{{%p if {var} %}}")
    para(doc, f"{{{{ {var} }}}}")
    tag(doc, "{%p else %}")
    para(doc, none, style="Liten text")
    tag(doc, "{%p endif %}")


def _yes_no_table(doc: DocumentObject, labels: list[str], values: list[str]) -> None:
    """Labels in a shaded row, Ja/Nej under each."""
    width = Mm(170) // len(labels)
    table = new_table(doc, 2, [width] * len(labels))
    header_row(table, *labels)
    for cell, value in zip(table.rows[1].cells, values, strict=True):
        cell_text(cell, value)
    keep_rows_together(table)


def _pairs(doc: DocumentObject, rows: list[tuple[str, Run | str]]) -> None:
    """A two-column table of label | value, labels shaded."""
    table = new_table(doc, len(rows), [Mm(50), Mm(120)])
    for row, (label, value) in zip(table.rows, rows, strict=True):
        cell_text(row.cells[0], label)
        shade(row.cells[0], LABEL_FILL)
        cell_text(row.cells[1], value)
    keep_rows_together(table)


def _loop_pairs(doc: DocumentObject, loop: str, label: str, value: str) -> None:
    """Like _pairs, one row per item of *loop*."""
    table = new_table(doc, 3, [Mm(50), Mm(120)])
    cell_text(table.rows[0].cells[0], f"{{%tr for {loop} %}}")
    cell_text(table.rows[1].cells[0], label)
    shade(table.rows[1].cells[0], LABEL_FILL)
    cell_text(table.rows[1].cells[1], value)
    cell_text(table.rows[2].cells[0], "{%tr endfor %}")


def build() -> DocumentObject:
    """One participant's threat assessment, with the manager's decision and signature."""
    title = "Hotbildsbedömning"
    doc = new_document(title, "Bilaga 3.3 – Sociala insatsgrupper")
    letterhead(
        doc,
        [
            f"{title}, bilaga 3.3 · ",
            "{{ document_ref }}",
            f" · {SECRECY} · Utskriven ",
            "{{ printed_at }}",
        ],
    )
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph("Bilaga 3.3 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        b(f"Sekretess enligt {nobreak('26 kap. 1 §')} offentlighets- och sekretesslagen "
          "(2009:400), OSL. "),
        "Om en vårdnadshavare får ta del av bedömningen avgörs i varje enskilt fall "
        "(menprövning), se avsnittet om vårdnadshavares insyn.",
    )  # fmt: skip
    para(
        doc,
        "Hotbildsbedömningen görs under den inledande utrednings- och motivationsfasen. "
        "Underlaget är samtal med deltagaren och polisen, och vid behov andra "
        "aktörer i den sociala insatsgruppen. ",
        b("Arbetsledare ska alltid informeras om bedömd hotbild och besluta om vilka åtgärder "
          "som ska vidtas. Beslut ska fattas i samarbete med polismyndigheten."),
    )  # fmt: skip

    doc.add_heading("Uppgifter om deltagaren", level=1)
    label_value_table(
        doc,
        [
            ("Namn", "{{ participant.name }}", "{{ participant.id_label }}",
             "{{ participant.id_value }}"),
            ("Datum för bedömningen", "{{ assessed_on }}", "Ålder", "{{ participant.age }}"),
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Upprättad av",
             "{{ author.name }}"),
        ],
    )  # fmt: skip

    doc.add_heading("Vem är hotad?", level=1)
    _yes_no_table(
        doc,
        ["Deltagaren", "Familj eller närstående", "Personal"],
        ["{{ threatened.participant }}", "{{ threatened.family }}", "{{ threatened.staff }}"],
    )
    tag(doc, "{%p if threatened_description %}")
    para(doc, "{{ threatened_description }}").paragraph_format.space_before = Pt(4)
    tag(doc, "{%p endif %}")

    doc.add_heading("Hotaktör och förmåga", level=1)
    doc.add_heading("Hotaktör eller hotaktörer", level=2)
    _text_or_none(doc, "threat_actors")
    doc.add_heading("Hotaktörens förmåga", level=2)
    _yes_no_table(
        doc,
        ["Tillgång till vapen", "Nätverk som kan agera", "Tidigare våld"],
        ["{{ capacity.weapons }}", "{{ capacity.network }}", "{{ capacity.violence }}"],
    )
    tag(doc, "{%p if capacity_description %}")
    para(doc, "{{ capacity_description }}").paragraph_format.space_before = Pt(4)
    tag(doc, "{%p endif %}")

    doc.add_heading("Vad har hänt eller befaras – när och hur?", level=1)
    para(doc, "{{ threat_description }}")

    doc.add_heading("Källor och deras tillförlitlighet", level=1)
    tag(doc, "{%p if sources %}")
    loop_table(
        doc,
        ["Källa", "Tillförlitlighet", "Kommentar"],
        [Mm(65), Mm(30), Mm(75)],
        "s in sources",
        ["{{ s.source }}", "{{ s.reliability }}", "{{ s.comment }}"],
    )
    tag(doc, "{%p else %}")
    para(doc, "Inga källor har angetts.", style="Liten text")
    tag(doc, "{%p endif %}")

    doc.add_heading("Sårbarheter och skyddsfaktorer", level=1)
    doc.add_heading("Sårbarheter", level=2)
    _text_or_none(doc, "vulnerabilities")
    doc.add_heading("Skyddsfaktorer", level=2)
    _text_or_none(doc, "protective_factors")

    doc.add_heading("Bedömd nivå", level=1)
    _pairs(
        doc,
        [("Bedömd nivå", b("{{ level }}")), ("Polisens bedömning", "{{ police_view }}")],
    )
    para(
        doc,
        "Skalan har tre nivåer: ingen förhöjd risk, förhöjd risk och hög risk. {{ level_scale }}",
        style="Liten text",
    ).paragraph_format.space_before = Pt(3)
    tag(doc, "{%p if level_reasoning %}")
    para(doc, b("Motivering: "), "{{ level_reasoning }}")
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if police_view_note %}")
    para(doc, b("Polisens bedömning med polisens egna ord: "), "{{ police_view_note }}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Skyddsbehov", level=1)
    _text_or_none(doc, "protective_needs")

    doc.add_heading("Föreslagna åtgärder", level=1)
    tag(doc, "{%p if measures %}")
    loop_table(
        doc,
        ["Åtgärd", "Slag", "Ansvarig", "Datum"],
        [Mm(72), Mm(28), Mm(46), Mm(24)],
        "m in measures",
        ["{{ m.measure }}", "{{ m.kind }}", "{{ m.responsible }}", "{{ m.due }}"],
    )
    tag(doc, "{%p else %}")
    para(doc, "Inga åtgärder har föreslagits.", style="Liten text")
    tag(doc, "{%p endif %}")

    doc.add_heading("Kontakt hos polisen", level=1)
    _pairs(
        doc,
        [
            ("Kontaktperson", "{{ police.name }}"),
            ("Enhet", "{{ police.unit }}"),
            ("Telefon", "{{ police.phone }}"),
        ],
    )

    tag(doc, "{%p if suitability or crime %}")
    doc.add_heading("Underlag inför inskrivning", level=1)
    tag(doc, "{%p if suitability %}")
    para(
        doc,
        "Polisens bedömning av om personen är lämplig att delta i en social insatsgrupp är "
        "avgörande för det fortsatta arbetet.",
        keep_next=True,
    )
    _pairs(
        doc,
        [
            ("Lämplighet enligt polisen", b("{{ suitability }}")),
            ("Datum", "{{ suitability_on }}"),
            ("Motivering", "{{ suitability_note }}"),
        ],
    )
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if crime %}")
    doc.add_heading("Brottsbakgrund", level=2)
    _loop_pairs(doc, "c in crime", "{{ c.label }}", "{{ c.text }}")
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Nästa bedömning", level=1)
    tag(doc, "{%p if next_review %}")
    para(doc, "Hotbilden ska bedömas på nytt senast ", b("{{ next_review }}"), ".")
    tag(doc, "{%p else %}")
    para(doc, "Datum för nästa bedömning är inte bestämt.")
    tag(doc, "{%p endif %}")

    doc.add_heading("Vårdnadshavares insyn (menprövning)", level=1)
    tag(doc, "{%p if guardian.adult %}")
    para(
        doc,
        "Deltagaren var 18 år eller äldre vid bedömningen. Vårdnadshavare har då ingen rätt att "
        "ta del av uppgifterna.",
    )
    tag(doc, "{%p else %}")
    para(
        doc,
        "Sekretessen till skydd för ett barn gäller som huvudregel även mot vårdnadshavaren, men "
        "inte i den utsträckning vårdnadshavaren behöver uppgifterna för att bestämma i frågor om "
        f"barnets personliga angelägenheter ({nobreak('6 kap. 11 §')} föräldrabalken). Sekretessen "
        "gäller ändå mot vårdnadshavaren om barnet kan antas lida betydande men om uppgiften "
        f"lämnas ut ({nobreak('12 kap. 3 §')} OSL). Därför prövas varje begäran från en "
        "vårdnadshavare för sig.",
        keep_next=True,
    )
    tag(doc, "{%p if guardian.recorded %}")
    _pairs(
        doc,
        [
            ("Utfall", b("{{ guardian.outcome }}")),
            ("Prövad av", "{{ guardian.assessed_by }}"),
            ("Datum", "{{ guardian.assessed_on }}"),
            ("Motivering", "{{ guardian.reasoning }}"),
        ],
    )
    para(
        doc,
        "Prövningen gäller uppgifterna som de var när den gjordes. En ny begäran prövas på nytt.",
        style="Liten text",
    ).paragraph_format.space_before = Pt(3)
    tag(doc, "{%p else %}")
    para(
        doc,
        b("Ingen menprövning är dokumenterad. "),
        "Uppgifterna får inte lämnas ut till vårdnadshavare förrän en sådan prövning har gjorts.",
    )
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Arbetsledarens beslut", level=1)
    para(doc, ("{{ guidance }}", {"italic": True}))
    tag(doc, "{%p if decision %}")
    para(doc, "{{ decision }}")
    tag(doc, "{%p else %}")
    para(doc, "Arbetsledaren har ännu inte registrerat något beslut.", style="Liten text")
    tag(doc, "{%p endif %}")
    _pairs(doc, [("Beslutsdatum", "{{ decided_on }}"), ("Beslutet fattat av", "{{ decided_by }}")])

    doc.add_heading("Underskrift", level=1)
    para(
        doc,
        "Arbetsledaren intygar att beslutet ovan har fattats i samarbete med polismyndigheten.",
        keep_next=True,
    )
    tag(doc, "{%p for signer in signers %}")
    signature_block(doc)
    tag(doc, "{%p endfor %}")
    return doc
