"""Word templates cannot reach out: hostile uploads are refused over real HTTP, and LibreOffice
itself fetches and embeds nothing even when a template that carries links is converted."""

from __future__ import annotations

import html
import io
import os
import re
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from docx import Document as DocxDocument
from flask import Flask
from PIL import Image
from pypdf import PdfReader

from formsvc.extensions import db
from formsvc.models import Document, TemplateVersion
from formsvc.runtime import runtime
from formsvc.services.conversion import convert_oneshot
from tests.conftest import PASSWORD, World
from tests.helpers import pdf_text, post_data

R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
NOWHERE = "http://127.0.0.1:9/x.png"  # discard port: nothing would answer anyway


# --------------------------------------------------------------------------- building files


def _builtin(app: Flask, slug: str = "consent") -> bytes:
    return runtime(app).registry[slug].template_path.read_bytes()


def _repack(data: bytes, edit: Callable[[str, bytes], bytes]) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            dst.writestr(item.filename, edit(item.filename, src.read(item.filename)))
    return out.getvalue()


def _add_rel(rel: str) -> Callable[[Flask], bytes]:
    """The consent template with one more line in word/_rels/document.xml.rels."""

    def make(app: Flask) -> bytes:
        def edit(name: str, data: bytes) -> bytes:
            if name == "word/_rels/document.xml.rels":
                return data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            return data

        return _repack(_builtin(app), edit)

    return make


def _body(xml: str, rel: str = "") -> Callable[[Flask], bytes]:
    """The consent template with *xml* before the body's section properties (and a rel)."""

    def make(app: Flask) -> bytes:
        def edit(name: str, data: bytes) -> bytes:
            if name == "word/document.xml":
                head, sect, tail = data.rpartition(b"<w:sectPr")
                return head + xml.encode() + sect + tail
            if name == "word/_rels/document.xml.rels" and rel:
                return data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            return data

        return _repack(_builtin(app), edit)

    return make


def _prefixed_rels(app: Flask) -> bytes:
    """All of document.xml.rels rewritten with an ns0: prefix, plus an external image."""

    def edit(name: str, data: bytes) -> bytes:
        if name != "word/_rels/document.xml.rels":
            return data
        text = data.decode()
        text = text.replace(f'xmlns="{PKG}"', f'xmlns:ns0="{PKG}"')
        text = re.sub(r"<(/?)Relationship", r"<\1ns0:Relationship", text)
        extra = (
            f'<ns0:Relationship Id="rX9" Type="{R}/image" Target="{NOWHERE}" '
            'TargetMode="External"/>'
        )
        return text.replace("</ns0:Relationships>", extra + "</ns0:Relationships>").encode()

    return _repack(_builtin(app), edit)


def _settings_rel(app: Flask) -> bytes:
    """An attached template, as Word writes it: settings.xml + its own .rels."""

    def edit(name: str, data: bytes) -> bytes:
        if name == "word/settings.xml":
            return re.sub(rb"(<w:settings[^>]*>)", rb'\1<w:attachedTemplate r:id="rX9"/>', data)
        return data

    data = _repack(_builtin(app), edit)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr(
            "word/_rels/settings.xml.rels",
            f'<Relationships xmlns="{PKG}"><Relationship Id="rX9" Type="{R}/attachedTemplate" '
            'Target="http://127.0.0.1:9/Normal.dotm" TargetMode="External"/></Relationships>',
        )
    return out.getvalue()


def _fld_simple(instr: str) -> Callable[[Flask], bytes]:
    return _body(f"<w:p><w:fldSimple w:instr='{instr}'><w:r><w:t>x</w:t></w:r></w:fldSimple></w:p>")


def _fld_complex(*pieces: str, nested: str = "") -> Callable[[Flask], bytes]:
    """A complex field whose instruction is split over several runs (as Word often does)."""
    runs = "".join(
        f'<w:r><w:instrText xml:space="preserve">{p}</w:instrText></w:r>' for p in pieces
    )
    begin = '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
    sep = '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
    end = '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    inner = f"{begin}{nested}{sep}<w:r><w:t>in</w:t></w:r>{end}" if nested else ""
    return _body(f"<w:p>{begin}{inner}{runs}{sep}<w:r><w:t>x</w:t></w:r>{end}</w:p>")


