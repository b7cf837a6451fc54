"""Fill a Word (.docx) template with a context: bytes in, bytes out, no files and no Flask."""

from __future__ import annotations

import copy
import functools
import html
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage
from jinja2 import nodes
from jinja2.runtime import Context
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

# Limits on what a template may compute (docs/adr/010). The shipped templates use none of
# this: values are computed in Python (build_context); a template only places and loops.
MAX_VALUE = 100_000  #: characters (or items) of any one string or list a template builds
MAX_NUMBER = 10_000  #: a number given to a filter or method (widths, counts) or range()
MAX_INT_BITS = 256  #: size of an integer a template computes
MAX_STEPS = 50_000  #: loop iterations and calls in one render
MAX_OUTPUT = 20_000_000  #: characters one part (body, header, footer) renders to
_FORMAT_SPEC = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]|\{[^{}]*\}")


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
    # A fresh environment per call: docxtpl sets attributes on it while rendering, and it holds
    # this render's step budget. Immutable sandbox: a template may read the context but never
    # call into Python or change it; strict undefined: a missing value is an error, never a
    # silently blank line in a legal document.
    return BoundedSandbox(autoescape=True, undefined=jinja2.StrictUndefined)


class TemplateLimit(jinja2.exceptions.SecurityError):
    """A template computed too much; ``swedish`` says what, for the administrator."""

    def __init__(self, swedish: str) -> None:
        super().__init__(swedish)
        self.swedish = swedish


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with bounded strings, numbers, loops, calls and output."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.steps = MAX_STEPS
        self.output = MAX_OUTPUT
        self.globals["range"] = self._range
        self.filters = {name: _bounded_filter(self, f) for name, f in self.filters.items()}
        self.filters["replace"] = _bounded_filter(self, _replace)
        self.filters["_counted"] = self._counted
        self.filters["_sized"] = _sized
        self.concat = self._concat  # type: ignore[method-assign]

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Count every loop iteration and bound every ``~`` operand (see _counted, _sized)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        for concat in tree.find_all(nodes.Concat):
            concat.nodes = [
                nodes.Filter(n, "_sized", [], [], None, None, lineno=concat.lineno)
                for n in concat.nodes
            ]
        return tree

    def step(self, count: int = 1) -> None:
        """Spend *count* steps of this render's budget."""
        self.steps -= count
        if self.steps < 0:
            raise TemplateLimit(
                f"Word-mallen räknar för mycket: mer än {MAX_STEPS} varv i loopar och anrop."
            )

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse arithmetic that would build a huge value, before it is built."""
        ints = isinstance(left, int) and isinstance(right, int)
        if (
            operator == "**"
            and ints
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_INT_BITS
        ):
            raise _too_big()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sequence = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sequence and len(seq) * times > MAX_VALUE:
                    raise _too_big()
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _too_big()
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Spend a step on every call; refuse huge numeric arguments and format widths."""
        __self.step()
        _check_arguments(args, kwargs)
        method = getattr(__obj, "__wrapped__", __obj)
        if isinstance(getattr(method, "__self__", None), str):
            if getattr(method, "__name__", "") in ("format", "format_map"):
                _check_format(method.__self__)
            if getattr(method, "__name__", "") == "replace" and len(args) >= 2:
                _check_replace(method.__self__, args[0], args[1])
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def _range(self, *args: int) -> range:
        _check_arguments(args, {})
        result = range(*args)
        if len(result) > MAX_NUMBER:
            raise _too_big()
        return result

    def _counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.step()
            yield item

    def _concat(self, parts: Iterable[str]) -> str:
        out: list[str] = []
        total = 0
        for part in parts:
            total += len(part)
            if total > MAX_OUTPUT:
                raise TemplateLimit(
                    f"Word-mallen blir för stor: mer än {MAX_OUTPUT} tecken när den fylls i."
                )
            out.append(part)
        return "".join(out)


def _bounded_filter(env: BoundedSandbox, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, spending a step, with numbers and its result's size bounded."""

    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context, pass_eval_context …)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        env.step()
        _check_arguments(args, kwargs)
        if func is _FORMAT_FILTER:
            _check_format(next((a for a in args if isinstance(a, str)), ""))
        return _sized(func(*args, **kwargs))

    return bounded


_FORMAT_FILTER = jinja2.filters.FILTERS["format"]


@jinja2.pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
    _check_replace(str(s), old, new)
    return jinja2.filters.do_replace(eval_ctx, s, old, new, count)


def _check_replace(s: str, old: Any, new: Any) -> None:
    old, new = str(old), str(new)
    hits = (len(s) + 1) if not old else s.count(old)
    if len(s) + hits * max(len(new) - len(old), 0) > MAX_VALUE:
        raise _too_big()


def _check_arguments(args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    for value in [*args, *kwargs.values()]:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise TemplateLimit(
                f"Word-mallen använder talet {_short(str(value), 20)}, som är för stort "
                f"(högst {MAX_NUMBER})."
            )


def _check_format(fmt: str) -> None:
    """Refuse format widths and precisions over MAX_NUMBER (``%099999d``, ``{:>99999}``)."""
    for spec in _FORMAT_SPEC.findall(fmt):
        if "*" in spec or any(int(n) > MAX_NUMBER for n in re.findall(r"\d+", spec)):
            raise _too_big()


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_VALUE:
        raise _too_big()
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _too_big()
    return value


def _too_big() -> TemplateLimit:
    return TemplateLimit(
        "Word-mallen bygger ett för stort värde (lång text, stort tal eller lång lista). "
        "Räkna ut värden i systemet i stället för i mallen."
    )


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
    if isinstance(exc, TemplateLimit):
        return TemplateError(exc.swedish)
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
