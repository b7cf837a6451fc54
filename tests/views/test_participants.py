"""Registering participants: identity numbers, birth dates, district boundaries."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Participant
from formsvc.runtime import runtime
from tests.conftest import Auth, World

BASE = {
    "first_name": "Sara",
    "last_name": "Nilsson",
    "id_kind": "personnummer",
    "id_number": "20080101-1230",
    "target_group": "sig_unga",
}


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Participant.id)))


@pytest.mark.parametrize(
    ("kind", "number", "stored", "born"),
    [
        ("personnummer", "20080101-1230", "20080101-1230", "2008-01-01"),
        ("personnummer", "080101-1230", "20080101-1230", "2008-01-01"),
        ("personnummer", "200801011230", "20080101-1230", "2008-01-01"),
        ("samordningsnummer", "20050175-1234", "20050175-1234", "2005-01-15"),
    ],
)
def test_valid_identity_numbers_are_normalised(
    client: FlaskClient, auth: Auth, world: World, kind: str, number: str, stored: str, born: str
) -> None:
    auth.login("caseworker")
    group = "sig_unga" if born >= "2006" else "sig_unga_vuxna"  # the age fits the target group
    resp = client.post(
        "/participants/new",
        data={**BASE, "id_kind": kind, "id_number": number, "target_group": group},
    )
    assert resp.status_code == 302
    p = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    assert p.id_number == stored and p.birth_date.isoformat() == born
    assert p.district_id == world.home.id


@pytest.mark.parametrize(
    ("kind", "number", "message"),
    [
        ("personnummer", "20080101-1231", "kontrollsiffran"),
        ("personnummer", "20081301-1234", "kontrollsiffran"),
        ("personnummer", "20050175-1234", "samordningsnummer, inte ett personnummer"),
        ("samordningsnummer", "20080101-1230", "personnummer, inte ett samordningsnummer"),
        ("personnummer", "abc<script>", "ÅÅÅÅMMDD-NNNN"),
        ("personnummer", "2008\x0b0101-1230", "kontrolltecken"),
        ("personnummer", "1" * 10_000, "Högst 15 tecken"),
        ("personnummer", "", "ÅÅÅÅMMDD-NNNN"),
    ],
)
def test_invalid_identity_numbers_get_a_swedish_error_and_keep_input(
    client: FlaskClient, auth: Auth, world: World, kind: str, number: str, message: str
) -> None:
    auth.login("caseworker")
    before = _count()
    resp = client.post("/participants/new", data={**BASE, "id_kind": kind, "id_number": number})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and message in html
    assert str(escape(number)) in html and 'value="Sara"' in html
    assert _count() == before


def test_birth_date_only(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    html = client.post(
        "/participants/new", data={**BASE, "id_kind": "birth_date", "id_number": ""}
    ).get_data(as_text=True)
    assert "Ange födelsedatum när nummer saknas." in html
    resp = client.post(
        "/participants/new",
        data={**BASE, "id_kind": "birth_date", "id_number": "", "birth_date": "2007-06-30"},
    )
    assert resp.status_code == 302


@pytest.mark.parametrize("name", ["محمد", "Åsa 👩‍👧", "Anna & Bo <x>", 'O\'Brien "Q"'])
def test_any_real_name_is_accepted_and_escaped(
    client: FlaskClient, auth: Auth, world: World, name: str
) -> None:
    auth.login("caseworker")
    resp = client.post("/participants/new", data={**BASE, "first_name": name})
    assert resp.status_code == 302
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert str(escape(name)) in html


def test_protected_identity_is_masked_in_the_list(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    client.post("/participants/new", data={**BASE, "protected_identity": "y"})
    html = client.get("/participants/").get_data(as_text=True)
    assert "20080101-****" in html and "20080101-1230" not in html


def test_list_shows_only_own_district(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    html = client.get("/participants/").get_data(as_text=True)
    assert "Öberg" in html and "Farstasson" not in html


def test_other_district_edit_is_404_and_changes_nothing(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("other_caseworker")
    resp = client.post(
        f"/participants/{world.participant.id}/edit", data={**BASE, "first_name": "Kapad"}
    )
    assert resp.status_code == 404
    db.session.expire_all()
    assert world.participant.first_name == "Åsa"


def test_manager_assigns_staff_which_opens_threat_assessments(
    app: object, client: FlaskClient, auth: Auth, world: World
) -> None:
    from formsvc.services import documents

    dtype = runtime(app).registry["threat_assessment"]
    doc = documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["manager"],
        participant=world.participant,
        store=runtime(app).store,
    )
    auth.login("caseworker")
    assert client.get(f"/documents/{doc.id}").status_code == 404  # not assigned yet
    auth.logout()
    auth.login("manager")
    url = f"/participants/{world.participant.id}/assignments"
    cw = world.users["caseworker"].id
    assert client.post(url, data={"user_id": str(cw)}).status_code == 302
    assert (
        client.post(url, data={"user_id": str(world.users["other_caseworker"].id)}).status_code
        == 404
    )  # staff of another district cannot be assigned
    auth.logout()
    auth.login("caseworker")
    assert client.get(f"/documents/{doc.id}").status_code == 200
    assert client.post(url, data={"user_id": str(cw), "action": "remove"}).status_code == 403
    auth.logout()
    auth.login("manager")
    client.post(url, data={"user_id": str(cw), "action": "remove"})
    auth.logout()
    auth.login("caseworker")
    assert client.get(f"/documents/{doc.id}").status_code == 404


# --------------------------------------------------------------------------- protected identity


def _protected(client: FlaskClient) -> Participant:
    client.post("/participants/new", data={**BASE, "protected_identity": "y"})
    p = db.session.scalars(select(Participant).order_by(Participant.id.desc())).first()
    assert p is not None and p.protected_identity
    return p


def test_an_edit_never_clears_protection_not_even_a_post_without_the_box(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    p = _protected(client)
    form = client.get(f"/participants/{p.id}/edit").get_data(as_text=True)
    assert "Bara en chef kan häva det" in form
    resp = client.post(f"/participants/{p.id}/edit", data={**BASE, "first_name": "Ny"})
    assert resp.status_code == 302
    db.session.expire_all()
    p = db.session.get(Participant, p.id)
    assert p.protected_identity and p.first_name == "Ny"
    assert client.post(f"/participants/{p.id}/unprotect", data={"reason": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Participant, p.id).protected_identity


def test_a_caseworker_turns_protection_on_and_the_log_says_old_to_new(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    client.post("/participants/new", data=BASE)
    p = db.session.scalars(select(Participant).order_by(Participant.id.desc())).first()
    client.post(f"/participants/{p.id}/edit", data={**BASE, "protected_identity": "y"})
    db.session.expire_all()
    assert db.session.get(Participant, p.id).protected_identity
    ev = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "update").order_by(AuditEvent.id.desc())
    ).first()
    assert ev.details["protected_identity"] == [False, True]
    assert BASE["first_name"] not in str(ev.details) and "id_number" not in str(ev.details)


def test_only_a_manager_of_the_district_lifts_protection_with_a_reason(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    p = _protected(client)
    auth.logout()
    auth.login("manager")
    page = client.get(f"/participants/{p.id}").get_data(as_text=True)
    assert "Häv skyddade personuppgifter" in page
    resp = client.post(f"/participants/{p.id}/unprotect", data={"reason": ""})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Participant, p.id).protected_identity  # a reason is required
    hostile = client.post(f"/participants/{p.id}/unprotect", data={"reason": "a\u202eb"})
    assert hostile.status_code == 302
    db.session.expire_all()
    assert db.session.get(Participant, p.id).protected_identity
    reason = "Skyddet har upphört enligt SPAR"
    client.post(f"/participants/{p.id}/unprotect", data={"reason": reason})
    db.session.expire_all()
    assert not db.session.get(Participant, p.id).protected_identity
    ev = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unprotect")).one()
    assert ev.details == {"protected_identity": [True, False], "reason": reason}
    assert ev.actor_label == "manager"
