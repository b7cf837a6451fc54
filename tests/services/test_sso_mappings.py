"""SSO mapping rules: config first, then the administrator's by priority; the first match wins."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, SsoMappingRule
from formsvc.services import sso_mappings, users
from formsvc.services.sso_mappings import MappingError
from tests.conftest import World

#: what services/sso requires of a provider for the app to start
OIDC = {"type": "oidc", "client_id": "formsvc", "issuer": "https://login.example.se"}
PROVIDERS = {
    "city": {
        **OIDC,
        "label": "Stockholms stad",
        "mappings": [
            {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
            {"claim": "groups", "value": "sig-analys", "role": "analyst"},
        ],
    },
    "siths": {
        "type": "saml",
        "label": "SITHS-kort",
        "idp_metadata_file": "/etc/formsvc/siths.xml",
        "mappings": [],
    },
}


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    config["SSO_PROVIDERS"] = PROVIDERS
    return config


def _add(app: Flask, world: World, **fields: Any) -> SsoMappingRule:
    values = {
        "provider": "city",
        "claim": "groups",
        "value": "rk-lotsar",
        "role": "caseworker",
        "district_id": world.home.id,
        "priority": 100,
    }
    return sso_mappings.add(app.config, **{**values, **fields}, actor=world.users["admin"])


def test_config_rules_come_first_then_admin_rules_by_priority_then_id(
    app: Flask, world: World
) -> None:
    late = _add(app, world, value="b", priority=50)
    early = _add(app, world, value="a", priority=10)
    same_priority_later_id = _add(app, world, value="c", priority=50)
    rules = sso_mappings.rules(app.config, "city")
    assert [(r.source, r.value) for r in rules] == [
        ("config", "farsta-chefer"),
        ("config", "sig-analys"),
        ("admin", "a"),
        ("admin", "b"),
        ("admin", "c"),
    ]
    assert [r.id for r in rules[2:]] == [early.id, late.id, same_priority_later_id.id]
    assert rules[0].district_id == world.other.id and rules[0].problem is None


def test_first_match_wins_even_when_a_later_rule_gives_more(app: Flask, world: World) -> None:
    _add(app, world, value="farsta-chefer", role="admin", district_id=None, priority=0)
    rules = sso_mappings.rules(app.config, "city")
    rule = sso_mappings.resolve(rules, {"groups": ("alla", "farsta-chefer", "sig-analys")})
    assert rule is not None
    assert (rule.source, rule.role, rule.district_id) == ("config", "manager", world.other.id)


def test_no_match_is_none(app: Flask, world: World) -> None:
    rules = sso_mappings.rules(app.config, "city")
    assert sso_mappings.resolve(rules, {"groups": ("andra",)}) is None
    assert sso_mappings.resolve(rules, {}) is None
    assert sso_mappings.resolve(rules, {"roles": ("farsta-chefer",)}) is None


def test_star_rules_apply_to_every_provider_and_provider_rules_only_to_theirs(
    app: Flask, world: World
) -> None:
    _add(app, world, provider="*", value="alla-lotsar", priority=5)
    _add(app, world, provider="city", value="bara-stad")
    siths = sso_mappings.rules(app.config, "siths")
    assert [(r.provider, r.value) for r in siths] == [("*", "alla-lotsar")]
    assert sso_mappings.resolve(siths, {"groups": ("bara-stad",)}) is None
    found = sso_mappings.resolve(siths, {"groups": ("alla-lotsar",)})
    assert found is not None and found.role == "caseworker"
    city = sso_mappings.rules(app.config, "city")
    assert [r.value for r in city if r.source == "admin"] == ["alla-lotsar", "bara-stad"]


def test_multi_valued_claims_match_any_value_but_a_single_string_is_never_a_substring(
    app: Flask, world: World
) -> None:
    rules = sso_mappings.rules(app.config, "city")
    assert sso_mappings.resolve(rules, {"groups": ["x", "y", "sig-analys"]}).role == "analyst"
    assert sso_mappings.resolve(rules, {"groups": "sig-analys"}).role == "analyst"
    # "farsta-chefer-vikarier" contains "farsta-chefer" as text, but is another group
    assert sso_mappings.resolve(rules, {"groups": "farsta-chefer-vikarier"}) is None
    assert sso_mappings.resolve(rules, {"groups": ("farsta-chefer-vikarier",)}) is None
    assert sso_mappings.resolve(rules, {"groups": {"not": "a list"}}) is None


def test_matching_is_exact_and_case_sensitive(app: Flask, world: World) -> None:
    rules = sso_mappings.rules(app.config, "city")
    for near in ("Farsta-chefer", "FARSTA-CHEFER", "farsta-chefer ", " farsta-chefer"):
        assert sso_mappings.resolve(rules, {"groups": (near,)}) is None, near
    assert sso_mappings.resolve(rules, {"Groups": ("farsta-chefer",)}) is None
    assert sso_mappings.resolve(rules, {"groups": ("farsta\u200b-chefer",)}) is None


def test_a_config_rule_naming_an_unknown_district_is_reported_and_refuses_its_group(
    make_app: Any, world: World
) -> None:
    broken = {
        "city": {
            **OIDC,
            "mappings": [
                {"claim": "groups", "value": "chefer", "role": "manager", "district": "Fasta"},
                {"claim": "groups", "value": "alla", "role": "analyst"},
            ],
        }
    }
    app = make_app(SSO_PROVIDERS=broken)
    with app.app_context():
        rules = sso_mappings.rules(app.config, "city")
        assert "Okänd stadsdel: Fasta" in rules[0].problem
        assert rules[0].district_id is None
        # someone in both groups is refused, not let in by the lower, wider rule
        assert sso_mappings.resolve(rules, {"groups": ("chefer", "alla")}) is None
        assert sso_mappings.match(rules, {"groups": ("chefer", "alla")}) is rules[0]
        assert sso_mappings.resolve(rules, {"groups": ("alla",)}).role == "analyst"
        assert sso_mappings.problems(app.config) == {"city": ["Regel 1: Okänd stadsdel: Fasta"]}


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"claim": "groups", "value": "x", "role": "boss"}, "Okänd roll: 'boss'"),
        ({"claim": "groups", "value": "x", "role": "caseworker"}, "måste höra till en stadsdel"),
        ({"claim": "groups", "value": "x", "role": "manager", "district": 1}, "namn"),
        ({"claim": "", "value": "x", "role": "analyst"}, '"claim"'),
        ({"claim": "groups", "role": "analyst"}, '"value"'),
        ({"claim": "groups", "value": "x\u200b", "role": "analyst"}, "osynliga"),
        ({"claim": "groups", "value": "x", "role": "analyst", "distrikt": "X"}, "distrikt"),
        ("groups=x", "ordlista"),
    ],
)
def test_every_broken_config_rule_is_reported(
    make_app: Any, world: World, entry: Any, says: str
) -> None:
    app = make_app(SSO_PROVIDERS={"city": {**OIDC, "mappings": [entry]}})
    with app.app_context():
        (rule,) = sso_mappings.rules(app.config, "city")
        assert rule.problem is not None and says in rule.problem
        assert sso_mappings.problems(app.config)["city"]


def test_an_inactive_district_makes_a_rule_refuse(app: Flask, world: World) -> None:
    rule = _add(app, world, value="rk")
    users.update_district(world.other, name="Farsta", active=False, actor=None)
    users.update_district(world.home, name="Rinkeby-Kista", active=False, actor=None)
    rules = sso_mappings.rules(app.config, "city")
    assert "inaktiv" in rules[0].problem
    assert sso_mappings.resolve(rules, {"groups": ("farsta-chefer",)}) is None
    assert sso_mappings.resolve(rules, {"groups": ("rk",)}) is None
    assert f"Administratörens regel {rule.id}" in sso_mappings.problems(app.config)["city"][1]


def test_add_update_delete_are_audited_with_before_and_after(app: Flask, world: World) -> None:
    row = _add(app, world)
    sso_mappings.update(
        app.config,
        row,
        provider="*",
        claim="groups",
        value="rk-lotsar",
        role="manager",
        district_id=world.other.id,
        priority=7,
        actor=world.users["admin"],
    )
    rule_id = row.id
    sso_mappings.delete(row, actor=world.users["admin"])
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "sso_mapping").order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == [
        "sso_mapping_created",
        "sso_mapping_changed",
        "sso_mapping_deleted",
    ]
    assert {e.object_id for e in events} == {str(rule_id)}
    assert {e.actor_label for e in events} == {"admin"}
    created, changed, deleted = (e.details for e in events)
    assert created["before"] is None and created["after"]["district"] == "Rinkeby-Kista"
    assert changed["before"]["role"] == "caseworker" and changed["after"]["role"] == "manager"
    assert changed["after"] == {
        "provider": "*",
        "claim": "groups",
        "value": "rk-lotsar",
        "role": "manager",
        "district_id": world.other.id,
        "district": "Farsta",
        "priority": 7,
    }
    assert deleted["before"] == changed["after"] and deleted["after"] is None
    assert db.session.get(SsoMappingRule, rule_id) is None


def test_an_unchanged_update_writes_no_event(app: Flask, world: World) -> None:
    row = _add(app, world)
    fields = {k: getattr(row, k) for k in ("provider", "claim", "value", "role", "priority")}
    sso_mappings.update(
        app.config, row, **fields, district_id=row.district_id, actor=world.users["admin"]
    )
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "sso_mapping")
    )
    assert list(actions) == ["sso_mapping_created"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"provider": "okänd"}, "provider"),
        ({"provider": 3}, "provider"),
        ({"claim": ""}, "claim"),
        ({"claim": "   "}, "claim"),
        ({"claim": "g" * 121}, "claim"),
        ({"value": "v" * 256}, "value"),
        ({"value": "a\x00b"}, "value"),
        ({"value": "a\u202eb"}, "value"),
        ({"value": " farsta"}, "value"),
        ({"value": ["x"]}, "value"),
        ({"role": "root"}, "role"),
        ({"district_id": None}, "district_id"),
        ({"district_id": 999_999}, "district_id"),
        ({"district_id": "1"}, "district_id"),
        ({"priority": -1}, "priority"),
        ({"priority": 10**9}, "priority"),
        ({"priority": "5"}, "priority"),
        ({"priority": True}, "priority"),
    ],
)
def test_add_refuses_bad_fields_by_name(
    app: Flask, world: World, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(MappingError) as err:
        _add(app, world, **fields)
    assert field in err.value.errors
    assert db.session.scalar(select(SsoMappingRule.id)) is None
    assert (
        db.session.scalar(select(AuditEvent.id).where(AuditEvent.object_type == "sso_mapping"))
        is None
    )


def test_roles_without_a_district_need_none_but_may_have_one(app: Flask, world: World) -> None:
    assert _add(app, world, value="a", role="analyst", district_id=None).district_id is None
    assert _add(app, world, value="b", role="admin", district_id=world.home.id).district_id == (
        world.home.id
    )


def test_the_same_value_twice_for_a_provider_is_refused(app: Flask, world: World) -> None:
    first = _add(app, world)
    with pytest.raises(MappingError) as err:
        _add(app, world, role="manager")
    assert "value" in err.value.errors
    _add(app, world, provider="*")  # another provider: a different rule
    second = _add(app, world, value="other")
    with pytest.raises(MappingError):
        sso_mappings.update(
            app.config,
            second,
            provider="city",
            claim="groups",
            value=first.value,
            role="analyst",
            district_id=None,
            priority=1,
            actor=None,
        )


def test_a_rule_change_ends_the_sessions_of_that_provider_s_sso_accounts(
    app: Flask, world: World
) -> None:
    city, siths, local = world.users["caseworker"], world.users["manager"], world.users["analyst"]
    city.sso_provider, city.sso_subject = "city", "c-1"
    siths.sso_provider, siths.sso_subject = "siths", "s-1"
    db.session.commit()

    def versions() -> tuple[int, int, int]:
        for user in (city, siths, local):
            db.session.refresh(user)
        return city.session_version, siths.session_version, local.session_version

    start = versions()
    row = _add(app, world, provider="city")
    assert versions() == (start[0] + 1, start[1], start[2])
    sso_mappings.update(
        app.config,
        row,
        provider="siths",
        claim="groups",
        value="rk-lotsar",
        role="caseworker",
        district_id=world.home.id,
        priority=100,
        actor=world.users["admin"],
    )
    assert versions() == (start[0] + 2, start[1] + 1, start[2])  # the old and the new provider
    row.provider = "*"
    db.session.commit()
    sso_mappings.delete(row, actor=world.users["admin"])
    assert versions() == (start[0] + 3, start[1] + 2, start[2])  # "*": every SSO account
    ended = [e.details["sessions_ended"] for e in _sso_events()]
    assert ended == [1, 2, 2]


def test_the_administrator_making_the_change_keeps_their_session(app: Flask, world: World) -> None:
    admin = world.users["admin"]
    admin.sso_provider, admin.sso_subject = "city", "a-1"
    db.session.commit()
    before = admin.session_version
    _add(app, world)
    db.session.refresh(admin)
    assert admin.session_version == before


def _sso_events() -> list[AuditEvent]:
    q = select(AuditEvent).where(AuditEvent.object_type == "sso_mapping").order_by(AuditEvent.id)
    return list(db.session.scalars(q))
