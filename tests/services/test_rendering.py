"""Rendering Word templates: the consent template's contract, hostile values, sandbox, the PDF."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from markupsafe import Markup

from formsvc.legal_texts import keys, text_of
from formsvc.services.rendering import (
    Image,
    TemplateError,
    render_docx,
    template_variables,
    undeclared_variables,
)

CONSENT = Path(__file__).resolve().parents[2] / "formsvc" / "templates_docx" / "consent.docx"


def consent_context() -> dict[str, Any]:
    """The context the consent form's build_context hands to the template (bilaga 3.2)."""
    return {
        "district": "Rinkeby-Kista",
        "unit": "Socialtjänsten, Rinkeby-Kista – SIG",
        "document_ref": "SIG-2026-000123 v2",
        "printed_at": "2026-11-22",
        "participant": {
            "name": "Åsa Öberg",
            "id_label": "Personnummer",
            "id_value": "20090101-1234",
            "target_group": "SIG unga (12–20 år)",
            "age_at_start": "17",
        },
        "period_from": "2026-12-01",
        "period_to": "2027-11-30",
        "actors": [
            {
                "name": "Polismyndigheten",
                "contact": "Kommunpolis Rinkeby",
                "direction": "Båda",
                "note": "",
            },
            {
                "name": "Rinkebyskolan",
                "contact": "Rektor Ali Hassan",
                "direction": "Båda",
                "note": "",
            },
            {
                "name": "Frivården",
                "contact": "Frivården Solna",
                "direction": "Till oss",
                "note": "",
            },
        ],
        "info_kinds": ["Polisens uppgifter om misstankar och domar", "Skolnärvaro"],
        "info_other": "Uppgifter om boende\nKontakt med fältassistenter",
        "guardians_required": True,
        "custody": "Gemensam vårdnad",
        "guardians": [
            {"name": "Per Öberg", "contact": "070-123 45 67"},
            {"name": "Maria Öberg", "contact": "070-765 43 21"},
        ],
        "withdraw_how": "Kontakta din kontaktperson på socialtjänsten muntligt eller skriftligt.",
        "caseworker": {
            "name": "Karin Lind",
            "title": "Lots/samordnare",
            "phone": "08-508 000 00",
            "email": "karin.lind@stockholm.se",
        },
        "no_secrecy": "",
        # the named legal texts (formsvc/legal_texts.py) as build_context fills them in
        "texts": {
            key.removeprefix("consent."): text_of(
                {}, key, months=12, names="", controller="Rinkeby-Kista stadsdelsnämnd"
            )
            for key in keys("consent.")
        },
        "sign_texts": [
            {"role": "Deltagare", "statements": ["Jag har läst medgivandet och godkänner det."]},
            {"role": "Vårdnadshavare", "statements": ["Jag godkänner medgivandet om mitt barn."]},
        ],
        "signers": [
            {
                "key": "participant",
                "role": "Deltagare",
                "name": "Åsa Öberg",
                "signature": "",
                "signed": "",
            },
            {
                "key": "guardian1",
                "role": "Vårdnadshavare 1",
                "name": "Per Öberg",
                "signature": "",
                "signed": "",
            },
            {
                "key": "guardian2",
                "role": "Vårdnadshavare 2",
                "name": "Maria Öberg",
                "signature": "",
                "signed": "",
            },
        ],
    }


@pytest.fixture(scope="module")
def consent() -> bytes:
    return CONSENT.read_bytes()


def docx_text(data: bytes) -> str:
    """All text a reader of the DOCX sees: body (tables too), headers, footers; one line each."""
    doc = Document(io.BytesIO(data))
    parts = [doc.element.body]
    for section in doc.sections:
        parts += [section.header._element, section.footer._element]
    lines = []
    for part in parts:
        lines += [Paragraph(p, doc).text for p in part.iter(qn("w:p"))]
    return "\n".join(lines)


