"""`flask --app formsvc storage …`: rotate the storage key, retire old keys, verify stored files."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from formsvc.extensions import db
from formsvc.models import StoredFile
from formsvc.runtime import runtime
from formsvc.services import audit, keys
from formsvc.services.storage import FileStore, StoredFileError

storage_cli = AppGroup("storage", help="Encrypted file storage: keys and checks.")


def register(app: Flask) -> None:
    """Attach the `storage` commands to *app*."""
    app.cli.add_command(storage_cli)


def _store() -> FileStore:
    return runtime().store


def _keyring_path() -> Path:
    if not current_app.config["STORAGE_ENCRYPTION"]:
        raise click.ClickException(
            _("Kryptering av lagrade filer är avstängd (STORAGE_ENCRYPTION).")
        )
    return Path(current_app.config["STORAGE_KEYRING_PATH"])


def _echo_broken(broken: list[StoredFileError]) -> None:
    for err in broken:
        click.echo(_("SKADAD %(sha)s: %(reason)s", sha=err.sha256, reason=err.reason), err=True)


def _log(action: str, details: dict[str, object]) -> None:
    # key changes belong in the audit trail like any other change to how records are kept
    audit.record(
        action,
        actor_id=None,
        actor_label="cli",
        object_type="storage_keyring",
        details=details,
    )
    db.session.commit()


@storage_cli.command("rotate-key")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted rotation: no new key, re-encrypt what is not yet under the active.",
)
def rotate_key(resume: bool) -> None:
    """Make a new active key and re-encrypt every stored file under it."""
    path = _keyring_path()
    report = (keys.resume if resume else keys.rotate)(path, _store())
    _log(
        "storage_key_resume" if resume else "storage_key_rotate",
        {
            "active": report.active_id,
            "reencrypted": report.reencrypted,
            "broken": [e.sha256 for e in report.broken],
        },
    )
    click.echo(
        _(
            "Aktiv nyckel: %(key)s. Omkrypterade: %(done)d, redan klara: %(same)d.",
            key=report.active_id,
            done=report.reencrypted,
            same=report.unchanged,
        )
    )
    if not report.complete:
        _echo_broken(report.broken)
        raise click.ClickException(
            _(
                "%(n)d filer kunde inte läsas och är kvar som de var. Återställ dem från "
                "säkerhetskopian och kör `flask storage rotate-key --resume`.",
                n=len(report.broken),
            )
        )


@storage_cli.command("retire-keys")
def retire_keys() -> None:
    """Remove keys that no stored file is encrypted under any more."""
    try:
        removed = keys.retire_unused(_keyring_path(), _store())
    except keys.RetireRefused as exc:
        _echo_broken(exc.broken)
        raise click.ClickException(
            _(
                "Inga nycklar togs bort: %(n)d filer kunde inte läsas och kan behöva en gammal "
                "nyckel.",
                n=len(exc.broken),
            )
        ) from None
    if removed:
        _log("storage_key_retire", {"removed": removed})
        click.echo(_("Borttagna nycklar: %(ids)s", ids=", ".join(removed)))
    else:
        click.echo(_("Alla nycklar används; inget togs bort."))


@storage_cli.command("verify")
def verify() -> None:
    """Read and check every stored file (and that every file the database names exists)."""
    store = _store()
    names = set(store.names()) | set(db.session.scalars(db.select(StoredFile.sha256)))
    broken: list[StoredFileError] = []
    for sha in sorted(names):
        try:
            store.get(sha)
        except StoredFileError as exc:
            broken.append(exc)
    _echo_broken(broken)
    click.echo(
        _(
            "%(n)d filer kontrollerade, %(bad)d skadade eller saknade.",
            n=len(names),
            bad=len(broken),
        )
    )
    if broken:
        raise click.exceptions.Exit(1)
