"""Återkallelse av sekretessbrytande medgivande (bilaga 3.2)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.shared import Mm
from docx_kit import b, label_value_table, letterhead, loop_table, new_document, para, tag

FILENAME = "consent_withdrawal.docx"
TITLE = "Återkallelse av sekretessbrytande medgivande"


def build() -> DocumentObject:
    """The record of a withdrawn consent (context: formsvc/forms/consent_withdrawal.py)."""
    doc = new_document(TITLE, "Bilaga 3.2 – Sociala insatsgrupper")
    letterhead(
        doc,
        [
            "Återkallelse av medgivande, bilaga 3.2 · ",
            "{{ document_ref }}",
            " · Utskriven ",
            "{{ printed_at }}",
        ],
    )
    doc.add_paragraph(TITLE, style="Title")
    doc.add_paragraph("Bilaga 3.2 – Sociala insatsgrupper (SIG)", style="Subtitle")

    doc.add_heading("Uppgifter om den enskilde", level=1)
    label_value_table(
        doc,
        [
            ("Namn", "{{ participant.name }}", "{{ participant.id_label }}",
             "{{ participant.id_value }}"),
            ("Målgrupp", "{{ participant.target_group }}", "Stadsdels\u00adförvaltning",
             "{{ district }}"),
        ],
    )  # fmt: skip

    doc.add_heading("Medgivandet som återkallas", level=1)
    label_value_table(
        doc,
        [("Medgivande", "{{ consent_reference }}", "Giltighetstid", "{{ consent_period }}")],
    )

    doc.add_heading("Återkallelsen", level=1)
    label_value_table(
        doc,
        [
            ("Återkallat den", "{{ withdrawn_on }}", "Hur", "{{ how }}"),
            ("Återkallat av", "{{ withdrawn_by }}", "Registrerat av", "{{ recorded_by }}"),
            ("Utfärdande enhet", "{{ unit }}", "Tidigare återkallelser", "{{ earlier }}"),
        ],
    )
    tag(doc, "{%p if details %}")
    para(doc, b("Närmare uppgifter: "), "{{ details }}").paragraph_format.space_before = Mm(2)
    tag(doc, "{%p endif %}")

    doc.add_heading("Vad som återkallas", level=1)
    para(doc, b("{{ scope_text }}"))
    para(doc, b("Aktörer som återkallas:"), keep_next=True)
    tag(doc, "{%p for name in withdrawn_actors %}")
    para(doc, "{{ name }}", style="List Bullet")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if not withdrawn_actors %}")
    para(doc, "Ingen – de aktörer som finns kvar omfattas som förut.")
    tag(doc, "{%p endif %}")
    para(doc, b("Uppgifter som återkallas:"), keep_next=True)
    tag(doc, "{%p for kind in withdrawn_kinds %}")
    para(doc, "{{ kind }}", style="List Bullet")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if not withdrawn_kinds %}")
    para(
        doc,
        "Inga – de uppgifter som finns kvar omfattas som förut.",
    )
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if not everything %}")
    para(doc, b("Medgivandet gäller fortfarande för: "), "{{ remaining_actors }}")
    para(doc, b("och för uppgifterna: "), "{{ remaining_kinds }}")
    tag(doc, "{%p endif %}")
    para(doc, "{{ effect }}")

    doc.add_heading("Aktörer som ska informeras", level=1)
    para(doc, "{{ inform }}", keep_next=True)
    table = loop_table(
        doc,
        ["Aktör", "Kontakt", "Informerad (datum, av vem)"],
        [Mm(55), Mm(60), Mm(55)],
        "actor in actors",
        ["{{ actor.name }}", "{{ actor.contact }}", ""],
    )
    # room to write the date and a name by hand in the last column
    table.rows[2].height = Mm(11)
    table.rows[2].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST

    doc.add_heading("Vad medgivandet omfattade", level=1)
    para(doc, b("Aktörer:"), keep_next=True)
    tag(doc, "{%p for actor in covered_actors %}")
    para(
        doc,
        "{{ actor.name }}{% if actor.contact %} ({{ actor.contact }}){% endif %}",
        style="List Bullet",
    )
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if info_kinds %}")
    para(doc, b("Uppgifter:"), keep_next=True)
    tag(doc, "{%p for kind in info_kinds %}")
    para(doc, "{{ kind }}", style="List Bullet")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endif %}")
    return doc
