"""The security function: signed security talks (bilaga 2.0) and who is overdue; no client data."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.services import audit, dashboards, signing
from formsvc.views._common import origin, roles_required, store

bp = Blueprint("security", __name__, url_prefix="/security")


@bp.get("/")
@roles_required("security_officer")
def index() -> str:
    return render_template(
        "security/index.html",
        talks=dashboards.talk_compliance(None, signing.today_local()),
        signed=dashboards.signed_security_talks(),
    )


@bp.get("/talks/<int:doc_id>.pdf")
@roles_required("security_officer")
def talk_pdf(doc_id: int) -> Response:
    doc = db.session.get(Document, doc_id)
    # only signed security talks are delivered to the security function, never client documents
    if doc is None or doc.type_slug != "security_talk" or not doc.sealed_pdf_sha256:
        abort(404)
    audit.record(
        "download",
        actor_id=current_user.id,
        actor_label=current_user.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details={"format": "sealed_pdf", "via": "security"},
        origin=origin(),
    )
    db.session.commit()
    return Response(
        store().get(doc.sealed_pdf_sha256),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="sakerhetssamtal-{doc.id}.pdf"'},
    )
