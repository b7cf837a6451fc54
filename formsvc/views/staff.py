"""The district's staff: where managers hold security talks (2.0) and competence checks (2.3)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import Document, User
from formsvc.services import access
from formsvc.views._common import registry, roles_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/")
@roles_required("caseworker", "manager")
def index() -> str:
    people = list(
        db.session.scalars(
            select(User)
            .where(
                User.district_id == current_user.district_id,
                User.role.in_(("caseworker", "manager")),
            )
            .order_by(User.full_name)
        )
    )
    docs = list(
        db.session.scalars(
            select(Document)
            .where(
                Document.subject_user_id.is_not(None),
                access.visible_documents(current_user, registry()),
            )
            .order_by(Document.updated_at.desc())
        )
    )
    by_person: dict[int, list[Document]] = {}
    for doc in docs:
        by_person.setdefault(doc.subject_user_id, []).append(doc)
    employee_types = [t for t in registry().values() if t.subject == "employee"]
    return render_template(
        "staff/index.html",
        people=people,
        by_person=by_person,
        employee_types=employee_types,
        doc_types=registry(),
    )
