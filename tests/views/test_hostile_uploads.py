"""Hostile uploads through real HTTP: paper scans are rewritten or refused, /verify is bounded.

Runs on SQLite and PostgreSQL (FORMSVC_TEST_DB). The files are built by tests/hostile.py.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import requests
from flask import Flask
from PIL import Image
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import signing
from formsvc.services.sealing import Sealer
from tests import hostile
from tests.conftest import SEAL_PASSPHRASE
from tests.helpers import pdf_text
from tests.services.test_evidence import one_line
from tests.views import test_signing
from tests.views.test_signing_concurrency import session_for

#: The fixture: a consent (three signers) sent for signing by the caseworker.
sent = test_signing.sent

ACTIVE_PDFS = {
    "javascript": hostile.javascript_pdf,
    "embedded files": hostile.embedded_file_pdf,
    "form and link": hostile.form_pdf,
}


def upload_scan(
    base: str, doc: Document, reqs: list[SignatureRequest], name: str, data: bytes
) -> requests.Response:
    staff = session_for(base, "caseworker")
    return staff.post(
        f"{base}/documents/{doc.id}/paper",
        data={"requests": [str(r.id) for r in reqs]},
        files={"scan": (name, data, "application/octet-stream")},
        allow_redirects=False,
        timeout=120,
    )


def stored_scan(base: str, doc: Document, req: SignatureRequest) -> requests.Response:
    """The scan as staff download it again."""
    got = session_for(base, "caseworker").get(
        f"{base}/documents/{doc.id}/signatures/{req.id}/scan", timeout=60
    )
    assert got.status_code == 200
    return got


def sign_event(req: SignatureRequest) -> AuditEvent:
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign")).all()
    return next(e for e in events if e.details.get("request") == req.id)


@pytest.mark.parametrize("kind", list(ACTIVE_PDFS))
def test_a_pdf_scan_with_active_content_is_stored_and_served_rewritten_without_it(
    live_server: str, sent: Document, kind: str
) -> None:
    upload = ACTIVE_PDFS[kind]()
    assert hostile.active_keys(upload)  # the file as built is hostile
    req = signing.requests(sent)[0]
    resp = upload_scan(live_server, sent, [req], "skanning.pdf", upload)
    assert resp.status_code == 302, resp.text
    got = stored_scan(live_server, sent, req)
    assert got.headers["Content-Type"] == "application/pdf"
    assert hostile.active_keys(got.content) == set()
    assert b"app.alert" not in got.content and b"MZ" not in got.content
    with pikepdf.open(io.BytesIO(got.content)) as pdf:
        assert len(pdf.pages) == 1 and not pdf.attachments
    db.session.expire_all()
    row = db.session.get(SignatureRequest, req.id)
    assert row.status == "signed"
    # the row and the event name the stored file; the event also keeps the bytes received
    event = sign_event(row)
    assert row.scan_sha256 == hashlib.sha256(got.content).hexdigest()
    assert event.details["scan_sha256"] == row.scan_sha256
    assert event.details["scan_received_sha256"] == hashlib.sha256(upload).hexdigest()


def test_a_jpeg_scan_is_re_encoded_upright_without_its_exif(
    live_server: str, sent: Document
) -> None:
    req = signing.requests(sent)[0]
    upload = hostile.jpeg_with_exif()
    assert upload_scan(live_server, sent, [req], "foto.jpg", upload).status_code == 302
    got = stored_scan(live_server, sent, req)
    assert got.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(got.content)) as img:
        assert img.size == (1200, 1600) and not img.getexif()
    assert b"EvilCam" not in got.content


def test_a_drawn_signature_that_unpacks_to_gigabytes_is_refused_clearly(
    app: Flask, live_server: str, sent: Document
) -> None:
    req = signing.requests(sent)[0]
    dtype = runtime(app).registry["consent"]
    bomb = hostile.png_bomb()  # ~200 kB, 1.6 billion pixels
    resp = session_for(live_server, "caseworker").post(
        f"{live_server}/documents/{sent.id}/signatures/{req.id}/in-person",
        data={
            "s-name": "Åsa Öberg",
            "s-statements": list(signing.statements_for(req, dtype)),
            "s-signature_png": test_signing.data_url(bomb),
        },
        timeout=60,
    )
    assert resp.status_code == 200
    assert "Den ritade underskriften kunde inte läsas" in resp.text
    db.session.expire_all()
    assert db.session.get(SignatureRequest, req.id).status == "open"


REFUSED = {
    "flate bomb (1 GB of zeros)": (hostile.flate_bomb_pdf, "x.pdf", "komprimeringsbomb"),
    "144-megapixel PNG": (lambda: hostile.png((12_000, 12_000), "1"), "x.png", "bildpunkter"),
    "truncated PDF": (lambda: hostile.plain_pdf(3)[:-400], "x.pdf", "Skanna igen"),
    "garbage after a PDF header": (
        lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40,
        "x.pdf",
        "PDF-filen kunde inte läsas",
    ),
    "a GIF": (lambda: b"GIF89a" + bytes(2000), "x.gif", "Ladda upp en PDF, PNG eller JPEG"),
    "HTML": (lambda: b"<html><script>alert(1)</script>", "x.pdf", "PDF, PNG eller JPEG"),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_a_hostile_or_broken_scan_is_refused_clearly_and_logged_in_one_line(
    live_server: str, sent: Document, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    build, name, message = REFUSED[kind]
    req = signing.requests(sent)[0]
    with caplog.at_level(logging.INFO):
        resp = upload_scan(live_server, sent, [req], name, build())
    assert resp.status_code == 200
    assert message in resp.text
    assert "<script>alert(1)</script>" not in resp.text
    db.session.expire_all()
    assert db.session.get(SignatureRequest, req.id).status == "open"
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert len(caplog.text) < 2000  # one line per refusal, never the parser's output


def test_a_good_scan_signs_every_chosen_signer_and_the_seal_records_both_hashes(
    app: Flask, live_server: str, sent: Document
) -> None:
    reqs = signing.requests(sent)
    upload = hostile.javascript_pdf()  # acceptable once rewritten: its page is kept
    resp = upload_scan(live_server, sent, reqs, "blankett.pdf", upload)
    assert resp.status_code == 302, resp.text
    db.session.expire_all()
    doc = db.session.get(Document, sent.id)
    assert doc.status == "active" and doc.sealed_pdf_sha256
    stored = stored_scan(live_server, doc, reqs[0]).content
    assert "Underskrift" in pdf_text(stored)  # the page's text survived the rewrite
    sealed = session_for(live_server, "caseworker").get(
        f"{live_server}/documents/{doc.id}/signed.pdf", timeout=60
    )
    text = one_line(pdf_text(sealed.content))
    assert hashlib.sha256(stored).hexdigest() in text  # "sparad": the file kept
    assert hashlib.sha256(upload).hexdigest() in text  # "mottagen": the file uploaded


@pytest.fixture
def sealer(tmp_path: Path, seal_pkcs12: bytes) -> Sealer:
    path = tmp_path / "hostile-seal.p12"
    path.write_bytes(seal_pkcs12)
    return Sealer.from_pkcs12(path, SEAL_PASSPHRASE)


def post_verify(base: str, data: bytes) -> requests.Response:
    return requests.post(
        f"{base}/verify", files={"pdf": ("x.pdf", data, "application/pdf")}, timeout=120
    )


def test_verify_refuses_3000_signature_fields_sharing_one_signature_at_once(
    live_server: str, sealer: Sealer, caplog: pytest.LogCaptureFixture
) -> None:
    hostile_pdf = hostile.many_signature_fields_pdf(hostile.sealed_pdf(sealer))
    assert len(hostile_pdf) > 4_000_000
    with caplog.at_level(logging.INFO):
        resp = post_verify(live_server, hostile_pdf)
    assert resp.status_code == 200
    assert "fler än 10 underskriftsfält" in resp.text
    assert "Dokumentet är äkta" not in resp.text
    assert resp.elapsed.total_seconds() < 20  # refused before pyHanko's ~30 s of validation
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1
    assert len(caplog.text) < 2000


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (hostile.flate_bomb_pdf, "komprimeringsbomb"),
        (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40, "skadad"),
        (lambda: b"GIF89a" + bytes(100), "inte en PDF"),
    ],
)
def test_verify_answers_a_bomb_or_garbage_with_a_clear_sentence(
    live_server: str, build: Any, message: str
) -> None:
    resp = post_verify(live_server, build())
    assert resp.status_code == 200
    assert message in resp.text


def test_verify_still_confirms_a_real_seal(live_server: str, sealer: Sealer, app: Flask) -> None:
    # the test app trusts its own seal certificate (the same PKCS#12)
    resp = post_verify(live_server, hostile.sealed_pdf(sealer))
    assert resp.status_code == 200
    assert "Dokumentet är äkta och oförändrat" in resp.text


@pytest.fixture
def one_slot(config: dict[str, Any]) -> dict[str, Any]:
    """One parse at a time, each allowed to run long (so the second upload finds it busy)."""
    config.update(UNTRUSTED_CONCURRENCY=1, VERIFY_MAX_SIGNATURES=10**6, UNTRUSTED_CPU_SECONDS=4)
    return config


def test_beyond_the_parse_slots_verify_answers_503_try_again(
    one_slot: dict[str, Any], live_server: str, sealer: Sealer
) -> None:
    slow = hostile.many_signature_fields_pdf(hostile.sealed_pdf(sealer))
    first: list[requests.Response] = []

    def hold_the_slot() -> None:
        for _ in range(50):  # until this upload is the one running (bounded)
            first.append(post_verify(live_server, slow))
            if first[-1].status_code != 503:
                return

    running = threading.Thread(target=hold_the_slot)
    running.start()
    try:
        for _ in range(30):  # bounded; the pauses let the slow upload take the slot
            time.sleep(1.0)
            second = post_verify(live_server, hostile.plain_pdf())
            if second.status_code == 503:
                break
        assert second.status_code == 503
        assert "Försök igen" in second.text
    finally:
        running.join(120)
    assert first[-1].status_code == 200
    # stopped by a limit: its CPU time, or the clock on a machine busy with other work
    assert "för mycket beräkning" in first[-1].text or "för lång tid" in first[-1].text
