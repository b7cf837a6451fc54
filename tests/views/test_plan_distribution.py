"""The action plan (bilaga 3.5) goes only to actors that the consent in force today lets receive
information from us about every need area in the plan (issues 10 and 18)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.forms.action_plan import ActionPlanForm, sample
from formsvc.models import Document, Participant
from formsvc.services import signing
from tests import factories
from tests.conftest import Auth, World
from tests.helpers import pdf_text, post_data

#: The consent in force: the police (always both ways), the school both ways, Frivården only
#: gives us information, the football club only receives it; three kinds of information.
ACTORS = [
    {"actor": "school", "direction": "both", "contact": "Elevhälsan"},
    {"actor": "frivard", "direction": "to_social", "contact": "Frivården Sundbyberg"},
    {
        "actor": "other",
        "other_name": "Fotbollsföreningen IK Kista",
        "direction": "from_social",
        "secrecy": "private",
    },
]
KINDS = ["economy", "school", "health"]

#: actor -> the reason it may not receive anything, or None when it may
RECEIVES: dict[str, str | None] = {
    "Polismyndigheten": None,
    "Skola/elevhälsa": None,
    "Fotbollsföreningen IK Kista": None,
    "Frivården": "får Frivården bara lämna uppgifter till socialtjänsten, inte ta emot",
    "BUP": "BUP finns inte i något medgivande som gäller",
}
#: need area -> the kind the consent lacks for it, or None when covered
AREAS: dict[str, str | None] = {
    "economy": None,
    "mental_health": None,
    "leisure": "”Fritid”",
    "occupation": "”Sysselsättning, arbete och studier”",
    "other": "fritext omfattas aldrig automatiskt",
}


def _url(p: Participant) -> str:
    return f"/participants/{p.id}/documents/new/action_plan"


def _plans() -> list[Document]:
    return list(db.session.scalars(db.select(Document).where(Document.type_slug == "action_plan")))


def _plan(areas: list[str], actors: list[str]) -> dict[str, Any]:
    goal = sample()["goals"][0]
    return {
        **sample(),
        "goals": [{**goal, "area": a} for a in areas],
        "distribution": [{"actor": a, "contact": ""} for a in actors],
    }


@pytest.fixture
def in_force(app: Flask, world: World) -> Document:
    return factories.consent(
        app, world.participant, world.users["caseworker"], actors=ACTORS, info_kinds=KINDS
    )


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("actor", RECEIVES)
def test_distribution_per_actor_direction_and_kind(
    client: FlaskClient, auth: Auth, world: World, in_force: Document, actor: str, area: str
) -> None:
    auth.login("caseworker")
    resp = client.post(
        _url(world.participant), data=post_data(ActionPlanForm, _plan([area], [actor]))
    )
    refusal = RECEIVES[actor] or AREAS[area]
    if refusal is None:
        assert resp.status_code == 302
        assert [p.data["distribution"][0]["actor"] for p in _plans()] == [actor]
        return
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f"{escape(actor)} får inte handlingsplanen: " in html
    assert refusal in html
    assert _plans() == []


def test_the_refusal_names_every_kind_the_actor_lacks(
    client: FlaskClient, auth: Auth, world: World, in_force: Document
) -> None:
    auth.login("caseworker")
    data = _plan(["economy", "leisure", "occupation", "housing"], ["Skola/elevhälsa"])
    html = client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).get_data(
        as_text=True
    )
    ref = in_force.reference
    for kind in ("Fritid", "Sysselsättning, arbete och studier", "Boende"):
        assert f"Medgivandet {ref} omfattar inte ”{kind}” för Skola/elevhälsa." in html
    assert "”Ekonomi och skulder”" not in html and "”Skolgång och skolnärvaro”" not in html
    assert _plans() == []


@pytest.mark.parametrize(
    ("status", "starts", "ends", "pending"),
    [
        ("draft", -1, 300, "utkast"),
        ("awaiting_signatures", -1, 300, "väntar på underskrift"),
        ("active", 1, 300, "undertecknat men börjar gälla senare"),
        ("active", -300, -1, None),  # ended yesterday, not yet marked expired
        ("expired", -300, -1, None),
        ("withdrawn", -1, 300, None),
        ("declined", -1, 300, None),
        ("voided", -1, 300, None),
    ],
)
def test_only_a_consent_in_force_today_counts(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    status: str,
    starts: int,
    ends: int,
    pending: str | None,
) -> None:
    consent = factories.consent(
        app, world.participant, world.users["caseworker"], status=status, starts=starts, ends=ends
    )
    auth.login("caseworker")
    page = client.get(_url(world.participant)).get_data(as_text=True)
    assert "Det finns inget sekretessbrytande medgivande (bilaga 3.2) som gäller i dag" in page
    assert 'value="Skola/elevhälsa"' not in page  # nobody is proposed as a recipient
    if pending:
        assert f"Medgivandet {consent.reference} räknas inte ({pending})" in page
    data = _plan(["economy"], ["Polismyndigheten"])
    html = client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).get_data(
        as_text=True
    )
    assert (
        "Polismyndigheten får inte handlingsplanen: Det finns inget medgivande som gäller" in html
    )
    assert _plans() == []


def test_the_police_receive_even_when_an_old_consent_says_one_way(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    factories.consent(
        app, world.participant, world.users["caseworker"], police_direction="to_social"
    )
    auth.login("caseworker")
    data = _plan(["economy"], ["Polismyndigheten"])
    assert (
        client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).status_code
        == 302
    )


def test_kinds_may_come_from_two_consents_in_force(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    author = world.users["caseworker"]
    factories.consent(app, world.participant, author, actors=[], info_kinds=["economy"])
    factories.consent(app, world.participant, author, actors=[], info_kinds=["leisure"])
    auth.login("caseworker")
    data = _plan(["economy", "leisure"], ["Polismyndigheten"])
    assert (
        client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).status_code
        == 302
    )


def test_editing_a_plan_after_the_consent_ends_refuses_its_recipients(
    client: FlaskClient, auth: Auth, world: World, in_force: Document
) -> None:
    auth.login("caseworker")
    data = _plan(["economy"], ["Skola/elevhälsa"])
    assert (
        client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).status_code
        == 302
    )
    (plan,) = _plans()
    in_force.status = "withdrawn"
    db.session.commit()
    resp = client.post(f"/documents/{plan.id}/edit", data=post_data(ActionPlanForm, data))
    assert "Skola/elevhälsa får inte handlingsplanen" in resp.get_data(as_text=True)
    db.session.refresh(plan)
    assert plan.version == 1
    alone = {**data, "distribution": []}
    resp = client.post(f"/documents/{plan.id}/edit", data=post_data(ActionPlanForm, alone))
    assert resp.status_code == 302


HOSTILE_NAMES = {
    "zero_width": "Polis\u200bmyndigheten",
    "bidi": "\u202eSkola/elevhälsa",
    "homoglyph": "Polismyndighet\u0435n",  # Cyrillic e
    "markup": "<script>alert(1)</script>",
    "actor_code": "school",
    "other_row_key": "other",
    "huge": "Skola/elevhälsa" * 1000,
    "nul": "Skola/elevhälsa\x00",
}


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_forged_recipient_names_are_refused_and_kept(
    client: FlaskClient, auth: Auth, world: World, in_force: Document, name: str
) -> None:
    auth.login("caseworker")
    data = _plan(["economy"], ["Polismyndigheten", name])
    resp = client.post(_url(world.participant), data=post_data(ActionPlanForm, data))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Formuläret innehåller fel" in html
    assert "<script>alert" not in html
    assert _plans() == []


def test_wrong_shapes_of_distribution_rows_do_not_break(
    client: FlaskClient, auth: Auth, world: World, in_force: Document
) -> None:
    auth.login("caseworker")
    data = post_data(ActionPlanForm, _plan(["economy"], ["Polismyndigheten"]))
    data.setlist("distribution-0-actor", ["Polismyndigheten", "BUP"])  # two values, one field
    data.add("distribution-99999-actor", "BUP")  # a far index
    data.add("distribution-x-actor", "BUP")  # not an index
    resp = client.post(_url(world.participant), data=data)
    assert resp.status_code == 200
    assert "BUP får inte handlingsplanen" in resp.get_data(as_text=True)
    assert _plans() == []


def test_another_participants_or_districts_consent_covers_nobody_here(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    author = world.users["caseworker"]
    factories.consent(app, world.foreign, world.users["other_caseworker"])
    sibling = world.add_participant(world.home, "Syster", "Öberg", world.participant.birth_date)
    factories.consent(app, sibling, author)
    auth.login("caseworker")
    data = _plan(["economy"], ["Polismyndigheten"])
    html = client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).get_data(
        as_text=True
    )
    assert "Polismyndigheten får inte handlingsplanen: Det finns inget medgivande" in html
    assert _plans() == []


def test_other_districts_staff_cannot_post_a_plan_here(
    client: FlaskClient, auth: Auth, world: World, in_force: Document
) -> None:
    auth.login("other_caseworker")
    data = _plan(["economy"], ["Polismyndigheten"])
    assert (
        client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).status_code
        == 404
    )
    assert _plans() == []


def test_the_printed_plan_says_what_it_contains_and_which_consent_was_checked(
    client: FlaskClient, auth: Auth, world: World, in_force: Document
) -> None:
    auth.login("caseworker")
    data = _plan(["economy", "mental_health"], ["Skola/elevhälsa"])
    assert (
        client.post(_url(world.participant), data=post_data(ActionPlanForm, data)).status_code
        == 302
    )
    (plan,) = _plans()
    text = " ".join(pdf_text(client.get(f"/documents/{plan.id}/download.pdf").data).split())
    assert (
        "som gäller låter ta emot uppgifter från socialtjänsten om allt planen innehåller: "
        "Hälsa, vård och behandling, Ekonomi och skulder." in text
    )
    today = signing.today_local().isoformat()
    assert f"Sändlistan kontrollerades {today} mot medgivande {in_force.reference}." in text
    assert "Skola/elevhälsa" in text
