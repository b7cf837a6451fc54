"""consents.may_share: one answer per participant, actor, kind, direction and day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.forms.consent import FROM_ACTOR, TO_ACTOR
from formsvc.models import Document
from formsvc.services import consents, signing
from tests import factories
from tests.conftest import Auth, World

ACTORS = [
    {"actor": "school", "direction": "both"},
    {"actor": "frivard", "direction": "to_social"},
    {"actor": "other", "other_name": "IK Kista", "direction": "from_social", "secrecy": "private"},
    {"actor": "bup", "direction": "sideways"},  # unreadable: covers nobody
]


@pytest.fixture
def in_force(app: Flask, world: World) -> Document:
    return factories.consent(
        app,
        world.participant,
        world.users["caseworker"],
        actors=ACTORS,
        info_kinds=["economy", "forged"],
        info_other="Fritidsaktiviteter",
    )


# actor -> the directions it is covered for
COVERED = {
    "Polismyndigheten": {FROM_ACTOR, TO_ACTOR},
    "Skola/elevhälsa": {FROM_ACTOR, TO_ACTOR},
    "Frivården": {FROM_ACTOR},
    "IK Kista": {TO_ACTOR},
    "BUP": set(),
    "Kriminalvården": set(),
}


@pytest.mark.parametrize("kind", ["economy", "leisure", "forged", None])
@pytest.mark.parametrize("direction", [FROM_ACTOR, TO_ACTOR])
@pytest.mark.parametrize("actor", COVERED)
def test_may_share_per_actor_direction_and_kind(
    world: World, in_force: Document, actor: str, direction: str, kind: str | None
) -> None:
    answer = consents.may_share(world.participant.id, actor, kind, direction, signing.today_local())
    expected = direction in COVERED[actor] and kind == "economy"
    assert answer.allowed is expected
    assert (answer.reason == "") is expected
    if expected:
        assert answer.consent is not None and answer.consent.id == in_force.id


def test_the_day_decides(world: World, in_force: Document) -> None:
    today = signing.today_local()
    ask = lambda day: consents.may_share(  # noqa: E731
        world.participant.id, "Skola/elevhälsa", "economy", TO_ACTOR, day
    )
    assert ask(today).allowed
    assert not ask(today - timedelta(days=2)).allowed  # before it started
    assert not ask(today + timedelta(days=301)).allowed  # after it ended
    assert "inget medgivande som gäller" in ask(today + timedelta(days=301)).reason


def test_coverage_is_the_one_reading_of_a_consent(in_force: Document) -> None:
    cover = consents.coverage(in_force)
    assert [a.name for a in cover.actors] == [
        "Polismyndigheten",
        "Skola/elevhälsa",
        "Frivården",
        "IK Kista",
    ]
    assert all(a.kinds == {"economy"} for a in cover.actors)
    assert cover.other == "Fritidsaktiviteter"
    assert cover.scope("  ik KISTA ") is cover.actors[3]
    assert cover.scope("IK\u200bKista") is None


def test_the_participant_page_shows_only_the_consent_in_force(
    app: Flask, client: FlaskClient, auth: Auth, world: World, in_force: Document
) -> None:
    factories.consent(
        app,
        world.participant,
        world.users["caseworker"],
        status="draft",
        actors=[{"actor": "krim", "direction": "both"}],
    )
    auth.login("caseworker")
    page = client.get(f"/participants/{world.participant.id}").get_data(as_text=True)
    assert f"Enligt medgivandet {in_force.reference}" in page
    assert "<td>IK Kista</td><td></td><td>Aktören tar emot uppgifter</td>" in page
    assert "Kriminalvården" not in page
