"""Refuse requests whose text is not valid UTF-8, before anything (CSRF included) reads the form.

Werkzeug would otherwise keep an invalid byte as the literal text "%FF" (query strings and ordinary
form posts) or as U+FFFD (multipart posts), and the damaged text would be saved and printed.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_babel import refresh


def _invalid_urlencoded(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _invalid_path() -> bool:
    # the raw request line where the server keeps it (Werkzeug's and gunicorn's servers already
    # replaced an invalid byte in PATH_INFO); WSGI strings hold bytes as latin-1 (PEP 3333)
    env = request.environ
    raw = env.get("RAW_URI") or env.get("REQUEST_URI")
    try:
        if raw:
            unquote_to_bytes(raw.split("?", 1)[0].encode("latin-1")).decode("utf-8")
        env.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return True
    return False


def _invalid_request() -> bool:
    if _invalid_path():
        return True
    if _invalid_urlencoded(request.query_string):
        return True
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    if request.mimetype == "application/x-www-form-urlencoded":
        # cached, so the form parser (and CSRF) read the same bytes afterwards
        return _invalid_urlencoded(request.get_data(cache=True))
    if request.mimetype == "multipart/form-data":
        # the multipart parser has already replaced invalid bytes by U+FFFD; nobody types that
        # character, and it is refused in every text field anyway
        return any("\ufffd" in k or "\ufffd" in v for k, v in request.form.items(multi=True))
    return False


def init_app(app: Flask) -> None:
    """Run the check first of all request hooks (before the CSRF check, which would call a
    damaged post "expired")."""

    def refuse_invalid_utf8() -> tuple[str, int] | None:
        if not _invalid_request():
            return None
        refresh()  # the locale hook has not run yet for this request
        app.logger.info("refused a request with invalid UTF-8 on %s", request.path[:200])
        return render_template(
            "error.html",
            code=400,
            title=_("Texten kunde inte läsas"),
            text=_(
                "Det som skickades innehåller tecken som inte är giltig text (felaktig "
                "teckenkodning, inte UTF-8). Ingenting har sparats. Gå tillbaka, skriv in "
                "texten på nytt i stället för att klistra in den, och försök igen."
            ),
        ), 400

    app.before_request_funcs.setdefault(None, []).insert(0, refuse_invalid_utf8)
