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
    nobreak,
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
        "Med det här medgivandet kan socialtjänsten och de andra aktörerna i den sociala "
        "insatsgruppen lämna uppgifter om dig till varandra. Läs igenom hela blanketten innan du "
        "skriver under, och fråga din kontaktperson om något är oklart.",
    )

    doc.add_heading("Uppgifter om den enskilde", level=1)
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

    doc.add_heading("Medgivandets omfattning", level=1)
    para(
        doc,
        "Jag samtycker till att sekretessen hävs mellan socialtjänsten och nedanstående aktörer, "
        "så att de får lämna uppgifter om mig till varandra i arbetet i den sociala "
        f"insatsgruppen. Medgivandet lämnas enligt {nobreak('12 kap. 2 §')} offentlighets- och "
        f"sekretesslagen (2009:400), som också gäller för den sekretess som anges i "
        f"{nobreak('10 kap. 1 §')} samma lag.",
    )
    para(
        doc,
        b("Medgivandet är inte ett generellt upphävande av sekretessen. "),
        "Det gäller bara de uppgifter som behövs för arbetet i den sociala insatsgruppen, bara "
        "mellan de aktörer och för de slags uppgifter som anges nedan, och bara under "
        "giltighetstiden.",
    )

    doc.add_heading("Aktörer som omfattas", level=2)
    loop_table(
        doc,
        ["Aktör", "Kontaktperson/enhet", "Riktning"],
        [Mm(58), Mm(72), Mm(40)],
        "actor in actors",
        ["{{ actor.name }}", "{{ actor.contact }}", "{{ actor.direction }}"],
    )
    para(
        doc,
        "Polismyndigheten deltar alltid i en social insatsgrupp och ingår därför alltid i "
        "medgivandet. Riktning anger om uppgifter får lämnas från socialtjänsten till aktören, "
        "från aktören till socialtjänsten eller åt båda hållen.",
        style="Liten text",
    ).paragraph_format.space_before = Pt(3)

    doc.add_heading("Uppgifter som får lämnas", level=2)
    para(doc, "Medgivandet gäller följande slags uppgifter om mig:", keep_next=True)
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
    para(
        doc,
        "Ett medgivande gäller som längst 12 månader. Ska arbetet i den sociala insatsgruppen "
        "fortsätta efter det behövs ett nytt medgivande.",
    )

    doc.add_heading("Rätt att återkalla medgivandet", level=1)
    para(
        doc,
        "Det är frivilligt att lämna medgivandet, och du har rätt att när som helst återkalla "
        "det. Utan medgivande kan arbetet i den sociala insatsgruppen dock inte fortsätta.",
    )
    para(doc, b("Så här återkallar du: "), "{{ withdraw_how }}")
    para(
        doc,
        "Återkallelsen gäller från den tidpunkt då socialtjänsten tar emot den och framåt. "
        "Uppgifter som redan har lämnats dessförinnan kan inte tas tillbaka. Socialtjänsten "
        "meddelar aktörerna att medgivandet har återkallats.",
    )

    tag(doc, "{%p if guardians_required %}")
    doc.add_heading("Vårdnadshavare", level=1)
    para(
        doc,
        "Den enskilde är under 18 år när medgivandet börjar gälla. Därför ska även "
        "vårdnadshavare lämna sitt medgivande och skriva under. Vid gemensam vårdnad ska båda "
        "vårdnadshavarna skriva under.",
    )
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
    para(
        doc,
        "Personuppgiftsansvarig är ",
        "{{ district }}",
        " stadsdelsnämnd, som är socialnämnd i stadsdelsområdet. Uppgifterna behandlas för "
        "att genomföra arbetet i den sociala insatsgruppen och bevaras enligt de regler som "
        "gäller för socialtjänstens handlingar. Du har bland annat rätt att få veta vilka "
        "uppgifter som behandlas om dig och att begära rättelse. Mer information finns på "
        "start.stockholm/om-webbplatsen/personuppgifter-och-dataskydd. Du kan också vända dig "
        "till Integritetsskyddsmyndigheten (IMY).",
    )

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
        "Genom att skriva under lämnar jag mitt medgivande enligt denna blankett. Jag har fått "
        "information om att medgivandet är frivilligt och att jag när som helst kan återkalla det.",
        keep_next=True,
    )
    tag(doc, "{%p for signer in signers %}")
    signature_block(doc)
    tag(doc, "{%p endfor %}")
    return doc