def _paragraph(text: str) -> Callable[[Flask], bytes]:
    def make(app: Flask) -> bytes:
        doc = DocxDocument(io.BytesIO(_builtin(app)))
        doc.add_paragraph(text)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()

    return make


def _ext(rid: str, kind: str, target: str = NOWHERE, quote: str = '"') -> str:
    q = quote
    return (
        f"<Relationship Id={q}{rid}{q} Type={q}{R}/{kind}{q} Target={q}{target}{q} "
        f"TargetMode={q}External{q}/>"
    )


BLIP = (
    '<w:p><w:r><w:drawing><wp:inline><wp:extent cx="9525" cy="9525"/><wp:docPr id="99" name="p"/>'
    '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
    '<pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">'
    '<pic:nvPicPr><pic:cNvPr id="0" name="p"/><pic:cNvPicPr/></pic:nvPicPr>'
    '<pic:blipFill><a:blip {attr}="rX9"/></pic:blipFill><pic:spPr/></pic:pic>'
    "</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    + b"&j;</w:document>"
)

#: name -> (make the file, what the administrator is told)
HOSTILE: dict[str, tuple[Callable[[Flask], bytes], str]] = {
    # external relationships in every spelling the old regex missed
    "rel in single quotes": (_add_rel(_ext("rX9", "image", quote="'")), "extern resurs"),
    "rel with spaces around =": (
        _add_rel(
            f'<Relationship Id="rX9" Type="{R}/image" Target="{NOWHERE}" TargetMode = "External" />'
        ),  # fmt: skip
        "extern resurs",
    ),
    "rel with ns0: prefix": (_prefixed_rels, "extern resurs"),
    "rel with an extra attribute holding >": (
        _add_rel(
            f'<Relationship Id="rX9" Note="a>b" Type="{R}/image" Target="{NOWHERE}" '
            'TargetMode="External"/>'
        ),  # fmt: skip
        "extern resurs",
    ),
    "rel with lowercase targetmode value": (
        _add_rel(
            f'<Relationship Id="rX9" Type="{R}/image" Target="{NOWHERE}" TargetMode="external"/>'
        ),  # fmt: skip
        "extern resurs",
    ),
    "rel with a URL target and no TargetMode": (
        _add_rel(f'<Relationship Id="rX9" Type="{R}/image" Target="file:///etc/passwd"/>'),
        "extern resurs",
    ),
    "attachedTemplate": (_settings_rel, "extern resurs"),
    # linked images and VML
    "linked image (a:blip r:link)": (
        _body(BLIP.format(attr="r:link"), _ext("rX9", "image")),
        "extern resurs",
    ),
    "blip r:link to an internal part": (
        _body(BLIP.format(attr="r:link")),
        "länkad bild",
    ),
    "hyperlink relationship used as an image": (
        _body(BLIP.format(attr="r:embed"), _ext("rX9", "hyperlink", "http://127.0.0.1:9/")),
        "extern resurs",
    ),
    "VML imagedata r:id": (
        _body(
            '<w:p><w:r><w:pict><v:shape style="width:9pt;height:9pt"><v:imagedata r:id="rX9"/>'
            "</v:shape></w:pict></w:r></w:p>",
            _ext("rX9", "image"),
        ),
        "extern resurs",
    ),
    "VML imagedata src and o:href": (
        _body(
            '<w:p><w:r><w:pict><v:shape style="width:9pt;height:9pt">'
            f'<v:imagedata src="{NOWHERE}" o:href="{NOWHERE}"/></v:shape></w:pict></w:r></w:p>'
        ),
        "extern resurs",
    ),
    # fields, simple and complex
    "INCLUDEPICTURE (fldSimple)": (
        _fld_simple(f' INCLUDEPICTURE "{NOWHERE}" \\d '),
        "INCLUDEPICTURE",
    ),
    "INCLUDETEXT split over runs": (
        _fld_complex(" INCLU", "DETEXT ", '"/etc/passwd"'),
        "INCLUDETEXT",
    ),
    "includepicture in lower case, no space": (
        _fld_complex(f'includepicture"{NOWHERE}"'),
        "INCLUDEPICTURE",
    ),
    "DDEAUTO": (_fld_simple(' DDEAUTO excel "C:\\\\x.xls" "A1" '), "DDEAUTO"),
    "DDE": (_fld_complex(' DDE excel "x.xls" "A1" '), "DDE"),
    "LINK": (_fld_complex(' LINK Word.Document.12 "http://127.0.0.1:9/a.docx" "" \\a '), "LINK"),
    "IMPORT": (_fld_simple(f' IMPORT "{NOWHERE}" '), "IMPORT"),
    "field name built by a nested field": (
        _fld_complex(f'PICTURE "{NOWHERE}"', nested=' QUOTE "INCLUDE" '),
        "byggs av ett annat fält",
    ),
    "HYPERLINK field to a file": (_fld_simple(' HYPERLINK "file:///etc/passwd" '), "länk"),
    # content from elsewhere
    "altChunk": (
        _body('<w:altChunk r:id="rX9"/>', _ext("rX9", "aFChunk", "http://127.0.0.1:9/c.htm")),
        "extern resurs",
    ),
    "altChunk of an internal part": (_body('<w:altChunk r:id="rId1"/>'), "altChunk"),
    "subDoc": (_body('<w:p><w:subDoc r:id="rId1"/></w:p>'), "underdokument"),
    "mail merge data source": (
        lambda app: _repack(
            _builtin(app),
            lambda n, d: (
                re.sub(
                    rb"(<w:settings[^>]*>)",
                    rb'\1<w:mailMerge><w:mainDocumentType w:val="formLetters"/>'
                    rb'<w:connectString w:val="Provider=MSDASQL;Server=127.0.0.1"/></w:mailMerge>',
                    d,
                )
                if n == "word/settings.xml"
                else d
            ),
        ),
        "mailMerge",
    ),
    "linked OLE object": (
        _body(
            '<w:p><w:r><w:object><o:OLEObject Type="Link" ProgID="Excel.Sheet.12" r:id="rX9" '
            'UpdateMode="Always"/></w:object></w:r></w:p>',
            _ext("rX9", "oleObject", "http://127.0.0.1:9/x.xls"),
        ),
        "extern resurs",
    ),
    # XML bombs
    "billion laughs in document.xml": (
        lambda app: _repack(
            _builtin(app), lambda n, d: BILLION_LAUGHS if n == "word/document.xml" else d
        ),
        "DTD",
    ),
    "UTF-16 part with a DTD": (
        lambda app: _repack(
            _builtin(app),
            lambda n, d: (
                (
                    '<?xml version="1.0" encoding="UTF-16"?>'
                    '<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>'
                ).encode("utf-16")
                if n == "docProps/app.xml"
                else d
            ),
        ),
        "DTD",
    ),
    # Jinja bombs
    "string multiplication": (_paragraph('{{ "x" * 10**9 }}'), "för stort värde"),
    "huge range as list": (_paragraph("{{ range(10**9)|list }}"), "för stort"),
    "nested loops": (
        _paragraph("{% for a in range(9000) %}{% for b in range(9000) %}{% endfor %}{% endfor %}"),
        "räknar för mycket",
    ),
    "doubling concatenation": (
        _paragraph(
            '{% set ns = namespace(s="xxxxxxxxxx") %}{% for i in range(40) %}'
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
        ),
        "för stort värde",
    ),
    "exponential macro": (
        _paragraph(
            "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
            "{{ m(40) }}"
        ),
        "räknar för mycket",
    ),
    "format width": (_paragraph('{{ "%0999999999d"|format(1) }}'), "för stort värde"),
}


