"""The fonts of the PDFs formsvc draws (evidence page, signature marks): a per-process Latin
subset that prints and measures like the full DejaVu, a fallback to the full faces for other
scripts, always embedded, safe in several threads at once (services/fonts.py)."""

from __future__ import annotations

import io
import subprocess
import threading
from pathlib import Path

import pikepdf
from fpdf import FPDF
from PIL import Image, ImageChops
from pypdf import PdfReader

from formsvc.services import fonts
from formsvc.services.evidence import evidence_pdf
from tests.services.test_evidence import evidence, signer

FACES = {("DejaVu", ""): fonts.SANS, ("DejaVu", "B"): fonts.SANS_BOLD, ("Mono", ""): fonts.MONO}
SWEDISH = (
    "Åsa Öberg, Märta Ärlig, Björn Ødegård, Æbbe, Zoë Müller-Lüdenscheidt, José Núñez, "
    "Łucja Wróbel, Şükrü Çelik, Ștefan Țurcanu, Dvořák, Kõiv, Ævar Þórsson – “citat” ‘x’ • … "
    "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ € ½ × § ° ±"
)
# every label the evidence page prints, in Swedish and in the English catalogue
LABELS = (
    "Underskriftsbevis Dokument Organisation Referens Mall Dokumentets kontrollsumma (SHA-256) "
    "Skickat för underskrift Slutfört Undertecknare Inga Namn Skrev vid underskriften "
    "Personnummer Samordningsnummer Roll Sätt att underteckna Resultat Tidpunkt "
    "Identitet styrkt genom Bevittnat av IP-adress Webbläsare Intygade Ritad underskrift "
    "Finns i dokumentet Ingen Skannad blankett, sparad (SHA-256) mottagen Händelser "
    "Undertecknat Avböjt Sida 1 av 2 Signed by “name” – …"
)
OTHER_SCRIPTS = ("محمد عبد الله", "Nguyễn Thị Ánh Tuyết", "Σοφία Παπαδοπούλου", "Олена Коваленко")


def page(text: str, full: bool) -> FPDF:
    """One A4 page with *text* in each face, wrapped."""
    pdf = FPDF()
    fonts.add_fonts(pdf, FACES, full=full)
    pdf.add_page()
    for family, style in FACES:
        pdf.set_font(family, style, 11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return pdf


def drawn_with(text: str) -> tuple[bytes, list[bool]]:
    """The PDF fonts.render makes of *text*, and with which faces it was drawn (full or not)."""
    calls: list[bool] = []

    def draw(full: bool) -> FPDF:
        calls.append(full)
        return page(text, full)

    return fonts.render(draw), calls


def png(pdf: bytes, tmp_path: Path, name: str) -> Image.Image:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", "-singlefile", str(path), str(tmp_path / name)],
        check=True,
        timeout=60,
    )
    return Image.open(tmp_path / f"{name}.png").convert("RGB")


def test_swedish_european_names_and_our_labels_are_drawn_with_the_subset_alone() -> None:
    for text in (SWEDISH, LABELS):
        pdf, calls = drawn_with(text)
        assert calls == [False], text
        extracted = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert "Åsa Öberg" in extracted or "Underskriftsbevis" in extracted


def test_the_subset_measures_and_draws_exactly_like_the_full_font(tmp_path: Path) -> None:
    subset, full = page(SWEDISH, False), page(SWEDISH, True)
    for family, style in FACES:
        for pdf in (subset, full):
            pdf.set_font(family, style, 11)
        assert subset.get_string_width(SWEDISH) == full.get_string_width(SWEDISH)
    a = png(bytes(subset.output(output_producer_class=fonts.Output)), tmp_path, "subset")
    b = png(bytes(full.output()), tmp_path, "full")
    assert ImageChops.difference(a, b).getbbox() is None


def test_a_name_in_another_script_falls_back_to_the_full_font_and_reads_back() -> None:
    for name in OTHER_SCRIPTS:
        pdf, calls = drawn_with(f"Namn: {name}")
        assert calls == [False, True], name
        extracted = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        # pypdf gives right-to-left text in visual order: Arabic comes back reversed
        assert name in extracted or name[::-1] in extracted, (name, extracted)


def test_evidence_page_with_arabic_and_vietnamese_names_prints_them() -> None:
    names = ("محمد عبد الله", "Nguyễn Thị Ánh Tuyết")
    pdf = evidence_pdf(evidence(tuple(signer(name=n) for n in names)))
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Nguyễn Thị Ánh Tuyết" in text
    assert "محمد عبد الله"[::-1] in text  # pypdf: visual order


def embedded_font_programs(pdf: bytes) -> list[tuple[str, bytes]]:
    """(font name, /FontFile2 program) of every font of every page."""
    out = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for p in doc.pages:
            for font in p.Resources.Font.values():
                for descendant in font.get("/DescendantFonts", [font]):
                    descriptor = descendant.FontDescriptor
                    assert "/FontFile2" in descriptor, str(font.BaseFont)
                    out.append((str(font.BaseFont), descriptor.FontFile2.read_bytes()))
    return out


def test_fonts_are_embedded_as_truetype_programs_in_both_kinds_of_page() -> None:
    for text in (SWEDISH, "Namn: محمد"):
        programs = embedded_font_programs(drawn_with(text)[0])
        assert len(programs) == 3
        for name, program in programs:
            assert program[:4] == b"\x00\x01\x00\x00", name  # a TrueType font program
            assert "DejaVu" in name
    assert len(embedded_font_programs(evidence_pdf(evidence((signer(),))))) == 3


def test_documents_drawn_in_parallel_threads_are_each_whole_and_their_own() -> None:
    names = [f"Person {i} {chr(0x41 + i)}ström" for i in range(6)] + list(OTHER_SCRIPTS[:2])
    expected = {n: PdfReader(io.BytesIO(drawn_with(n)[0])).pages[0].extract_text() for n in names}
    got: dict[str, list[str]] = {n: [] for n in names}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(len(names)):
                n = names[(i + offset) % len(names)]
                got[n].append(PdfReader(io.BytesIO(drawn_with(n)[0])).pages[0].extract_text())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for n in names:
        assert got[n] == [expected[n]] * 4
