"""The in-person view is a real lock (issue 10, defect 3): once staff open it, the server
refuses every other staff page of that session — whatever the browser sends — until the staff
member types their password again on the unlock page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.services import signing
from tests.conftest import PASSWORD, Auth, World
from tests.views import test_signing
from tests.views.test_signing import sign_in_person

sent = test_signing.sent  # the fixture: a consent sent for signature, caseworker logged in

#: Reachable while locked, whoever asks: the way out, logging out, files, the public pages.
OPEN_WHILE_LOCKED = {"lock.unlock", "auth.logout", "static"} | {
    # an SSO account unlocks by logging in again at its IdP (issue 14)
    "sso.login",
    "sso.callback",
    "saml.login",
    "saml.acs",
}


def lock_on(client: FlaskClient, doc: Document, req: SignatureRequest) -> None:
    resp = client.get(f"/documents/{doc.id}/signatures/{req.id}/in-person")
    assert resp.status_code == 200 and "Du skriver under som" in resp.get_data(as_text=True)


def refused(resp: Any) -> bool:
    return resp.status_code == 303 and resp.headers["Location"].endswith("/unlock")


def staff_urls(app: Flask, doc: Document, other_req: SignatureRequest, pid: int) -> list[Any]:
    """(method, url, endpoint) for every route of the app that is not public."""
    values = {"doc_id": doc.id, "rid": other_req.id, "pid": pid}
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN_WHILE_LOCKED or rule.endpoint.startswith("public."):
            continue
        args = {}
        for name in rule.arguments:
            conv = rule._converters[name]  # noqa: SLF001 - the rule's own types
            args[name] = values.get(name, 1) if isinstance(conv, IntegerConverter) else "x"
        if rule.endpoint == "signing.frozen_pdf":  # the locked document's PDF is open; others not
            args["doc_id"] = doc.id + 1000
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **args)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            out.append((method, url, rule.endpoint))
    return out


def test_every_staff_page_is_refused_while_the_in_person_view_is_locked(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    world: World,
) -> None:
    participant_req, other_req = signing.requests(sent)[:2]
    lock_on(client, sent, participant_req)
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    before = [(r.id, r.status) for r in signing.requests(sent)]
    urls = staff_urls(app, sent, other_req, world.participant.id)
    assert len(urls) > 60  # the whole app, not a hand-picked list
    assert ("GET", "/", "main.index") in urls
    passed = []
    for method, url, endpoint in urls:
        resp = client.open(url, method=method, data={"password": PASSWORD, "s-name": "Åsa Öberg"})
        if not refused(resp):
            passed.append((method, url, endpoint, resp.status_code))
    assert passed == []
    # nothing happened behind the refusals: no signature, no new version, no audit event
    db.session.expire_all()
    assert [(r.id, r.status) for r in signing.requests(sent)] == before
    assert db.session.get(Document, sent.id).version == sent.version
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events
    # the locked signer's own page and the PDF they read still work
    assert (
        client.get(f"/documents/{sent.id}/signatures/{participant_req.id}/in-person").status_code
        == 200
    )
    assert client.get(f"/documents/{sent.id}/frozen.pdf").status_code == 200


def test_after_signing_the_thank_you_page_leads_only_to_the_unlock_page(
    app: Flask,
    client: FlaskClient,
    sent: Document,
) -> None:
    req = signing.requests(sent)[0]
    lock_on(client, sent, req)
    done = sign_in_person(client, app, sent, req, "Åsa Öberg").get_data(as_text=True)
    assert "Tack!" in done
    links = set(re.findall(r'href="([^"]+)"', done))
    assert {link for link in links if not link.startswith(("/static/", "#"))} == {"/unlock"}
    # the back button and a typed address
    back = client.get(f"/documents/{sent.id}/signatures/{req.id}/in-person")
    assert back.status_code == 200 and "Tack!" in back.get_data(as_text=True)
    assert "Åsa Öberg" not in client.get("/unlock").get_data(as_text=True)
    for url in ("/", "/participants/", f"/documents/{sent.id}", "/documents/", "/login"):
        assert refused(client.get(url)), url


@pytest.mark.parametrize(
    "typed",
    ["", "fel", "x" * 100_000, "\x00", PASSWORD + "\u202e", "<script>", PASSWORD.upper()],
)
def test_a_wrong_password_keeps_the_lock_with_a_clear_message(
    client: FlaskClient,
    sent: Document,
    typed: str,
) -> None:
    req = signing.requests(sent)[0]
    lock_on(client, sent, req)
    resp = client.post("/unlock", data={"password": typed})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Enheten är låst" in page
    assert "Fel lösenord" in page or "Fältet måste fyllas i" in page
    assert "<script>" not in page
    assert refused(client.get("/participants/"))


def test_wrong_types_on_the_unlock_form_are_no_500(
    client: FlaskClient,
    sent: Document,
) -> None:
    lock_on(client, sent, signing.requests(sent)[0])
    resp = client.post("/unlock", data={"password": ["x", PASSWORD]})  # the first one counts
    assert resp.status_code == 200 and refused(client.get("/"))
    resp = client.post("/unlock", data=b"\xff\xfe", content_type="application/octet-stream")
    assert resp.status_code < 500 and refused(client.get("/"))


def test_the_right_password_unlocks_and_both_are_in_the_audit_log(
    client: FlaskClient,
    sent: Document,
    world: World,
) -> None:
    req = signing.requests(sent)[0]
    lock_on(client, sent, req)
    client.post("/unlock", data={"password": "fel"})
    resp = client.post("/unlock", data={"password": PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/documents/{sent.id}")
    assert client.get("/participants/").status_code == 200
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.action.like("in_person%"))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["in_person_lock", "in_person_unlock_failed", "in_person_unlock"]
    # without a lock the unlock page has nothing to do
    assert client.get("/unlock").status_code == 302


def test_logging_out_ends_the_lock_and_the_next_login_needs_the_password(
    client: FlaskClient,
    auth: Auth,
    sent: Document,
) -> None:
    lock_on(client, sent, signing.requests(sent)[0])
    auth.logout()
    assert client.get("/participants/").status_code == 302  # to the login page
    assert "/login" in client.get("/participants/").headers["Location"]
    auth.login("caseworker")
    assert client.get("/participants/").status_code == 200


def test_unlock_is_rate_limited_and_needs_a_csrf_token(
    make_app: Any, world: World, consent_doc: Document
) -> None:
    strict = make_app(LOGIN_ACCOUNT_FAILURES=3, WTF_CSRF_ENABLED=True)
    client = strict.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    client.post(
        "/login", data={"username": "caseworker", "password": PASSWORD, "csrf_token": token}
    )
    html = client.get("/").get_data(as_text=True)  # a login starts a fresh session: new token
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # logout's form
    resp = client.post(f"/documents/{consent_doc.id}/send", data={"csrf_token": token})
    assert resp.status_code == 302
    db.session.expire_all()
    req = signing.requests(db.session.get(Document, consent_doc.id))[0]
    client.get(f"/documents/{consent_doc.id}/signatures/{req.id}/in-person")
    assert client.post("/unlock", data={"password": PASSWORD}).status_code == 400  # no token
    assert refused(client.get("/"))
    codes = [
        client.post("/unlock", data={"password": "fel", "csrf_token": token}).status_code
        for _ in range(3)
    ]
    late = client.post("/unlock", data={"password": PASSWORD, "csrf_token": token})
    assert codes[-1] == 200 and late.status_code == 429  # even the right password waits
    assert refused(client.get("/"))
