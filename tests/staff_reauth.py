"""Shared by the staff re-authentication tests (OIDC and SAML): what a staff member with an SSO
account sees and submits when signing, and what the database then holds."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import signing
from tests.helpers import pdf_text

#: the district of the test World's manager, as a mapping rule names it
HOME = "Rinkeby-Kista"
LOA = "http://id.elegnamnden.se/loa/1.0/loa3"
DECISION = "Tillfälligt boende beviljas; ökad närvaro vid skolan i samråd med polisen."


def reauth_link(page: str, prefix: str) -> str:
    """The "Bekräfta din identitet hos …" button's target on a sign or decide page."""
    found = re.search(r'<a class="button primary" href="(' + re.escape(prefix) + r'[^"]+)"', page)
    assert found, page[-3000:]
    return unescape(found.group(1))


def staff_url(doc: Document, req: SignatureRequest) -> str:
    return f"/documents/{doc.id}/signatures/{req.id}/staff"


def sign_data(app: Flask, doc: Document, req: SignatureRequest, name: str) -> dict[str, Any]:
    dtype = runtime(app).registry[doc.type_slug]
    return {"s-name": name, "s-statements": list(signing.statements_for(req, dtype))}


def decide_data(name: str = "Test manager") -> dict[str, Any]:
    return {
        "b-decision": DECISION,
        "b-decided_on": signing.today_local().isoformat(),
        "b-level": "elevated",
        "s-name": name,
    }


def signatures(*docs: Document) -> int:
    """How many signatures the audit log records for *docs*."""
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "sign", AuditEvent.object_id.in_([str(d.id) for d in docs])
        )
    )


def sealed_text(app: Flask, doc: Document) -> str:
    db.session.refresh(doc)
    assert doc.sealed_pdf_sha256, doc.status
    text = pdf_text(runtime(app).store.get(doc.sealed_pdf_sha256))
    return " ".join(text.split())


def send(client: FlaskClient, doc: Document) -> list[SignatureRequest]:
    resp = client.post(f"/documents/{doc.id}/send")
    assert resp.status_code == 302
    db.session.refresh(doc)
    return signing.requests(doc)
