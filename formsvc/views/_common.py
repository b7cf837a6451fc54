"""Small helpers shared by views: access decorators and per-app services."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, request
from flask_login import current_user, login_required

from formsvc.doctypes import DocumentType
from formsvc.services.audit import Origin
from formsvc.services.conversion import ConverterPool, get_pool
from formsvc.services.storage import FileStore

F = TypeVar("F", bound=Callable[..., Any])


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
    """The request's address and browser, for the audit log."""
    return Origin(ip=request.remote_addr or "", user_agent=request.user_agent.string[:300])


def registry() -> dict[str, DocumentType]:
    return current_app.extensions["formsvc.registry"]


def doc_type(slug: str) -> DocumentType:
    """The document type for *slug*, or 404."""
    dtype = registry().get(slug)
    if dtype is None:
        abort(404)
    return dtype


def store() -> FileStore:
    return current_app.extensions["formsvc.store"]


def converter() -> ConverterPool:
    return get_pool(current_app.extensions["formsvc.converter_settings"])


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login or language change."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
