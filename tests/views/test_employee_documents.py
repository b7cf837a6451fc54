"""Employee documents (2.3 here): managers hold them; the employee reads their own; no one else."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import documents, users
from tests.conftest import PASSWORD, Auth, World


def _review(app: Flask, world: World) -> Document:
    dtype = runtime(app).registry["competence"]
    data = dtype.sample()
    data["requirements"] = []
    return documents.create(
        dtype,
        data,
        actor=world.users["manager"],
        employee=world.users["caseworker"],
        store=runtime(app).store,
    )


def test_employee_reads_own_review_but_not_a_colleagues(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _review(app, world)
    users.create_user(
        username="kollega",
        full_name="Kollega",
        role="caseworker",
        password=PASSWORD,
        district_id=world.home.id,
    )
    auth.login("caseworker")
    assert client.get(f"/documents/{doc.id}").status_code == 200
    assert client.get(f"/documents/{doc.id}/edit").status_code == 403  # only managers edit
    auth.logout()
    auth.login("kollega")
    assert client.get(f"/documents/{doc.id}").status_code == 404
    assert f'/documents/{doc.id}"' not in client.get("/documents/").get_data(as_text=True)
    assert f'/documents/{doc.id}"' not in client.get("/staff/").get_data(as_text=True)
    auth.logout()
    auth.login("manager")
    assert client.get(f"/documents/{doc.id}/edit").status_code == 200
    assert f'/documents/{doc.id}"' in client.get("/staff/").get_data(as_text=True)


def test_employee_of_another_district_cannot_be_reviewed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    uid = world.users["other_caseworker"].id
    assert client.get(f"/staff/{uid}/documents/new/competence").status_code == 404
    assert (
        client.get(f"/staff/{world.users['analyst'].id}/documents/new/competence").status_code
        == 404
    )
    assert (
        client.get(f"/staff/{world.users['caseworker'].id}/documents/new/consent").status_code
        == 404
    )  # not an employee document
