"""One parametrized walk over every route for every role: who gets in, who does not."""

from __future__ import annotations

import pytest
from flask import Flask

from formsvc.models import Document
from tests.conftest import World
from tests.services.test_signing import Flow

ROLES = (
    "anonymous",
    "caseworker",
    "manager",
    "security_officer",
    "analyst",
    "admin",
    "other_caseworker",
)
CLIENT_STAFF = {"caseworker", "manager"}

# (url template, roles that get 200, expectation for other logged-in roles)
ROUTES = [
    ("/", set(ROLES) - {"anonymous"}, 403),
    ("/account/password", set(ROLES) - {"anonymous"}, 403),
    ("/guidance/procurement", set(ROLES) - {"anonymous"}, 403),
    ("/participants/", CLIENT_STAFF | {"other_caseworker"}, 403),
    ("/participants/new", CLIENT_STAFF | {"other_caseworker"}, 403),
    ("/participants/{pid}", CLIENT_STAFF, "deny"),
    ("/participants/{pid}/edit", CLIENT_STAFF, "deny"),
    ("/participants/{pid}/documents/new/consent", CLIENT_STAFF, "deny"),
    ("/documents/{doc}", CLIENT_STAFF, "deny"),
    ("/documents/{doc}/edit", CLIENT_STAFF, "deny"),
    ("/documents/{doc}/download.docx", CLIENT_STAFF, "deny"),
    ("/documents/{doc}/v1/download.docx", CLIENT_STAFF, "deny"),
    ("/documents/", CLIENT_STAFF | {"other_caseworker"}, 403),
    ("/staff/", CLIENT_STAFF | {"other_caseworker"}, 403),
    ("/staff/{cw}/documents/new/competence", {"manager"}, "manager_only"),
    ("/admin/templates", {"admin"}, 403),
    ("/admin/templates/consent/v1.docx", {"admin"}, 403),
    ("/admin/checklists", {"admin"}, 403),
    ("/admin/users", {"admin"}, 403),
    ("/admin/users/new", {"admin"}, 403),
    ("/admin/users/{uid}", {"admin"}, 403),
    ("/admin/districts", {"admin"}, 403),
    ("/admin/districts/{did}", {"admin"}, 403),
    ("/statistics/", {"analyst", "manager"}, 403),
    ("/statistics/aggregates.csv", {"analyst", "manager"}, 403),
    ("/statistics/rows.csv", {"analyst", "manager"}, 403),
    # signing (a consent sent for signature: {sdoc}, its first request {sreq}; sealed: {sealed})
    ("/documents/{sdoc}/frozen.pdf", CLIENT_STAFF, "deny"),
    ("/documents/{sdoc}/signatures/{sreq}/in-person", CLIENT_STAFF, "deny"),
    ("/documents/{sdoc}/paper", CLIENT_STAFF, "deny"),
    ("/documents/{sealed}/signed.pdf", CLIENT_STAFF, "deny"),
    ("/documents/{sealed}/withdraw", CLIENT_STAFF, "deny"),
    ("/admin/seal", {"admin"}, 403),
    ("/verify", set(ROLES), 403),
    # archive and trust
    ("/participants/{pid}/export.zip", CLIENT_STAFF, "deny"),
    ("/audit/", {"manager"}, 403),
    ("/admin/audit", {"admin"}, 403),
    ("/security/", {"security_officer"}, 403),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("url", "allowed", "otherwise"), ROUTES, ids=[r[0] for r in ROUTES])
def test_route_access_by_role(
    app: Flask,
    world: World,
    consent_doc: Document,
    role: str,
    url: str,
    allowed: set[str],
    otherwise: object,
    request: pytest.FixtureRequest,
) -> None:
    ids = {}
    if "{sdoc}" in url or "{sealed}" in url:
        flow = Flow(app, world, consent_doc)
        reqs = flow.send()
        ids = {"sdoc": consent_doc.id, "sreq": reqs[0].id, "sealed": consent_doc.id}
        if "{sealed}" in url:
            for req, name in zip(reqs, ["Åsa Öberg", "Maria Öberg", "Johan Öberg"], strict=True):
                flow.sign(req, name)
            assert flow.finalise()
    client = app.test_client()
    if role != "anonymous":
        client.post("/login", data={"username": role, "password": "Testlosen-123"})
    target = url.format(
        pid=world.participant.id,
        doc=consent_doc.id,
        uid=world.users["analyst"].id,
        did=world.other.id,
        cw=world.users["caseworker"].id,
        **ids,
    )
    resp = client.get(target)
    if role in allowed:
        assert resp.status_code == 200, (role, target)
    elif role == "anonymous":
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    elif otherwise == "manager_only":
        # a caseworker may not hold a competence review; another district's staff are not found
        expected = {"caseworker": 403, "other_caseworker": 404}.get(role, 403)
        assert resp.status_code == expected, (role, target, resp.status_code)
    elif otherwise == "deny":
        # a role without client access gets 403; staff of another district get 404 (no leak)
        expected = 404 if role == "other_caseworker" else 403
        assert resp.status_code == expected, (role, target, resp.status_code)
    else:
        assert resp.status_code == otherwise, (role, target)
    if resp.status_code != 200:
        assert "Öberg" not in resp.get_data(as_text=True)
