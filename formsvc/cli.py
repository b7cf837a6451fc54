"""`flask --app formsvc …` commands: demo data, users, rendering from the command line, serving."""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app, url_for
from flask.cli import AppGroup
from flask_babel import gettext as _

from formsvc import cli_backup, cli_sso, cli_storage
from formsvc.config import ROLES
from formsvc.doctypes import sample_input
from formsvc.extensions import db
from formsvc.forms._base import data_to_formdata
from formsvc.models import District
from formsvc.runtime import runtime
from formsvc.services import documents, throttle, users
from formsvc.services.conversion import ConversionError
from formsvc.services.rendering import TemplateError, render_docx

user_cli = AppGroup("user", help="Manage staff accounts.")
audit_cli = AppGroup("audit", help="The append-only, hash-chained audit log.")


def register(app: Flask) -> None:
    """Attach the commands to *app*."""
    app.cli.add_command(user_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(sample)
    app.cli.add_command(render)
    app.cli.add_command(serve)
    app.cli.add_command(seed_bulk)
    app.cli.add_command(reminders_command)
    app.cli.add_command(reseal_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(retention_command)
    app.cli.add_command(verify_command)
    cli_storage.register(app)
    cli_backup.register(app)
    cli_sso.register(app)  # issue 14: ssoadmin


def _district(name: str | None) -> int | None:
    if not name:
        return None
    d = db.session.scalar(db.select(District).where(District.name == name))
    if d is None:
        raise click.ClickException(f"Ingen stadsdel heter {name!r}.")
    return d.id


def _user(username: str) -> users.User:
    u = users.find(username)
    if u is None:
        raise click.ClickException(f"Ingen användare heter {username!r}.")
    return u


@click.command("seed-demo")
@click.option(
    "--base-url",
    default=None,
    help="Where the demo is served, for the mailed demo link (default PUBLIC_BASE_URL, "
    "else http://127.0.0.1:5000)",
)
def seed_demo(base_url: str | None) -> None:
    """Create the seven SIG districts and demo users; in demo mode (DEMO_MODE) also staff,
    participants and documents in every district. Adds only what is missing."""
    if not current_app.config.get("DEMO_MODE"):
        created = users.seed_demo(current_app.config["DEMO_PASSWORD"])
        click.echo(f"Skapat: {', '.join(created)}" if created else "Demodata fanns redan.")
        return
    from formsvc import public_base_url
    from formsvc.services import demo, signing
    from formsvc.services.sealing import get_sealer

    base = public_base_url(base_url or current_app.config.get("PUBLIC_BASE_URL"))
    base = base or "http://127.0.0.1:5000"
    started = time.monotonic()
    pool = runtime().converter
    with (
        current_app.test_request_context(base_url=base),
        demo.mail_sink(current_app.config, Path(current_app.instance_path) / "mail"),
    ):
        try:
            report = demo.seed(
                password=current_app.config["DEMO_PASSWORD"],
                registry=runtime().registry,
                settings=current_app.config,
                store=runtime().store,
                converter=pool,
                sealer=get_sealer(current_app),
                link_for=lambda token: url_for("public.link", token=token, _external=True),
                today=signing.today_local(),
            )
        except ConversionError as exc:
            # what was made stays; a document that could not be sent stays a draft
            raise click.ClickException(f"Demodata kunde inte göras klart: {exc.message}") from None
    click.echo(
        f"Demoläge: {report.staff} konton, {report.participants} deltagare, "
        f"{report.documents} dokument ({report.sealed} förseglade, {report.links} länkar "
        f"skickade) på {time.monotonic() - started:.1f} s."
        if report.staff or report.participants or report.documents
        else "Demodata fanns redan."
    )
    for problem in report.problems:
        click.echo(f"Varning: {problem}", err=True)


@user_cli.command("create")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="Full name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--district", help="District name (caseworker, manager)")
@click.option("--email", default="")
@click.password_option(help="Password (min 10 characters)")
def user_create(
    username: str, full_name: str, role: str, district: str | None, email: str, password: str
) -> None:
    """Create a staff account."""
    try:
        users.create_user(
            username=username,
            full_name=full_name,
            role=role,
            password=password,
            district_id=_district(district),
            email=email,
        )
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Användaren {username} är skapad.")


@user_cli.command("list")
def user_list() -> None:
    """List accounts."""
    for u in db.session.scalars(db.select(users.User).order_by(users.User.username)):
        district = u.district.name if u.district else "-"
        state = "aktiv" if u.active else "inaktiverad"
        click.echo(f"{u.username:20} {u.role:17} {district:22} {state}")


@user_cli.command("set-role")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--district", help="District name")
def user_set_role(username: str, role: str, district: str | None) -> None:
    """Change a user's role and district."""
    u = _user(username)
    try:
        users.update_user(
            u,
            role=role,
            district_id=_district(district) or u.district_id,
            active=u.active,
            full_name=u.full_name,
            email=u.email,
            title=u.title,
            phone=u.phone,
            actor=None,
        )
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{username}: roll {role}.")


@user_cli.command("deactivate")
@click.argument("username")
def user_deactivate(username: str) -> None:
    """Deactivate an account (it can no longer log in)."""
    _set_active(_user(username), False)
    click.echo(f"{username} är inaktiverad.")


@user_cli.command("activate")
@click.argument("username")
def user_activate(username: str) -> None:
    """Activate an account again."""
    _set_active(_user(username), True)
    click.echo(f"{username} är aktiv.")


def _set_active(u: users.User, active: bool) -> None:
    users.update_user(
        u,
        role=u.role,
        district_id=u.district_id,
        active=active,
        full_name=u.full_name,
        email=u.email,
        title=u.title,
        phone=u.phone,
        actor=None,
    )


@user_cli.command("reset-password")
@click.argument("username")
@click.option("--password", default=None, help="New password; a random one if left out")
def user_reset_password(username: str, password: str | None) -> None:
    """Set a new password that must be changed at the next login."""
    try:
        new = users.reset_password(_user(username), actor=None, password=password)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Nytt lösenord för {username}: {new}")


@user_cli.command("unlock")
@click.argument("username")
def user_unlock(username: str) -> None:
    """Lift a lockout after too many wrong passwords."""
    was = throttle.unlock(_user(username), actor=None)
    click.echo(f"{username}: spärren är hävd." if was else f"{username} var inte spärrad.")


def _dtype(slug: str):  # noqa: ANN202
    registry = runtime().registry
    if slug not in registry:
        raise click.ClickException(f"Okänd dokumenttyp {slug!r}. Finns: {', '.join(registry)}")
    return registry[slug]


@click.command("sample")
@click.argument("slug")
def sample(slug: str) -> None:
    """Print valid sample data (JSON) for a document type."""
    click.echo(json.dumps(_dtype(slug).sample(), ensure_ascii=False, indent=2))


@click.command("render")
@click.argument("slug")
@click.option(
    "--data",
    "data_file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="JSON data, e.g. from `flask sample SLUG`",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file; .docx or .pdf",
)
def render(slug: str, data_file: click.utils.LazyFile, out: Path) -> None:
    """Validate data like the web form does and render it with the type's template."""
    dtype = _dtype(slug)
    if out.suffix.lower() not in (".docx", ".pdf"):
        raise click.ClickException("--out måste sluta på .docx eller .pdf")
    try:
        data = json.load(data_file)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"Filen är inte giltig JSON: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException("JSON-datat måste vara ett objekt.")
    ctx = documents.offline_context(dtype, data, current_app.config)
    form = dtype.form_class(formdata=data_to_formdata(dtype.form_class, data), meta={"csrf": False})
    if not documents.validate(dtype, form, ctx):
        for line in _errors(form.errors):
            click.echo(line, err=True)
        raise click.ClickException("Datat klarar inte formulärets kontroller.")
    sample = sample_input(dtype)
    context = dtype.build_context(
        replace(
            sample,
            data={
                **{k: data[k] for k in dtype.service_data if k in data},
                **documents.to_data(dtype, form, ctx),
            },
            reference="SIG-PROV-000000 v1",
            printed_at=date.today(),
        )
    )
    try:
        docx = render_docx(dtype.template_path.read_bytes(), context)
        result = docx
        if out.suffix.lower() == ".pdf":
            result = runtime().converter.convert(docx)
    except (TemplateError, ConversionError) as exc:
        raise click.ClickException(exc.message) from None
    out.write_bytes(result)
    click.echo(f"Skrev {out} ({len(result)} byte).")


def _errors(errors: object, prefix: str = "") -> list[str]:
    lines: list[str] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            lines += _errors(value, f"{prefix}{key}.")
    elif isinstance(errors, list):
        for i, value in enumerate(errors):
            if isinstance(value, dict | list):
                lines += _errors(value, f"{prefix}{i}.")
            else:
                lines.append(f"{prefix.rstrip('.')}: {value}")
    return lines


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Warm LibreOffice, then serve the app with waitress."""
    from waitress import serve as waitress_serve

    # SIGTERM (systemd, kill) ends like Ctrl-C, so atexit stops LibreOffice too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pool = runtime().converter
    try:
        pool.start()
        click.echo(f"LibreOffice-omvandlaren är igång ({pool.mode}).")
    except ConversionError as exc:
        click.echo(f"Varning: {exc.message}", err=True)
    if current_app.config.get("MAIL_DEMO_SINK"):
        from formsvc import devmail

        mail_host = str(current_app.config["MAIL_SERVER"])
        mail_port = int(current_app.config["MAIL_PORT"])
        devmail.start(mail_host, mail_port, Path(current_app.instance_path) / "mail")
        click.echo(
            f"Demo: e-post till {mail_host}:{mail_port} skrivs ut här och sparas i instance/mail/."
        )
    # everything loaded so far lives as long as the process: keep it out of the collector's
    # full scans (measured: finalising a signed document 490 -> 381 ms, bench/finalise.py)
    gc.collect()
    gc.freeze()
    if not current_app.config.get("PUBLIC_BASE_URL"):
        # mailed links point here; behind a proxy or on another host, set PUBLIC_BASE_URL
        from formsvc import public_base_url

        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared
        shown = f"[{shown}]" if ":" in shown else shown
        current_app.config["PUBLIC_BASE_URL"] = public_base_url(f"http://{shown}:{port}")
        click.echo(f"Länkar i e-post pekar på {current_app.config['PUBLIC_BASE_URL']}.")
    click.echo(f"formsvc: http://{host}:{port}/")
    sys.stdout.flush()
    waitress_serve(current_app._get_current_object(), host=host, port=port, threads=threads)


@click.command("seed-bulk")
@click.option("--documents", "count", default=100_000, show_default=True, type=int)
@click.option("--participants", default=2_000, show_default=True, type=int)
@click.option("--district", default="Rinkeby-Kista", show_default=True)
def seed_bulk(count: int, participants: int, district: str) -> None:
    """Create many synthetic documents in one district, for measuring list pages (not for prod)."""
    from formsvc.services import bulk

    district_id = _district(district)
    made = bulk.seed(
        district_id=district_id,
        documents=count,
        participants=participants,
        registry=runtime().registry,
        store=runtime().store,
    )
    click.echo(f"Skapade {made} dokument i {district}.")


@click.command("reminders")
def reminders_command() -> None:
    """E-mail signers with open links and caseworkers whose consents expire within 30 days.

    Safe to run from cron as often as wanted: each reminder is sent once.
    """
    from formsvc.services import reminders, signing

    report = reminders.run(current_app.config, signing.today_local())
    click.echo(
        f"påminnelser till undertecknare: {report.signers}, om medgivanden som upphör: "
        f"{report.expiring}, medgivanden som upphört: {report.expired}"
    )
    for line in report.failed:
        click.echo(f"kunde inte skickas (försöker igen nästa gång): {line}", err=True)
    if report.failed:
        sys.exit(1)


@click.command("reseal")
def reseal_command() -> None:
    """Finalise and seal documents left complete but unsealed (e.g. after a crash)."""
    from formsvc.services import signing
    from formsvc.services.sealing import get_sealer

    results = signing.reseal_pending(
        runtime().registry,
        store=runtime().store,
        converter=runtime().converter,
        sealer=get_sealer(current_app),
        settings=current_app.config,
    )
    failed = 0
    for doc, error in results:
        if error:
            failed += 1
            click.echo(f"{doc.reference}: kunde inte förseglas: {error}", err=True)
        else:
            click.echo(f"{doc.reference}: förseglat")
    if not results:
        click.echo("inga dokument väntar på försegling")
    if failed:
        sys.exit(1)


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check every row, link and signed checkpoint of the log (database and exported file), and
    compare documents and signatures with the events that made them; exit 1 on any problem."""
    from formsvc.services import audit, checkpoints, documents
    from formsvc.services.sealing import trusted_certificates, verify

    store = runtime().store
    failed = False
    anchored_upto: int | None = None
    anchor = audit.anchor()
    if anchor is None:
        checked, broken = audit.verify()
        click.echo(_("Kontrollpunkter är avstängda (AUDIT_CHECKPOINTS): bara kedjan kontrolleras."))
        if broken is not None:
            failed = True
            click.echo(
                _(
                    "Loggen är bruten vid händelse %(id)d (%(action)s).",
                    id=broken.id,
                    action=broken.action,
                ),
                err=True,
            )
    else:
        report = checkpoints.verify_log(anchor)
        anchored_upto = report.anchored_upto
        for problem in report.problems:
            click.echo(f"FEL [{problem.kind}]: {problem.text}", err=True)
        for note in report.notes:
            click.echo(note)
        if report.problems:
            failed = True
        else:
            click.echo(
                _(
                    "Loggen är hel: %(n)d händelser och %(c)d signerade kontrollpunkter stämmer "
                    "(%(f)d i exportfilen); %(u)d händelser efter den senaste kontrollpunkten.",
                    n=report.events,
                    c=report.checkpoints,
                    f=report.exported,
                    u=report.unanchored,
                )
            )
    trust = trusted_certificates(current_app)
    docs, findings = audit.verify_documents(
        store.get, lambda pdf: verify(pdf, trust).ok, documents.data_digest
    )
    signatures, sig_findings = audit.verify_signatures(store.get, anchored_upto)
    for f in [*findings, *sig_findings]:
        click.echo(f"FEL [document]: Dokument {f.document_id}: {f.problem}", err=True)
    if findings or sig_findings:
        failed = True
    else:
        click.echo(
            _(
                "Dokumenten stämmer med loggen: %(d)d kontrollerade, och deras %(s)d "
                "underskrifter.",
                d=docs,
                s=signatures,
            )
        )
    if failed:
        click.echo(_("Granskningsloggen är INTE hel: se felen ovan."), err=True)
        sys.exit(1)


@audit_cli.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log's head now and export it (e.g. daily from cron)."""
    from formsvc.services import audit, checkpoints

    anchor = audit.anchor()
    if anchor is None:
        raise click.ClickException(_("Kontrollpunkter är avstängda (AUDIT_CHECKPOINTS)."))
    cp = checkpoints.checkpoint_now(anchor, "flask audit checkpoint")
    click.echo(
        _(
            "Kontrollpunkt %(seq)d: %(n)d händelser, senaste %(id)d, signerad med nyckel %(key)s.",
            seq=cp.seq,
            n=cp.count,
            id=cp.head_id,
            key=cp.key,
        )
    )


@click.command("retention")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def retention_command(dry_run: bool) -> None:
    """Delete the content of documents whose retention period has ended (gallring)."""
    from formsvc.services import retention, signing

    report = retention.run(
        runtime().registry,
        current_app.config,
        signing.today_local(),
        store=runtime().store,
        dry_run=dry_run,
    )
    for item in report.due:
        doc = item.document
        hold = " – SPÄRRAD (legal hold), raderas inte" if item.held else ""
        click.echo(
            f"{doc.id}\t{doc.type_slug}\tsenaste anteckning {item.last_entry:%Y-%m-%d}\t"
            f"gallras från {item.due_on}\t{item.rule}{hold}"
        )
    if dry_run:
        click.echo(f"Provkörning: {len(report.due)} dokument skulle gallras; inget raderades.")
    else:
        click.echo(
            f"Gallrade {len(report.deleted)} dokument ({report.files_deleted} filer); "
            f"{len(report.held)} spärrade. Kvitton finns i loggen."
        )


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def verify_command(file: Path) -> None:
    """Check a sealed PDF as the /verify page does; exit 0 if all is well, 1 on a problem or a
    demo seal (demo – not for real use), 2 if the file cannot be read."""
    from formsvc.services import verification
    from formsvc.services.sealing import trusted_certificates
    from formsvc.services.untrusted import Refused

    limit = int(current_app.config["VERIFY_MAX_BYTES"])
    try:
        with file.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        click.echo(_("Filen kan inte läsas: %(error)s", error=exc.strerror or exc), err=True)
        sys.exit(2)
    if len(data) > limit:
        click.echo(_("Filen är för stor."), err=True)
        sys.exit(2)
    try:
        result = verification.verify_upload(
            data,
            trusted_certificates(current_app),
            runner=runtime().untrusted,
            settings=current_app.config,
        )
    except Refused as exc:  # a limit of the bounded check
        click.echo(exc.message, err=True)
        sys.exit(2)
    seal, verdict = result.seal, result.verdict()
    # the same four answers as /verify, in the same words; the status line comes first
    status = _("Status")  # pybabel reads no call inside an f-string
    click.echo(f"{status}: {verdict.heading}", err=not seal.is_pdf)
    if verdict.demo:
        click.echo(f"DEMO: {verdict.badge}")
    for line in verdict.explanation:
        click.echo(f"  {line}", err=not seal.is_pdf)
    if not seal.is_pdf:
        for problem in seal.problems:
            click.echo(problem, err=True)
        sys.exit(2)
    click.echo(f"SHA-256: {seal.sha256}")
    if seal.sealed:
        click.echo(_("Förseglat av: %(who)s", who=seal.signer or "–"))
        certificate = _("Sigillets certifikat")
        click.echo(f"{certificate}: {verdict.certificate}")
    for problem in seal.problems:
        click.echo(f"FEL: {problem}")
    if seal.ok and not verdict.demo:
        intact = _("Sigillet är äkta och filen oförändrad sedan förseglingen.")
        click.echo(f"OK: {intact}")
    if result.record is not None:
        click.echo(
            _(
                "Dokument: %(title)s (%(ref)s), förseglat %(at)s",
                title=result.record.title,
                ref=result.record.reference,
                at=f"{result.record.sealed_at:%Y-%m-%d %H:%M} UTC",
            )
        )
    for finding in result.findings:
        click.echo(f"{'OK' if finding.ok else 'FEL'}: {finding.text}")
    for line in result.additions():
        click.echo(f"  + {line}")
    sys.exit(0 if result.ok and not verdict.demo else 1)
