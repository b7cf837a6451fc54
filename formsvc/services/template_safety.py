"""Refuse a Word package that could make anything load a resource from outside it.

Every part is parsed as XML (never matched with regular expressions): attribute quoting,
whitespace, namespace prefixes and extra attributes then make no difference. See
docs/adr/010-template-trust.md for what is refused and why hyperlinks are allowed.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

__all__ = ["TemplateUnsafe", "check_package"]

#: bytes of one part once unpacked; word/document.xml of a long form is well under 1 MB
MAX_PART = 20 * 1024 * 1024

_R_NAMESPACES = frozenset(
    {
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "http://purl.oclc.org/ooxml/officeDocument/relationships",
    }
)
_HYPERLINK_TYPES = frozenset(
    {
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink",
        "http://purl.oclc.org/ooxml/officeDocument/relationships/hyperlink",
    }
)
#: elements that may point at an external hyperlink relationship: they only make a link
_HYPERLINK_ELEMENTS = frozenset({"hyperlink", "hlinkClick", "hlinkHover", "hlinkMouseOver"})
#: schemes a hyperlink may use: a reader's click opens them, nothing loads them
_LINK_SCHEMES = ("http://", "https://", "mailto:")
#: Word fields whose evaluation loads a file, a picture, a database or another program
_LOADING_FIELDS = frozenset(
    {
        "INCLUDEPICTURE",
        "INCLUDETEXT",
        "INCLUDE",
        "IMPORT",
        "LINK",
        "DDE",
        "DDEAUTO",
        "DATABASE",
        "RD",
    }
)
#: elements that bring in content from elsewhere, whatever they point at
_REFUSED_ELEMENTS = {
    "altChunk": "ett inbäddat dokument (altChunk)",
    "subDoc": "ett underdokument (subDoc)",
    "attachedTemplate": "en bifogad dokumentmall (attachedTemplate)",
    "frameset": "en ramuppsättning (frameset)",
    "OLEObject": "ett OLE-objekt",
    "control": "en ActiveX-kontroll",
    "mailMerge": "en datakälla för dokumentkoppling (mailMerge)",
}
#: attributes that name a URL to load (VML imagedata/fill src, o:href, SVG/xlink href)
_URL_ATTRIBUTES = frozenset({"src", "href", "althref"})
#: parts that are not XML and are safe to carry: images, fonts, Word's printer settings
_BINARY_EXTENSIONS = frozenset(
    {"png", "jpg", "jpeg", "jfif", "gif", "bmp", "tif", "tiff", "emf", "wmf", "wdp", "ico",
     "webp", "odttf", "ttf"}
)  # fmt: skip
_FIELD_NAME = re.compile(r"\s*\\?([A-Za-z]+)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")


class TemplateUnsafe(ValueError):
    """The package is refused; str(err) says why, in Swedish."""


@dataclass(frozen=True)
class _Rel:
    id: str
    type: str
    target: str
    external: bool


def check_package(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse every part, relationship, field or element that would load something."""
    trees: dict[str, etree._ElementTree] = {}
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        if info.file_size > MAX_PART:
            raise TemplateUnsafe(f"Delen {_show(name)} är för stor för en Word-mall.")
        if _extension(name) in _BINARY_EXTENSIONS or name.startswith("word/printerSettings/"):
            continue
        trees[name] = _parse(name, archive.read(info))
    rels: dict[str, dict[str, _Rel]] = {}
    for part, tree in trees.items():
        declared = _relationships(part, tree)  # in every part: a hostile one may sit anywhere
        if (source := _source_of(part)) is not None:
            rels[source.lower()] = declared
    for name, tree in trees.items():
        if name.startswith("customXml/") and not name.endswith(".rels"):
            continue  # data for content controls: never loaded from anywhere
        _check_elements(name, tree, rels.get(name.lower(), {}))
        _check_fields(name, tree)


def _parse(name: str, data: bytes) -> etree._ElementTree:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        if "entit" in str(exc).lower():  # libxml2 stops entity expansion bombs by itself
            raise TemplateUnsafe(
                f"Delen {_show(name)} innehåller en DTD med entiteter, vilket inte är tillåtet."
            ) from None
        kind = "XML" if name.endswith((".xml", ".rels")) else "tillåten bild eller XML"
        raise TemplateUnsafe(
            f"Delen {_show(name)} i mallen är inte giltig {kind} och kan inte kontrolleras."
        ) from None
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise TemplateUnsafe(f"Delen {_show(name)} innehåller en DTD, vilket inte är tillåtet.")
    return tree


def _relationships(part: str, tree: etree._ElementTree) -> dict[str, _Rel]:
    """The relationships a .rels part declares; refuse any external one that is not a link."""
    found: dict[str, _Rel] = {}
    for el in _elements(tree):
        if _local(el.tag) != "Relationship":
            continue
        attrs = {_local(k).lower(): v for k, v in el.attrib.items()}
        target = attrs.get("target", "").strip()
        rel = _Rel(
            id=attrs.get("id", ""),
            type=attrs.get("type", "").strip(),
            target=target,
            external=attrs.get("targetmode", "").strip().lower() == "external"
            or bool(_SCHEME.match(target))
            or target.startswith(("//", "\\\\")),
        )
        if rel.external and not _is_web_link(rel):
            raise TemplateUnsafe(
                f"Mallen hämtar en extern resurs ({_show(target)}), vilket inte är tillåtet."
            )
        if not rel.external and _escapes_package(part, target):
            raise TemplateUnsafe(
                f"Mallen pekar utanför sig själv ({_show(target)}), vilket inte är tillåtet."
            )
        found[rel.id] = rel
    return found


