"""Sekretessbrytande medgivande (bilaga 3.2)."""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.shared import Mm, Pt
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

FILENAME = "consent.docx"


def build() -> DocumentObject:
    """Bilaga 3.2 Sekretessbrytande medgivande (see the context contract in the module doc)."""
    doc = new_document("Sekretessbrytande medgivande", "Bilaga 3.2 – Sociala insatsgrupper")
    letterhead(
        doc,
        [
            "Sekretessbrytande medgivande, bilaga 3.2 · ",
            "{{ document_ref }}",
            " · Utskriven ",
            "{{ printed_at }}",
        ],
    )
    # python-docx starts the body with no paragraph; the title is the first one.
    doc.add_paragraph("Sekretessbrytande medgivande", style="Title")
    doc.add_paragraph("Bilaga 3.2 – Sociala insatsgrupper (SIG)", style="Subtitle")
    para(
        doc,
        "Med det här medgivandet får socialtjänsten och de andra aktörerna i den sociala "
        "insatsgruppen lämna uppgifter om dig till varandra trots sekretess. Läs hela blanketten "
        "innan du skriver under, och fråga din kontaktperson om något är oklart.",
    )

    doc.add_heading("Uppgifter om deltagaren", level=1)
    label_value_table(
        doc,
        [
            ("Namn", "{{ participant.name }}", "{{ participant.id_label }}",
             "{{ participant.id_value }}"),
            ("Målgrupp", "{{ participant.target_group }}", "Ålder vid start",
             "{{ participant.age_at_start }} år"),
            ("Stadsdels\u00adförvaltning", "{{ district }}", "Utfärdande enhet", "{{ unit }}"),
        ],
    )  # fmt: skip

    # The legal paragraphs are named texts (formsvc/legal_texts.py), stored with each document.
    doc.add_heading("Medgivandets omfattning", level=1)
    para(doc, "{{ texts.scope }}")
    para(doc, "{{ texts.not_blanket }}")
    para(doc, "{{ texts.basis }}")

    doc.add_heading("Aktörer som omfattas", level=2)
    loop_table(
        doc,
        ["Aktör", "Kontaktperson/enhet", "Riktning"],
        [Mm(58), Mm(72), Mm(40)],
        "actor in actors",
        ["{{ actor.name }}{{ actor.note }}", "{{ actor.contact }}", "{{ actor.direction }}"],
    )
    para(doc, "{{ texts.police }}", style="Liten text").paragraph_format.space_before = Pt(3)
    para(
        doc,
        "”Aktören lämnar uppgifter” betyder att aktören får lämna uppgifter om dig till "
        "socialtjänsten och, på mötena, till de andra aktörerna. ”Aktören tar emot uppgifter” "
        "betyder att socialtjänsten och, på mötena, de andra aktörerna får lämna uppgifter om dig "
        "till aktören. ”Båda hållen” betyder både och.",
        style="Liten text",
    )
    tag(doc, "{%p if no_secrecy %}")
    para(doc, b("Mottagare utan sekretess. "), "{{ texts.no_secrecy }}", keep_next=True)
    tag(doc, "{%p endif %}")

    doc.add_heading("Uppgifter som får lämnas", level=2)
    para(doc, "Medgivandet gäller följande slags uppgifter:", keep_next=True)
    tag(doc, "{%p for kind in info_kinds %}")
    para(doc, "{{ kind }}", style="List Bullet")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if info_other %}")
    para(doc, b("Övrigt: "), "{{ info_other }}", style="List Bullet")
    tag(doc, "{%p endif %}")

    doc.add_heading("Giltighetstid", level=1)
    para(
        doc,
        "Medgivandet gäller från och med ",
        b("{{ period_from }}"),
        " till och med ",
        b("{{ period_to }}"),
        ".",
    )
    para(doc, "{{ texts.period }}")

    doc.add_heading("Rätt att återkalla medgivandet", level=1)
    para(doc, "{{ texts.withdraw }}")
    para(doc, b("Så här återkallar du: "), "{{ withdraw_how }}")
    para(doc, "{{ texts.withdraw_effect }}")
    para(doc, "{{ texts.without_consent }}")

    tag(doc, "{%p if guardians_required %}")
    doc.add_heading("Deltagare under 18 år och vårdnadshavare", level=1)
    para(doc, "{{ texts.minor }}")
    para(doc, "{{ texts.guardian }}")
    tag(doc, "{%p if custody %}")
    para(doc, b("Vårdnad: "), "{{ custody }}", keep_next=True)
    tag(doc, "{%p endif %}")
    tag(doc, "{%p if guardians %}")
    loop_table(
        doc,
        ["Vårdnadshavare", "Kontaktuppgifter"],
        [Mm(85), Mm(85)],
        "guardian in guardians",
        ["{{ guardian.name }}", "{{ guardian.contact }}"],
    )
    tag(doc, "{%p else %}")
    para(doc, "Uppgifter om vårdnadshavare har inte fyllts i.", style="Liten text")
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Behandling av personuppgifter", level=1)
    para(doc, "{{ texts.personal_data }}")

    doc.add_heading("Kontaktperson på socialtjänsten", level=1)
    label_value_table(
        doc,
        [
            ("Namn", "{{ caseworker.name }}", "Befattning", "{{ caseworker.title }}"),
            ("Telefon", "{{ caseworker.phone }}", "E-post", "{{ caseworker.email }}"),
        ],
    )

    doc.add_heading("Underskrifter", level=1)
    para(
        doc,
        "Den som skriver under har kryssat i det som står under sin roll:",
        keep_next=True,
    )
    tag(doc, "{%p for group in sign_texts %}")
    para(doc, b("{{ group.role }}"), keep_next=True)
    tag(doc, "{%p for line in group.statements %}")
    para(doc, "{{ line }}", style="List Bullet", keep_next=True)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p for signer in signers %}")
    signature_block(doc)
    tag(doc, "{%p endfor %}")
    return doc
