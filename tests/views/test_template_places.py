"""Template upload refuses a Word template unless each declared signer has one signature place in
its PDF (ADR 013): through the admin view and the service, with real LibreOffice."""

from __future__ import annotations

import html
import importlib.util
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from docx.document import Document as DocxDocumentType
from docx.shared import Pt, RGBColor
from flask import Flask
from flask.testing import FlaskClient

from formsvc import doctypes
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, TemplateVersion
from formsvc.runtime import runtime
from formsvc.services import template_upload
from formsvc.services.template_trial import PLACE_MARKER
from tests.conftest import Auth, World

REGISTRY = doctypes.discover()
SIGNED = sorted(s for s, t in REGISTRY.items() if t.signers(doctypes.sample_input(t)))
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.converter


def _builtin(slug: str = "consent") -> bytes:
    return REGISTRY[slug].template_path.read_bytes()


def _edited(change: Callable[[DocxDocumentType], None], slug: str = "consent") -> bytes:
    doc = DocxDocument(io.BytesIO(_builtin(slug)))
    change(doc)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _drop_markers(doc: DocxDocumentType) -> None:
    """Remove the run holding the signature place marker from the signature block."""
    runs = doc.element.body.xpath('.//w:r[w:t[contains(., "[[sig:")]]')
    assert len(runs) == 1  # the one in the loop over signers
    runs[0].getparent().remove(runs[0])


def _add_marker(doc: DocxDocumentType, text: str, *, size: float = 1) -> None:
    """A paragraph at the end with *text* as an administrator types a marker: white, *size* pt."""
    run = doc.add_paragraph().add_run(text)
    run.font.size = Pt(size)
    run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)


def _without_marker(doc: DocxDocumentType) -> None:
    _drop_markers(doc)


def _markers_in_body_text_size(doc: DocxDocumentType) -> None:
    _drop_markers(doc)
    for key in ("participant", "guardian1", "guardian2"):
        _add_marker(doc, f"[[sig:{key}:170x12]]", size=11)


def _wrong_slot(doc: DocxDocumentType) -> None:
    _add_marker(doc, "[[sig:stranger:170x12]]")


def _twice(doc: DocxDocumentType) -> None:
    _add_marker(doc, "[[sig:guardian1:170x12]]")


def _twice_participant(doc: DocxDocumentType) -> None:
    _add_marker(doc, "[[sig:participant:170x12]]")


def _upload(client: FlaskClient, data: bytes, slug: str = "consent") -> tuple[int, str]:
    resp = client.post(
        f"/admin/templates/{slug}/upload",
        data={"file": (io.BytesIO(data), "mall.docx")},
        content_type="multipart/form-data",
    )
    return resp.status_code, resp.get_data(as_text=True)


def _versions() -> list[tuple[int, str, bool]]:
    db.session.expire_all()
    rows = db.session.scalars(
        db.select(TemplateVersion)
        .where(TemplateVersion.type_slug == "consent")
        .order_by(TemplateVersion.version)
    )
    return [(v.version, v.source, v.active) for v in rows]


ALL_THREE = (
    "”participant” (Deltagare), ”guardian1” (Vårdnadshavare 1), ”guardian2” (Vårdnadshavare 2)"
)
REFUSED = {
    "no marker": (
        _without_marker,
        [
            f"Mallen saknar underskriftsplats för {ALL_THREE}.",
            f"Skriv markeringen {PLACE_MARKER} där underskriften ska stå",
            "som vit text i storlek 1 punkt",
            "[[sig:participant:170x12]]",
        ],
    ),
    "marker not 1 pt": (
        _markers_in_body_text_size,
        [f"Mallen saknar underskriftsplats för {ALL_THREE}.", "storlek 1 punkt"],
    ),
    "wrong slot": (
        _wrong_slot,
        [
            "Mallen har en underskriftsplats för ”stranger”, men dokumenttypen har ingen sådan "
            f"underskrivare. Underskrivarna är: {ALL_THREE}."
        ],
    ),
    "two for one slot": (
        _twice,
        [
            "Mallen har fler än en underskriftsplats för ”guardian1” (Vårdnadshavare 1).",
            f"exakt en markering {PLACE_MARKER}",
        ],
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=REFUSED.keys())
def test_a_template_without_one_place_per_signer_is_refused_and_the_active_one_stays(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document, case: str
) -> None:
    change, messages = REFUSED[case]
    auth.login("admin")
    status, _ = _upload(client, _builtin())  # a good upload: version 2 is the active one
    assert status == 302
    assert _versions() == [(1, "builtin", False), (2, "upload", True)]

    status, page = _upload(client, _edited(change))

    assert status == 400
    for message in messages:
        assert message in page
    assert _versions() == [(1, "builtin", False), (2, "upload", True)]
    uploads = db.session.scalar(
        db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "template_upload")
    )
    assert uploads == 1


