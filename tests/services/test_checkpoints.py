"""Signed checkpoints of the audit chain: when they are written, where they go, and that a log
nobody tampered with verifies clean after the things that legitimately change rows."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditCheckpoint, Document
from formsvc.runtime import runtime
from formsvc.services import audit, backup, checkpoints, retention, signing
from formsvc.services.checkpoints import Checkpoint
from tests.conftest import World
from tests.factories import signed_in_person
from tests.smtp import SmtpServer


def _events(n: int) -> None:
    for i in range(n):
        audit.record("view", actor_id=None, actor_label="t", object_type="user", object_id=i)
    db.session.commit()


def _rows() -> list[AuditCheckpoint]:
    return list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))


def _file(app: Flask) -> list[dict[str, Any]]:
    path = Path(app.config["AUDIT_CHECKPOINT_FILE"])
    return [json.loads(line) for line in path.read_text().splitlines()]


def _verify(runner: FlaskCliRunner) -> Any:
    return runner.invoke(args=["audit", "verify"])


def test_a_checkpoint_every_n_events_signed_and_exported_after_commit(
    app: Flask, make_app: Any
) -> None:
    app = make_app(AUDIT_CHECKPOINT_EVERY=10)
    with app.app_context():
        _events(25)
        rows = _rows()
        assert [(r.seq, r.event_count, r.reason) for r in rows] == [
            (1, 10, "interval"),
            (2, 20, "interval"),
        ]
        exported = _file(app)
        assert [Checkpoint.from_line(json.dumps(c)) for c in exported] == [
            Checkpoint.from_row(r) for r in rows
        ]
        keys = runtime(app).anchor.trusted_keys()
        assert all(Checkpoint.from_row(r).signed_by(keys) == "ok" for r in rows)
        assert (Path(app.config["AUDIT_CHECKPOINT_FILE"]).stat().st_mode & 0o777) == 0o600
        result = _verify(app.test_cli_runner())
        assert result.exit_code == 0, result.output
        assert "5 händelser efter den senaste kontrollpunkten" in result.output
        db.session.remove()


def test_a_rolled_back_checkpoint_is_neither_kept_nor_exported(app: Flask, make_app: Any) -> None:
    app = make_app(AUDIT_CHECKPOINT_EVERY=3)
    with app.app_context():
        _events(2)
        audit.record("view", actor_id=None, actor_label="t", object_type="user")
        assert len(_rows()) == 1  # written in the transaction, under the append lock
        db.session.rollback()
        assert _rows() == []
        assert not Path(app.config["AUDIT_CHECKPOINT_FILE"]).exists()
        _events(1)
        assert [c["seq"] for c in _file(app)] == [1]
        db.session.remove()


def test_the_exporter_fills_in_what_a_crashed_process_left_out_in_order(
    app: Flask, make_app: Any
) -> None:
    app = make_app(AUDIT_CHECKPOINT_EVERY=2, AUDIT_CHECKPOINT_FILE=None)
    with app.app_context():
        _events(6)  # three checkpoints, none exported (no file configured in this process)
        rows = [Checkpoint.from_row(r) for r in _rows()]
        assert len(rows) == 3
        other = make_app(AUDIT_CHECKPOINT_EVERY=2)  # a process that does export
        anchor = runtime(other).anchor
        anchor.export(rows[2])  # the newest first: the two before it are taken from the database
        anchor.export(rows[1])  # already there: not written twice
        lines = Path(other.config["AUDIT_CHECKPOINT_FILE"]).read_text().splitlines()
        assert [Checkpoint.from_line(line) for line in lines] == rows
        db.session.remove()


def test_checkpoints_are_mailed_to_the_configured_address(
    app: Flask, make_app: Any, smtp_server: SmtpServer
) -> None:
    app = make_app(
        AUDIT_CHECKPOINT_EVERY=2,
        AUDIT_CHECKPOINT_EMAIL="arkiv@example.se",
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=smtp_server.port,
    )
    with app.app_context():
        _events(2)
        message = smtp_server.wait_for(lambda m: m["To"] == "arkiv@example.se")
        assert "kontrollpunkt 1" in message["Subject"]
        line = next(ln for ln in message.get_content().splitlines() if ln.startswith("{"))
        assert Checkpoint.from_line(line) == Checkpoint.from_row(_rows()[0])
        db.session.remove()


def test_flask_audit_checkpoint_anchors_the_head_now(
    app: Flask, runner: FlaskCliRunner, world: World
) -> None:
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    last = _rows()[-1]
    assert last.reason == "manual" and f"Kontrollpunkt {last.seq}:" in result.output
    assert _verify(runner).exit_code == 0


def test_a_sealed_document_verifies_clean_and_each_signature_and_seal_is_anchored(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document
) -> None:
    signed_in_person(app, consent_doc, world.users["caseworker"])
    rows = _rows()
    assert [r.reason for r in rows].count("sign") == 3
    assert rows[-1].reason == "seal"
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert "deras 3 underskrifter" in result.output


def test_retention_purge_does_not_raise_false_alarms(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document
) -> None:
    signed_in_person(app, consent_doc, world.users["caseworker"])
    report = retention.run(
        runtime(app).registry,
        app.config,
        date(2100, 1, 1),
        store=runtime(app).store,
        dry_run=False,
    )
    assert consent_doc.id in report.deleted
    assert db.session.get(Document, consent_doc.id).status == "purged"
    result = _verify(runner)
    assert result.exit_code == 0, result.output


def test_backup_and_restore_keep_the_log_and_its_checkpoints_verifiable(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    signed_in_person(app, consent_doc, world.users["caseworker"])
    store = runtime(app).store
    keyring = Path(app.config["STORAGE_KEYRING_PATH"])
    backup.backup(tmp_path / "b", store=store, keyring=keyring, include_keys=False)
    restored = backup.restore(tmp_path / "b", store=store, keyring=keyring, force=True)
    assert restored.restored is not None and restored.restored.audit_broken_id is None
    result = _verify(runner)
    assert result.exit_code == 0, result.output


def test_a_signature_without_a_checkpoint_is_not_sealed(
    app: Flask, world: World, consent_doc: Document
) -> None:
    """The sign event is intact and matches, but no signed checkpoint covers it."""
    signed_in_person(app, consent_doc, world.users["caseworker"], seal=False)
    db.session.execute(AuditCheckpoint.__table__.delete())
    db.session.commit()
    with pytest.raises(signing.SealRefused, match="kontrollpunkt"):
        signed_in_person_finalise(app, consent_doc)


def signed_in_person_finalise(app: Flask, doc: Document) -> bool:
    from formsvc.services.sealing import get_sealer

    return signing.finalise_if_complete(
        doc,
        runtime(app).registry[doc.type_slug],
        store=runtime(app).store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        settings=app.config,
    )


def test_the_app_refuses_to_start_without_its_audit_key(
    config: dict[str, Any], tmp_path: Path
) -> None:
    from formsvc import create_app

    with pytest.raises(RuntimeError, match="make setup"):
        create_app({**config, "AUDIT_KEY_PATH": str(tmp_path / "nowhere.pem")})


def test_a_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    checkpoints.create_key(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        checkpoints.create_key(path)
    assert path.read_bytes() == before
    assert (path.stat().st_mode & 0o777) == 0o600


def test_checkpoints_of_an_earlier_key_still_verify_once_its_public_key_is_trusted(
    app: Flask, runner: FlaskCliRunner, world: World
) -> None:
    runner.invoke(args=["audit", "checkpoint"])
    key_path = Path(app.config["AUDIT_KEY_PATH"])
    old = checkpoints.load_key(key_path)
    key_path.unlink()
    checkpoints.create_key(key_path)  # a rotation: the new key signs from now on
    assert "checkpoint_other_key" in _verify(runner).output
    trusted = Path(app.config["AUDIT_TRUSTED_KEYS_DIR"])
    trusted.mkdir(parents=True)
    (trusted / "old.pem").write_bytes(checkpoints.public_pem(old))
    result = _verify(runner)
    assert result.exit_code == 0, result.output
