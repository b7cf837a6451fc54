"""Small helpers shared by views: access decorators and per-app services."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, flash, make_response, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.routing import IntegerConverter

from formsvc.doctypes import DocumentType
from formsvc.models import Document, User
from formsvc.runtime import runtime
from formsvc.services import signing, throttle
from formsvc.services.audit import Origin
from formsvc.services.conversion import ConverterPool
from formsvc.services.sealing import get_sealer
from formsvc.services.storage import FileStore
from formsvc.services.untrusted import Runner

F = TypeVar("F", bound=Callable[..., Any])

#: Every id column is a 32-bit integer (PostgreSQL `integer`): a larger number names no row.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a number no row can have is 404, not a database error."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    """The Content-Security-Policy of every response; *frame_ancestors* who may frame it."""
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"frame-ancestors {frame_ancestors}; form-action 'self'; base-uri 'none'"
    )


def inline_pdf(view: F) -> F:
    """Let the PDF *view* answers with, when it is sent inline, be framed by our own pages.

    Every page is unframeable (CSP frame-ancestors 'none', X-Frame-Options DENY: no other site
    can put our pages in a frame and trick a click). The preview's <iframe> needs the PDFs it
    shows framed by our own origin, and only those: a 200 application/pdf sent inline. What the
    same view answers otherwise (an error page, a refusal, a login redirect) stays unframeable.
    The view keeps its own access checks: framing changes who may embed, not who may read."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        resp = make_response(view(*args, **kwargs))
        disposition = resp.headers.get("Content-Disposition", "")
        if (
            resp.status_code == 200
            and resp.mimetype == "application/pdf"
            and disposition.startswith("inline;")
        ):
            resp.headers["Content-Security-Policy"] = content_security_policy("'self'")
            resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        return resp

    return wrapped  # type: ignore[return-value]


def id_arg(source: Any, name: str) -> int | None:
    """An id from a query string or form: None when missing, not a number, or out of range."""
    value = source.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


def roles_required(*roles: str) -> Callable[[F], F]:
    """Logged in with one of *roles*, else 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def origin() -> Origin:
    """The request's address (behind a proxy: as PROXY_FIX_X_FOR trusts it) and browser."""
    return Origin(ip=request.remote_addr or "", user_agent=request.user_agent.string[:300])


def password_policy() -> throttle.Policy:
    """The limits on password attempts, from the settings."""
    return throttle.Policy.from_settings(current_app.config)


def locked_message(outcome: throttle.Outcome) -> str:
    """What a locked user name or address is told; the same whether the account exists or not."""
    wait = ngettext("%(num)d minut", "%(num)d minuter", outcome.minutes)
    if outcome.by_address:
        return _(
            "För många misslyckade inloggningar från din adress. Försök igen om %(wait)s.",
            wait=wait,
        )
    return _(
        "För många felaktiga lösenord för det här användarnamnet. Försök igen om %(wait)s, "
        "eller be en administratör att häva spärren.",
        wait=wait,
    )


def registry() -> dict[str, DocumentType]:
    return runtime().registry


def doc_type(slug: str) -> DocumentType:
    """The document type for *slug*, or 404."""
    dtype = registry().get(slug)
    if dtype is None:
        abort(404)
    return dtype


def store() -> FileStore:
    return runtime().store


def converter() -> ConverterPool:
    return runtime().converter


def record_and_finalise(
    what: signing.Signature | signing.Decision | signing.Paper,
    dtype: DocumentType,
    *,
    actor: User | None,
    done: str = "",
) -> signing.Outcome:
    """The signing use case with this app's files, converter, seal and settings; flashes *done*,
    then what every signing view says about the seal (sealed, or why not yet).

    Raises SigningError (nothing recorded)."""
    outcome = signing.record_and_finalise(what, dtype, actor=actor, origin=origin(), **_tools())
    if done:
        flash(done, "info")
    if actor is None and outcome.finalise_error:
        # a signer outside the organisation is told what it means for them, not why (the
        # reason is in the log and on the staff's page; `flask reseal` and the button retry)
        flash(
            _(
                "Din underskrift är sparad. Alla har skrivit under, men dokumentet kunde inte "
                "förseglas just nu. Socialtjänsten gör det så snart som möjligt; du behöver inte "
                "göra något mer."
            ),
            "info",
        )
        return outcome
    _say_seal(outcome.finalised, outcome.finalise_error)
    return outcome


def seal_if_complete(doc: Document, dtype: DocumentType) -> None:
    """Seal *doc* now if complete (the staff's retry button), said as after a signature."""
    _say_seal(*signing.finalise_now(doc, dtype, **_tools()))


def _tools() -> dict[str, Any]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return {
        "store": store(),
        "converter": converter(),
        "sealer": lambda: get_sealer(app),  # loaded only when a document is complete
        "settings": app.config,
    }


def _say_seal(finalised: bool, error: str | None) -> None:
    if finalised:
        flash(_("Alla har skrivit under. Dokumentet är förseglat och arkiverat."), "info")
    if error:
        flash(error, "error")


def untrusted() -> Runner:
    """The bounded runner for parsing uploaded files (formsvc/services/untrusted.py)."""
    return runtime().untrusted


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login or language change.

    Browsers drop tabs and line breaks from a URL (``/%09/host`` arrives as ``/<tab>/host``
    and is followed as ``//host``, another site)
    and a line break cannot go into a header, so any whitespace, control or invisible character
    refuses the target, as do ``//``, backslashes, a scheme or a host."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in target):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


class NoPublicAddress(Exception):
    """PUBLIC_BASE_URL is not set: a link mailed now would carry whatever Host the request had."""


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute address for a mailed link, from the configured PUBLIC_BASE_URL only.

    The request's Host header is never used: a forged Host would otherwise put an attacker's
    address into a genuine mail from the city."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        raise NoPublicAddress()
    return f"{base}{url_for(endpoint, **values)}"
