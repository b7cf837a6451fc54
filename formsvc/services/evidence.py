"""The evidence page ('Underskriftsbevis') appended to a finalised document before it is sealed."""

# Everything printed here comes from people (names, user agents, statements) and is treated as
# hostile: control characters are stripped and nothing is interpreted as markup or as an alias.
# The page is drawn with fpdf2 and DejaVu fonts (embedded, see services/fonts.py), then appended
# with pypdf keeping the main PDF's catalogue (PDF/A metadata, output intents); the seal is
# applied afterwards.

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont
from fpdf.line_break import BREAKING_SPACE_SYMBOLS_STR
from pypdf import PdfReader, PdfWriter

from formsvc.services import fonts

_TZ = ZoneInfo("Europe/Stockholm")
# C0 controls except tab and newline, DEL, C1 controls and lone surrogates (unencodable in a PDF)
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_MARGIN = 18.0  # mm
_LABEL_WIDTH = 48.0  # mm
_LINE = 5.2  # mm
#: what wrap() leaves to fpdf2: soft hyphen, no-break space, CR, form feed (see _EvidencePdf.wrap)
_NOT_WRAPPED = re.compile("[\u00ad\u00a0\r\f]")
_HEADER_Y = 8.0  # mm from the top: the header's text line, its rule below


@dataclass(frozen=True)
class EvidenceSigner:
    role: str  #: e.g. "Vårdnadshavare 1"
    name: str  #: the designated signer's name (for staff: the account's), which signed
    method: str  #: already-translated label: "På plats", "Personlig länk", "Papper", …
    outcome: str  #: "signed" (declined signers never reach a final PDF, but keep the field)
    signed_at: datetime  #: aware UTC
    verification: str  #: e.g. "Engångskod via e-post till a***@example.se"
    ip: str | None  #: the address the signature came from
    user_agent: str | None  #: the browser's User-Agent header
    witness: str | None  #: staff name who witnessed (in person)
    statements: tuple[str, ...]  #: consent statements ticked
    has_image: bool  #: a drawn signature image is in the document
    #: SHA-256 of the stored paper scan: the file rewritten without active content, which is
    #: what staff download and the archive holds (services/scans.py)
    scan_sha256: str | None
    #: what the signer typed, when it differs from *name* in a tolerated way (case, accents …)
    typed_name: str | None = None
    #: the designated signer's personnummer/samordningsnummer (masked if protected), if known
    id_number: str | None = None
    #: SHA-256 of the paper scan as it was uploaded, before it was rewritten
    scan_received_sha256: str | None = None
    #: the e-ID (or staff SSO) proof behind the signature, as SignatureRequest.eid holds it
    #: (docs/adr/018); the page prints one line for it, the record embeds it
    eid: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class EvidenceEvent:
    at: datetime  #: aware UTC
    text: str  #: what happened, in Swedish


@dataclass(frozen=True)
class Evidence:
    organisation: str  #: e.g. "Stockholms stad"
    title: str  #: the document's title
    reference: str  #: the document's reference (diarienummer or id)
    document_sha256: str  #: SHA-256 of the frozen PDF the signers read
    template: str  #: e.g. "samtycke v3 (sha256 …)"
    sent_at: datetime  #: when it was sent for signing
    sent_by: str  #: staff name who sent it
    finalised_at: datetime  #: when the last signature completed it
    signers: tuple[EvidenceSigner, ...]  #: in signing order
    events: tuple[EvidenceEvent, ...]  #: the document's history, oldest first
    #: set on a signer's own copy (their role): other people's addresses and browsers are left out
    copy_for: str | None = None


