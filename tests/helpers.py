"""Helpers for reading what users receive: DOCX text, PDF text."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

from docx import Document as DocxDocument
from werkzeug.datastructures import MultiDict

from formsvc.forms._base import data_to_formdata


def docx_text(data: bytes) -> str:
    """All text of a DOCX: body paragraphs, tables (nested too), headers and footers."""
    doc = DocxDocument(io.BytesIO(data))
    parts: list[str] = []

    def walk(container: Any) -> None:
        for p in container.paragraphs:
            parts.append(p.text)
        for table in container.tables:
            for row in table.rows:
                for cell in row.cells:
                    walk(cell)

    walk(doc)
    for section in doc.sections:
        walk(section.header)
        walk(section.footer)
    return "\n".join(parts)


def pdf_text(data: bytes) -> str:
    """pdftotext of a PDF (poppler), as a user copying the text would see it."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        out = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(src), "-"],
            capture_output=True,
            check=True,
            timeout=60,
        )
    return out.stdout.decode()


def pdf_layout_text(data: bytes) -> str:
    """pdftotext -layout, whitespace folded: a table row reads as "label value" on one line."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        out = subprocess.run(
            ["pdftotext", "-layout", "-enc", "UTF-8", str(src), "-"],
            capture_output=True,
            check=True,
            timeout=60,
        )
    lines = (" ".join(line.split()) for line in out.stdout.decode().splitlines())
    return "\n".join(line for line in lines if line)


def pdf_words(data: bytes) -> list[tuple[int, float, float, float, float, str]]:
    """Each word poppler finds: (page index, x0, y0, x1, y1 in PDF space from the bottom, word)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        html = subprocess.run(
            ["pdftotext", "-bbox", "-enc", "UTF-8", str(src), "-"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
    out: list[tuple[int, float, float, float, float, str]] = []
    page, height = -1, 0.0
    for line in html.splitlines():
        if m := re.search(r'<page width="([\d.]+)" height="([\d.]+)"', line):
            page, height = page + 1, float(m[2])
        elif m := re.search(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>', line
        ):
            x0, top, x1, bottom = (float(m[i]) for i in range(1, 5))
            out.append((page, x0, height - bottom, x1, height - top, html_unescape(m[5])))
    return out


def post_data(form_class: type, data: dict[str, Any], **overrides: str) -> MultiDict:
    """What a browser posts for *data*, with single fields overridden."""
    md = data_to_formdata(form_class, data)
    for key, value in overrides.items():
        md.setlist(key, [value])
    return md


def pdf_page_texts(data: bytes) -> list[str]:
    """pdftotext -raw of each page of a PDF, in order: the text in the order it is drawn,
    rotated text included (the default layout mode leaves diagonal text out)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        info = subprocess.run(
            ["pdfinfo", str(src)], capture_output=True, check=True, timeout=60
        ).stdout.decode()
        count = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))  # type: ignore[union-attr]
        return [
            subprocess.run(
                ["pdftotext", "-raw", "-f", str(n), "-l", str(n), "-enc", "UTF-8", str(src), "-"],
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout.decode()
            for n in range(1, count + 1)
        ]
