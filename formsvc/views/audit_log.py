"""The audit trail: managers see their district's client work, administrators sign-ins and
administration."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from formsvc.services import audit
from formsvc.views._common import id_arg, roles_required

bp = Blueprint("audit_log", __name__)
PAGE = 100


def _page(object_types: tuple[str, ...], district_id: int | None) -> str:
    before = id_arg(request.args, "before")
    doc = id_arg(request.args, "document")
    events = audit.trail(
        district_id=district_id,
        object_types=object_types,
        object_id=str(doc) if doc else None,
        before_id=before,
        limit=PAGE,
    )
    return render_template(
        "audit/index.html",
        events=events,
        more=len(events) == PAGE,
        document=doc,
        admin=district_id is None,
    )


@bp.get("/audit/")
@roles_required("manager")
def district_trail() -> str:
    return _page(audit.CLIENT_OBJECTS, current_user.district_id)


@bp.get("/admin/audit")
@roles_required("admin")
def admin_trail() -> str:
    return _page(audit.ADMIN_OBJECTS, None)
