"""Administration of single sign-on: the providers, their mapping rules, a rule tester."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length

from formsvc.config import ROLES
from formsvc.extensions import db
from formsvc.forms._base import choices
from formsvc.forms.staff import ConfirmForm
from formsvc.models import SsoMappingRule
from formsvc.services import sso_mappings, sso_status, users
from formsvc.services.sso_mappings import MappingError
from formsvc.views._common import roles_required
from formsvc.views.admin import ROLE_LABELS

bp = Blueprint("sso_admin", __name__, url_prefix="/admin/sso")

_INTEGER = re.compile(r"-?[0-9]{1,40}")
#: the tester's box: enough for a token's worth of claims, not a denial of service
MAX_CLAIMS_TEXT = 20_000
MAX_CLAIM_LINES = 200


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class RuleForm(FlaskForm):
    """An administrator's rule; the service checks every field (its errors go on the fields)."""

    provider = SelectField(_l("Inloggningstjänst"), validate_choice=False)
    claim = StringField(
        _l("Attribut eller claim"),
        default="groups",
        filters=[_strip],
        validators=[Length(max=sso_mappings.MAX_CLAIM, message=_l("Högst %(max)d tecken."))],
    )
    value = StringField(
        _l("Värde"),
        filters=[_strip],
        validators=[Length(max=sso_mappings.MAX_VALUE, message=_l("Högst %(max)d tecken."))],
    )
    role = SelectField(_l("Roll"), validate_choice=False)
    district_id = SelectField(_l("Stadsdel"), validate_choice=False)
    priority = StringField(_l("Prioritet"), default="100", filters=[_strip])
    submit = SubmitField(_l("Spara regeln"))


class TryForm(FlaskForm):
    """Claims pasted from a token or an assertion, one ``claim=value`` a line."""

    # names of their own: the page also holds the rule form, which has a provider too
    try_provider = SelectField(_l("Inloggningstjänst"), validate_choice=False)
    claims = TextAreaField(
        _l("Attribut, ett per rad: namn=värde"),
        validators=[Length(max=MAX_CLAIMS_TEXT, message=_l("Högst %(max)d tecken."))],
    )
    submit = SubmitField(_l("Pröva"), id="try-submit")


def _settings() -> Mapping[str, Any]:
    return current_app.config


def _provider_choices(*, any_provider: bool = True) -> list[Any]:
    names = [(name, name) for name in _settings().get("SSO_PROVIDERS") or {}]
    if any_provider:
        names.append((sso_mappings.ANY_PROVIDER, _("Alla (*)")))
    return choices(names)


def _rule_form(row: SsoMappingRule | None = None) -> RuleForm:
    form = RuleForm(obj=row)
    form.provider.choices = _provider_choices()
    if row is not None and row.provider not in {c.value for c in form.provider.choices}:
        # a provider since removed from the settings: shown as it is, refused if kept
        form.provider.choices.insert(0, choices([(row.provider, row.provider)])[0])
    form.role.choices = choices((r, ROLE_LABELS[r]) for r in ROLES)
    current = row.district_id if row is not None else None
    form.district_id.choices = choices(
        [("", _("– ingen –"))]
        + [(str(d.id), d.name) for d in users.districts() if d.active or d.id == current]
    )
    if row is not None and not form.is_submitted():
        form.district_id.data = str(row.district_id or "")
        form.priority.data = str(row.priority)
    return form


def _parsed(form: RuleForm) -> dict[str, Any]:
    """The form's text as the service's types; what cannot be converted is passed on as text,
    for the service to refuse with its field message."""
    # a field absent from the post keeps the rule's own value, which is not text
    district, priority = (
        "" if f.data is None else str(f.data) for f in (form.district_id, form.priority)
    )
    return {
        "provider": form.provider.data,
        "claim": form.claim.data or "",
        "value": form.value.data or "",
        "role": form.role.data,
        "district_id": int(district) if _INTEGER.fullmatch(district) else (district or None),
        "priority": int(priority) if _INTEGER.fullmatch(priority) else priority,
    }


def _save(form: RuleForm, row: SsoMappingRule | None) -> bool:
    """Validate and save; False with the errors on the form's fields."""
    if not form.validate_on_submit():
        return False
    try:
        if row is None:
            sso_mappings.add(_settings(), **_parsed(form), actor=current_user)
        else:
            sso_mappings.update(_settings(), row, **_parsed(form), actor=current_user)
    except MappingError as exc:
        db.session.rollback()
        for name, message in exc.errors.items():
            getattr(form, name).errors.append(message)
        return False
    return True


