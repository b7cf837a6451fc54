"""Start page and language choice."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from formsvc.services import access
from formsvc.views._common import registry, safe_next

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index() -> str:
    return render_template(
        "main/index.html",
        works_with_clients=access.can_work_with_clients(current_user),
        doc_types=registry().values(),
    )


@bp.route("/lang/<code>")
def lang(code: str) -> Response:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
