"""The evidence page: what a reader of the final PDF sees about who signed, how and when."""

from __future__ import annotations

import io
import random
import re
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from formsvc.services.evidence import (
    Evidence,
    EvidenceEvent,
    EvidenceSigner,
    append_pages,
    evidence_pdf,
)
from tests.helpers import pdf_text

WINTER = datetime(2026, 11, 22, 16, 5, 12, tzinfo=UTC)  # 17:05:12 CET
SUMMER = datetime(2026, 6, 10, 16, 5, 12, tzinfo=UTC)  # 18:05:12 CEST
DOC_SHA = "3f" * 32
SCAN_SHA = "a1b2" * 16


def signer(**overrides: object) -> EvidenceSigner:
    values: dict[str, object] = {
        "role": "Vårdnadshavare 1",
        "name": "Åsa Öberg",
        "method": "Personlig länk",
        "outcome": "signed",
        "signed_at": WINTER,
        "verification": "Engångskod via e-post till a***@example.se",
        "ip": "192.0.2.44",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        "witness": None,
        "statements": ("Jag har läst dokumentet.", "Jag samtycker till att uppgifterna delas."),
        "has_image": True,
        "scan_sha256": None,
    }
    values.update(overrides)
    return EvidenceSigner(**values)  # type: ignore[arg-type]


def evidence(
    signers: tuple[EvidenceSigner, ...], events: tuple[EvidenceEvent, ...] = ()
) -> Evidence:
    return Evidence(
        organisation="Stockholms stad",
        title="Samtycke till informationsutbyte",
        reference="SIG-2026-0042",
        document_sha256=DOC_SHA,
        template="samtycke v3 (sha256 0123abcd)",
        sent_at=WINTER - timedelta(hours=2),
        sent_by="Karin Lots",
        finalised_at=WINTER,
        signers=signers,
        events=events,
    )


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def one_line(text: str) -> str:
    """pdftotext output with line breaks removed, so wrapped values can be searched."""
    return "".join(text.split())


def flowing(text: str) -> str:
    """one_line(text) without the page footers and headers, so a value running over a page
    break can be searched."""
    return re.sub(
        r"UnderskriftsbevisSida\d+av\d+(StockholmsstadDokument:SIG-2026-0042)?", "", one_line(text)
    )


def test_evidence_page_shows_signers_methods_hash_and_swedish_times() -> None:
    pdf = evidence_pdf(
        evidence(
            (
                signer(),
                signer(
                    role="Vårdnadshavare 2",
                    name="Bo Ek",
                    method="På plats",
                    signed_at=SUMMER,
                    verification="Lösenord angivet",
                    ip=None,
                    user_agent=None,
                    witness="Anna Andersson",
                    has_image=False,
                ),
                signer(
                    role="Ungdom",
                    name="Lo Sten",
                    method="Papper",
                    verification="Skannad underskrift uppladdad av Anna A",
                    ip=None,
                    user_agent=None,
                    has_image=False,
                    scan_sha256=SCAN_SHA,
                ),
            ),
            (EvidenceEvent(WINTER - timedelta(hours=2), "Skickat för underskrift"),),
        )
    )
    text = pdf_text(pdf)
    assert "Underskriftsbevis" in text
    for expected in (
        "Stockholms stad",
        "Samtycke till informationsutbyte",
        "SIG-2026-0042",
        "samtycke v3 (sha256 0123abcd)",
        "Vårdnadshavare 1: Åsa Öberg",
        "Vårdnadshavare 2: Bo Ek",
        "Personlig länk",
        "På plats",
        "Papper",
        "Engångskod via e-post till a***@example.se",
        "Anna Andersson",
        "Skannad underskrift uppladdad av Anna A",
        "192.0.2.44",
        "Jag samtycker till att uppgifterna delas.",
        "2026-11-22 17:05:12 CET",
        "2026-06-10 18:05:12 CEST",
        "2026-11-22 15:05:12 CET",
        "Skickat för underskrift",
        "Karin Lots",
    ):
        assert expected in text, expected
    assert DOC_SHA in one_line(text)
    assert SCAN_SHA in one_line(text)
    assert "Undertecknat" in text


def test_forty_events_flow_onto_further_pages_in_order() -> None:
    events = tuple(
        EvidenceEvent(WINTER + timedelta(minutes=i), f"Händelse nummer {i:02d}") for i in range(40)
    )
    pdf = evidence_pdf(evidence((signer(),), events))
    assert page_count(pdf) >= 2
    text = pdf_text(pdf)
    positions = [text.index(f"Händelse nummer {i:02d}") for i in range(40)]
    assert positions == sorted(positions)
    assert "2026-11-22 17:44:12 CET" in text


def test_many_signers_flow_onto_further_pages() -> None:
    signers = tuple(signer(role=f"Deltagare {i}", name=f"Person {i}") for i in range(12))
    pdf = evidence_pdf(evidence(signers))
    assert page_count(pdf) >= 2
    text = pdf_text(pdf)
    assert "Deltagare 11: Person 11" in text


