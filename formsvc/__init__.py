"""formsvc: the annexes of Stockholm's SIG guidance as forms, Word documents and PDFs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from formsvc import doctypes, legal_texts, logs, proxy, runtime
from formsvc import queue as jobs
from formsvc.config import defaults
from formsvc.extensions import babel, csrf, db, limiter, login_manager, migrate, select_locale
from formsvc.models.user import configure_hasher
from formsvc.services import untrusted
from formsvc.services.blobs import backend_from_config
from formsvc.services.checkpoints import Anchor
from formsvc.services.conversion import ConverterSettings
from formsvc.services.keys import KeyringFile
from formsvc.services.storage import FileStore, private_file

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. With *config* (tests), only defaults + that mapping are used."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("FORMSVC_INSTANCE_PATH") or None,
    )
    app.config.from_mapping(defaults(app.instance_path))
    if config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("FORMSVC")
    else:
        app.config.from_mapping(config)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError(
            "SECRET_KEY is not set: run `make setup` (writes instance/config.py) "
            "or set FORMSVC_SECRET_KEY"
        )

    _secret_key_fallbacks(app)
    app.config["PUBLIC_BASE_URL"] = public_base_url(app.config.get("PUBLIC_BASE_URL"))
    _transport(app)
    logs.init_app(app)  # first: every later hook and log line of a request has its id
    configure_hasher(app.config["ARGON2_PROFILE"])
    _private_sqlite(app.config["SQLALCHEMY_DATABASE_URI"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    _rate_limit_storage(str(app.config["RATELIMIT_STORAGE_URI"]))
    limiter.init_app(app)  # before CSRF, so refused posts still count against the limit
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)

    registry = doctypes.discover()
    doctypes.check(registry)  # refuse to start on a broken registry
    legal_texts.check_overrides(app.config.get("LEGAL_TEXTS"))  # a mistyped key fails loudly
    app.extensions[runtime.EXTENSION_KEY] = runtime.Runtime(
        registry=registry,
        store=FileStore(backend_from_config(app.config), _keyring(app)),
        converter_settings=ConverterSettings(
            processes=int(app.config["CONVERTER_PROCESSES"]),
            **_converter_slot(app.config),
            timeout=float(app.config["CONVERTER_TIMEOUT"]),
            python=str(app.config["CONVERTER_PYTHON"]),
            soffice=str(app.config["CONVERTER_SOFFICE"]),
            isolate_network=bool(app.config["CONVERTER_ISOLATE_NETWORK"]),
        ),
        untrusted=untrusted.start(
            int(app.config["UNTRUSTED_CONCURRENCY"]), untrusted.limits_from(app.config)
        ),
        anchor=_anchor(app),
        app=app,
        queue=jobs.build(app),
    )

    from formsvc import cli, views

    views.register(app)
    cli.register(app)
    return app


def public_base_url(value: object) -> str | None:
    """'scheme://host[:port]' without a trailing slash, or None; anything else refuses to start."""
    if value in (None, ""):
        return None
    parts = urlsplit(str(value).strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise RuntimeError(
            f"PUBLIC_BASE_URL must look like https://host or https://host:port, not {value!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _converter_slot(config: Mapping[str, Any]) -> dict[str, Any]:
    """Ports and profile root of this process's converters: gunicorn worker n (CONVERTER_SLOT,
    set by deploy/gunicorn.conf.py) takes the n-th block of ports and its own profiles."""
    slot, processes = int(config["CONVERTER_SLOT"]), int(config["CONVERTER_PROCESSES"])
    if not 0 <= slot < 1024:
        raise RuntimeError("CONVERTER_SLOT must be between 0 and 1023")
    root = str(config["CONVERTER_PROFILE_ROOT"])
    return {
        "base_port": int(config["CONVERTER_BASE_PORT"]) + 2 * processes * slot,
        "profile_root": str(Path(root) / f"worker-{slot}") if slot else root,
    }


def _secret_key_fallbacks(app: Flask) -> None:
    """Earlier SECRET_KEYs still accepted during a rotation, everything new made with SECRET_KEY.

    Flask reads SECRET_KEY_FALLBACKS for the session cookie; Flask-WTF's CSRF tokens get the
    same through a key list (itsdangerous signs with the last, accepts any), and the one-time
    codes check them in services/signing/links.py. Flask-Login's remember cookie is never set.
    """
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    if not isinstance(fallbacks, list | tuple) or not all(
        isinstance(key, str | bytes) and key for key in fallbacks
    ):
        raise RuntimeError("SECRET_KEY_FALLBACKS must be a list of earlier SECRET_KEY values")
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)
    if not app.config.get("WTF_CSRF_SECRET_KEY"):
        app.config["WTF_CSRF_SECRET_KEY"] = [*fallbacks, app.config["SECRET_KEY"]]


def _rate_limit_storage(uri: str) -> None:
    """Only process memory or Redis: anything else refuses to start (the URI is not echoed, it
    may hold a password)."""
    scheme = uri.partition("://")[0] if "://" in uri else ""
    if scheme not in ("memory", "redis", "rediss"):
        raise RuntimeError(
            "RATELIMIT_STORAGE_URI must be memory:// or redis://host:port/db (rediss:// for TLS)"
        )


def _private_sqlite(uri: str) -> None:
    """A SQLite database file is created owner-only (0600) before SQLite would make it 0644."""
    url = make_url(uri)
    name = url.database or ""
    in_memory = name in ("", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and not in_memory and not name.startswith("file:"):
        private_file(Path(name))


def _transport(app: Flask) -> None:
    """Trust as many proxies as configured for the client address, from PROXY_TRUSTED peers
    only, and over HTTPS send
    cookies only over HTTPS (the HSTS header is set per response, formsvc.views)."""
    hops, proto = int(app.config["PROXY_FIX_X_FOR"]), int(app.config["PROXY_FIX_X_PROTO"])
    if hops < 0 or proto < 0:
        raise RuntimeError("PROXY_FIX_X_FOR and PROXY_FIX_X_PROTO must be 0 or more")
    trusted = proxy.networks(app.config["PROXY_TRUSTED"])
    if hops or proto:
        # without it X-Forwarded-For is ignored; with it, believed only from PROXY_TRUSTED
        # peers (formsvc/proxy.py): a client reaching an instance directly names no address
        app.wsgi_app = proxy.TrustedProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, trusted, x_for=hops, x_proto=proto
        )
    if app.config["PREFERRED_URL_SCHEME"] == "https":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True


def _keyring(app: Flask) -> KeyringFile | None:
    if not app.config["STORAGE_ENCRYPTION"]:
        return None
    path = app.config["STORAGE_KEYRING_PATH"]
    try:
        return KeyringFile(path)
    except FileNotFoundError:
        raise RuntimeError(
            f"the storage keyring {path} is missing: run `make setup` (writes "
            "instance/storage-keys.json), or set STORAGE_KEYRING_PATH"
        ) from None


def _anchor(app: Flask) -> Anchor | None:
    if not app.config["AUDIT_CHECKPOINTS"]:
        return None
    try:
        return Anchor(app.config)
    except FileNotFoundError:
        raise RuntimeError(
            f"the audit key {app.config['AUDIT_KEY_PATH']} is missing: run `make setup` (writes "
            "instance/audit/audit-key.pem), or set AUDIT_KEY_PATH"
        ) from None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # foreign keys are off by default in SQLite; the journal stays SQLite's default (DELETE);
    # audit appends take the write lock themselves (services/audit.record)
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()
