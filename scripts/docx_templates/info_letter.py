"""Informationsbrev (bilaga 3.0), for SIG unga and SIG unga vuxna.

The letter's fixed text is here, chosen by ``is_unga`` (target group) and ``minor`` (under 18 on
the letter's date); the editable parts come from the form.
"""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.oxml import OxmlElement
from docx.shared import Mm, Pt
from docx_kit import (
    LABEL_FILL,
    Run,
    b,
    cell_text,
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

FILENAME = "info_letter.docx"


def _facts_table(doc: DocumentObject, rows: list[tuple[str, list[Run | str]]]) -> None:
    """A two-column table of heading | text, headings shaded; rows never split over pages."""
    table = new_table(doc, len(rows), [Mm(42), Mm(128)])
    for row, (label, runs) in zip(table.rows, rows, strict=True):
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        cell_text(row.cells[0], b(label))
        shade(row.cells[0], LABEL_FILL)
        cell_text(row.cells[1], *runs)


def _bullets(doc: DocumentObject, *items: str) -> None:
    for item in items:
        para(doc, item, style="List Bullet")


def build() -> DocumentObject:
    """A letter to a prospective participant, with an optional receipt to sign."""
    title = "Informationsbrev"
    doc = new_document(title, "Bilaga 3.0 – Sociala insatsgrupper")
    letterhead(
        doc,
        [f"{title}, bilaga 3.0 · ", "{{ document_ref }}", " · Utskriven ", "{{ printed_at }}"],
    )
    doc.add_paragraph("Information om sociala insatsgrupper", style="Title")
    doc.add_paragraph("Informationsbrev, bilaga 3.0 – {{ variant_label }}", style="Subtitle")
    label_value_table(
        doc,
        [
            ("Till", "{{ participant }}", "Datum", "{{ letter_date }}"),
            ("Från", "{{ contact.name }}", "Stadsdels\u00adförvaltning", "{{ district }}"),
        ],
    )
    para(doc, "").paragraph_format.space_after = Pt(2)
    para(doc, "{{ greeting }}")
    para(
        doc,
        "Du får det här brevet eftersom du kan bli aktuell för en social insatsgrupp, SIG. Här "
        "kan du läsa vad det innebär, så att du kan bestämma om du vill vara med.",
    )
    tag(doc, "{%p if personal_note %}")
    para(doc, "{{ personal_note }}")
    tag(doc, "{%p endif %}")

    doc.add_heading("Vad är SIG?", level=1)
    tag(doc, "{%p if is_unga %}")
    para(
        doc,
        "Sociala insatsgrupper (SIG) är ett sätt för socialtjänsten, polisen, skolan och andra "
        "att arbeta tillsammans för att hjälpa unga som vill sluta begå brott eller som riskerar "
        "att dras in i kriminalitet. Du får stöd utifrån dina egna behov, till exempel i skolan, "
        "på fritiden, med hälsan eller hemma.",
    )
    tag(doc, "{%p else %}")
    para(
        doc,
        "Sociala insatsgrupper (SIG) är ett sätt för socialtjänsten, polisen, Jobbtorg och andra "
        "att arbeta tillsammans för att stötta dig som vill lämna ett kriminellt nätverk eller en "
        "kriminell livsstil. Målet är att du ska komma vidare till arbete eller studier och kunna "
        "försörja dig själv på ett lagligt sätt.",
    )
    tag(doc, "{%p endif %}")
    para(
        doc,
        "Arbetet leds av socialtjänsten. Du och de aktörer som är med i din grupp träffas "
        "regelbundet, och tillsammans gör ni en handlingsplan med mål och aktiviteter som ni "
        "följer upp.",
    )
    para(
        doc,
        b("Det är frivilligt att delta. "),
        "Du bestämmer själv om du vill vara med, och du kan när som helst sluta. Att tacka nej "
        "påverkar inte din rätt att söka annat stöd hos socialtjänsten.",
    )
    para(
        doc,
        "Innan du kan börja gör vi en utredning tillsammans med dig, där du berättar om din "
        "situation och vad du vill förändra. Polisen gör också en bedömning. Därefter beslutar "
        "socialtjänsten om du kan få stöd genom SIG, som ett bistånd enligt socialtjänstlagen.",
    )
    tag(doc, "{%p if minor %}")
    para(
        doc,
        b("Dina vårdnadshavare. "),
        "Eftersom du är under 18 år får dina vårdnadshavare samma information som du. De är "
        "viktiga i arbetet, bjuds in till mötena och behöver också lämna sitt medgivande.",
    )
    tag(doc, "{%p else %}")
    para(
        doc,
        "Din familj och andra närstående kan vara ett viktigt stöd. Om du vill kan de vara med i "
        "arbetet.",
    )
    tag(doc, "{%p endif %}")

    doc.add_heading("Vilka är med och vad gör de?", level=1)
    para(
        doc,
        "Vilka som är med bestäms utifrån dina behov. Polisen är alltid med. Aktörerna gör det "
        "som ingår i deras vanliga uppdrag.",
        keep_next=True,
    )
    loop_table(
        doc,
        ["Aktör", "Vad de gör"],
        [Mm(55), Mm(115)],
        "actor in actors",
        ["{{ actor.name }}", "{{ actor.role }}"],
    ).rows[2]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))

    doc.add_heading("Medgivande till att dela information", level=1)
    # The legal paragraphs are named texts (formsvc/legal_texts.py), stored with each letter.
    para(doc, "{{ texts.consent }}")
    para(
        doc,
        b("Du kan när som helst återkalla medgivandet, "),
        "helt eller för en viss aktör, genom att säga det till din kontaktperson. Därefter "
        "lämnas inga fler uppgifter ut med stöd av medgivandet.",
    )

    doc.add_heading("Vad vi förväntar oss av dig", level=1)
    para(doc, "För att SIG ska fungera förväntar vi oss", keep_next=True)
    _bullets(
        doc,
        "att du själv vill förändra din situation och sluta med kriminalitet",
        "att du är med och gör det vi kommer överens om i din handlingsplan",
        "att du kommer till mötena, eller hör av dig om du inte kan komma",
    )
    tag(doc, "{%p if is_unga %}")
    _bullets(doc, "att du går i skolan eller är med i den sysselsättning som ingår i din plan")
    tag(doc, "{%p else %}")
    _bullets(
        doc,
        "att du tar del av insatser för arbete eller studier, till exempel hos Jobbtorg "
        "Stockholm eller Arbetsförmedlingen",
    )
    tag(doc, "{%p endif %}")
    _bullets(doc, "att du håller kontakten med din lots/samordnare.")
    tag(doc, "{%p if expectations_extra %}")
    para(doc, b("Särskilt för dig: "), "{{ expectations_extra }}")
    tag(doc, "{%p endif %}")

    doc.add_heading("När avslutas SIG?", level=1)
    para(
        doc,
        "SIG avslutas när målen i din handlingsplan är uppfyllda eller när du inte längre vill "
        "ha stöd. Arbetet kan också avbrytas, och du skrivas ut, om du",
        keep_next=True,
    )
    _bullets(
        doc,
        "misstänks eller döms för fortsatt brottslighet",
        "inte följer din handlingsplan",
        "inte går att nå under en längre period.",
    )
    para(doc, "Innan arbetet avbryts får du veta varför och kan berätta hur du ser på det.")

    doc.add_heading("Så behandlar vi dina personuppgifter", level=1)
    _facts_table(
        doc,
        [
            ("Personuppgifts\u00adansvarig", ["{{ controller }}"]),
            ("Ändamål", ["{{ texts.purpose }}"]),
            ("Rättslig grund", ["{{ texts.basis }}"]),
            ("Känsliga uppgifter och brott", ["{{ texts.special }}"]),
            ("Mottagare", ["{{ texts.recipients }}"]),
            ("Hur länge", ["{{ texts.retention }}"]),
            ("Dina rättigheter", ["{{ texts.rights }}"]),
            ("Rätt att invända", ["{{ texts.object }}"]),
            ("Måste du lämna uppgifter?", ["{{ texts.obligation }}"]),
            ("Klagomål", ["{{ texts.complaint }}"]),
            ("Dataskydds\u00adombud", ["{{ dpo_contact }}"]),
        ],
    )

    doc.add_heading("Har du frågor?", level=1)
    para(doc, "Hör av dig till mig om du har frågor eller vill veta mer.", keep_next=True)
    label_value_table(
        doc,
        [
            ("Kontaktperson", "{{ contact.name }}", "Titel", "{{ contact.title }}"),
            ("Telefon", "{{ contact.phone }}", "E-post", "{{ contact.email }}"),
        ],
    )
    para(doc, "Med vänliga hälsningar", keep_next=True).paragraph_format.space_before = Pt(12)
    para(doc, "{{ contact.name }}", keep_next=True).paragraph_format.space_after = Pt(0)
    para(doc, "{{ contact.title }}", keep_next=True).paragraph_format.space_after = Pt(0)
    para(doc, "{{ district }}", " stadsdelsförvaltning")

    tag(doc, "{%p if with_receipt %}")
    heading = doc.add_heading("Mottagningskvitto", level=1)
    heading.paragraph_format.page_break_before = True
    para(
        doc,
        "Jag har tagit emot informationsbrevet om sociala insatsgrupper (",
        "{{ variant_label }}",
        ") daterat ",
        "{{ letter_date }}",
        " och har fått möjlighet att ställa frågor om det. Jag vet att det är frivilligt att "
        "delta och att ett medgivande kan återkallas.",
    )
    para(
        doc,
        "Kvittot är inte ett medgivande till att dela information och inte en ansökan om stöd. "
        "Lämna det underskrivna kvittot till din kontaktperson.",
    )
    label_value_table(
        doc,
        [
            ("Deltagare", "{{ participant }}", "Brevets datum", "{{ letter_date }}"),
            ("Kontaktperson", "{{ contact.name }}", "Dokument", "{{ document_ref }}"),
        ],
    )
    para(doc, "").paragraph_format.space_after = Pt(6)
    tag(doc, "{%p for signer in signers %}")
    signature_block(doc)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endif %}")
    return doc
