"""/admin/sso: providers, config rules (read-only), the administrator's rules, the rule tester;
the users pages name SSO accounts and offer them no password."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from formsvc.extensions import db
from formsvc.models import AuditEvent, SsoMappingRule, User
from formsvc.services import sso_mappings
from tests.conftest import PASSWORD, Auth, World

PROVIDERS = {
    "city": {
        "type": "oidc",
        "label": "Stockholms stad (Entra ID)",
        "server_metadata_url": "https://login.example.se/.well-known/openid-configuration",
        "client_id": "formsvc",
        "client_secret": "not-a-secret",
        "mappings": [
            {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
            {"claim": "groups", "value": "kista-lotsar", "role": "caseworker", "district": "Kista"},
        ],
    },
    "siths": {"type": "saml", "label": "SITHS-kort", "idp_metadata_file": "/nonexistent.xml"},
}


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    config["SSO_PROVIDERS"] = PROVIDERS
    return config


@pytest.fixture
def admin(client: FlaskClient, auth: Auth, world: World) -> FlaskClient:
    assert auth.login("admin").status_code == 302
    return client


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _rule(world: World, **fields: str) -> dict[str, str]:
    return {
        "provider": "city",
        "claim": "groups",
        "value": "rk-lotsar",
        "role": "caseworker",
        "district_id": str(world.home.id),
        "priority": "10",
        **fields,
    }


def _events() -> list[AuditEvent]:
    q = select(AuditEvent).where(AuditEvent.object_type == "sso_mapping").order_by(AuditEvent.id)
    return list(db.session.scalars(q))


def _count() -> int:
    return db.session.scalar(select(func.count(SsoMappingRule.id))) or 0


@pytest.mark.parametrize("role", ["caseworker", "manager", "security_officer", "analyst"])
def test_only_administrators_reach_the_page(
    client: FlaskClient, auth: Auth, world: World, role: str
) -> None:
    assert client.get("/admin/sso").headers["Location"].startswith("/login")
    auth.login(role)
    assert client.get("/admin/sso").status_code == 403
    assert client.post("/admin/sso/rules", data=_rule(world)).status_code == 403
    assert client.post("/admin/sso/test", data={"provider": "city"}).status_code == 403
    assert _count() == 0


def test_the_page_shows_each_provider_its_config_rules_and_their_problems(
    admin: FlaskClient,
) -> None:
    html = admin.get("/admin/sso").get_data(as_text=True)
    text = _text(html)
    assert 'href="/admin/sso"' in html  # in the admin menu
    assert "Stockholms stad (Entra ID)" in text and "OpenID Connect" in text
    assert "SITHS-kort" in text and "SAML 2.0" in text
    assert "farsta-chefer" in text and "Arbetsledare/enhetschef" in text
    # the config names a district that does not exist: said in red, on the rule and the provider
    assert "Okänd stadsdel: Kista" in text
    assert "sp_key_file saknas" in text and "filen finns inte: /nonexistent.xml" in text
    assert "Inställningarna ser kompletta ut" not in text


def test_no_provider_configured_says_how_to_add_one(make_app: Any, world: World) -> None:
    app = make_app(SSO_PROVIDERS={})
    with app.app_context():
        client = app.test_client()
        client.post("/login", data={"username": "admin", "password": PASSWORD})
        text = _text(client.get("/admin/sso").get_data(as_text=True))
    assert "Ingen inloggningstjänst är inställd" in text


def test_create_edit_delete_are_audited(admin: FlaskClient, world: World) -> None:
    resp = admin.post("/admin/sso/rules", data=_rule(world))
    assert resp.status_code == 302
    row = db.session.scalar(select(SsoMappingRule))
    assert (row.provider, row.value, row.role, row.district_id, row.priority) == (
        "city",
        "rk-lotsar",
        "caseworker",
        world.home.id,
        10,
    )
    assert row.created_by_id == world.users["admin"].id
    page = _text(admin.get("/admin/sso").get_data(as_text=True))
    assert "rk-lotsar" in page and "Rinkeby-Kista" in page

    edit = admin.get(f"/admin/sso/rules/{row.id}").get_data(as_text=True)
    assert 'value="rk-lotsar"' in edit and 'value="10"' in edit
    resp = admin.post(
        f"/admin/sso/rules/{row.id}",
        data=_rule(world, provider="*", role="manager", district_id=str(world.other.id)),
    )
    assert resp.status_code == 302
    assert admin.post(f"/admin/sso/rules/{row.id}/delete").status_code == 302
    assert _count() == 0
    events = _events()
    assert [e.action for e in events] == [
        "sso_mapping_created",
        "sso_mapping_changed",
        "sso_mapping_deleted",
    ]
    assert events[1].details["before"]["role"] == "caseworker"
    assert events[1].details["after"]["district"] == "Farsta"
    assert events[2].details["before"]["provider"] == "*"
    assert {e.actor_label for e in events} == {"admin"}


def test_deleting_a_rule_sends_its_provider_s_signed_in_staff_to_the_login(
    admin: FlaskClient, app: Any, world: World
) -> None:
    colleague = app.test_client()
    assert Auth(colleague).login("manager").status_code == 302
    manager = world.users["manager"]
    manager.sso_provider, manager.sso_subject = "city", "00u-manager"
    db.session.commit()
    assert colleague.get("/").status_code == 200
    admin.post("/admin/sso/rules", data=_rule(world, value="farsta-alla"))
    assert colleague.get("/").headers["Location"].startswith("/login")
    assert admin.get("/admin/sso").status_code == 200  # the administrator carries on


def test_an_analyst_rule_needs_no_district(admin: FlaskClient, world: World) -> None:
    resp = admin.post("/admin/sso/rules", data=_rule(world, role="analyst", district_id=""))
    assert resp.status_code == 302
    assert db.session.scalar(select(SsoMappingRule.district_id)) is None


INVISIBLE = {
    "zero-width space": "rk\u200blotsar",
    "right-to-left override": "rk\u202elotsar",
    "NUL": "rk\x00lotsar",
    "escape": "rk\x1blotsar",
    "non-character": "rk\uffffotsar",
}
BIG = "x" * 10_240


def _field_error(html: str, field: str) -> str:
    """The error list shown under *field* (empty when none)."""
    found = re.search(rf'<ul class="errors" id="{field}-error">(.*?)</ul>', html, re.S)
    return _text(found.group(1)) if found else ""


@pytest.mark.parametrize("field", ["claim", "value"])
@pytest.mark.parametrize("name", sorted(INVISIBLE))
def test_invisible_characters_are_a_field_error_and_nothing_is_saved(
    admin: FlaskClient, world: World, field: str, name: str
) -> None:
    resp = admin.post("/admin/sso/rules", data=_rule(world, **{field: INVISIBLE[name]}))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "osynliga tecken" in _field_error(html, field)
    assert "U+" in _field_error(html, field)
    assert _count() == 0 and _events() == []


@pytest.mark.parametrize("field", ["claim", "value", "priority"])
def test_ten_kilobytes_in_a_field_is_refused_and_kept_in_the_field(
    admin: FlaskClient, world: World, field: str
) -> None:
    resp = admin.post("/admin/sso/rules", data=_rule(world, **{field: BIG}))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert _field_error(html, field)
    assert f'value="{BIG}"' in html  # what was typed survives
    assert _count() == 0


@pytest.mark.parametrize(
    ("field", "given", "says"),
    [
        ("provider", "okand", "inställda inloggningstjänsterna"),
        ("provider", "", "inställda inloggningstjänsterna"),
        ("role", "root", "Välj en roll"),
        ("role", "", "Välj en roll"),
        ("district_id", "999999", "finns inte"),
        ("district_id", "99999999999999999999", "finns inte"),
        ("district_id", "-3", "finns inte"),
        ("district_id", "Farsta", "Välj en stadsdel"),
        ("district_id", "", "måste höra till en stadsdel"),
        ("priority", "abc", "heltal"),
        ("priority", "1.5", "heltal"),
        ("priority", "-1", "heltal"),
        ("priority", "\u0661\u0662", "heltal"),  # Arabic-Indic digits: int() would take them
        ("priority", "", "heltal"),
        ("claim", "", "måste fyllas i"),
        ("value", "   ", "måste fyllas i"),
    ],
)
def test_wrong_values_get_a_clear_field_error_and_the_rest_survives(
    admin: FlaskClient, world: World, field: str, given: str, says: str
) -> None:
    data = {**_rule(world, value="typed-by-admin"), field: given}
    resp = admin.post("/admin/sso/rules", data=data)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert says in _field_error(html, field), _field_error(html, field)
    if field != "value":
        assert 'value="typed-by-admin"' in html
    assert _count() == 0


def test_missing_and_repeated_fields_are_field_errors_not_crashes(
    admin: FlaskClient, world: World
) -> None:
    resp = admin.post("/admin/sso/rules", data={})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for field in ("provider", "value", "role"):
        assert _field_error(html, field), field
    assert 'value="100"' in html  # an absent priority is the default
    # a field sent twice: the first value counts, like any form
    repeated = MultiDict([*_rule(world).items(), ("role", "admin")])
    assert admin.post("/admin/sso/rules", data=repeated).status_code == 302
    assert db.session.scalar(select(SsoMappingRule.role)) == "caseworker"
    # a JSON body is not a form: every field is missing
    resp = admin.post("/admin/sso/rules", json=_rule(world))
    assert resp.status_code == 200 and _count() == 1


def test_xml_breaking_text_is_saved_as_typed_and_shown_escaped(
    admin: FlaskClient, world: World
) -> None:
    hostile = "<g>&amp;\"'</g><script>alert(1)</script>]]>"
    assert admin.post("/admin/sso/rules", data=_rule(world, value=hostile)).status_code == 302
    assert db.session.scalar(select(SsoMappingRule.value)) == hostile
    html = admin.get("/admin/sso").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_same_value_twice_is_a_field_error(admin: FlaskClient, world: World) -> None:
    assert admin.post("/admin/sso/rules", data=_rule(world)).status_code == 302
    resp = admin.post("/admin/sso/rules", data=_rule(world, role="analyst"))
    assert "finns redan en regel" in _field_error(resp.get_data(as_text=True), "value")
    assert _count() == 1


def test_invalid_utf8_in_a_post_is_a_clear_400_and_saves_nothing(
    admin: FlaskClient, world: World
) -> None:
    body = "&".join(f"{k}={v}" for k, v in _rule(world).items()).encode()
    body = body.replace(b"value=rk-lotsar", b"value=rk%FFlotsar")
    resp = admin.post(
        "/admin/sso/rules", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert resp.status_code == 400
    assert "Texten kunde inte läsas" in resp.get_data(as_text=True)
    raw = body.replace(b"%FF", b"\xff")
    resp = admin.post("/admin/sso/test", data=raw, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400
    assert _count() == 0


def test_editing_with_an_error_keeps_the_typed_text_and_the_rule(
    admin: FlaskClient, world: World
) -> None:
    admin.post("/admin/sso/rules", data=_rule(world))
    row = db.session.scalar(select(SsoMappingRule))
    resp = admin.post(
        f"/admin/sso/rules/{row.id}",
        data=_rule(world, value="nytt-värde", district_id="424242"),
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "finns inte" in _field_error(html, "district_id")
    assert 'value="nytt-värde"' in html
    db.session.refresh(row)
    assert row.value == "rk-lotsar"
    assert [e.action for e in _events()] == ["sso_mapping_created"]


def test_an_edit_post_missing_fields_keeps_the_rule_s_values(
    admin: FlaskClient, world: World
) -> None:
    admin.post("/admin/sso/rules", data=_rule(world, priority="0"))
    row = db.session.scalar(select(SsoMappingRule))
    resp = admin.post(f"/admin/sso/rules/{row.id}", data={"value": "bara-värdet"})
    assert resp.status_code == 302
    db.session.refresh(row)
    assert (row.value, row.priority, row.district_id) == ("bara-värdet", 0, world.home.id)
    assert admin.post(f"/admin/sso/rules/{row.id}", data={}).status_code in (200, 302)


def test_a_rule_of_a_provider_no_longer_configured_is_flagged_and_cannot_be_kept(
    admin: FlaskClient, world: World
) -> None:
    admin.post("/admin/sso/rules", data=_rule(world))
    row = db.session.scalar(select(SsoMappingRule))
    row.provider = "gammal-idp"
    db.session.commit()
    assert "inte längre inställd" in _text(admin.get("/admin/sso").get_data(as_text=True))
    edit = admin.get(f"/admin/sso/rules/{row.id}").get_data(as_text=True)
    assert '<option selected value="gammal-idp">' in edit
    resp = admin.post(f"/admin/sso/rules/{row.id}", data=_rule(world, provider="gammal-idp"))
    assert "inställda inloggningstjänsterna" in _field_error(
        resp.get_data(as_text=True), "provider"
    )


def test_unknown_rule_ids_are_404(admin: FlaskClient) -> None:
    assert admin.get("/admin/sso/rules/4242").status_code == 404
    assert admin.post("/admin/sso/rules/4242/delete").status_code == 404
    assert admin.get("/admin/sso/rules/99999999999999999999").status_code == 404


def test_the_tester_names_the_rule_role_and_district(admin: FlaskClient, world: World) -> None:
    admin.post("/admin/sso/rules", data=_rule(world, provider="*"))
    claims = "email=a@example.se\ngroups=andra\ngroups=farsta-chefer\ngroups=rk-lotsar\n"
    html = admin.post("/admin/sso/test", data={"try_provider": "city", "claims": claims}).get_data(
        as_text=True
    )
    text = _text(html)
    assert "Roll: Arbetsledare/enhetschef" in text and "stadsdel: Farsta" in text
    assert "regel 1 i inställningsfilen" in text
    assert claims.strip() in unescape(html)  # the box keeps what was pasted

    text = _text(
        admin.post(
            "/admin/sso/test", data={"try_provider": "siths", "claims": "groups=rk-lotsar"}
        ).get_data(as_text=True)
    )
    assert "Roll: Handläggare" in text and "administratörens regel" in text


def test_the_tester_says_no_and_points_at_a_case_difference(admin: FlaskClient) -> None:
    html = admin.post(
        "/admin/sso/test", data={"try_provider": "city", "claims": "groups=Farsta-Chefer"}
    ).get_data(as_text=True)
    text = _text(html)
    assert "Ingen regel passar" in text
    assert "stora och små bokstäver" in text and "groups=farsta-chefer" in text


def test_the_tester_refuses_with_a_broken_first_match(admin: FlaskClient) -> None:
    text = _text(
        admin.post(
            "/admin/sso/test",
            data={"try_provider": "city", "claims": "groups=kista-lotsar"},
        ).get_data(as_text=True)
    )
    assert "Inloggningen nekas" in text and "Okänd stadsdel: Kista" in text


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"try_provider": "city", "claims": ""}, "minst en rad"),
        ({"try_provider": "city", "claims": "groups"}, "Rad 1: skriv namn=värde"),
        ({"try_provider": "city", "claims": "groups=a\n=b"}, "Rad 2"),
        ({"try_provider": "city", "claims": "groups=a\u200b"}, "osynliga tecken"),
        ({"try_provider": "city", "claims": "groups=a\x00"}, "osynliga tecken"),
        ({"try_provider": "city", "claims": BIG * 2}, "Högst 20000 tecken"),
        ({"try_provider": "city", "claims": "g=1\n" * 300}, "Högst 200 rader"),
        ({"try_provider": "*", "claims": "groups=a"}, "inställda inloggningstjänsterna"),
        ({"try_provider": "nope", "claims": "groups=a"}, "inställda inloggningstjänsterna"),
        ({}, "minst en rad"),
    ],
)
def test_the_tester_refuses_bad_input_clearly(
    admin: FlaskClient, data: dict[str, str], says: str
) -> None:
    resp = admin.post("/admin/sso/test", data=data)
    assert resp.status_code == 200
    assert says in _text(resp.get_data(as_text=True))


# --------------------------------------------------------------------------- users pages


@pytest.fixture
def sso_user(world: World) -> User:
    user = world.users["other_caseworker"]
    user.sso_provider, user.sso_subject = "city", "00u-farsta-42"
    user.sso_login_at = datetime(2026, 12, 1, 8, 30)
    db.session.commit()
    return user


def test_users_list_names_sso_accounts_and_offers_them_no_password_reset(
    admin: FlaskClient, world: World, sso_user: User
) -> None:
    html = admin.get("/admin/users").get_data(as_text=True)
    text = _text(html)
    assert "SSO: Stockholms stad (Entra ID)" in text
    assert "Senaste SSO-inloggning: 2026-12-01 09:30" in text  # Stockholm time
    assert f"/admin/users/{sso_user.id}/reset-password" not in html
    assert f"/admin/users/{world.users['analyst'].id}/reset-password" in html


def test_a_password_reset_of_an_sso_account_is_refused(admin: FlaskClient, sso_user: User) -> None:
    before = sso_user.password_hash
    resp = admin.post(f"/admin/users/{sso_user.id}/reset-password", follow_redirects=True)
    assert resp.status_code == 200
    assert "inget lösenord här" in _text(resp.get_data(as_text=True))
    db.session.refresh(sso_user)
    assert sso_user.password_hash == before and not sso_user.must_change_password
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == str(sso_user.id))
    )
    assert "password_reset" not in list(actions)


def test_an_admin_deactivates_an_sso_account_on_its_page(
    admin: FlaskClient, world: World, sso_user: User
) -> None:
    html = admin.get(f"/admin/users/{sso_user.id}").get_data(as_text=True)
    text = _text(html)
    assert "SSO: Stockholms stad (Entra ID)" in text and "inget lösenord här" in text
    assert 'type="password"' not in html
    resp = admin.post(
        f"/admin/users/{sso_user.id}",
        data={
            "full_name": sso_user.full_name,
            "role": "caseworker",
            "district_id": str(world.other.id),
        },
    )
    assert resp.status_code == 302
    db.session.refresh(sso_user)
    assert sso_user.active is False


def test_an_account_of_a_provider_no_longer_configured_is_named_by_its_key(
    admin: FlaskClient, sso_user: User
) -> None:
    sso_user.sso_provider = "gammal-idp"
    db.session.commit()
    assert "SSO: gammal-idp" in _text(admin.get("/admin/users").get_data(as_text=True))


def test_sso_mapping_page_counts_accounts(admin: FlaskClient, sso_user: User) -> None:
    text = _text(admin.get("/admin/sso").get_data(as_text=True))
    assert "1, varav 1 aktiva" in text
    assert "2026-12-01 09:30" in text
    assert sso_mappings.rules  # the page and the login read the same rules
