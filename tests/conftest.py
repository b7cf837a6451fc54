"""Fixtures: an app per test from a plain config mapping, on SQLite or PostgreSQL.

FORMSVC_TEST_DB=sqlite (default) or postgresql picks the database; the PostgreSQL URL is
FORMSVC_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test). An unreachable
PostgreSQL fails the run: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import District, Document, Participant, User
from formsvc.runtime import runtime
from formsvc.services import documents, users
from formsvc.services.checkpoints import create_key
from formsvc.services.conversion import close_all_pools
from formsvc.services.keys import create_keyring
from tests.blob_backends import blob_backend  # noqa: F401 - one run per storage backend
from tests.idp.oidc import oidc_idp  # noqa: F401 - the OpenID Provider fixture (session)
from tests.s3_server import s3_server  # noqa: F401 - the S3 server fixture (session)
from tests.smtp import smtp_server  # noqa: F401 - the SMTP fixture, for every test module

BACKEND = os.environ.get("FORMSVC_TEST_DB", "sqlite")
PG_URL = os.environ.get(
    "FORMSVC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
).replace("postgresql://", "postgresql+psycopg://", 1)
PASSWORD = "Testlosen-123"
#: Test converters get their own ports so a running dev server is never disturbed.
CONVERTER_PORT = int(os.environ.get("FORMSVC_TEST_CONVERTER_PORT", "23300"))


def pytest_configure(config: pytest.Config) -> None:
    # a terminated run (e.g. `timeout`) stops the LibreOffice processes it started, then ends at
    # once: raising SystemExit here would only fail the current test and let the run go on
    def terminate(*_: object) -> None:
        close_all_pools()
        os._exit(143)

    signal.signal(signal.SIGTERM, terminate)


def pytest_report_header() -> str:
    return f"formsvc database backend: {BACKEND}"


@pytest.fixture(scope="session")
def converter_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lo-profiles")


@pytest.fixture(scope="session")
def seal_pkcs12(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One sealing certificate (ECDSA P-256) for the whole run; each test gets a copy.

    Not a demo seal: the tests check what a real instance shows (/verify labels a demo seal)."""
    from formsvc.services.sealing import generate_self_signed_pkcs12

    return generate_self_signed_pkcs12(
        SEAL_PASSPHRASE.encode(), organisation="Stockholms stad", common_name="formsvc test seal"
    )


SEAL_PASSPHRASE = "test-seal-passphrase"
#: Nothing listens here: a test that sends mail must start the smtp_server fixture.
NO_SMTP_PORT = 9


