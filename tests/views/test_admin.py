"""Administrators manage users and districts in the UI."""

from __future__ import annotations

from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import District, User
from tests.conftest import Auth, World


def test_admin_creates_a_caseworker_who_can_log_in(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    resp = client.post(
        "/admin/users/new",
        data={
            "username": "nyanstalld",
            "full_name": "Ny Anställd",
            "email": "ny@example.se",
            "role": "caseworker",
            "district_id": str(world.home.id),
            "active": "y",
            "password": "Forsta-losen-1",
        },
    )
    assert resp.status_code == 302
    auth.logout()
    assert auth.login("nyanstalld", "Forsta-losen-1").status_code == 302


def test_caseworker_without_district_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    html = client.post(
        "/admin/users/new",
        data={
            "username": "utan",
            "full_name": "Utan Stadsdel",
            "role": "caseworker",
            "district_id": "",
            "password": "Forsta-losen-1",
        },
    ).get_data(as_text=True)
    assert "måste höra till en stadsdel" in html
    assert 'value="Utan Stadsdel"' in html


def test_admin_deactivates_and_changes_role(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("admin")
    uid = world.users["caseworker"].id
    resp = client.post(
        f"/admin/users/{uid}",
        data={
            "full_name": "Test caseworker",
            "role": "manager",
            "district_id": str(world.other.id),
        },
    )
    assert resp.status_code == 302
    user = db.session.get(User, uid)
    db.session.refresh(user)
    assert (user.role, user.district_id, user.active) == ("manager", world.other.id, False)


def test_admin_cannot_lock_themselves_out(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("admin")
    uid = world.users["admin"].id
    html = client.post(
        f"/admin/users/{uid}", data={"full_name": "Admin", "role": "admin", "district_id": ""}
    ).get_data(as_text=True)
    assert "inte inaktivera" in html


def test_reset_password_shows_a_one_time_password(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    uid = world.users["caseworker"].id
    html = client.post(f"/admin/users/{uid}/reset-password").get_data(as_text=True)
    password = html.split('<code class="secret">')[1].split("</code>")[0]
    assert len(password) >= 12
    auth.logout()
    auth.login("caseworker", password)
    assert client.get("/").headers["Location"].endswith("/account/password")


def test_reset_password_of_unknown_user_is_404(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    assert client.post("/admin/users/999999/reset-password").status_code == 404


def test_districts_create_rename_and_refuse_duplicates(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    assert client.post("/admin/districts", data={"name": "Skarpnäck"}).status_code == 302
    html = client.post("/admin/districts", data={"name": "Farsta"}).get_data(as_text=True)
    assert "finns redan" in html
    d = db.session.scalars(db.select(District).where(District.name == "Skarpnäck")).one()
    resp = client.post(f"/admin/districts/{d.id}", data={"name": "Skarpnäck <ny>", "active": "y"})
    assert resp.status_code == 302
    assert "Skarpnäck &lt;ny&gt;" in client.get("/admin/districts").get_data(as_text=True)


def test_admin_sees_no_client_documents(
    client: FlaskClient, auth: Auth, world: World, consent_doc: object
) -> None:
    auth.login("admin")
    assert client.get("/participants/").status_code == 403
    assert client.get(f"/documents/{consent_doc.id}").status_code == 403
