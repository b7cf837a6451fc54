"""`flask backup PATH [--include-keys]` and `flask restore PATH [--force]` as operators run them."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from formsvc.cli_backup import backup_command, register, restore_command
from formsvc.extensions import db
from formsvc.models import District, Document
from formsvc.services import users
from formsvc.services.keys import create_keyring
from tests.conftest import World
from tests.services.test_backup import counts, keyring_path, wipe


def test_register_adds_both_commands() -> None:
    probe = Flask("probe")
    register(probe)
    assert {"backup", "restore"} <= set(probe.cli.commands)


def test_backup_says_loudly_that_the_keys_are_not_in_it(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    result = runner.invoke(backup_command, [str(dest)])
    assert result.exit_code == 0, result.output
    assert f"Säkerhetskopian är skriven till {dest}" in result.stdout
    assert "Lagrade filer: 1 " in result.stdout  # the consent's Word template
    assert "finns INTE med i säkerhetskopian" in result.stderr
    assert "Utan dem går de lagrade filerna inte att läsa" in result.stderr
    assert str(keyring_path(app)) in result.stderr
    assert (dest / "manifest.json").is_file()
    assert not (dest / "keys").exists()
    assert (dest.stat().st_mode & 0o777) == 0o700  # personal data


def test_backup_with_include_keys_copies_the_keyring_and_warns_who_can_read_it(
    app: Flask, runner: FlaskCliRunner, world: World, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    result = runner.invoke(backup_command, [str(dest), "--include-keys"])
    assert result.exit_code == 0, result.output
    assert "finns MED i säkerhetskopian" in result.stderr
    copy = dest / "keys" / keyring_path(app).name
    assert copy.read_bytes() == keyring_path(app).read_bytes()


def test_backup_refuses_a_folder_that_is_not_empty(
    runner: FlaskCliRunner, world: World, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(backup_command, [str(dest)]).exit_code == 0
    before = sorted(p.relative_to(dest) for p in dest.rglob("*"))
    again = runner.invoke(backup_command, [str(dest)])
    assert again.exit_code == 1
    assert "finns redan och är inte en tom mapp" in again.output
    assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == before


def test_restore_needs_force_for_a_database_with_rows_and_then_verifies_the_audit_log(
    runner: FlaskCliRunner, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(backup_command, [str(dest)]).exit_code == 0
    users.create_district("Efter säkerhetskopian", actor=None)

    refused = runner.invoke(restore_command, [str(dest)])
    assert refused.exit_code == 1
    assert "Databasen är inte tom" in refused.output and "--force" in refused.output
    assert db.session.scalar(select(District).where(District.name == "Efter säkerhetskopian"))

    forced = runner.invoke(restore_command, [str(dest), "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"Återställt från {dest}" in forced.stdout
    assert "Granskningsloggen är hel" in forced.stdout
    assert set(db.session.scalars(select(District.name))) == {"Rinkeby-Kista", "Farsta"}


def test_restore_refuses_a_backup_without_manifest(
    runner: FlaskCliRunner, world: World, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(backup_command, [str(dest)]).exit_code == 0
    (dest / "manifest.json").unlink()
    before = counts()
    result = runner.invoke(restore_command, [str(dest), "--force"])
    assert result.exit_code == 1
    assert "säkerhetskopian är ofullständig" in result.output
    assert counts() == before  # nothing was deleted, even with --force


def test_restore_tells_when_the_files_cannot_be_read_without_the_kept_keys(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(backup_command, [str(dest)]).exit_code == 0
    keyring = keyring_path(app)
    kept = tmp_path / "kept-elsewhere.json"
    os.replace(keyring, kept)  # the operator stored the keys separately, as told
    wipe(app)
    create_keyring(keyring)  # a new machine's `make setup`

    result = runner.invoke(restore_command, [str(dest)])
    assert result.exit_code == 1
    assert "1 av 1 lagrade filer går inte att läsa" in result.stderr
    assert "Lägg tillbaka den separat sparade nyckelfilen" in result.stderr
    assert "Granskningsloggen är hel" in result.stdout  # the rows themselves are back

    os.replace(kept, keyring)  # the keys put back: the same backup restores cleanly
    again = runner.invoke(restore_command, [str(dest), "--force"])
    assert again.exit_code == 0, again.output
    assert "går inte att läsa" not in again.output
    assert "fanns redan: 1" in again.stdout