def _check_elements(name: str, tree: etree._ElementTree, rels: dict[str, _Rel]) -> None:
    for el in _elements(tree):
        local = _local(el.tag)
        if local in _REFUSED_ELEMENTS:
            raise TemplateUnsafe(
                f"Mallen innehåller {_REFUSED_ELEMENTS[local]} ({_show(name)}), "
                "vilket inte är tillåtet."
            )
        for key, value in el.attrib.items():
            namespace, name = _split(key)
            if namespace in _R_NAMESPACES:
                if name == "link":
                    raise TemplateUnsafe(
                        f"Mallen innehåller en länkad bild eller fil ({_show(name)}), "
                        "vilket inte är tillåtet. Klistra in bilden i stället."
                    )
                rel = rels.get(value.strip())
                if rel is not None and rel.external and local not in _HYPERLINK_ELEMENTS:
                    raise TemplateUnsafe(
                        f"Mallen hämtar en extern resurs ({_show(rel.target)}), "
                        "vilket inte är tillåtet."
                    )
            elif name.lower() in _URL_ATTRIBUTES and not value.strip().startswith("#"):
                raise TemplateUnsafe(
                    f"Mallen hämtar en extern resurs ({_show(value)}), vilket inte är tillåtet."
                )


def _check_fields(name: str, tree: etree._ElementTree) -> None:
    """Refuse fields that load something, simple (w:fldSimple) or complex (w:instrText runs)."""
    for instr in _field_instructions(tree):
        words = instr.split()
        match = _FIELD_NAME.match(instr)
        kind = match.group(1).upper() if match else ""
        if kind in _LOADING_FIELDS:
            raise TemplateUnsafe(
                f"Mallen innehåller fältet {kind} ({_show(name)}), som hämtar innehåll utifrån. "
                "Det är inte tillåtet."
            )
        if kind == "HYPERLINK":
            target = next((w.strip("\"'") for w in words[1:] if not w.startswith("\\")), "")
            if target and not target.lower().startswith(_LINK_SCHEMES):
                raise TemplateUnsafe(
                    f"Mallen innehåller en länk till {_show(target)}, vilket inte är tillåtet "
                    "(bara http-, https- och e-postlänkar)."
                )


def _field_instructions(tree: etree._ElementTree) -> Iterator[str]:
    """Each field's instruction text; a field whose name comes from a nested field is refused."""
    stack: list[list[str] | None] = []  # None: instruction finished (after "separate")
    for el in _elements(tree):
        local = _local(el.tag)
        if local == "fldSimple":
            yield _attr(el, "instr")
        elif local == "fldChar":
            kind = _attr(el, "fldCharType")
            if kind == "begin":
                parent = stack[-1] if stack else None
                if parent is not None and not "".join(parent).strip():
                    # { { QUOTE "INCLUDE" }PICTURE … }: the field's name is computed
                    raise TemplateUnsafe(
                        "Mallen innehåller ett fält vars namn byggs av ett annat fält, "
                        "vilket inte är tillåtet."
                    )
                stack.append([])
            elif kind == "separate" and stack:
                if stack[-1] is not None:
                    yield "".join(stack[-1])
                stack[-1] = None
            elif kind == "end" and stack and (done := stack.pop()) is not None:
                yield "".join(done)
        elif local in ("instrText", "delInstrText") and stack and stack[-1] is not None:
            stack[-1].append(el.text or "")
    for left in stack:  # a field never closed still counts
        if left is not None:
            yield "".join(left)


def _elements(tree: etree._ElementTree) -> Iterator[etree._Element]:
    return (el for el in tree.iter() if isinstance(el.tag, str))


def _split(tag: str) -> tuple[str, str]:
    """'{namespace}local' -> (namespace, local); lxml's own QName is slower in this loop."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _attr(el: etree._Element, wanted: str) -> str:
    """An attribute by local name, whatever its prefix or namespace."""
    for key, value in el.attrib.items():
        if _local(key) == wanted:
            return value
    return ""


def _is_web_link(rel: _Rel) -> bool:
    return rel.type in _HYPERLINK_TYPES and rel.target.lower().startswith(_LINK_SCHEMES)


def _source_of(part: str) -> str | None:
    """word/_rels/document.xml.rels -> word/document.xml; None for other parts."""
    folder, base = posixpath.split(part)
    if posixpath.basename(folder) != "_rels" or not base.endswith(".rels"):
        return None
    return posixpath.join(posixpath.dirname(folder), base[: -len(".rels")])


def _escapes_package(rels_part: str, target: str) -> bool:
    """True if an internal target resolves to above the package root."""
    if target.startswith("/"):
        path = target.lstrip("/")
    else:
        path = posixpath.join(posixpath.dirname(_source_of(rels_part) or ""), target)
    resolved = posixpath.normpath(path) if path else "."
    return resolved == ".." or resolved.startswith("../")


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in posixpath.basename(name) else ""


def _show(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"
