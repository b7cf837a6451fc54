"""`flask storage migrate` to and from S3 (SeaweedFS on loopback), also while the service writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from formsvc.extensions import db
from formsvc.models import Document, StoredFile
from formsvc.runtime import runtime
from formsvc.services import blobs
from formsvc.services.blobs import DatabaseBackend
from formsvc.services.blobs_s3 import S3Backend
from tests.conftest import World
from tests.factories import signed_in_person
from tests.s3_server import S3Server
from tests.services.test_blobs_s3 import closed_port
from tests.test_cli_storage_migrate import downloads, migrate


@pytest.fixture
def s3_settings(config: dict[str, Any], s3_server: S3Server) -> dict[str, Any]:
    """The instance runs on local storage and knows its S3 target (a prefix of its own)."""
    settings = s3_server.settings()
    config["STORAGE_S3"] = settings
    return settings


# usefixtures are set up before the test's own fixtures: `app` is built knowing its S3 target
pytestmark = pytest.mark.usefixtures("s3_settings")


def stored_rows() -> list[str]:
    return sorted(db.session.scalars(db.select(StoredFile.sha256)))


def test_local_to_s3_to_database_and_every_document_downloads_byte_identical(
    app: Flask, world: World, consent_doc: Document, make_app: Any, s3_settings: dict[str, Any]
) -> None:
    signed_in_person(app, consent_doc, world.users["caseworker"])
    doc_id = consent_doc.id
    root = Path(app.config["STORAGE_DIR"])
    on_disk = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    before = downloads(app, doc_id)
    n = len(on_disk)

    to_s3 = migrate(app, "--to", "s3")

    assert to_s3.exit_code == 0, to_s3.output
    assert f"Från local till s3: {n} filer. Kopierade och kontrollerade: {n}," in to_s3.output
    target = S3Backend(s3_settings)
    assert {sha: target.read(sha) for sha in target.names()} == on_disk  # the same ciphertext
    assert {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()} == on_disk  # kept
    in_s3 = make_app(STORAGE_BACKEND="s3")
    assert downloads(in_s3, doc_id) == before

    to_db = migrate(in_s3, "--to", "database")

    assert to_db.exit_code == 0, to_db.output
    assert f"Från s3 till database: {n} filer. Kopierade och kontrollerade: {n}," in to_db.output
    assert downloads(make_app(STORAGE_BACKEND="database"), doc_id) == before
    assert sorted(target.names()) == sorted(on_disk)  # nothing deleted from S3


def test_files_the_service_writes_while_migrate_runs_are_on_s3_after_the_documented_rerun(
    app: Flask, make_app: Any, s3_settings: dict[str, Any]
) -> None:
    service = runtime(app).store  # the running instance, still on local storage
    first = [b"%%PDF-1.7 before %d" % i for i in range(5)]
    for data in first:
        service.put(data, "application/pdf")
    db.session.commit()
    operator = make_app()  # `flask storage migrate` is another process on the same settings
    during: list[bytes] = []

    def the_service_writes_meanwhile(_sha: str) -> None:
        if len(during) < 4:  # two new files after each of the first two blobs copied
            with app.app_context():
                for _ in range(2):
                    data = b"%%PDF-1.7 during %d" % len(during)
                    runtime(app).store.put(data, "application/pdf")
                    during.append(data)
                db.session.commit()

    with operator.app_context():
        store = runtime(operator).store
        target = blobs.backend_named("s3", operator.config)
        report = blobs.migrate(
            store.backend,
            target,
            sorted(store.names()),
            store.open_blob,
            commit=db.session.commit,
            progress=the_service_writes_meanwhile,
        )
        db.session.remove()
    assert report.complete and report.copied == len(first)
    s3 = S3Backend(s3_settings)
    new = {hashlib.sha256(d).hexdigest() for d in during}
    assert len(new) == 4 and not new & set(s3.names())  # listed before they were written

    after = b"%PDF-1.7 after the run, before the switch"
    service.put(after, "application/pdf")
    db.session.commit()
    # the operator switches every instance to S3, then runs migrate again from local
    in_s3 = make_app(STORAGE_BACKEND="s3")
    rerun = migrate(in_s3, "--from", "local", "--to", "s3")

    assert rerun.exit_code == 0, rerun.output
    assert (
        "10 filer. Kopierade och kontrollerade: 5, fanns redan (kontrollerade): 5," in rerun.output
    )
    assert sorted(s3.names()) == stored_rows()
    with in_s3.app_context():
        on_s3 = runtime(in_s3).store
        assert [on_s3.get(hashlib.sha256(d).hexdigest()) for d in [*first, *during, after]] == [
            *first,
            *during,
            after,
        ]
        db.session.remove()


def test_migrate_to_an_s3_that_is_down_stops_with_a_clear_message_and_a_rerun_finishes(
    app: Flask, make_app: Any, s3_settings: dict[str, Any]
) -> None:
    store = runtime(app).store
    for i in range(3):
        store.put(b"%%PDF-1.7 file %d" % i, "application/pdf")
    db.session.commit()
    down = {**s3_settings, "endpoint_url": f"http://127.0.0.1:{closed_port()}", "max_attempts": 1}
    broken = make_app(STORAGE_MIGRATE_TARGETS={"s3": {"STORAGE_S3": down}})

    failed = migrate(broken, "--to", "s3")

    assert failed.exit_code == 1
    assert "Lagringen svarar inte (EndpointConnectionError" in failed.output
    assert "kör kommandot igen" in failed.output
    assert "Traceback" not in failed.output and s3_settings["secret_key"] not in failed.output
    again = migrate(app, "--to", "s3")
    assert again.exit_code == 0, again.output
    assert sorted(S3Backend(s3_settings).names()) == stored_rows()
    assert os.listdir(app.config["STORAGE_DIR"])  # the source is kept


def test_migrate_from_s3_with_wrong_credentials_is_refused_clearly(
    app: Flask, make_app: Any, s3_settings: dict[str, Any]
) -> None:
    wrong = make_app(
        STORAGE_BACKEND="s3", STORAGE_S3={**s3_settings, "secret_key": "not-the-secret-key"}
    )
    result = migrate(wrong, "--to", "database")
    assert result.exit_code == 1
    assert "refused the credentials" in result.output
    assert "not-the-secret-key" not in result.output
    with app.app_context():
        assert list(DatabaseBackend().names()) == []