def make_template(*paragraphs: str) -> bytes:
    """A minimal DOCX template, one paragraph (and one run) per string."""
    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def to_pdf_text(docx: bytes, workdir: Path) -> str:
    """Convert with a one-shot LibreOffice (own profile) and return `pdftotext -layout` text."""
    source = workdir / "document.docx"
    source.write_bytes(docx)
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{workdir / 'profile'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(workdir),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    result = subprocess.run(
        ["pdftotext", "-layout", str(workdir / "document.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.replace("\u00a0", " ")


def one_pixel_png() -> bytes:
    """A valid 1×1 white PNG, built by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- the contract


def test_consent_template_uses_exactly_the_context_contract(consent):
    assert template_variables(consent) == set(consent_context())


def test_undeclared_variables_names_what_the_context_lacks(consent):
    context = consent_context()
    del context["actors"]
    assert undeclared_variables(consent, context) == {"actors"}
    assert undeclared_variables(consent, consent_context()) == set()


def test_rendered_consent_opens_and_carries_every_value(consent):
    text = docx_text(render_docx(consent, consent_context()))
    for expected in (
        "Åsa Öberg",
        "20090101-1234",
        "Kommunpolis Rinkeby",
        "Skolnärvaro",
        "Maria Öberg",
        "Gemensam vårdnad",
        "Karin Lind",
        "SIG-2026-000123 v2",
        "Vårdnadshavare 2",
    ):
        assert expected in text
    assert "{{" not in text and "{%" not in text


def test_adult_consent_leaves_out_the_guardian_section(consent):
    context = consent_context() | {"guardians_required": False, "custody": "", "guardians": []}
    context["sign_texts"] = context["sign_texts"][:1]
    context["signers"] = context["signers"][:1]
    text = docx_text(render_docx(consent, context))
    assert "Vårdnadshavare\n" not in text
    assert "gemensam vårdnad" not in text
    assert "Rätt att återkalla medgivandet" in text


def test_empty_info_other_leaves_out_the_other_item(consent):
    text = docx_text(render_docx(consent, consent_context() | {"info_other": ""}))
    assert "Övrigt" not in text
    assert "Skolnärvaro" in text


@pytest.mark.converter
def test_consent_pdf_shows_the_filled_form(consent, tmp_path):
    context = consent_context()
    pdf = to_pdf_text(render_docx(consent, context), tmp_path)
    flat = " ".join(pdf.split())
    expected = [
        "Sekretessbrytande medgivande",
        "Åsa Öberg",
        *(actor["name"] for actor in context["actors"]),
        *(actor["contact"] for actor in context["actors"]),
        *context["info_kinds"],
        "Per Öberg",
        "Maria Öberg",
        "2026-12-01",
        "2027-11-30",
        "Sida 1 av",
        "12 kap. 2 §",
        "Ort och datum",
    ]
    for value in expected:
        assert value in flat, value
    # The newline inside info_other is a line break in the PDF, not a space.
    lines = pdf.splitlines()
    first = next(line for line in lines if "Uppgifter om boende" in line)
    assert "Kontakt med fältassistenter" not in first
    assert any("Kontakt med fältassistenter" in line for line in lines)


# --------------------------------------------------------------------------- hostile values


def test_markup_characters_are_escaped_not_lost(consent):
    hostile = "Anna & Bo <x> \"q\" 'a'"
    context = consent_context()
    context["participant"]["name"] = hostile
    context["guardians"][0]["contact"] = Markup("<w:br/>&amp;")  # "safe" markup is escaped too
    text = docx_text(render_docx(consent, context))
    assert hostile in text
    assert "<w:br/>&amp;" in text


def test_characters_illegal_in_xml_are_stripped(consent):
    context = consent_context()
    context["info_other"] = "före\x0b\x00\x1f\ufffe\uffff\ud800efter\ttab"
    data = render_docx(consent, context)
    assert "föreefter\ttab" in docx_text(data)
    assert context["info_other"].startswith("före\x0b")  # the caller's context is not changed


def test_a_very_long_value_renders(consent):
    long_text = "Lång text. " * 1000
    context = consent_context() | {"withdraw_how": long_text}
    assert long_text.strip() in docx_text(render_docx(consent, context))


def test_right_to_left_script_and_emoji_survive(consent):
    context = consent_context()
    context["participant"]["name"] = "محمد علي 👩‍👧"
    assert "محمد علي 👩‍👧" in docx_text(render_docx(consent, context))


def test_values_that_look_like_jinja_are_shown_literally(consent):
    context = consent_context()
    context["info_other"] = "{{ 7*7 }}"
    context["actors"][1]["name"] = "{% for x in ().__class__ %}"
    text = docx_text(render_docx(consent, context))
    assert "{{ 7*7 }}" in text
    assert "{% for x in ().__class__ %}" in text
    assert "49" not in text


def test_newlines_in_a_value_become_line_breaks(consent):
    context = consent_context() | {"info_other": "Rad ett\nRad två\r\nRad tre\rRad fyra"}
    text = docx_text(render_docx(consent, context))
    assert "Övrigt: Rad ett\nRad två\nRad tre\nRad fyra" in text


# --------------------------------------------------------------------------- bad templates


def test_template_reaching_into_python_internals_is_refused():
    template = make_template("Namn: {{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError) as caught:
        render_docx(template, {})
    assert "__class__" in caught.value.message
    assert "inte är tillåtet" in caught.value.message


def test_template_calling_into_globals_is_refused():
    template = make_template("{{ name.__init__.__globals__ }}")
    with pytest.raises(TemplateError):
        render_docx(template, {"name": "x"})


def test_malformed_tag_gives_a_swedish_message_naming_the_tag():
    template = make_template("Inledning", "Namn: {{ name ", "Slut")
    with pytest.raises(TemplateError) as caught:
        render_docx(template, {"name": "Åsa"})
    assert "Word-mallen" in caught.value.message
    assert "{{ name" in caught.value.message
    with pytest.raises(TemplateError):
        template_variables(template)


def test_unclosed_loop_names_the_missing_end_tag():
    template = make_template("{% for actor in actors %}", "{{ actor }}")
    with pytest.raises(TemplateError) as caught:
        render_docx(template, {"actors": ["Polisen"]})
    assert "{% for actor in actors %}" in caught.value.message
    assert "{% endfor %}" in caught.value.message


def test_variable_missing_from_the_context_is_named():
    template = make_template("Namn: {{ participant.name }}", "Stadsdel: {{ district }}")
    with pytest.raises(TemplateError) as caught:
        render_docx(template, {"participant": {"name": "Åsa"}})
    assert "”district”" in caught.value.message
    assert caught.value.tag == "district"


def test_a_file_that_is_not_a_docx_is_refused():
    with pytest.raises(TemplateError) as caught:
        render_docx(b"%PDF-1.7 not a word file", {})
    assert "Word-mall" in caught.value.message


def test_an_image_value_is_placed_in_the_document():
    template = make_template("Underskrift:", "{{ signature }}")
    data = render_docx(template, {"signature": Image(one_pixel_png(), width_mm=40)})
    assert len(Document(io.BytesIO(data)).inline_shapes) == 1
