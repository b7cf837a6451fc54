"""Signing service: freeze, sign once, finalise once, seal (real LibreOffice, real pyHanko)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from formsvc.services.sealing import get_sealer, trusted_certificates, verify
from tests.conftest import World
from tests.helpers import pdf_text


def drawn_png() -> bytes:
    img = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(20, 150), (200, 40), (380, 160), (580, 50)], fill="#1a237e", width=6)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


class Flow:
    """The services a view would call, with the app's real store, converter and seal."""

    def __init__(self, app: Flask, world: World, doc: Document) -> None:
        self.app, self.world, self.doc = app, world, doc
        self.dtype = runtime(app).registry[doc.type_slug]
        self.store = runtime(app).store
        self.converter = runtime(app).converter

    def send(self) -> list[SignatureRequest]:
        return signing.send(
            self.doc,
            self.dtype,
            actor=self.world.users["caseworker"],
            store=self.store,
            converter=self.converter,
        )

    def sign(self, req: SignatureRequest, name: str, png: bytes | None = None) -> None:
        """In person, witnessed by the caseworker; a staff place as the account named *name*."""
        staff = req.kind == "staff"
        actor = self.world.users["caseworker"]
        if staff:
            actor = next(u for u in self.world.users.values() if u.full_name == name)
        signing.sign(
            req,
            self.dtype,
            signing.Given(
                name=name,
                statements=signing.statements_for(req, self.dtype),
                signature_png=png,
                ip="127.0.0.1",
                user_agent="pytest",
            ),
            method="staff" if staff else "in_person",
            actor=actor,
            settings=self.app.config,
            store=self.store,
        )

    def finalise(self) -> bool:
        return signing.finalise_if_complete(
            self.doc,
            self.dtype,
            store=self.store,
            converter=self.converter,
            sealer=get_sealer(self.app),
            settings=self.app.config,
        )


@pytest.fixture
def flow(app: Flask, world: World, consent_doc: Document) -> Flow:
    return Flow(app, world, consent_doc)


def test_sending_freezes_the_pdf_and_opens_one_request_per_signer(flow: Flow) -> None:
    reqs = flow.send()
    assert [r.slot for r in reqs] == ["participant", "guardian1", "guardian2"]
    assert [r.expected_name for r in reqs] == ["Åsa Öberg", "Maria Öberg", "Johan Öberg"]
    assert flow.doc.status == "awaiting_signatures"
    frozen = flow.store.get(flow.doc.frozen_pdf_sha256)
    assert frozen.startswith(b"%PDF")
    assert "Fotbollsföreningen IK Kista" in pdf_text(frozen)
    with pytest.raises(signing.SigningError):
        flow.send()  # a second click changes nothing
    assert len(signing.requests(flow.doc)) == 3


def test_editing_after_sending_voids_open_requests_and_makes_a_new_version(
    app: Flask, flow: Flow
) -> None:
    reqs = flow.send()
    flow.sign(reqs[0], "Åsa Öberg")
    data = dict(flow.doc.data, info_other="Också fritidsgården")
    documents.update(
        flow.doc, data, actor=flow.world.users["caseworker"], store=flow.store, dtype=flow.dtype
    )
    assert flow.doc.status == "draft" and flow.doc.version == 2
    old = signing.requests(flow.doc, version=1)
    assert [r.status for r in old] == ["signed", "voided", "voided"]
    assert signing.requests(flow.doc) == []
    assert flow.doc.frozen_pdf_sha256 is None


def test_the_last_signature_seals_once_with_images_evidence_and_a_valid_pades_seal(
    app: Flask, flow: Flow, tmp_path: Path
) -> None:
    reqs = flow.send()
    frozen_sha = flow.doc.frozen_pdf_sha256
    flow.sign(reqs[0], "Åsa Öberg", drawn_png())
    assert flow.finalise() is False  # not complete yet
    flow.sign(reqs[1], "Maria Öberg")
    flow.sign(reqs[2], "Johan Öberg", drawn_png())
    assert flow.finalise() is True
    assert flow.finalise() is False  # never twice
    doc = db.session.get(Document, flow.doc.id)
    assert doc.status == "active" and doc.sealed_at is not None
    sealed = flow.store.get(doc.sealed_pdf_sha256)
    text = pdf_text(sealed)
    assert "Underskriftsbevis" in text
    assert frozen_sha in text.replace("\n", "").replace(" ", "")
    for name in ("Åsa Öberg", "Maria Öberg", "Johan Öberg"):
        assert name in text
    assert "e-signerad på plats" in text
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True)
    assert images.stdout.count("image") >= 2, images.stdout  # the two drawn signatures
    sig = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    assert "Signature is Valid" in sig.stdout, sig.stdout
    assert "Total document signed" in sig.stdout, sig.stdout
    assert sig.stdout.count("Signature #") == 1
    check = verify(sealed, trusted_certificates(app))
    assert check.ok and check.trusted and check.whole_file
    seals = db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "seal", AuditEvent.object_id == str(doc.id)
        )
    )
    assert seals == 1


def test_a_second_submit_of_the_same_signature_is_refused_not_doubled(flow: Flow) -> None:
    reqs = flow.send()
    flow.sign(reqs[0], "Åsa Öberg")
    with pytest.raises(signing.AlreadyDone):
        flow.sign(reqs[0], "Åsa Öberg")
    signs = db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "sign", AuditEvent.object_id == str(flow.doc.id)
        )
    )
    assert signs == 1
