"""Migration 0005i: one participant per identity number and district, duplicates stop it loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from formsvc import create_app
from formsvc.extensions import db
from tests.conftest import base_config

INSERT = text(
    "INSERT INTO participant (district_id, first_name, last_name, id_kind, id_number, "
    "birth_date, target_group, protected_identity, legal_hold, created_by_id, created_at, "
    "updated_at) VALUES (:d, 'A', 'B', 'personnummer', :n, '2010-01-01', 'sig_unga', "
    "false, false, 1, '2026-01-01', '2026-01-01')"
)


def _setup(tmp_path: Path, converter_root: Path) -> object:
    # always a fresh SQLite file: the shared test database is already at head
    app = create_app(base_config(tmp_path, converter_root, f"sqlite:///{tmp_path / 'm.sqlite'}"))
    with app.app_context():
        upgrade(revision="0005g")
        db.session.execute(text("INSERT INTO district (id, name, active) VALUES (1, 'A', true)"))
        db.session.execute(text("INSERT INTO district (id, name, active) VALUES (2, 'B', true)"))
        db.session.execute(
            text(
                'INSERT INTO "user" (id, username, full_name, email, phone, title, role, '
                "password_hash, active, must_change_password, created_at) VALUES (1, 'u', 'U', "
                "'', '', '', 'caseworker', 'x', true, false, '2026-01-01')"
            )
        )
        db.session.commit()
    return app


def test_duplicates_stop_the_upgrade_with_the_ids(tmp_path: Path, converter_root: Path) -> None:
    app = _setup(tmp_path, converter_root)
    with app.app_context():
        for district, number in ((1, "20100101-1239"), (1, "20100101-1239"), (2, "20100101-1239")):
            db.session.execute(INSERT, {"d": district, "n": number})
        db.session.commit()
        config = app.extensions["migrate"].migrate.get_config()
        with pytest.raises(RuntimeError, match=r"district 1: participants 1\.\.2 \(2 records\)$"):
            command.upgrade(config, "0005i")  # Flask-Migrate's upgrade() would only exit(1)
        db.engine.dispose()


def test_the_same_number_in_two_districts_and_numberless_records_upgrade(
    tmp_path: Path, converter_root: Path
) -> None:
    app = _setup(tmp_path, converter_root)
    with app.app_context():
        for district, number in ((1, "20100101-1239"), (2, "20100101-1239"), (1, None), (1, None)):
            db.session.execute(INSERT, {"d": district, "n": number})
        db.session.commit()
        upgrade(revision="0005i")
        with pytest.raises(Exception, match="UNIQUE"):
            db.session.execute(INSERT, {"d": 1, "n": "20100101-1239"})
        db.session.rollback()
        downgrade(revision="0005g")
        db.session.execute(INSERT, {"d": 1, "n": "20100101-1239"})
        db.session.commit()
        db.engine.dispose()