def _clean(value: object) -> str:
    """Printable text: no control characters, tabs as spaces, CR/LF as newlines."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _UNPRINTABLE.sub("", text)


def _when(at: datetime) -> str:
    """'2026-11-22 17:05:12 CET': Swedish local time with its zone, as a reader expects."""
    if at.tzinfo is None:  # documented as aware UTC; a naive value is taken to be UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")


def _id_label(number: str) -> str:
    """'Samordningsnummer' when the day of birth has 60 added, else 'Personnummer'."""
    day = number[6:8]
    return _("Samordningsnummer") if day.isdigit() and int(day) > 60 else _("Personnummer")


def _cut(pdf: FPDF, text: str, room: float) -> str:
    """*text*, cut with an ellipsis to fit *room* at the current font (a header line)."""
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "…") > room:
        text = text[
            : max(0, min(len(text) - 1, int(len(text) * room / pdf.get_string_width(text))))
        ]
    return text + "…"


def _outcome(outcome: str) -> str:
    labels = {"signed": _("Undertecknat"), "declined": _("Avböjt")}
    return labels.get(outcome, outcome)


_FACES = {
    ("DejaVu", ""): fonts.SANS,
    ("DejaVu", "B"): fonts.SANS_BOLD,
    ("DejaVuMono", ""): fonts.MONO,
}


class _EvidencePdf(FPDF):
    def __init__(self, ev: Evidence, *, full_fonts: bool = False) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        # user text such as "{nb}" must print as typed, not as a page count: the alias is on
        # only while the footer is drawn (and at output, to fill in the footers' counts)
        self.alias_nb_pages(None)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=_MARGIN)
        fonts.add_fonts(self, _FACES, full=full_fonts)
        self._organisation = _clean(ev.organisation).replace("\n", " ")
        self._reference = _clean(ev.reference).replace("\n", " ")

    def header(self) -> None:
        """The organisation and the document's reference above a rule, as on the document's
        own pages (scripts/docx_kit.py: letterhead)."""
        half = (self.w - 2 * _MARGIN) / 2
        self.set_xy(_MARGIN, _HEADER_Y)
        self.set_font("DejaVu", "B", 8.5)
        self.cell(half, 4, _cut(self, self._organisation, half - 2 * self.c_margin))
        self.set_font("DejaVu", "", 8.5)
        ref = _("Dokument: %(reference)s", reference=self._reference)
        self.cell(half, 4, _cut(self, ref, half - 2 * self.c_margin), align="R")
        self.set_draw_color(160)
        self.set_line_width(0.2)
        self.line(_MARGIN, _HEADER_Y + 5, self.w - _MARGIN, _HEADER_Y + 5)
        self.set_xy(self.l_margin, self.t_margin)

    def footer(self) -> None:
        """A rule, 'Underskriftsbevis' and 'Sida 1 av 2' (pages of the evidence) in grey."""
        half = (self.w - 2 * _MARGIN) / 2
        top = self.h - _MARGIN + 4
        self.set_draw_color(160)
        self.set_line_width(0.2)
        self.line(_MARGIN, top, self.w - _MARGIN, top)
        self.set_xy(_MARGIN, top + 1)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(96)
        self.cell(half, 4, _("Underskriftsbevis"))
        alias, self.str_alias_nb_pages = self.str_alias_nb_pages, "{nb}"
        self.cell(
            half, 4, _("Sida %(page)s av %(pages)s", page=self.page_no(), pages="{nb}"), align="R"
        )
        self.str_alias_nb_pages = alias
        self.set_text_color(0)

    def heading(self, text: str, size: float = 12.5) -> None:
        """A bold heading that is never left alone at the bottom of a page."""
        if self.will_page_break(size + 3 * _LINE):
            self.add_page()
        self.ln(2.5)
        self.set_font("DejaVu", "B", size)
        self.block(0, size * 0.5, _clean(text))
        self.ln(1)

    def row(self, label: str, value: str, *, mono: bool = False) -> None:
        """A label in the left column and its (wrapping) value beside it."""
        self.set_font("DejaVu", "B", 9)
        wrapped = self.wrap(_LABEL_WIDTH, label)
        if wrapped is not None:
            label_lines = len(wrapped)
        else:
            label_lines = len(
                self.multi_cell(_LABEL_WIDTH, _LINE, label, align="L", dry_run=True, output="LINES")
            )
        # the label never splits over a page; a long value may
        if self.will_page_break(max(1, label_lines) * _LINE):
            self.add_page()
        page, top = self.page, self.get_y()
        self.block(_LABEL_WIDTH, _LINE, label)
        label_bottom = self.get_y()
        self.set_xy(_MARGIN + _LABEL_WIDTH, top)
        if mono:
            self.set_font("DejaVuMono", "", 8.5)
        else:
            self.set_font("DejaVu", "", 9.5)
        # WORD wrapping still breaks a "word" longer than the line (hashes, user agents)
        self.block(0, _LINE, _clean(value) or "–")
        if self.page == page:
            self.set_y(max(self.get_y(), label_bottom))
        self.ln(0.8)

    def block(self, w: float, h: float, text: str) -> None:
        """multi_cell(w, h, text, align L), the position then at the left margin below it.

        fpdf2's line breaking measures the whole line again for every character it adds
        (quadratic in the line's length: most of the page's time for long statements); the
        lines are found here in one pass with the same rules (`wrap`) and drawn as cells."""
        lines = self.wrap(w, text)
        if lines is None:
            self.multi_cell(w, h, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            return
        for number, line in enumerate(lines, start=1):
            last = number == len(lines)
            self.cell(
                w,
                h,
                line,
                align="L",
                new_x=XPos.LMARGIN if last else XPos.LEFT,
                new_y=YPos.NEXT,
            )

    def wrap(self, w: float, text: str) -> list[str] | None:
        """The lines multi_cell(w, …, text, align L, word wrapping) makes of *text* at the
        current font, or None for text whose wrapping is left to fpdf2 (soft hyphens, no-break
        spaces, a final line break, a character wider than the line, shaping or spacing).

        The rules of fpdf2 2.8's MultiLineBreak: a line ends at a line break; a character that
        would overflow the line ends it: a space there is dropped, else the line is cut at its
        last space (dropped), else before that character."""
        if (
            _NOT_WRAPPED.search(text)
            or text.endswith("\n")
            or self.text_shaping
            or self.char_spacing
            or self.font_stretching != 100
            or not isinstance(self.current_font, TTFFont)
        ):
            return None
        widths, size, k = self.current_font.cw, self.font_size_pt, self.k
        room = (w or self.w - self.r_margin - self.x) - self.c_margin - self.c_margin
        lines: list[str] = []
        paragraphs = text.split("\n")
        for number, para in enumerate(paragraphs, start=1):
            start = units = 0
            space = -1  # the current line's last breaking space
            i = 0
            while i < len(para):
                char = para[i]
                unit = widths[ord(char)]
                if units * size * 0.001 / k + unit * size * 0.001 / k - room > 1e-9:
                    if char in BREAKING_SPACE_SYMBOLS_STR:
                        lines.append(para[start:i])
                        i += 1
                    elif space >= 0:
                        lines.append(para[start:space])
                        i = space + 1
                    elif i == start:
                        return None
                    else:
                        lines.append(para[start:i])
                    start, units, space = i, 0, -1
                    continue
                if char in BREAKING_SPACE_SYMBOLS_STR:
                    space = i
                units += unit
                i += 1
            if number < len(paragraphs) or units:
                lines.append(para[start:])
        return lines or [""]


def evidence_pdf(ev: Evidence) -> bytes:
    """An A4 page (or more) titled 'Underskriftsbevis' recording how the document was signed."""
    return fonts.render(lambda full: _draw(ev, full))


def _draw(ev: Evidence, full_fonts: bool) -> FPDF:
    pdf = _EvidencePdf(ev, full_fonts=full_fonts)
    pdf.set_title(_("Underskriftsbevis"))
    pdf.set_creator("formsvc")
    pdf.set_lang("sv")
    pdf.add_page()

    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, _("Underskriftsbevis"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 9.5)
    pdf.multi_cell(
        0,
        _LINE,
        _(
            "Den här sidan skapades när dokumentet slutfördes och ingår i det förseglade "
            "dokumentet. Tider anges i svensk tid."
        ),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )

    if ev.copy_for:
        pdf.ln(1)
        pdf.multi_cell(
            0,
            _LINE,
            _(
                "Exemplar för %(role)s. Andra personers IP-adresser och webbläsare visas bara "
                "i arkivexemplaret.",
                role=_clean(ev.copy_for),
            ),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    pdf.heading(_("Dokument"))
    pdf.row(_("Organisation"), ev.organisation)
    pdf.row(_("Dokument"), ev.title)
    pdf.row(_("Referens"), ev.reference)
    pdf.row(_("Mall"), ev.template)
    pdf.row(
        _("Dokumentets kontrollsumma (SHA-256)"),
        ev.document_sha256,
        mono=True,
    )
    pdf.row(_("Skickat för underskrift"), f"{_when(ev.sent_at)} – {_clean(ev.sent_by)}")
    pdf.row(_("Slutfört"), _when(ev.finalised_at))

    pdf.heading(_("Undertecknare"))
    if not ev.signers:
        pdf.row(_("Undertecknare"), _("Inga"))
    for number, signer in enumerate(ev.signers, start=1):
        pdf.heading(f"{number}. {_clean(signer.role)}: {_clean(signer.name)}", size=10.5)
        pdf.row(_("Namn"), signer.name)
        if signer.typed_name and signer.typed_name != signer.name:
            pdf.row(_("Skrev vid underskriften"), signer.typed_name)
        if signer.id_number:
            pdf.row(_id_label(signer.id_number), signer.id_number)
        pdf.row(_("Roll"), signer.role)
        pdf.row(_("Sätt att underteckna"), signer.method)
        pdf.row(_("Resultat"), _outcome(signer.outcome))
        pdf.row(_("Tidpunkt"), _when(signer.signed_at))
        pdf.row(_("Identitet styrkt genom"), signer.verification)
        if signer.eid:
            from formsvc.services import eid  # it imports signing, which imports this module

            pdf.row(_("E-legitimation"), eid.summary(signer.eid))
        if signer.witness:
            pdf.row(_("Bevittnat av"), signer.witness)
        if signer.ip:
            pdf.row(_("IP-adress"), signer.ip, mono=True)
        if signer.user_agent:
            pdf.row(_("Webbläsare"), signer.user_agent, mono=True)
        statements = "\n".join(f"• {_clean(s)}" for s in signer.statements if _clean(s).strip())
        pdf.row(_("Intygade"), statements or _("Inga"))
        pdf.row(
            _("Ritad underskrift"),
            _("Finns i dokumentet") if signer.has_image else _("Ingen"),
        )
        if signer.scan_sha256:
            pdf.row(_("Skannad blankett, sparad (SHA-256)"), signer.scan_sha256, mono=True)
        if signer.scan_received_sha256 and signer.scan_received_sha256 != signer.scan_sha256:
            pdf.row(
                _("Skannad blankett, mottagen (SHA-256)"),
                _(
                    "%(sha)s (sparad utan skript, bilagor och formulär)",
                    sha=signer.scan_received_sha256,
                ),
                mono=True,
            )

    pdf.heading(_("Händelser"))
    if not ev.events:
        pdf.row("", _("Inga"))
    for event in ev.events:
        pdf.row(_when(event.at), event.text)
    pdf.str_alias_nb_pages = "{nb}"  # all text is drawn: output fills in the footers' counts
    return pdf


def append_pages(pdf: bytes, extra: bytes) -> bytes:
    """The pages of *extra* after those of *pdf*, keeping pdf's info, XMP and OutputIntents."""
    # cloning keeps the whole catalogue of *pdf* (/Metadata, /OutputIntents, /Lang …) and its
    # trailer /Info; only page objects of *extra* (with their resources) are copied in
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in PdfReader(io.BytesIO(extra)).pages:
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
