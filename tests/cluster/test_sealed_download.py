"""Issue 15, tests 1 and 8 (in part): a consent signed through instance A downloads
byte-identical through B, with each storage backend; pdfsig finds the seal valid; one seal event.

In part: finalisation (freezing, sealing) still runs in the web process that took the last
signature — A here — not in a Celery worker yet; and `storage migrate` while the service runs is
not tested here.
"""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.runtime import runtime
from formsvc.services import signing
from tests.cluster.conftest import Cluster
from tests.conftest import PASSWORD, World
from tests.services.test_sealing import pdfsig


# "local" last: the other test modules use that cluster, started once
@pytest.fixture(params=["database", "s3", "local"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_signed_through_a_downloads_identical_through_b(
    app: Flask, world: World, consent_doc: Document, cluster: Cluster, storage_backend: str
) -> None:
    at_a = cluster.pin("a")
    http = cluster.login("caseworker")
    send = http.post(
        cluster.url(f"/documents/{consent_doc.id}/send"), headers=at_a, allow_redirects=False
    )
    assert send.status_code == 302
    db.session.refresh(consent_doc)
    dtype = runtime(app).registry[consent_doc.type_slug]
    for req in signing.requests(consent_doc):
        data = {
            "s-name": req.expected_name,
            "s-statements": list(signing.statements_for(req, dtype)),
        }
        url = cluster.url(f"/documents/{consent_doc.id}/signatures/{req.id}/in-person")
        assert http.post(url, data=data, headers=at_a, timeout=120).status_code == 200
        # the caseworker takes the tablet back
        http.post(cluster.url("/unlock"), data={"password": PASSWORD}, headers=at_a, timeout=30)

    db.session.rollback()
    doc = db.session.get(Document, consent_doc.id)
    assert doc is not None and doc.sealed_pdf_sha256
    pdf = cluster.url(f"/documents/{doc.id}/signed.pdf")
    from_b = http.get(pdf, headers=cluster.pin("b"), timeout=30)
    from_a = http.get(pdf, headers=at_a, timeout=30)
    assert from_b.status_code == from_a.status_code == 200
    assert from_b.content == from_a.content
    assert hashlib.sha256(from_b.content).hexdigest() == doc.sealed_pdf_sha256
    assert runtime(app).store.get(doc.sealed_pdf_sha256) == from_b.content
    assert "Signature is Valid" in pdfsig(from_b.content)
    seals = select(func.count()).where(AuditEvent.action == "seal")
    assert db.session.scalar(seals) == 1