# --------------------------------------------------------------------------- HTTP helpers


@pytest.fixture
def admin(live_server: str, world: World) -> Iterator[requests.Session]:
    s = requests.Session()
    resp = s.post(
        f"{live_server}/login", data={"username": "admin", "password": PASSWORD}, timeout=30
    )
    assert resp.ok
    yield s
    s.close()


def _upload(
    s: requests.Session, base: str, data: bytes, slug: str = "consent"
) -> requests.Response:
    return s.post(
        f"{base}/admin/templates/{slug}/upload",
        files={"file": ("mall.docx", data, "application/octet-stream")},
        allow_redirects=False,
        timeout=300,
    )


def _uploaded() -> int:
    return db.session.scalar(
        db.select(db.func.count(TemplateVersion.id)).where(TemplateVersion.source == "upload")
    )


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE.keys())
def test_hostile_template_is_refused_over_http(
    app: Flask, live_server: str, admin: requests.Session, case: str
) -> None:
    make, message = HOSTILE[case]
    resp = _upload(admin, live_server, make(app))
    assert resp.status_code == 400, resp.text[:500]
    assert message in html.unescape(resp.text)
    assert _uploaded() == 0


def test_web_hyperlink_is_allowed_and_the_template_is_used(
    app: Flask, live_server: str, admin: requests.Session, world: World
) -> None:
    """A link a reader may click (LibreOffice never loads it) is fine in a form."""
    make = _body(
        '<w:p><w:hyperlink r:id="rX9"><w:r><w:t>Läs mer på stockholm.se</w:t></w:r></w:hyperlink>'
        "</w:p>",
        _ext("rX9", "hyperlink", "https://start.stockholm/"),
    )
    resp = _upload(admin, live_server, make(app))
    assert resp.status_code == 302, resp.text[:2000]
    assert _uploaded() == 1