def test_hostile_text_is_printed_as_typed_and_never_raises() -> None:
    user_agent = "Mozilla/5.0 " + "A" * 2000 + " SLUTET"
    pdf = evidence_pdf(
        evidence(
            (
                signer(
                    name="<b>Åsa</b> & \"Bo\" 'Ek' {nb}",
                    user_agent=user_agent,
                    verification="rad1\x00\x07\x0b\x0c\x1b\x7f\x85rad2\ttab\r\nny rad",
                ),
                signer(role="Vårdnadshavare 2", name="محمد علي", statements=("\x00", "")),
                signer(role="Vårdnadshavare 3", name="", witness="\ud800Eva", signed_at=SUMMER),
            ),
            (EvidenceEvent(WINTER, "x" * 5000),),
        )
    )
    text = pdf_text(pdf)
    assert "<b>Åsa</b> & \"Bo\" 'Ek' {nb}" in text
    assert "rad1rad2 tab" in text
    assert "ny rad" in text
    assert "\x00" not in text and "\x1b" not in text
    flat = flowing(text)
    assert "A" * 2000 + "SLUTET" in flat  # wrapped over many lines, none of it lost
    assert "x" * 5000 in flat
    # Arabic letters are kept (no shaping engine is installed, so they are not joined)
    assert set("محمدعلي") <= set(text)
    assert "Eva" in text


def test_fonts_are_embedded() -> None:
    pdf = evidence_pdf(evidence((signer(name="Åsa Öberg محمد"),)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ev.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(
            ["pdffonts", str(path)], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    assert rows
    # columns: name type… encoding emb sub uni object ID
    assert all(row[-5] == "yes" for row in rows), out


XMP = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Samtycke</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def pdfa_like() -> bytes:
    """Two text pages carrying what LibreOffice's PDF/A-2b export carries: info, XMP, intents."""
    doc = FPDF()
    doc.set_font("helvetica", size=14)
    for n in (1, 2):
        doc.add_page()
        doc.cell(text=f"Huvuddokumentet sida {n}")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(doc.output()))))
    writer.add_metadata({"/Title": "Samtycke", "/Producer": "LibreOffice 7.4"})
    writer.xmp_metadata = XMP
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
        }
    )
    writer.root_object[NameObject("/OutputIntents")] = ArrayObject([intent])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_append_pages_keeps_the_main_pdf_pages_info_xmp_and_output_intents() -> None:
    main = pdfa_like()
    extra = evidence_pdf(evidence((signer(),)))
    combined = append_pages(main, extra)

    reader = PdfReader(io.BytesIO(combined))
    assert len(reader.pages) == 2 + page_count(extra)
    assert "Huvuddokumentet sida 1" in reader.pages[0].extract_text()
    assert "Huvuddokumentet sida 2" in reader.pages[1].extract_text()
    assert "Underskriftsbevis" in reader.pages[2].extract_text()
    assert reader.metadata is not None
    assert reader.metadata.title == "Samtycke"
    assert reader.metadata.producer == "LibreOffice 7.4"
    xmp = reader.xmp_metadata
    assert xmp is not None
    raw = xmp.stream.get_data()
    assert b"<pdfaid:part>2</pdfaid:part>" in raw
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in raw
    intents = reader.trailer["/Root"]["/OutputIntents"]
    assert [i.get_object()["/S"] for i in intents] == ["/GTS_PDFA1"]
    text = pdf_text(combined)
    assert text.index("Huvuddokumentet sida 2") < text.index("Underskriftsbevis")


def test_every_evidence_page_carries_organisation_reference_and_page_x_of_y() -> None:
    signers = tuple(signer(role=f"Deltagare {i}", name=f"Person {i}") for i in range(1, 8))
    pdf = evidence_pdf(evidence(signers))
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        text = page.extract_text()
        assert "Stockholms stad" in text
        assert "Dokument: SIG-2026-0042" in text
        assert f"Sida {number} av {len(pages)}" in text
        assert text.count("Underskriftsbevis") >= 1


def test_a_long_reference_is_cut_in_the_header_and_whole_in_the_body() -> None:
    ev = evidence((signer(),))
    long_ref = "SIG-" + "9" * 150
    pdf = evidence_pdf(
        Evidence(**{**ev.__dict__, "reference": long_ref, "organisation": "Org {nb} & Co"})
    )
    first = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    header = first.splitlines()[0]
    assert "…" in header and "Org {nb} & Co" in header
    assert long_ref in one_line(pdf_text(pdf))


def test_the_evidence_page_wraps_text_exactly_as_fpdf2_multi_cell_does() -> None:
    """The page finds its lines in one pass (fpdf2's own breaking is quadratic); the lines must
    be the ones multi_cell would make, or the page would look different."""
    rng = random.Random(12)
    words = ["Åsa", "Öberg", "samtycker", "x" * 70, "a***@example.se", "–", "(SHA-256)", "{nb}"]
    words += ["Mozilla/5.0", "informationsutbyte,", "0123456789abcdef" * 5, "i", "•"]
    spaces = [" ", " ", " ", "  ", "\u200b", "\u2009", "\n", " \n", "\n\n"]
    pdf = evidence_pdf_object()
    pdf.add_page()
    checked = 0
    for _ in range(400):
        text = "".join(rng.choice(words) + rng.choice(spaces) for _ in range(rng.randint(0, 25)))
        text = text.rstrip("\n") if rng.random() < 0.8 else text
        font = rng.choice([("DejaVu", "", 9.5), ("DejaVu", "B", 9), ("DejaVuMono", "", 8.5)])
        pdf.set_font(*font)
        width = rng.choice([0, 48.0, 30.0, 100.0])
        pdf.set_x(18 + (48 if width == 0 and rng.random() < 0.5 else 0))
        ours = pdf.wrap(width, text)
        theirs = pdf.multi_cell(width, 5, text, align="L", dry_run=True, output="LINES")
        if ours is None:
            assert text.endswith("\n"), text
            continue
        assert ours == theirs, (font, width, text)
        checked += 1
    assert checked > 300


def evidence_pdf_object() -> Any:
    """The evidence page's FPDF subclass, as evidence_pdf builds it."""
    from formsvc.services.evidence import _EvidencePdf

    return _EvidencePdf(evidence((signer(),)))