def test_an_older_upload_without_places_cannot_be_activated_again(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    """A version stored before this check existed is checked again when it is activated."""
    stored = runtime(app).store.put(_edited(_without_marker), "application/zip")
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
    auth.login("admin")

    resp = client.post("/admin/templates/consent/v7/activate", follow_redirects=True)

    page = resp.get_data(as_text=True)
    assert f"Version 7 kan inte användas: Mallen saknar underskriftsplats för {ALL_THREE}" in page
    assert _versions() == [(1, "builtin", True), (7, "upload", False)]


def test_the_shipped_consent_template_uploads_and_becomes_active(
    client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("admin")
    status, page = _upload(client, _builtin())
    assert status == 302, page
    assert _versions() == [(1, "builtin", False), (2, "upload", True)]


# --------------------------------------------------------------------------- the service


def _check(app: Flask, slug: str, data: bytes) -> None:
    template_upload.check(
        REGISTRY[slug],
        data,
        runner=runtime(app).untrusted,
        converter=runtime(app).converter,
    )


@pytest.mark.parametrize("slug", SIGNED)
def test_every_shipped_signed_template_passes_and_fails_without_its_marker(
    app: Flask, slug: str
) -> None:
    _check(app, slug, _builtin(slug))
    slots = REGISTRY[slug].signers(doctypes.sample_input(REGISTRY[slug]))
    with pytest.raises(template_upload.UploadRefused) as refused:
        _check(app, slug, _edited(_without_marker, slug))
    named = ", ".join(f"”{s.key}” ({s.role})" for s in slots)
    assert str(refused.value).startswith(f"Mallen saknar underskriftsplats för {named}.")


def test_a_marker_typed_by_hand_as_the_message_says_is_accepted(app: Flask) -> None:
    # info_letter has one signer: the marker for it, typed as fixed text outside the loop
    def by_hand(doc: DocxDocumentType) -> None:
        _drop_markers(doc)
        _add_marker(doc, "[[sig:participant:170x12]]")

    data = _edited(by_hand, "info_letter")
    _check(app, "info_letter", data)
    with pytest.raises(template_upload.UploadRefused, match="fler än en underskriftsplats"):
        _check(app, "info_letter", _edited(_twice_participant, "info_letter"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_wrong_slot, "underskriftsplats för ”stranger”, men dokumenttypen"),
        (_twice, "fler än en underskriftsplats för ”guardian1” (Vårdnadshavare 1)"),
    ],
    ids=["unknown slot", "two for one slot"],
)
def test_a_place_for_an_unknown_or_a_doubled_slot_is_refused_by_the_service(
    app: Flask, change: Callable[[DocxDocumentType], None], message: str
) -> None:
    with pytest.raises(template_upload.UploadRefused, match=re.escape(message)):
        _check(app, "consent", _edited(change))


def test_a_type_without_signers_needs_no_place(app: Flask) -> None:
    unsigned = next(s for s, t in REGISTRY.items() if not t.signers(doctypes.sample_input(t)))
    _check(app, unsigned, _builtin(unsigned))


def test_the_marker_in_the_message_is_the_one_our_templates_use() -> None:
    spec = importlib.util.spec_from_file_location("docx_kit", ROOT / "scripts" / "docx_kit.py")
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    assert kit.SIGNATURE_PLACE_MARKER == PLACE_MARKER


def test_the_templates_page_says_which_signers_need_a_place_and_how(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    page = html.unescape(client.get("/admin/templates").get_data(as_text=True))
    consent = page[page.index('<section id="consent">') :]
    consent = consent[: consent.index("</section>")]
    assert "Underskrivare i exempeldata: Deltagare, Vårdnadshavare 1, Vårdnadshavare 2." in consent
    assert f"texten {PLACE_MARKER} i vit färg och storlek 1 punkt" in consent
    assert page.count("Varje underskrivare behöver en underskriftsplats") == len(SIGNED)
