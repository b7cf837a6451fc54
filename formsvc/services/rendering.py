"""Fill a Word (.docx) template with a context: bytes in, bytes out, no files and no Flask."""

from __future__ import annotations

import copy
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "Image",
    "TemplateError",
    "render_docx",
    "template_variables",
    "undeclared_variables",
]

# Everything XML 1.0 forbids (tab, LF and CR are allowed), plus the non-characters U+FFFE/U+FFFF
# and lone surrogates, which Python strings can hold but no XML document can.
_ILLEGAL_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"\{[{%].*?(?:[}%]\}|$)")
_UNDEFINED = re.compile(r"'([^']+)' is undefined")
_NO_ATTRIBUTE = re.compile(r"has no attribute '([^']+)'")
_UNSAFE = re.compile(r"access to attribute '([^']+)'")
_UNCLOSED_BLOCK = re.compile(r"innermost block that needs to be closed is '([^']+)'")
_NO_FILTER = re.compile(r"No (?:filter|test) named '([^']+)'")
_UNKNOWN_TAG = re.compile(r"Encountered unknown tag '([^']+)'")


class TemplateError(Exception):
    """A Word template could not be read or filled; ``message`` is Swedish and names the culprit."""

    def __init__(self, message: str, tag: str | None = None) -> None:
        super().__init__(message)
        #: Swedish, shown to an administrator or a caseworker as is.
        self.message = message
        #: The variable or tag at fault, when it could be determined.
        self.tag = tag


@dataclass(frozen=True)
class Image:
    """An image to place at a ``{{ placeholder }}`` (e.g. a drawn signature)."""

    #: PNG or JPEG bytes.
    data: bytes
    #: Printed width; the height follows the image's aspect ratio.
    width_mm: float = 50.0


def render_docx(template: bytes, context: Mapping[str, Any]) -> bytes:
    """Fill ``template`` with ``context`` (autoescaped, sandboxed) and return the new DOCX."""
    tpl = _open(template)
    env = _environment()
    clean = _sanitize(context, tpl)
    try:
        tpl.render(clean, jinja_env=env, autoescape=True)
        out = io.BytesIO()
        tpl.save(out)
    except jinja2.TemplateError as exc:
        raise _translate(exc) from exc
    except Exception as exc:  # lxml, python-docx, images: all mean "this template cannot be filled"
        reason = f"{type(exc).__name__}: {exc}"
        raise TemplateError(f"Word-mallen kunde inte fyllas i ({reason}).") from exc
    return out.getvalue()


def template_variables(template: bytes) -> set[str]:
    """Return the top-level variables the template uses (body, headers and footers)."""
    tpl = _open(template)
    try:
        return set(tpl.get_undeclared_template_variables(jinja_env=_environment()))
    except jinja2.TemplateError as exc:
        raise _translate(exc) from exc


def undeclared_variables(template: bytes, context: Mapping[str, Any]) -> set[str]:
    """Return the top-level variables the template uses that ``context`` does not provide."""
    return template_variables(template) - set(context)


def _environment() -> jinja2.Environment:
    # A fresh environment per call: docxtpl sets attributes on it while rendering. Immutable
    # sandbox: a template may read the context but never call into Python or change it; strict
    # undefined: a missing value is an error, never a silently blank line in a legal document.
    return ImmutableSandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)


def _open(template: bytes) -> DocxTemplate:
    tpl = DocxTemplate(io.BytesIO(template))
    try:
        tpl.init_docx()
    except Exception as exc:
        raise TemplateError("Filen är ingen giltig Word-mall (.docx).") from exc
    return tpl


def _sanitize(value: Any, tpl: DocxTemplate) -> Any:
    """Return a deep copy of ``value`` with every string made safe for XML 1.0."""
    if isinstance(value, str):
        # str() drops a markupsafe.Markup's "already safe" mark, so autoescape still applies.
        text = _ILLEGAL_XML_CHARS.sub("", str(value))
        # docxtpl turns "\n" in a text run into <w:br/>; a lone "\r" would survive as nothing.
        return text.replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(value, Mapping):
        return {_sanitize(k, tpl): _sanitize(v, tpl) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_sanitize(v, tpl) for v in value]
    if isinstance(value, Image):
        return InlineImage(tpl, io.BytesIO(value.data), width=Mm(value.width_mm))
    return copy.deepcopy(value)


def _translate(exc: jinja2.TemplateError) -> TemplateError:
    """Turn a Jinja error into a Swedish message that names the variable or tag at fault."""
    detail = str(exc.message or exc)
    if isinstance(exc, jinja2.exceptions.SecurityError):
        name = _first(_UNSAFE, detail)
        return TemplateError(
            f"Word-mallen försöker använda ”{name}”, vilket inte är tillåtet i en mall.", name
        )
    if isinstance(exc, jinja2.UndefinedError):
        name = _first(_UNDEFINED, detail)
        if name is not None:
            return TemplateError(
                f"Word-mallen använder variabeln ”{name}”, som saknas i underlaget.", name
            )
        name = _first(_NO_ATTRIBUTE, detail)
        return TemplateError(
            f"Word-mallen använder fältet ”{name}”, som saknas i underlaget.", name
        )
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return _syntax_error(exc, detail)
    return TemplateError(f"Word-mallen kunde inte fyllas i: {detail}.")


def _syntax_error(exc: jinja2.TemplateSyntaxError, detail: str) -> TemplateError:
    """Explain a malformed tag in Swedish, quoting the tag as docxtpl saw it."""
    lines = [html.unescape(line) for line in getattr(exc, "docx_context", None) or []]
    # docxtpl keeps the paragraphs from line (lineno - 4) on, one paragraph per line.
    at = exc.lineno - 1 - max(exc.lineno - 4, 0)
    nearest = [*lines[at : at + 1], *reversed(lines[:at]), *lines[at + 1 :]]
    if block := _first(_UNCLOSED_BLOCK, detail):
        opening = re.compile(r"\{%-?\s*(?:[ptrc]{1,2}\s+)?" + re.escape(block) + r"\b.*?%\}")
        tag = next((m[-1] for m in (opening.findall(line) for line in nearest) if m), None)
        tag = tag or f"{{% {block} %}}"
        return TemplateError(
            f"Fel i Word-mallen: blocket som börjar med taggen ”{_short(tag)}” avslutas aldrig "
            f"(taggen ”{{% end{block} %}}” saknas).",
            tag,
        )
    tag = None
    for line in nearest:
        tags = _TAG.findall(line)
        unfinished = [t for t in tags if not re.search(r"[}%]\}$", t)]
        if tags:
            tag = (unfinished or tags)[-1].strip()
            break
    if name := _first(_NO_FILTER, detail):
        reason = f"filtret ”{name}” finns inte"
    elif name := _first(_UNKNOWN_TAG, detail):
        reason = f"”{name}” är en okänd tagg här (stavfel, eller saknas blockets början?)"
    else:
        reason = f"taggen är inte rätt skriven eller inte avslutad (teknisk orsak: {detail})"
    where = f"i taggen ”{_short(tag)}”" if tag else f"i stycke {exc.lineno}"
    return TemplateError(f"Fel i Word-mallen {where}: {reason}.", tag)


def _short(tag: str, limit: int = 60) -> str:
    return tag if len(tag) <= limit else tag[: limit - 1] + "…"


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None
