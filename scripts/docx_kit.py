"""Helpers for building SIG Word templates with python-docx (see build_templates.py).

docxtpl rules kept here: a Jinja tag always sits inside one run, ``{%p %}`` tags get a paragraph
of their own, ``{%tr %}`` tags a table row of their own. Values are computed in Python.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

OUT_DIR = Path(__file__).resolve().parent.parent / "formsvc" / "templates_docx"

FONT = "Arial"  # LibreOffice substitutes the metric-compatible Liberation Sans
BLACK = RGBColor(0, 0, 0)
GREY = RGBColor(0x59, 0x59, 0x59)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
LABEL_FILL = "F2F2F2"
HEADER_FILL = "E7E6E6"
PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)
MARGIN_SIDE = Mm(20)
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_SIDE  # 170 mm
# Fixed zip timestamps and core dates: rebuilding an unchanged template gives identical bytes.
FIXED_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# A run is (text, options); options: bold, italic, size (pt), grey, white.
Run = tuple[str, dict[str, object]]


# --------------------------------------------------------------------------- document set-up


def new_document(title: str, subject: str) -> DocumentObject:
    """Return an empty A4 document with the house styles (Arial, black headings, Swedish)."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = MARGIN_SIDE
    section.top_margin, section.bottom_margin = Mm(30), Mm(22)
    section.header_distance, section.footer_distance = Mm(10), Mm(10)

    _set_doc_defaults(doc)
    styles = doc.styles
    _style(styles["Normal"], size=10, after=4, line=1.15)
    _style(styles["Title"], size=18, bold=True, after=0, before=0)
    _style(styles["Subtitle"], size=11, color=GREY, after=10, italic=False)
    _style(styles["Heading 1"], size=12, bold=True, before=12, after=4, keep_next=True)
    _style(styles["Heading 2"], size=10.5, bold=True, before=8, after=3, keep_next=True)
    _style(styles["List Bullet"], size=10, after=2, line=1.15)
    _style(styles["Header"], size=8.5, after=0, line=1.0)
    _style(styles["Footer"], size=8, after=0, line=1.0, color=GREY)
    for name, size, before, after in (("Tabelltext", 9.5, 1, 1), ("Liten text", 8.5, 0, 4)):
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles["Normal"]
        _style(style, size=size, before=before, after=after, line=1.0)
    _style(styles["Liten text"], color=GREY, line=1.1)
    title_ppr = styles["Title"].element.pPr
    if title_ppr is not None and title_ppr.find(qn("w:pBdr")) is not None:
        title_ppr.remove(title_ppr.find(qn("w:pBdr")))

    props = doc.core_properties
    props.title, props.subject = title, subject
    props.author = props.last_modified_by = "Stockholms stad"
    props.language = "sv-SE"
    props.comments = "Byggd av scripts/build_templates.py. Ändra skriptet, inte filen."
    props.created = props.modified = FIXED_TIME.replace(tzinfo=None)
    props.revision = 1
    lead_in(doc)
    return doc


def lead_in(doc: DocumentObject) -> None:
    """A 1-pt empty first paragraph, so the title is not the body's first paragraph.

    LibreOffice otherwise sometimes leaves a heading alone at the bottom of page 1 (its "keep
    with next" is not honoured there); with this invisible paragraph first, it is.
    """
    spacer = para(doc, "")
    fmt = spacer.paragraph_format
    fmt.space_before = fmt.space_after = Pt(0)
    fmt.line_spacing = Pt(1)


def _set_doc_defaults(doc: DocumentObject) -> None:
    """Arial and Swedish everywhere: replace the theme fonts python-docx's template starts with."""
    for rfonts in doc.styles.element.iter(qn("w:rFonts")):
        for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
            rfonts.attrib.pop(qn(f"w:{attr}"), None)
        for attr in ("ascii", "hAnsi", "cs", "eastAsia"):
            rfonts.set(qn(f"w:{attr}"), FONT)
    for color in doc.styles.element.iter(qn("w:color")):
        for attr in ("themeColor", "themeShade", "themeTint"):
            color.attrib.pop(qn(f"w:{attr}"), None)
    for r_pr in doc.styles.element.iter(qn("w:rPr")):
        for spacing in r_pr.findall(qn("w:spacing")):  # letter-spacing of Title/Subtitle
            r_pr.remove(spacing)
    for lang in doc.styles.element.iter(qn("w:lang")):
        lang.set(qn("w:val"), "sv-SE")


