"""`flask --app formsvc sso check`: each SSO provider's settings, mapping rules and metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from formsvc.services import oidc, saml, sso, sso_status

sso_cli = AppGroup("sso", help="Single sign-on: check the configured identity providers.")


def register(app: Flask) -> None:
    """Attach the `sso` commands to *app*."""
    app.cli.add_command(sso_cli)


def metadata_problem(name: str, conf: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """'' when the IdP's metadata (and for OIDC its signing keys) can be read; else why not."""
    try:
        if conf.get("type") == "oidc":
            client = oidc.client(name, conf)
            client.metadata()
            client.keys(refresh=True)
        else:
            saml.metadata(name, conf, settings)  # loads the IdP's metadata and our SP keys
    except (oidc.OidcError, sso.SsoRefused) as exc:
        return str(getattr(exc, "reason", "") or exc)
    except Exception as exc:  # a file, key or XML pysaml2 could not read: reported, not raised
        return f"{type(exc).__name__}: {exc}"
    return ""


@sso_cli.command("check")
@click.option("--offline", is_flag=True, help="Do not fetch the IdPs' metadata.")
def check_command(offline: bool) -> None:
    """Print each provider's problems; exit status 1 when there is one."""
    settings = current_app.config
    found = sso_status.providers(settings)
    if not found:
        click.echo(_("Ingen inloggningstjänst är inställd (SSO_PROVIDERS)."))
        return
    failed = False
    for status in found:
        click.echo(f"{status.name} ({status.type}): {status.label}")
        problems = list(status.problems)
        if not offline and not sso_status.setup_problems(settings["SSO_PROVIDERS"][status.name]):
            problem = metadata_problem(
                status.name, settings["SSO_PROVIDERS"][status.name], settings
            )
            if problem:
                problems.append(_("Metadata: %(problem)s", problem=problem))
            else:
                click.echo("  " + _("Metadata: kan läsas."))
        for problem in problems:
            click.echo("  " + _("FEL: %(problem)s", problem=problem))
        if not problems:
            click.echo("  " + _("OK"))
        failed = failed or bool(problems)
    if failed:
        raise SystemExit(1)
