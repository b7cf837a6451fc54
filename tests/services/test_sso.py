"""Staff single sign-on core: accounts bound by (provider, subject), created just in time,
updated on every login, refused when deactivated or no longer mapped (issue 14, ADR 017)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import AuditEvent, SsoMappingRule, User
from formsvc.services import sso
from formsvc.services.audit import Origin
from tests.conftest import PASSWORD, World

ORIGIN = Origin(ip="127.0.0.1", user_agent="pytest")
CITY = {
    "type": "oidc",
    "label": "Stockholms stad (Entra ID)",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    "client_id": "formsvc",
    "client_secret": "secret",
    "mappings": [
        {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
        {
            "claim": "groups",
            "value": "rinkeby-lotsar",
            "role": "caseworker",
            "district": "Rinkeby-Kista",
        },
        {"claim": "groups", "value": "sakerhet", "role": "security_officer"},
        {"claim": "groups", "value": "trasig", "role": "manager", "district": "Atlantis"},
    ],
}


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "SSO_PROVIDERS": {"city": CITY}}


def identity(
    groups: tuple[str, ...] = ("rinkeby-lotsar",),
    *,
    subject: str = "sub-anna-1",
    username: str | None = "anna.svensson@stad.example",
    full_name: str = "Anna Svensson",
    email: str = "anna.svensson@stad.example",
    provider: str = "city",
    auth_time: datetime | None = None,
) -> sso.Identity:
    return sso.Identity(
        provider=provider,
        protocol="oidc",
        issuer="https://idp.example",
        subject=subject,
        username=username,
        full_name=full_name,
        email=email,
        attributes={"groups": groups, "sub": (subject,)},
        auth_time=auth_time,
        acr="urn:test:loa2",
        logout_hint={"id_token": "x.y.z"},
    )


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def sign_in(app: Flask, ident: sso.Identity) -> User:
    return sso.sign_in(ident, settings=app.config, origin=ORIGIN)


def refused(app: Flask, ident: sso.Identity) -> sso.SsoRefused:
    with pytest.raises(sso.SsoRefused) as caught:
        sign_in(app, ident)
    return caught.value


def test_first_login_creates_the_account_with_role_and_district_from_the_groups(
    app: Flask, world: World
) -> None:
    user = sign_in(app, identity())
    assert (user.sso_provider, user.sso_subject) == ("city", "sub-anna-1")
    assert (user.role, user.district_id) == ("caseworker", world.home.id)
    assert (user.username, user.full_name) == ("anna.svensson@stad.example", "Anna Svensson")
    assert user.email == "anna.svensson@stad.example" and user.active
    assert user.sso_login_at is not None and not user.must_change_password
    # no password opens it, not even the stored "hash" itself
    assert not user.check_password(PASSWORD) and not user.check_password(user.password_hash)
    created = events("sso_account_created")
    assert len(created) == 1 and created[0].details["role"] == "caseworker"
    assert created[0].details["district_id"] == world.home.id
    login = events("sso_login")
    assert len(login) == 1 and login[0].object_id == str(user.id)
    assert login[0].details["provider"] == "city" and login[0].details["acr"] == "urn:test:loa2"


def test_a_later_login_updates_name_email_role_and_district_and_ends_other_sessions(
    app: Flask, world: World
) -> None:
    user = sign_in(app, identity())
    version = user.session_version
    again = sign_in(
        app,
        identity(("farsta-chefer",), full_name="Anna Berg", email="anna.berg@stad.example"),
    )
    assert again.id == user.id
    assert (again.role, again.district_id) == ("manager", world.other.id)
    assert (again.full_name, again.email) == ("Anna Berg", "anna.berg@stad.example")
    assert again.session_version == version + 1  # what she may see changed
    updated = events("sso_account_updated")
    assert len(updated) == 1
    assert updated[0].details["before"] == {
        "role": "caseworker",
        "district_id": world.home.id,
        "full_name": "Anna Svensson",
        "email": "anna.svensson@stad.example",
    }
    assert updated[0].details["after"] == {
        "role": "manager",
        "district_id": world.other.id,
        "full_name": "Anna Berg",
        "email": "anna.berg@stad.example",
    }
    # the same claims again: nothing changes, no update event, sessions go on
    sign_in(
        app, identity(("farsta-chefer",), full_name="Anna Berg", email="anna.berg@stad.example")
    )
    assert len(events("sso_account_updated")) == 1
    assert again.session_version == version + 1
    assert len(events("sso_login")) == 3


def test_the_first_matching_rule_wins(app: Flask, world: World) -> None:
    user = sign_in(app, identity(("rinkeby-lotsar", "farsta-chefer")))
    assert (user.role, user.district_id) == ("manager", world.other.id)


def test_administrators_rules_come_after_the_config_rules(app: Flask, world: World) -> None:
    db.session.add(SsoMappingRule(provider="*", claim="groups", value="analytiker", role="analyst"))
    db.session.commit()
    user = sign_in(app, identity(("analytiker",)))
    assert (user.role, user.district_id) == ("analyst", None)


def test_mapping_no_longer_matching_deactivates_the_account_and_ends_its_sessions(
    app: Flask, world: World
) -> None:
    user = sign_in(app, identity())
    version = user.session_version
    exc = refused(app, identity(("en-annan-grupp",)))
    assert exc.reason == "no_mapping" and "ingen av dina grupper" in exc.message
    db.session.refresh(user)
    assert not user.active and user.session_version == version + 1
    assert user.role == "caseworker"  # what it was, for the record; it opens nothing now
    lost = events("sso_account_updated")[-1]
    assert lost.details["before"] == {"active": True}
    assert lost.details["after"] == {"active": False}
    refusal = events("sso_refused")[-1]
    assert refusal.details["reason"] == "no_mapping"
    assert refusal.details["seen"] == {"groups": ["en-annan-grupp"]}
    # the group given back at the IdP does not undo it: an administrator reactivates
    assert refused(app, identity()).reason == "deactivated"


@pytest.mark.parametrize(
    "attributes",
    [
        # Entra ID's group overage: a member of too many groups gets a pointer to Graph
        {"_claim_names": ('{"groups": "src1"}',), "_claim_sources": ('{"src1": {}}',)},
        {"_claim_sources": ('{"src1": {"groups": "https://graph.example"}}',)},
        {"hasgroups": ("true",)},
        {"http://schemas.microsoft.com/claims/groups.link": ("https://graph.example",)},
        {},  # the claim left out altogether (a broken claim configuration at the IdP)
    ],
)
def test_a_missing_group_claim_refuses_without_deactivating(
    app: Flask, world: World, attributes: dict[str, tuple[str, ...]]
) -> None:
    user = sign_in(app, identity())
    version = user.session_version
    missing = dataclasses.replace(identity(), attributes={"sub": ("sub-anna-1",), **attributes})
    exc = refused(app, missing)
    assert exc.reason == "claims_missing" and "Ditt konto är oförändrat" in exc.message
    db.session.refresh(user)
    assert user.active and user.role == "caseworker" and user.session_version == version
    assert not events("sso_account_updated")
    refusal = events("sso_refused")[-1]
    assert refusal.details["reason"] == "claims_missing"
    assert refusal.details["missing"] == ["groups"]
    assert refusal.object_id == str(user.id)
    assert sign_in(app, identity()).id == user.id  # the claim back: in as before


def test_overage_beside_a_stale_group_list_does_not_deactivate(app: Flask, world: World) -> None:
    user = sign_in(app, identity())
    stale = identity(("alla-anstallda",))
    stale = dataclasses.replace(
        stale, attributes={**stale.attributes, "_claim_names": ('{"groups": "src1"}',)}
    )
    assert refused(app, stale).reason == "claims_missing"
    db.session.refresh(user)
    assert user.active
    # a newcomer without the claim gets no account either
    newcomer = dataclasses.replace(identity(subject="new-1"), attributes={"sub": ("new-1",)})
    assert refused(app, newcomer).reason == "claims_missing"
    assert db.session.scalar(select(User).where(User.sso_subject == "new-1")) is None


def test_deactivated_account_is_refused_and_left_as_it_is(app: Flask, world: World) -> None:
    user = sign_in(app, identity())
    user.active = False
    db.session.commit()
    exc = refused(app, identity(("farsta-chefer",), full_name="Someone Else"))
    assert exc.reason == "deactivated" and "inaktiverat" in exc.message
    db.session.refresh(user)
    assert (user.role, user.full_name, user.active) == ("caseworker", "Anna Svensson", False)
    assert events("sso_refused")[-1].object_id == str(user.id)


def test_an_unmapped_newcomer_gets_no_account(app: Flask, world: World) -> None:
    before = db.session.scalar(select(db.func.count()).select_from(User))
    assert refused(app, identity((), subject="stranger")).reason == "no_mapping"
    assert db.session.scalar(select(db.func.count()).select_from(User)) == before
    assert events("sso_refused")[-1].actor_label == "city:stranger"


def test_a_broken_rule_refuses_without_deactivating(app: Flask, world: World) -> None:
    user = sign_in(app, identity())
    exc = refused(app, identity(("trasig",)))  # its district does not exist
    assert exc.reason == "mapping_broken"
    db.session.refresh(user)
    assert user.active and user.role == "caseworker"


def test_binding_is_by_provider_and_subject_never_by_user_name(app: Flask, world: World) -> None:
    local = world.users["caseworker"]
    user = sign_in(app, identity(username="caseworker", email="caseworker@example.se"))
    assert user.id != local.id and user.username != "caseworker"
    assert user.username == "caseworker.city"
    assert local.sso_provider is None and local.check_password(PASSWORD)
    # another subject with the same name gets its own account too
    other = sign_in(app, identity(subject="sub-2", username="caseworker"))
    assert other.id not in (user.id, local.id) and other.username not in ("caseworker",)


@pytest.mark.parametrize(
    ("idp_name", "expected"),
    [
        ("\u0430dmin", "dmin"),  # Cyrillic а: dropped, never turned into the Latin "a"
        ("\uff41\uff44\uff4d\uff49\uff4e", "admin.city"),  # full width: "admin", taken
        ("ADMIN", "admin.city"),  # a case variant of a local name is taken too
        ("adm\u0456n\u200b", "admn"),  # Cyrillic і and a zero-width space
        ("admin\u0430", "admin.city"),  # a look-alike tail dropped: "admin" is taken
        ("\u00c5sa.\u00d6berg", "sa.berg"),  # nothing transliterated
        ("\u0410\u043d\u043d\u0430", "city-sub-x"),  # nothing left: provider and subject
    ],
)
def test_just_in_time_user_names_are_ascii_and_never_a_local_look_alike(
    app: Flask, world: World, idp_name: str, expected: str
) -> None:
    assert world.users["admin"].username == "admin"
    user = sign_in(app, identity(subject="sub-x", username=idp_name, email=""))
    assert user.username == expected and user.id != world.users["admin"].id
    assert re.fullmatch(r"[a-z0-9._@-]+", user.username)
    created = events("sso_account_created")[-1]
    assert created.actor_label == expected and created.details["username"] == expected


def test_a_subject_that_is_no_user_name_becomes_a_hash(app: Flask, world: World) -> None:
    user = sign_in(app, identity(subject="\u0410/\u0431", username="\u0416", email=""))
    assert re.fullmatch(r"city-[0-9a-f]{10}", user.username)
    twin = sign_in(app, identity(subject="\u0410/\u0432", username="\u0416", email=""))
    assert twin.username != user.username and twin.username.isascii()


def test_unknown_provider_and_bad_subjects_are_refused(app: Flask, world: World) -> None:
    assert refused(app, identity(provider="nowhere")).reason == "unknown_provider"
    for subject in ("", "a" * 256, "sub\x00x", "sub\u200bx", " sub"):
        assert refused(app, identity(subject=subject)).reason == "bad_subject"
    assert db.session.scalar(select(User).where(User.sso_provider.is_not(None))) is None


def test_hostile_names_are_cleaned_and_bounded(app: Flask, world: World) -> None:
    user = sign_in(
        app,
        identity(
            full_name="Anna\x00\x1b[31m\u202e Svensson\u200b\n\tLind" + "x" * 10_000,
            username="anna\u200b svensson\x07",
            email="not an email\x00",
        ),
    )
    assert user.full_name.startswith("Anna[31m Svensson Lind")
    assert len(user.full_name) == 200
    assert all(ch.isprintable() for ch in user.full_name)
    assert user.username == "annasvensson" and user.email == ""
    other = sign_in(app, identity(subject="s2", full_name="\u200b\x00", username=None, email=""))
    assert other.full_name == "s2" and other.username == "city-s2"
    huge = sign_in(app, identity(subject="s3", username="u" * 10_000, email="a@" + "b" * 300))
    assert len(huge.username) <= 80 and huge.email == ""


def test_local_login_allowed(app: Flask) -> None:
    assert sso.local_login_allowed({"LOCAL_LOGIN": True}, "anyone")
    off = {"LOCAL_LOGIN": False, "BREAK_GLASS_USERS": ("Reserv-Admin",)}
    assert sso.local_login_allowed(off, "reserv-admin")
    assert sso.local_login_allowed(off, "RESERV-ADMIN")
    assert not sso.local_login_allowed(off, "caseworker")
    assert not sso.local_login_allowed(off, "")
    assert not sso.local_login_allowed({"LOCAL_LOGIN": False}, "admin")


@pytest.mark.parametrize(
    "providers",
    [
        {"City!": CITY},
        {"x" * 41: CITY},
        {"city": "oidc"},
        {"city": {**CITY, "type": "ldap"}},
        {"city": {**CITY, "client_id": ""}},
        {"city": {k: v for k, v in CITY.items() if k != "server_metadata_url"}},
        {"siths": {"type": "saml", "label": "SITHS"}},
        {"city": {**CITY, "label": 3}},
        ["city"],
    ],
)
def test_malformed_sso_providers_stop_the_app_at_start(
    config: dict[str, Any], providers: Any
) -> None:
    with pytest.raises(sso.SsoConfigError):
        create_app({**config, "SSO_PROVIDERS": providers})


def test_providers_in_configured_order_with_labels(app: Flask) -> None:
    found = sso.providers(
        {"SSO_PROVIDERS": {"city": CITY, "siths": {"type": "saml", "idp_metadata_file": "m.xml"}}}
    )
    assert list(found) == ["city", "siths"]
    assert found["city"].label == "Stockholms stad (Entra ID)" and found["city"].protocol == "oidc"
    assert found["siths"].label == "siths" and found["siths"].protocol == "saml"


def test_identity_from_oidc_reads_the_configured_claims(app: Flask) -> None:
    result = SimpleNamespace(
        issuer="https://idp.example",
        subject="abc",
        claims={
            "sub": "abc",
            "upn": "anna@stad.example",
            "given_name": "Anna",
            "family_name": "Svensson",
            "mail": "anna@stad.example",
            "groups": ["g1", "g2"],
            "email_verified": True,
            "age": 41,
            "address": {"locality": "Farsta"},
        },
        id_token="h.p.s",
        auth_time=None,
        acr=None,
    )
    conf = {**CITY, "claims": {"username": "upn", "email": "mail"}}
    ident = sso.identity_from_oidc("city", result, conf)  # type: ignore[arg-type]
    assert (ident.username, ident.full_name, ident.email) == (
        "anna@stad.example",
        "Anna Svensson",
        "anna@stad.example",
    )
    assert ident.attributes["groups"] == ("g1", "g2")
    assert ident.attributes["email_verified"] == ("true",)
    assert ident.attributes["age"] == ("41",)
    assert ident.attributes["address"] == ('{"locality": "Farsta"}',)
    assert ident.logout_hint == {"id_token": "h.p.s"} and ident.protocol == "oidc"


def test_reauthentication_is_fresh_for_its_account_only_once(app: Flask, world: World) -> None:
    now = datetime.now(UTC)
    user = sign_in(app, identity())
    session: dict[str, Any] = {}
    sso.remember_reauth(session, user, identity(auth_time=now - timedelta(seconds=10)))
    proof = sso.fresh_reauth(session, user, app.config, now=now)
    assert proof is not None
    assert proof == {
        "kind": "sso",
        "provider": "city",
        "label": "Stockholms stad (Entra ID)",
        "protocol": "oidc",
        "issuer": "https://idp.example",
        "subject": "sub-anna-1",
        "username": "anna.svensson@stad.example",
        "loa": "urn:test:loa2",
        "auth_time": (now - timedelta(seconds=10)).isoformat(timespec="seconds"),
    }
    # too old by the IdP's clock, from the future, or another account: no proof
    assert sso.fresh_reauth(session, user, app.config, now=now + timedelta(seconds=300)) is None
    assert sso.fresh_reauth(session, user, app.config, now=now - timedelta(seconds=120)) is None
    assert sso.fresh_reauth(session, world.users["caseworker"], app.config, now=now) is None
    sso.consume_reauth(session, world.users["caseworker"])  # not hers: kept
    assert sso.fresh_reauth(session, user, app.config, now=now) is not None
    sso.consume_reauth(session, user)
    assert sso.fresh_reauth(session, user, app.config, now=now) is None


def test_reauthentication_without_auth_time_or_by_someone_else_gives_no_proof(
    app: Flask, world: World
) -> None:
    user = sign_in(app, identity())
    session: dict[str, Any] = {}
    sso.remember_reauth(session, user, identity(auth_time=None))
    assert sso.fresh_reauth(session, user, app.config) is None
    with pytest.raises(sso.SsoRefused) as caught:
        sso.remember_reauth(session, user, identity(subject="someone-else"))
    assert caught.value.reason == "reauth_other_account"
    local = world.users["caseworker"]
    with pytest.raises(sso.SsoRefused):
        sso.remember_reauth(session, local, dataclasses.replace(identity(), subject=""))