def _style(
    style,
    *,
    size: float | None = None,
    bold: bool | None = None,
    italic: bool | None = None,
    color: RGBColor = BLACK,
    before: float | None = None,
    after: float | None = None,
    line: float | None = None,
    keep_next: bool | None = None,
) -> None:
    font = style.font
    font.name = FONT
    font.color.rgb = color
    if size is not None:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    if italic is not None:
        font.italic = italic
    fmt = style.paragraph_format
    if before is not None:
        fmt.space_before = Pt(before)
    if after is not None:
        fmt.space_after = Pt(after)
    if line is not None:
        fmt.line_spacing = line
    if keep_next is not None:
        fmt.keep_with_next = keep_next


# WordprocessingML is order-sensitive (Word calls an out-of-order file damaged): the elements that
# may follow the one we add, per the schema.
_TC_PR_AFTER_BORDERS = (
    "w:shd",
    "w:noWrap",
    "w:tcMar",
    "w:textDirection",
    "w:tcFitText",
    "w:vAlign",
    "w:hideMark",
    "w:headers",
    "w:cellIns",
    "w:cellDel",
    "w:cellMerge",
    "w:tcPrChange",
)
_P_PR_AFTER_BORDERS = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap",
                       "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN",
                       "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
                       "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
                       "w:textDirection", "w:textAlignment", "w:textboxTightWrap",
                       "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
                       "w:pPrChange")  # fmt: skip


# --------------------------------------------------------------------------- building blocks


def add_runs(paragraph: Paragraph, runs: Iterable[Run | str]) -> Paragraph:
    """Append runs; each string (and so each Jinja tag in it) becomes exactly one run."""
    for item in runs:
        text, opts = (item, {}) if isinstance(item, str) else item
        run = paragraph.add_run(text)
        run.bold = opts.get("bold")
        run.italic = opts.get("italic")
        if "size" in opts:
            run.font.size = Pt(opts["size"])
        if opts.get("grey"):
            run.font.color.rgb = GREY
        if opts.get("white"):
            run.font.color.rgb = WHITE
    return paragraph


def para(container, *runs: Run | str, style: str | None = None, keep_next: bool = False):
    """Add a paragraph built from ``runs`` to a document, cell, header or footer."""
    paragraph = container.add_paragraph(style=style)
    if keep_next:
        paragraph.paragraph_format.keep_with_next = True
    return add_runs(paragraph, runs)


def tag(container, jinja: str) -> Paragraph:
    """Add a paragraph holding only a ``{%p … %}`` tag (docxtpl removes the paragraph)."""
    return para(container, jinja)


def nobreak(text: str) -> str:
    """Join with no-break spaces, so a reference like "12 kap. 2 §" never splits over lines."""
    return text.replace(" ", "\u00a0")


def b(text: str) -> Run:
    """A bold run."""
    return (text, {"bold": True})


