"""The participant ZIP export holds every document whatever its state (issue 10, defect 7):
drafts, documents out for signature, sealed, declined, voided, expired and withdrawn consents
and the withdrawal record, each entry complete and listed in index.csv with its checksum."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import date

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.models.document import DocumentStatus
from formsvc.runtime import runtime
from formsvc.services import consents, lifecycle, signing
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import docx_text
from tests.services.test_signing import Flow
from tests.views.test_archive_trust import make, signed_consent


def every_state(app: Flask, world: World) -> dict[str, Document]:
    """One document of the participant in each state the lifecycle has."""
    p = world.participant
    docs = {"draft": make(app, world, "needs_inventory", participant=p)}
    out = make(app, world, "consent", participant=p)
    Flow(app, world, out).send()
    docs["awaiting_signatures"] = out
    docs["active"] = signed_consent(app, world)
    withdrawn = signed_consent(app, world)
    record = consents.withdraw(
        withdrawn,
        withdrawn_on=date.today(),
        how="skriftligt",
        details="Vill inte längre <dela> & \u202eavsluta",
        recorded_by="Test caseworker",
        actor=world.users["caseworker"],
        store=runtime(app).store,
    )
    docs["withdrawn"], docs["final"] = withdrawn, record
    declined = make(app, world, "consent", participant=p)
    req = Flow(app, world, declined).send()[0]
    signing.decline(req, "Nej tack", method="in_person", actor=world.users["caseworker"])
    docs["declined"] = declined
    voided = make(app, world, "follow_up", participant=p)
    lifecycle.transition(voided, DocumentStatus.VOIDED, actor=world.users["caseworker"])
    db.session.commit()
    docs["voided"] = voided
    expired = signed_consent(app, world)
    end = date.fromisoformat(expired.data["period_to"])
    db.session.expire_all()
    assert consents.expire_due(end.replace(year=end.year + 1))  # the others expire too
    docs["expired"] = expired
    db.session.expire_all()
    for status, doc in docs.items():
        fresh = db.session.get(Document, doc.id)
        if status not in ("active", "withdrawn"):
            assert fresh.status == status, (status, fresh.status)
    return {s: db.session.get(Document, d.id) for s, d in docs.items()}


def check_zip(app: Flask, body: bytes, docs: dict[str, Document]) -> None:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None  # every entry complete, CRC correct
    names = archive.namelist()
    assert names[-1] == "index.csv" and len(names) == len(set(names))
    rows = list(
        csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig")), delimiter=";")
    )
    assert [r["fil"] for r in rows] == names[:-1]
    for row in rows:
        data = archive.read(row["fil"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
    store = runtime(app).store
    db.session.expire_all()
    for doc in docs.values():
        doc = db.session.get(Document, doc.id)
        mine = [r for r in rows if r["dokument"] == str(doc.id)]
        assert mine, f"{doc.status} document {doc.id} missing from the export"
        assert {r["status"] for r in mine} == {doc.status}
        assert {r["referens"] for r in mine} == {doc.reference}
        main = mine[0]
        if doc.sealed_pdf_sha256:
            assert main["innehåll"] == "sealed_pdf"
            assert archive.read(main["fil"]) == store.get(doc.sealed_pdf_sha256)
        else:
            assert main["innehåll"] == "docx" and main["fil"].endswith(".docx")
            text = docx_text(archive.read(main["fil"]))
            assert len(text) > 200, (doc.status, text)


@pytest.mark.parametrize("how", ["test_client", "live_server"])
def test_the_export_holds_every_document_in_every_state(
    request: pytest.FixtureRequest,
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    how: str,
) -> None:
    docs = every_state(app, world)
    url = f"/participants/{world.participant.id}/export.zip"
    if how == "live_server":
        base = request.getfixturevalue("live_server")
        s = requests.Session()
        s.post(f"{base}/login", data={"username": "caseworker", "password": PASSWORD}, timeout=30)
        resp = s.get(base + url, timeout=300)
        assert resp.status_code == 200, resp.text[:2000]
        body = resp.content
    else:
        auth.login("caseworker")
        resp = client.get(url)
        assert resp.status_code == 200
        body = resp.get_data()
    check_zip(app, body, docs)
