"""The Alembic migrations create exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from formsvc import create_app
from formsvc.extensions import db


def test_models_and_migrations_agree(app: Flask) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_0011_closed_periods_downgrade_and_upgrade_again(config: dict[str, Any]) -> None:
    # the test's own database (a copy on SQLite, the shared one on PostgreSQL), back at head after
    app = create_app(config)
    with app.app_context():
        downgrade(revision="0010")
        left = set(inspect(db.engine).get_table_names())
        upgrade()
        now = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert not {"closed_period", "period_correction"} & left
    assert {"closed_period", "period_correction"} <= now
