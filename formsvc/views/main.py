"""Start page and language choice."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from formsvc.forms.threat_assessment import LEVELS
from formsvc.services import access, dashboards, signing
from formsvc.views._common import registry, safe_next

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index() -> str:
    today = signing.today_local()
    board: dict = {}
    if access.can_work_with_clients(current_user):
        board = dashboards.caseworker(current_user, registry(), today)
        if current_user.role == "manager":
            board["to_decide"] = dashboards.threat_assessments_to_decide(current_user.district_id)
            board["talks"] = dashboards.talk_compliance(current_user.district_id, today)
    elif current_user.role == "security_officer":
        board["talks"] = dashboards.talk_compliance(None, today)
        board["signed_talks"] = dashboards.signed_security_talks(limit=20)
    return render_template(
        "main/index.html",
        works_with_clients=access.can_work_with_clients(current_user),
        doc_types=registry(),
        board=board,
        today=today,
        level_labels=LEVELS,
    )


@bp.route("/guidance/procurement")
@login_required
def procurement() -> str:
    """Bilaga 2.4 as what it is: guidance to read, nothing to fill in or sign."""
    return render_template("main/procurement.html")


@bp.route("/lang/<code>")
def lang(code: str) -> Response:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