@pytest.mark.parametrize("slug", ["consent", "action_plan", "threat_assessment", "contact_list"])
def test_shipped_template_uploads_activates_and_renders(
    app: Flask, live_server: str, admin: requests.Session, world: World, slug: str
) -> None:
    resp = _upload(admin, live_server, _builtin(app, slug), slug)
    assert resp.status_code == 302, resp.text[:2000]
    active = db.session.scalars(
        db.select(TemplateVersion).where(
            TemplateVersion.type_slug == slug, TemplateVersion.active.is_(True)
        )
    ).one()
    assert active.source == "upload"
    # activating it again checks it again, and it still passes
    again = admin.post(
        f"{live_server}/admin/templates/{slug}/v{active.version}/activate",
        allow_redirects=False,
        timeout=300,
    )
    assert again.status_code == 302
    assert "används nu för nya dokument" in html.unescape(
        admin.get(f"{live_server}/admin/templates").text
    )
    if slug != "consent":
        return
    staff = requests.Session()
    staff.post(
        f"{live_server}/login", data={"username": "caseworker", "password": PASSWORD}, timeout=30
    )
    dtype = runtime(app).registry[slug]
    staff.post(
        f"{live_server}/participants/{world.participant.id}/documents/new/{slug}",
        data=post_data(dtype.form_class, dtype.sample()),
        timeout=300,
    )
    doc = db.session.scalars(db.select(Document).order_by(Document.id.desc())).first()
    assert doc is not None and doc.template_version_id == active.id
    pdf = staff.get(f"{live_server}/documents/{doc.id}/download.pdf", timeout=300)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert world.participant.last_name in pdf_text(pdf.content)


def test_an_old_hostile_upload_cannot_be_activated_again(
    app: Flask, live_server: str, admin: requests.Session, world: World
) -> None:
    """A version stored before these checks existed is checked again when it is activated."""
    hostile = HOSTILE["rel with ns0: prefix"][0](app)
    stored = runtime(app).store.put(hostile, "application/octet-stream")
    db.session.add(
        TemplateVersion(
            type_slug="consent",
            version=7,
            file_sha256=stored.sha256,
            source="upload",
            active=False,
            created_by_id=world.users["admin"].id,
        )
    )
    db.session.commit()
    resp = admin.post(f"{live_server}/admin/templates/consent/v7/activate", timeout=300)
    assert resp.status_code == 200
    assert "Version 7 kan inte användas: Mallen hämtar en extern resurs" in html.unescape(resp.text)
    db.session.expire_all()
    assert (
        db.session.scalar(
            db.select(db.func.count(TemplateVersion.id)).where(TemplateVersion.active.is_(True))
        )
        == 0
    )