def new_table(container, rows: int, widths: list[int], *, grid: bool = True) -> Table:
    """Add a fixed-layout table with the given column widths (EMU)."""
    if isinstance(container, DocumentObject):
        table = container.add_table(rows=rows, cols=len(widths))
        table.style = container.styles["Table Grid"] if grid else None
    else:  # header or footer: python-docx wants the total width there
        table = container.add_table(rows, len(widths), sum(widths, Mm(0)))
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width
    tbl_pr = table._tbl.tblPr
    tbl_w = tbl_pr.find(qn("w:tblW"))
    if tbl_w is None:
        tbl_w = OxmlElement("w:tblW")
        tbl_pr.append(tbl_w)
    tbl_w.set(qn("w:w"), str(sum(widths) // 635))  # EMU -> twentieths of a point
    tbl_w.set(qn("w:type"), "dxa")
    return table


def cell_text(cell: _Cell, *runs: Run | str, style: str = "Tabelltext", align=None) -> Paragraph:
    """Fill a cell's first paragraph (cells always start with one) with ``runs``."""
    paragraph = cell.paragraphs[0]
    paragraph.style = style
    if align is not None:
        paragraph.alignment = align
    return add_runs(paragraph, runs)


def shade(cell: _Cell, fill: str) -> None:
    """Give a cell a background colour."""
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().insert_element_before(shd, *_TC_PR_AFTER_BORDERS[1:])


def borders(cell: _Cell, **edges: str | None) -> None:
    """Set a cell's borders, e.g. ``bottom="single"``; ``None`` means no border."""
    tc_pr = cell._tc.get_or_add_tcPr()
    tc_borders = tc_pr.find(qn("w:tcBorders"))
    if tc_borders is None:
        tc_borders = OxmlElement("w:tcBorders")
        tc_pr.insert_element_before(tc_borders, *_TC_PR_AFTER_BORDERS)
    for edge in ("top", "left", "bottom", "right"):
        if edge not in edges:
            continue
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), edges[edge] or "nil")
        if edges[edge]:
            element.set(qn("w:sz"), "6")
            element.set(qn("w:space"), "0")
            element.set(qn("w:color"), "000000")
        tc_borders.append(element)


def header_row(table: Table, *titles: str) -> None:
    """Make the first row a shaded heading row that Word repeats on every page."""
    row = table.rows[0]
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:tblHeader"))
    for cell, title in zip(row.cells, titles, strict=True):
        cell_text(cell, b(title))
        shade(cell, HEADER_FILL)


def keep_rows_together(table: Table, *, with_next: bool = False) -> None:
    """Keep a small table on one page: no row split, each row kept with the next (and with
    *with_next*, the last row with the paragraph after the table)."""
    for index, row in enumerate(table.rows):
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        if with_next or index < len(table.rows) - 1:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    paragraph.paragraph_format.keep_with_next = True


def label_value_table(doc: DocumentObject, rows: list[tuple[str, str, str, str]]) -> Table:
    """A four-column table of label | value | label | value, labels shaded."""
    widths = [Mm(32), Mm(53), Mm(32), Mm(53)]
    table = new_table(doc, len(rows), widths)
    for row, values in zip(table.rows, rows, strict=True):
        for index, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
            if index % 2 == 0:
                cell_text(cell, value)
                shade(cell, LABEL_FILL)
            else:
                cell_text(cell, value)
    keep_rows_together(table)
    return table


def loop_table(
    doc: DocumentObject, titles: list[str], widths: list[int], loop: str, cells: list[str]
) -> Table:
    """A heading row, then one row per item: ``{%tr for %}`` and ``{%tr endfor %}`` rows apart."""
    table = new_table(doc, 4, widths)
    header_row(table, *titles)
    cell_text(table.rows[1].cells[0], f"{{%tr for {loop} %}}")
    for cell, value in zip(table.rows[2].cells, cells, strict=True):
        cell_text(cell, value)
    cell_text(table.rows[3].cells[0], "{%tr endfor %}")
    return table


