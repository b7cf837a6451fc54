"""`flask --app formsvc storage …`: rotate the storage key, retire old keys, verify stored files,
migrate them to another blob backend."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from formsvc.extensions import db
from formsvc.models import StoredFile
from formsvc.runtime import runtime
from formsvc.services import audit, blobs, keys
from formsvc.services.blobs_s3 import StorageUnavailable
from formsvc.services.storage import FileStore, StoredFileError

storage_cli = AppGroup("storage", help="Encrypted file storage: keys, checks, backends.")


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


@storage_cli.command("migrate")
@click.option(
    "--to",
    "target_name",
    required=True,
    type=click.Choice(blobs.BACKENDS),
    help="The backend to copy every stored file to.",
)
@click.option(
    "--from",
    "source_name",
    type=click.Choice(blobs.BACKENDS),
    default=None,
    help="The backend to copy from (default: STORAGE_BACKEND).",
)
def migrate(target_name: str, source_name: str | None) -> None:
    """Copy every stored file to another backend, checked; resumable; the source is kept.

    A backend's settings come from STORAGE_MIGRATE_TARGETS[name], else the instance's own
    (STORAGE_DIR, STORAGE_S3). Run it again after switching STORAGE_BACKEND, with --from the
    old backend, for what was written meanwhile: files already copied are only checked.
    """
    config = current_app.config
    configured = config.get("STORAGE_BACKEND", "local")
    source_name = source_name or configured
    if source_name == target_name:
        raise click.ClickException(
            _("Källa och mål är samma lagring (%(name)s): inget att flytta.", name=target_name)
        )
    store = _store()
    try:
        source = (
            store.backend if source_name == configured else blobs.backend_named(source_name, config)
        )
        target = blobs.backend_named(target_name, config)
    except (RuntimeError, ValueError) as exc:  # e.g. STORAGE_S3 incomplete: names the key only
        raise click.ClickException(
            _("Lagringen kan inte användas: %(reason)s", reason=str(exc))
        ) from None
    # rows whose blob is missing are reported too; blobs without a row are copied as well
    try:
        names = sorted(set(source.names()) | set(db.session.scalars(db.select(StoredFile.sha256))))
        db.session.commit()
        report = blobs.migrate(
            source,
            target,
            names,
            store.open_blob,
            commit=db.session.commit,
            active_key=store.active_key_id(),
        )
    except StorageUnavailable as exc:  # an object store down or refusing us: no traceback
        db.session.rollback()
        raise click.ClickException(
            _(
                "Lagringen svarar inte (%(reason)s). Det som redan är kopierat finns kvar: "
                "kör kommandot igen när den svarar.",
                reason=exc.reason,
            )
        ) from None
    audit.record(
        "storage_migrate",
        actor_id=None,
        actor_label="cli",
        object_type="storage",
        details={
            "from": source_name,
            "to": target_name,
            "copied": report.copied,
            "present": report.present,
            "missing": report.missing,
            "broken": report.broken,
            "mismatched": report.mismatched,
        },
    )
    db.session.commit()
    for sha in report.missing:
        click.echo(_("SAKNAS %(sha)s i %(name)s", sha=sha, name=source_name), err=True)
    for sha in report.broken:
        click.echo(_("SKADAD %(sha)s i %(name)s", sha=sha, name=source_name), err=True)
    for sha in report.mismatched:
        click.echo(_("FEL I MÅLET %(sha)s i %(name)s", sha=sha, name=target_name), err=True)
    click.echo(
        _(
            "Från %(source)s till %(target)s: %(n)d filer. Kopierade och kontrollerade: "
            "%(copied)d, fanns redan (kontrollerade): %(present)d, saknas: %(missing)d, "
            "skadade: %(broken)d, fel i målet: %(mismatched)d. Inget togs bort från %(source)s.",
            source=source_name,
            target=target_name,
            n=len(names),
            copied=report.copied,
            present=report.present,
            missing=len(report.missing),
            broken=len(report.broken),
            mismatched=len(report.mismatched),
        )
    )
    if not report.complete:
        raise click.ClickException(
            _(
                "%(n)d filer finns inte i %(target)s. Återställ dem i %(source)s från "
                "säkerhetskopian (se `flask storage verify`) och kör kommandot igen: det som "
                "redan är kopierat kontrolleras bara.",
                n=len(report.missing) + len(report.broken) + len(report.mismatched),
                source=source_name,
                target=target_name,
            )
        )
    click.echo(
        _(
            'Klart. Sätt STORAGE_BACKEND = "%(target)s" på varje instans och starta om dem; kör '
            "sedan `flask storage migrate --from %(source)s --to %(target)s` igen för filer "
            "som skrevs under tiden.",
            source=source_name,
            target=target_name,
        )
    )