# --------------------------------------------------------------------------- LibreOffice itself


class _Listener:
    """A TCP listener on a free loopback port that records every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.connections.append(conn.recv(200))
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        self.sock.close()
        self._thread.join(timeout=5)


MARKER_TEXT = "HEMLIGMARKOR4711"


def _reaching_out(url: str, local_png: Path, local_txt: Path) -> bytes:
    """A plain DOCX (no images of its own) that links a remote and a local image and includes
    a remote picture and a local text file through fields: what the upload check refuses."""
    doc = DocxDocument()
    doc.add_paragraph("Omvandlas utan att hämta något.")
    buf = io.BytesIO()
    doc.save(buf)
    blips = BLIP.format(attr="r:link") + BLIP.format(attr="r:link").replace("rX9", "rX8")
    fields = "".join(
        f'<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText '
        f'xml:space="preserve"> {instr} </w:instrText></w:r><w:r><w:fldChar '
        'w:fldCharType="separate"/></w:r><w:r><w:t>-</w:t></w:r><w:r><w:fldChar '
        'w:fldCharType="end"/></w:r></w:p>'
        for instr in (f'INCLUDEPICTURE "{url}/field.png" \\d', f'INCLUDETEXT "{local_txt}"')
    )
    vml = (
        '<w:p><w:r><w:pict><v:shape style="width:20pt;height:20pt">'
        f'<v:imagedata src="{url}/vml.png"/></v:shape></w:pict></w:r></w:p>'
    )

    def edit(name: str, data: bytes) -> bytes:
        if name == "word/document.xml":
            head, sect, tail = data.rpartition(b"<w:sectPr")
            return head + (blips + fields + vml).encode() + sect + tail
        if name == "word/_rels/document.xml.rels":
            rels = _ext("rX9", "image", f"{url}/blip.png") + _ext(
                "rX8", "image", local_png.as_uri()
            )
            return data.replace(b"</Relationships>", rels.encode() + b"</Relationships>")
        return data

    return _repack(buf.getvalue(), edit)


def _libreoffice_network_namespaces(app: Flask) -> set[str]:
    """The network namespaces of the app's running soffice.bin processes (from /proc)."""
    root = runtime(app).converter_settings.profile_root
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if args[0].endswith(b"soffice.bin") and any(root.encode() in a for a in args):
                found.add(os.readlink(f"/proc/{pid}/ns/net"))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("how", ["pool", "oneshot"])
def test_libreoffice_fetches_nothing_and_embeds_no_local_file(
    app: Flask, tmp_path: Path, how: str
) -> None:
    local_png = tmp_path / "hemlig.png"
    Image.new("RGB", (40, 40), (0, 0, 255)).save(local_png)
    local_txt = tmp_path / "hemlig.txt"
    local_txt.write_text(MARKER_TEXT + "\n", encoding="utf-8")
    listener = _Listener()
    try:
        docx = _reaching_out(f"http://127.0.0.1:{listener.port}", local_png, local_txt)
        if how == "pool":  # straight to the converter: no upload check in the way
            pdf = runtime(app).converter.convert(docx)
        else:
            pdf = convert_oneshot(docx, timeout=120)
    finally:
        listener.close()
    assert listener.connections == []
    if how == "pool":  # and, on a kernel that allows it, it could not have: no network at all
        assert _libreoffice_network_namespaces(app) - {os.readlink("/proc/self/ns/net")}
        assert os.readlink("/proc/self/ns/net") not in _libreoffice_network_namespaces(app)
    assert "Omvandlas utan att hämta något." in pdf_text(pdf)
    assert MARKER_TEXT not in pdf_text(pdf)
    assert [img for page in PdfReader(io.BytesIO(pdf)).pages for img in page.images] == []
