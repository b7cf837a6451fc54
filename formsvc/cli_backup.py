"""`flask --app formsvc backup PATH` and `restore PATH` (docs/adr/006-backup.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import StoredFile
from formsvc.runtime import runtime
from formsvc.services import backup as backups


def register(app: Flask) -> None:
    """Attach the backup and restore commands to *app*."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def _keyring() -> Path | None:
    path = current_app.config.get("STORAGE_KEYRING_PATH")
    return Path(path) if path else None


def _megabytes(size: int) -> str:
    return format_decimal(size / 1_000_000, format="0.0")


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--include-keys",
    is_flag=True,
    help="Also copy the storage keyring (then anyone with the backup can read every file).",
)
@with_appcontext
def backup_command(path: Path, include_keys: bool) -> None:
    """Write a consistent backup (database and stored files) to PATH, a new or empty folder.

    Safe while the service runs. Without --include-keys the storage keyring is not copied:
    keep it separately, the files cannot be read without it.
    """
    keyring = _keyring()
    try:
        manifest = backups.backup(
            path,
            store=runtime().store,
            keyring=keyring,
            include_keys=include_keys,
        )
    except backups.BackupError as exc:
        if path.is_dir() and not (path / backups.MANIFEST).exists() and any(path.iterdir()):
            click.echo(
                _(
                    "%(path)s är ofullständig (manifest.json saknas): ta bort mappen.",
                    path=str(path),
                ),
                err=True,
            )
        raise click.ClickException(exc.message) from None
    click.echo(
        _(
            "Säkerhetskopian är skriven till %(path)s (databasversion %(rev)s). "
            "Rader: %(rows)d i %(tables)d tabeller. Lagrade filer: %(files)d (%(mb)s MB).",
            path=str(path),
            rows=sum(manifest.tables.values()),
            tables=len(manifest.tables),
            files=manifest.stored_files,
            mb=_megabytes(manifest.size),
            rev=manifest.alembic_revision,
        )
    )
    click.echo(_("Den innehåller personuppgifter: förvara den på ett skyddat ställe."))
    keyring_exists = keyring is not None and keyring.is_file()
    if manifest.keyring is not None:
        click.echo(
            _(
                "VARNING: nycklarna (%(keyring)s) finns MED i säkerhetskopian. Den som har "
                "kopian kan läsa alla filer: förvara den lika skyddat som nycklarna.",
                keyring=str(keyring),
            ),
            err=True,
        )
    elif keyring_exists:
        click.echo(
            _(
                "VARNING: nycklarna (%(keyring)s) finns INTE med i säkerhetskopian. Utan dem går "
                "de lagrade filerna inte att läsa. Spara nyckelfilen separat, på ett annat "
                "ställe än säkerhetskopian (eller använd --include-keys).",
                keyring=str(keyring),
            ),
            err=True,
        )
    elif include_keys:
        click.echo(_("Det finns ingen nyckelfil att ta med."), err=True)


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Delete every row of a database that is not empty.")
@with_appcontext
def restore_command(path: Path, force: bool) -> None:
    """Restore a backup from PATH into an empty database (--force: replace what is there).

    Stop the service first. Every file of the backup is checked against its manifest before
    anything is changed; the audit log's hash chain is verified afterwards.
    """
    keyring = _keyring()
    try:
        manifest = backups.restore(
            path,
            store=runtime().store,
            keyring=keyring,
            force=force,
        )
    except backups.BackupError as exc:
        raise click.ClickException(exc.message) from None
    done = manifest.restored
    assert done is not None  # restore always fills it in
    click.echo(
        _(
            "Återställt från %(path)s (tagen %(at)s, databasversion %(rev)s). Rader: %(rows)d. "
            "Lagrade filer: %(files)d (kopierade: %(copied)d, fanns redan: %(present)d).",
            path=str(path),
            at=manifest.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            rev=manifest.alembic_revision,
            rows=sum(manifest.tables.values()),
            files=manifest.stored_files,
            copied=done.files_copied,
            present=done.files_present,
        )
    )
    failed = False
    if done.keyring == "replaced":
        click.echo(
            _(
                "Nycklarna är återställda till %(keyring)s; den nyckelfil som låg där är "
                "flyttad till %(aside)s.",
                keyring=str(keyring),
                aside=str(done.keyring_aside),
            )
        )
    elif done.keyring == "restored":
        click.echo(_("Nycklarna är återställda till %(keyring)s.", keyring=str(keyring)))
    elif done.keyring == "not_configured":
        click.echo(
            _(
                "Säkerhetskopian innehåller nycklar men STORAGE_KEYRING_PATH är inte satt: "
                "de återställdes inte (de ligger i %(path)s).",
                path=str(path / str(manifest.keyring)),
            ),
            err=True,
        )
    unreadable = _unreadable_files()
    if unreadable:
        failed = True
        click.echo(
            _(
                "VARNING: %(count)d av %(total)d lagrade filer går inte att läsa med de nycklar "
                "tjänsten har (t.ex. %(sha)s). Lägg tillbaka den separat sparade nyckelfilen "
                "(STORAGE_KEYRING_PATH) och kontrollera med `flask storage verify`.",
                count=len(unreadable),
                total=manifest.stored_files,
                sha=unreadable[0],
            ),
            err=True,
        )
    if done.audit_broken_id is None:
        click.echo(
            _(
                "Granskningsloggen är hel: %(count)d händelser kontrollerade.",
                count=done.audit_checked,
            )
        )
    else:
        failed = True
        click.echo(
            _(
                "VARNING: granskningsloggens kedja är bruten vid händelse %(id)d (efter "
                "%(count)d hela händelser).",
                id=done.audit_broken_id,
                count=done.audit_checked,
            ),
            err=True,
        )
    if failed:
        sys.exit(1)


def _unreadable_files() -> list[str]:
    """Stored files the running configuration cannot open (e.g. the keys were not restored)."""
    store = runtime().store
    bad = []
    for sha in db.session.scalars(select(StoredFile.sha256).order_by(StoredFile.sha256)):
        try:
            store.get(sha)
        except OSError:
            bad.append(sha)
    return bad
