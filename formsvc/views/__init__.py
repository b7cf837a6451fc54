"""Blueprints and app-wide request handling (login loader, errors, security headers)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, Response, redirect, render_template, request, url_for
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import MethodNotAllowed

from formsvc.extensions import db, login_manager
from formsvc.models import User
from formsvc.services import signer_roles
from formsvc.services.blobs_s3 import StorageUnavailable
from formsvc.services.storage import StoredFileError

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def mask(email: str | None) -> str:
    """An e-mail address as shown on a public page: a***@example.se."""
    from formsvc.services.signing import mask as _mask

    return _mask(email or "")


def local_time(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored naive-UTC timestamp as Stockholm local time."""
    return value.replace(tzinfo=UTC).astimezone(STOCKHOLM).strftime(fmt)


def register(app: Flask) -> None:
    """Attach blueprints and handlers to *app*."""
    from formsvc.views import (
        account,
        admin,
        audit_log,
        auth,
        bankid,
        documents,
        encoding,
        lock,
        main,
        participants,
        periods,
        public,
        saml,
        security,
        signing,
        sso,
        sso_admin,
        staff,
        statistics,
    )
    from formsvc.views._common import IdConverter, content_security_policy

    # before any rule is added: every <int:…> of every blueprint gets the id range check
    app.url_map.converters["int"] = IdConverter
    # the lock first: its check runs before any other request hook of the views
    modules = (lock, auth, main, account, participants, documents, signing, public, staff, admin)
    for module in (*modules, statistics, periods, security, audit_log, bankid):
        app.register_blueprint(module.bp)
    app.register_blueprint(sso.bp)  # issue 14: staff single sign-on
    app.register_blueprint(saml.bp)  # issue 14: staff single sign-on with SAML 2.0
    app.register_blueprint(sso_admin.bp)  # issue 14: ssoadmin
    from formsvc.views import eid as eid_views  # issue 14: signer e-ID

    app.register_blueprint(eid_views.bp)
    from formsvc.views import ops  # issue 15: ops — /healthz, /readyz, /metrics

    app.register_blueprint(ops.bp)

    encoding.init_app(app)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.filters["mask"] = mask
    # roles are stored in Swedish (document text); the interface shows them in its language
    app.jinja_env.filters["signer_role"] = signer_roles.label
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        uid, _, version = user_id.partition(":")
        if not (uid.isdigit() and version.isdigit()) or len(user_id) > 40:
            return None
        user = db.session.get(User, int(uid))
        if user is None or int(version) != (user.session_version or 0):
            return None  # logged out, password changed or reset elsewhere: the session is over
        return user

    # Babel caches the locale on the app context; a fresh choice per request (matters when an app
    # context outlives a request, as in tests and CLI-driven renders)
    app.before_request(refresh)

    @app.before_request
    def force_password_change() -> Response | None:
        if (
            current_user.is_authenticated
            and current_user.must_change_password
            and request.endpoint not in ("account.password", "auth.logout", "static", "main.lang")
        ):
            return redirect(url_for("account.password"))
        return None

    @app.after_request
    def security_headers(resp: Response) -> Response:
        # setdefault: a PDF shown inline has already said who may frame it (_common.inline_pdf)
        resp.headers.setdefault("Content-Security-Policy", content_security_policy())
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint != "static":
            # every page but the stylesheets and scripts: signer and staff pages carry personal
            # data, and a page without any is not worth the risk of forgetting one that has
            resp.headers["Cache-Control"] = "no-store"
        if app.config["PREFERRED_URL_SCHEME"] == "https":
            resp.headers.setdefault(
                "Strict-Transport-Security", f"max-age={int(app.config['HSTS_MAX_AGE'])}"
            )
        return resp

    def error_page(code: int, title: str, text: str) -> tuple[str, int]:
        return render_template("error.html", code=code, title=title, text=text), code

    @app.errorhandler(CSRFError)
    def csrf_error(_e: CSRFError) -> tuple[str, int]:
        return error_page(
            400,
            _("Formuläret har gått ut"),
            _(
                "Sidan var öppen för länge eller skickades två gånger. Gå tillbaka, "
                "ladda om sidan och försök igen."
            ),
        )

    @app.errorhandler(400)
    def bad_request(_e: Exception) -> tuple[str, int]:
        return error_page(400, _("Felaktig begäran"), _("Begäran kunde inte tolkas."))

    @app.errorhandler(403)
    def forbidden(_e: Exception) -> tuple[str, int]:
        return error_page(
            403, _("Ingen behörighet"), _("Din roll har inte behörighet till den här sidan.")
        )

    @app.errorhandler(404)
    def not_found(_e: Exception) -> tuple[str, int]:
        return error_page(
            404,
            _("Sidan finns inte"),
            _("Sidan finns inte, eller så har du inte behörighet att se den."),
        )

    @app.errorhandler(405)
    def wrong_method(e: MethodNotAllowed) -> tuple[str, int, dict[str, str]]:
        # e.g. the address of a button (log out) opened as a link: our page, in the reader's
        # language and with a way back, not Werkzeug's bare English one; Allow stays (RFC 9110)
        page, code = error_page(
            405,
            _("Sidan kan inte öppnas så"),
            _("Adressen hör till en knapp på en annan sida. Gå tillbaka och använd knappen där."),
        )
        return page, code, {"Allow": ", ".join(e.valid_methods or ())}

    @app.errorhandler(413)
    def too_large(_e: Exception) -> tuple[str, int]:
        return error_page(413, _("För stor fil"), _("Det du skickade är för stort."))

    @app.errorhandler(429)
    def too_many(_e: Exception) -> tuple[str, int]:
        return error_page(
            429,
            _("För många försök"),
            _("För många försök på kort tid. Vänta en stund och försök igen."),
        )

    @app.errorhandler(500)
    def server_error(_e: Exception) -> tuple[str, int]:
        db.session.rollback()
        return error_page(
            500,
            _("Något gick fel"),
            _(
                "Ett oväntat fel uppstod. Inget av det du sparat tidigare har "
                "försvunnit. Försök igen eller kontakta support."
            ),
        )

    @app.errorhandler(StoredFileError)
    def stored_file_error(e: StoredFileError) -> tuple[str, int]:
        # not a 500: the app works, one stored file does not; the operator finds it in the log
        # and with `flask storage verify`
        db.session.rollback()
        app.logger.error("stored file refused on %s: %s", request.path, e)
        return error_page(422, _("Filen kan inte visas"), e.message)

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(e: StorageUnavailable) -> tuple[str, int]:
        # the object store is down or refuses us: nothing is damaged, so "try again", not a 500
        db.session.rollback()
        app.logger.error("file storage unavailable on %s: %s", request.path, e.reason)
        return error_page(503, _("Filen kan inte visas just nu"), e.message)