def base_config(tmp: Path, converter_root: Path, db_url: str) -> dict[str, Any]:
    keyring = tmp / "storage-keys.json"
    if not keyring.exists():  # a fresh key per test: files are encrypted as in production
        create_keyring(keyring)
    audit_key = tmp / "audit" / "audit-key.pem"
    if not audit_key.exists():  # a fresh audit key per test, outside the database
        create_key(audit_key)
    return {
        "AUDIT_KEY_PATH": str(audit_key),
        "AUDIT_TRUSTED_KEYS_DIR": str(tmp / "audit" / "trusted"),
        "AUDIT_CHECKPOINT_FILE": str(tmp / "audit" / "checkpoints.jsonl"),
        "STORAGE_KEYRING_PATH": str(keyring),
        "SEAL_PKCS12_PATH": str(tmp / "seal" / "seal.p12"),
        "SEAL_PKCS12_PASSPHRASE": SEAL_PASSPHRASE,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": NO_SMTP_PORT,
        "SIGN_RATE_LIMIT": "1000 per minute",
        "VERIFY_RATE_LIMIT": "1000 per minute",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": db_url,
        "STORAGE_DIR": str(tmp / "files"),
        "WTF_CSRF_ENABLED": False,
        "ARGON2_PROFILE": "CHEAPEST",
        "CONVERTER_BASE_PORT": CONVERTER_PORT,
        "CONVERTER_PROFILE_ROOT": str(converter_root),
        "CONVERTER_TIMEOUT": 120.0,
        # mailed links are built from this, never from the request (the test client's host)
        "PUBLIC_BASE_URL": "http://localhost",
    }


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory, converter_root: Path) -> str:
    """Run the Alembic migrations once: into a template SQLite file, or into PostgreSQL."""
    if BACKEND == "postgresql":
        engine = create_engine(PG_URL)
        with engine.begin() as conn:  # a connection error here fails the whole run, loudly
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        url = PG_URL
    elif BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.sqlite'}"
    else:
        raise pytest.UsageError(f"FORMSVC_TEST_DB must be sqlite or postgresql, not {BACKEND}")
    app = create_app(base_config(tmp_path_factory.mktemp("mig"), converter_root, url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def config(
    tmp_path: Path, migrated_db: str, converter_root: Path, seal_pkcs12: bytes
) -> dict[str, Any]:
    """The plain mapping the app under test is built from; tests may extend it before `app`."""
    return fresh_config(tmp_path, migrated_db, converter_root, seal_pkcs12)


def fresh_config(
    tmp: Path, migrated_db: str, converter_root: Path, seal_pkcs12: bytes
) -> dict[str, Any]:
    """The `config` fixture's mapping in *tmp*: its own seal file and, on SQLite, database."""
    seal = tmp / "seal" / "seal.p12"
    seal.parent.mkdir(mode=0o700)
    seal.write_bytes(seal_pkcs12)
    if BACKEND == "sqlite":
        copy = tmp / "formsvc.sqlite"
        shutil.copy(migrated_db.removeprefix("sqlite:///"), copy)
        url = f"sqlite:///{copy}"
    else:
        url = migrated_db
    return base_config(tmp, converter_root, url)


def build_app(config: dict[str, Any]) -> Flask:
    """The app under test, built from *config*, for a test that holds its app context open."""
    app = create_app(config)

    # the test's app context outlives each request, and Flask-Login caches the user on it:
    # forget it per request, before any other hook looks at current_user, so that two clients
    # are two users and a session that ended is seen as ended, as in production
    def _forget_cached_user() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, _forget_cached_user)
    return app


def empty_database() -> None:
    """Leave the database empty for the next test (PostgreSQL is shared by the whole run)."""
    db.session.remove()
    if BACKEND == "postgresql":
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        # a live server's request thread may still be finishing a request the browser sent as
        # the test ended: TRUNCATE then deadlocks with it (PostgreSQL aborts one side). Once
        # that request is done the next attempt goes through; bounded, never silently skipped.
        for attempt in range(1, 11):
            try:
                db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                db.session.commit()
                break
            except OperationalError as exc:
                db.session.rollback()
                if attempt == 10 or "deadlock" not in str(exc).lower():
                    raise
                time.sleep(0.2 * attempt)
    db.engine.dispose()


@pytest.fixture
def app(config: dict[str, Any]) -> Iterator[Flask]:
    app = build_app(config)
    with app.app_context():
        yield app
        empty_database()


@pytest.fixture
def make_app(config: dict[str, Any]) -> Iterator[Any]:
    """Build a second app on the same database with a few settings changed."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        apps.append(create_app({**config, **overrides}))
        return apps[-1]

    yield make
    for extra in apps:
        with extra.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class World:
    """Two districts with staff of every role, and one participant in each district."""

    def __init__(self) -> None:
        self.home = users.create_district("Rinkeby-Kista", actor=None)
        self.other = users.create_district("Farsta", actor=None)
        self.users: dict[str, User] = {}
        for role in ("caseworker", "manager", "security_officer", "analyst", "admin"):
            district = self.home.id if role in ("caseworker", "manager") else None
            self.users[role] = users.create_user(
                username=role,
                full_name=f"Test {role}",
                role=role,
                password=PASSWORD,
                district_id=district,
                email=f"{role}@example.se",
                title="Lots/samordnare",
            )
        self.users["other_caseworker"] = users.create_user(
            username="other_caseworker",
            full_name="Ali Yusuf",
            role="caseworker",
            password=PASSWORD,
            district_id=self.other.id,
        )
        self.participant = self.add_participant(self.home, "Åsa", "Öberg", date(2010, 3, 15))
        self.foreign = self.add_participant(self.other, "Olle", "Farstasson", date(2001, 1, 1))

    def add_participant(self, district: District, first: str, last: str, born: date) -> Participant:
        p = Participant(
            district_id=district.id,
            first_name=first,
            last_name=last,
            id_kind="birth_date",
            id_number=None,
            birth_date=born,
            target_group="sig_unga" if date.today().year - born.year < 20 else "sig_unga_vuxna",
            created_by_id=self.users["caseworker"].id,
        )
        db.session.add(p)
        db.session.commit()
        return p


@pytest.fixture
def world(app: Flask) -> World:
    return World()


class Auth:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self) -> Any:
        return self.client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def consent_doc(app: Flask, world: World) -> Document:
    """A saved consent draft (the type's sample data) for the home district's participant."""
    dtype = runtime(app).registry["consent"]
    return documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
    )


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app served by a real threaded HTTP server on 127.0.0.1 (browsers, concurrency)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