def add_field(paragraph: Paragraph, instruction: str, placeholder: str) -> None:
    """Append a simple field (PAGE, NUMPAGES …) that Word and LibreOffice fill in."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), f" {instruction} \\* MERGEFORMAT ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = placeholder
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def bottom_rule(paragraph: Paragraph, edge: str = "bottom") -> None:
    """Draw a thin line under (or over) a paragraph."""
    p_pr = paragraph._p.get_or_add_pPr()
    p_bdr = OxmlElement("w:pBdr")
    line = OxmlElement(f"w:{edge}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), "4")
    line.set(qn("w:space"), "4")
    line.set(qn("w:color"), "7F7F7F")
    p_bdr.append(line)
    p_pr.insert_element_before(p_bdr, *_P_PR_AFTER_BORDERS)


def letterhead(
    doc: DocumentObject, footer_left: list[Run | str], reference: list[Run | str] | None = None
) -> None:
    """Logo box, unit and document reference in the header; 'Sida X av Y' in the footer.

    *reference* replaces the header's "Dokument: {{ document_ref }}" line (3.4 prints none).
    """
    section = doc.sections[0]
    header = section.header
    header.is_linked_to_previous = False
    table = new_table(header, 1, [Mm(55), Mm(115)], grid=False)
    logo, unit = table.rows[0].cells
    table.rows[0].height = Mm(13)
    table.rows[0].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    borders(logo, top="single", left="single", bottom="single", right="single")
    logo.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    cell_text(
        logo, ("Stockholms stad", {"bold": True, "size": 13}), align=WD_ALIGN_PARAGRAPH.CENTER
    )
    unit.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    cell_text(unit, b("{{ unit }}"), style="Header", align=WD_ALIGN_PARAGRAPH.RIGHT)
    ref = reference if reference is not None else ["Dokument: ", "{{ document_ref }}"]
    for runs in (["{{ district }}", " stadsdelsförvaltning"], ref):
        paragraph = unit.add_paragraph(style="Header")
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        add_runs(paragraph, runs)
    # A header must end with a paragraph: move python-docx's empty one below the table.
    spacer = header.paragraphs[0]
    spacer._p.getparent().remove(spacer._p)
    table._tbl.addnext(spacer._p)
    spacer.paragraph_format.space_before = Pt(2)
    bottom_rule(spacer)

    footer = section.footer
    footer.is_linked_to_previous = False
    paragraph = footer.paragraphs[0]
    paragraph.style = "Footer"
    bottom_rule(paragraph, "top")
    paragraph.paragraph_format.tab_stops.add_tab_stop(CONTENT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    add_runs(paragraph, [*footer_left, "\tSida "])
    add_field(paragraph, "PAGE", "1")
    paragraph.add_run(" av ")
    add_field(paragraph, "NUMPAGES", "1")


# --------------------------------------------------------------------------- signatures


#: formsvc/services/signature_places.py reads it: slot key, then the place's width x height in mm
#: from the marker's left edge and baseline (the signature row: 170 mm wide, 13 mm high).
SIGNATURE_PLACE_MARKER = "[[sig:{{ signer.key }}:170x12]]"


def signature_block(doc: DocumentObject) -> None:
    """One signer: role, a signature line, 'Ort och datum', the printed name (one loop body)."""
    widths = [Mm(95), Mm(10), Mm(65)]
    table = new_table(doc, 5, widths, grid=False)
    role, sign, place = table.rows[0].cells[0], table.rows[1].cells[0], table.rows[1].cells[2]
    role.merge(table.rows[0].cells[2])
    cell_text(role, b("{{ signer.role }}"))
    # The drawn signature (an image, or "") and the signing date go above the lines.
    table.rows[1].height = Mm(13)
    table.rows[1].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    # After the image, the signature place's marker (ADR 013): white 1 pt text that the service
    # finds in the PDF to know where this signer signs; the place spans the whole row.
    cell_text(sign, "{{ signer.signature }}", (SIGNATURE_PLACE_MARKER, {"size": 1, "white": True}))
    cell_text(place, "{{ signer.signed }}")
    for cell in (sign, place):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
        borders(cell, bottom="single")
    caption = {"size": 8, "grey": True}
    cell_text(table.rows[2].cells[0], ("Underskrift", caption))
    cell_text(table.rows[2].cells[2], ("Ort och datum", caption))
    name = table.rows[3].cells[0]
    table.rows[3].height = Mm(8)
    table.rows[3].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    name.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
    cell_text(name, "{{ signer.name }}")
    borders(name, bottom="single")
    cell_text(table.rows[4].cells[0], ("Namnförtydligande", caption))
    # A block never splits, and each block keeps with the next one through the space after it,
    # so that the heading and statements before the blocks (kept with the first by their own
    # keep-with-next) and all the blocks of one section go to a page together: no signer's block
    # is left alone on a page (issue 13). The chain ends at the document's end, where our
    # templates put the loop; a section longer than a page is broken by LibreOffice/Word anyway.
    keep_rows_together(table, with_next=True)
    para(doc, "", keep_next=True).paragraph_format.space_after = Pt(6)


def to_bytes(doc: DocumentObject) -> bytes:
    """Serialise with fixed zip timestamps so an unchanged template rebuilds byte for byte."""
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, src.read(item.filename))
    return out.getvalue()