def _page(form: RuleForm | None = None, tester: TryForm | None = None, **extra: Any) -> str:
    settings = _settings()
    if tester is None:
        tester = TryForm()
        tester.try_provider.choices = _provider_choices(any_provider=False)
    return render_template(
        "admin/sso.html",
        providers=sso_status.providers(settings),
        config_rules={
            name: sso_mappings.config_rules(settings, name)
            for name in settings.get("SSO_PROVIDERS") or {}
        },
        rules=sso_mappings.admin_rules(),
        form=form or _rule_form(),
        tester=tester,
        role_labels=ROLE_LABELS,
        local_login=settings.get("LOCAL_LOGIN", True),
        break_glass=list(settings.get("BREAK_GLASS_USERS") or ()),
        **extra,
    )


@bp.route("")
@roles_required("admin")
def index() -> str:
    return _page()


@bp.route("/rules", methods=["POST"])
@roles_required("admin")
def rule_new() -> str | Response:
    form = _rule_form()
    if _save(form, None):
        flash(_("Regeln är sparad."), "info")
        return redirect(url_for(".index"))
    return _page(form=form)


@bp.route("/rules/<int:rule_id>", methods=["GET", "POST"])
@roles_required("admin")
def rule_edit(rule_id: int) -> str | Response:
    row = db.session.get(SsoMappingRule, rule_id) or abort(404)
    form = _rule_form(row)
    if _save(form, row):
        flash(_("Ändringarna är sparade."), "info")
        return redirect(url_for(".index"))
    return render_template("admin/sso_rule.html", form=form, rule=row)


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@roles_required("admin")
def rule_delete(rule_id: int) -> Response:
    row = db.session.get(SsoMappingRule, rule_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    sso_mappings.delete(row, actor=current_user)
    flash(_("Regeln är borttagen."), "info")
    return redirect(url_for(".index"))


@bp.route("/test", methods=["POST"])
@roles_required("admin")
def try_rules() -> str:
    tester = TryForm()
    tester.try_provider.choices = _provider_choices(any_provider=False)
    if not tester.validate_on_submit():
        return _page(tester=tester)
    attributes, problems = parse_claims(tester.claims.data or "")
    if problems:
        tester.claims.errors.extend(problems)
        return _page(tester=tester)
    provider = tester.try_provider.data
    if provider not in (_settings().get("SSO_PROVIDERS") or {}):
        tester.try_provider.errors.append(_("Välj en av de inställda inloggningstjänsterna."))
        return _page(tester=tester)
    rules = sso_mappings.rules(_settings(), provider)
    return _page(
        tester=tester,
        tried=True,
        matched=sso_mappings.match(rules, attributes),
        near=near_misses(rules, attributes),
    )


def parse_claims(text: str) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """``claim=value`` lines as multi-valued attributes; Swedish problems per line."""
    found: dict[str, list[str]] = {}
    problems: list[str] = []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}, [_("Klistra in minst en rad namn=värde.")]
    if len(lines) > MAX_CLAIM_LINES:
        return {}, [_("Högst %(n)d rader.", n=MAX_CLAIM_LINES)]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        claim, sep, value = line.partition("=")
        claim, value = claim.strip(), value.strip()
        problem = (None if sep else _("skriv namn=värde")) or sso_mappings.text_problem(
            claim, maximum=sso_mappings.MAX_CLAIM
        )
        problem = problem or sso_mappings.text_problem(value, maximum=sso_mappings.MAX_VALUE)
        if problem:
            problems.append(_("Rad %(n)d: %(problem)s", n=number, problem=problem))
            continue
        found.setdefault(claim, []).append(value)
    return {k: tuple(v) for k, v in found.items()}, problems


def near_misses(
    rules: list[sso_mappings.Rule], attributes: Mapping[str, tuple[str, ...]]
) -> list[tuple[sso_mappings.Rule, str, str]]:
    """Rules that would match but for upper/lower case: (rule, claim given, value given)."""
    out = []
    for rule in rules:
        for claim, values in attributes.items():
            if claim.casefold() != rule.claim.casefold():
                continue
            for value in values:
                exact = (claim, value) == (rule.claim, rule.value)
                if not exact and value.casefold() == rule.value.casefold():
                    out.append((rule, claim, value))
    return out
