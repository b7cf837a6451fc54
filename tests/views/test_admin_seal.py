"""An administrator installs the organisation's PKCS#12; the next document is sealed with it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.services.sealing import (
    generate_demo_pkcs12,
    get_sealer,
    trusted_certificates,
    verify,
)
from tests.conftest import SEAL_PASSPHRASE, Auth, World
from tests.services.test_sealing import UPLOAD_PASS, make_p12
from tests.services.test_signing import Flow


def upload(client: FlaskClient, data: bytes, passphrase: str = UPLOAD_PASS):
    return client.post(
        "/admin/seal",
        data={"pkcs12": (io.BytesIO(data), "sigill.p12"), "passphrase": passphrase},
        content_type="multipart/form-data",
    )


def test_admin_installs_a_new_seal_and_documents_are_sealed_with_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("admin")
    page = client.get("/admin/seal").get_data(as_text=True)
    assert "formsvc test seal" in page
    resp = upload(client, make_p12(common_name="Stockholms stad sigill 2027"))
    assert resp.status_code == 302
    assert "Stockholms stad sigill 2027" in client.get("/admin/seal").get_data(as_text=True)
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "seal_installed"))
    flow = Flow(app, world, consent_doc)
    for req, name in zip(flow.send(), ["Åsa Öberg", "Maria Öberg", "Johan Öberg"], strict=True):
        flow.sign(req, name)
    assert flow.finalise()
    sealed = flow.store.get(db.session.get(Document, consent_doc.id).sealed_pdf_sha256)
    result = verify(sealed, trusted_certificates(app))
    assert result.ok and "Stockholms stad sigill 2027" in (result.signer or "")
    assert get_sealer(app).subject.startswith("Stockholms stad sigill 2027")


@pytest.mark.parametrize(
    ("data", "passphrase"),
    [
        (b"not a pkcs12 file at all", UPLOAD_PASS),
        ("good", "fel-lösenord"),
        (b"", UPLOAD_PASS),
        (b"\x30\x82" + b"\x00" * 300_000, UPLOAD_PASS),
    ],
    ids=["garbage", "wrong-passphrase", "empty", "huge"],
)
def test_a_bad_upload_is_refused_and_the_old_seal_stays(
    app: Flask, client: FlaskClient, auth: Auth, world: World, data: bytes | str, passphrase: str
) -> None:
    auth.login("admin")
    before = get_sealer(app).subject
    if data == "good":
        data = make_p12(common_name="Felaktigt lösenord")
    resp = upload(client, data, passphrase)
    assert resp.status_code == 400
    assert 'class="errors"' in resp.get_data(as_text=True)
    assert get_sealer(app).subject == before


def test_only_administrators_may_install_a_seal(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    assert upload(client, make_p12()).status_code == 403


def test_the_page_says_when_the_active_seal_is_the_demo_seal(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    label = "Demo – inte för verklig användning"
    before = client.get("/admin/seal")
    assert before.status_code == 200 and "formsvc test seal" in before.get_data(as_text=True)
    assert label not in before.get_data(as_text=True)
    seal_dir = Path(app.config["SEAL_PKCS12_PATH"]).parent
    (seal_dir / "demo-seal.p12").write_bytes(generate_demo_pkcs12(SEAL_PASSPHRASE.encode()))
    (seal_dir / "active.txt").write_text("demo-seal.p12\n", encoding="utf-8")
    page = client.get("/admin/seal").get_data(as_text=True)
    assert f"<strong>{label}</strong>: det här är demosigillet" in page
