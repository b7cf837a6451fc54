"""A signer signs with BankID on screen, by personal link and in person (issue 14).

Against the BankID RP API v6 protocol test peer (tests/bankid_peer.py, mutual TLS on loopback):
the signer's browser is a test client with its own cookies; the peer plays the signer's BankID app
(scanning the QR code the page shows, which checks its HMAC and age, then completing as a given
personnummer, or cancelling). Nothing of BankID is mocked: the service talks HTTPS to the peer.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import signing
from formsvc.services.final_pdf import embedded_record
from tests.conftest import PASSWORD, Auth, World
from tests.idp.bankid import (  # noqa: F401 - the fixtures
    BankIdPeer,
    PeerRefused,
    bankid_peer_fixture,
    bankid_peer_session_fixture,
)
from tests.services.test_signing import drawn_png
from tests.smtp import SmtpServer
from tests.views.test_sign_link import open_with_code
from tests.views.test_signing import data_url, send, starting_today

#: Maria Öberg, guardian 1 of the consent sample (19800101-1231), as BankID gives her number.
MARIA_PNR = "198001011231"
MARIA = "Maria Öberg"
#: Someone else with a BankID.
OTHER_PNR = "198512249876"
QR = re.compile(r"^bankid\.[0-9a-f-]+\.\d+\.[0-9a-f]{64}$")


@pytest.fixture
def config(
    config: dict[str, Any], smtp_server: SmtpServer, bankid_peer: BankIdPeer
) -> dict[str, Any]:
    return {
        **config,
        **smtp_server.settings,
        "BANKID": bankid_peer.settings,
        "BANKID_POLL_RATE_LIMIT": "1000 per minute",
    }


@dataclass
class Link:
    """Guardian 1's personal link (e-ID required) and the browser that holds it."""

    browser: FlaskClient
    token: str
    req: SignatureRequest
    doc: Document

    def url(self, tail: str = "") -> str:
        return f"/s/{self.token}{tail}"


def sign_as(app: Flask, req: SignatureRequest, actor: Any) -> None:
    """A signer signs in person through the service (set-up for the one under test)."""
    dtype = runtime(app).registry["consent"]
    given = signing.Given(
        name=req.expected_name,
        statements=signing.statements_for(req, dtype),
        ip="127.0.0.1",
        user_agent="pytest",
    )
    signing.sign(
        req,
        dtype,
        given,
        method="in_person",
        actor=actor,
        settings=app.config,
        store=runtime(app).store,
    )


def by_role(doc: Document, role: str) -> SignatureRequest:
    return next(r for r in signing.requests(doc) if r.role == role)


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    """The sample consent sent by the logged-in caseworker; the participant (16) has signed in
    person; the guardians have not."""
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    sign_as(app, by_role(consent_doc, "Deltagare"), world.users["caseworker"])
    return consent_doc


def guardian_2_signs(app: Flask, world: World, doc: Document) -> None:
    """Guardian 2 signs in person: guardian 1's signature is then the last."""
    sign_as(app, by_role(doc, "Vårdnadshavare 2"), world.users["caseworker"])


def issue(app: Flask, world: World, req: SignatureRequest) -> str:
    """Mail guardian 1 a personal link that requires e-ID; the token as the mail carries it."""
    tokens: list[str] = []
    signing.issue_link(
        req,
        "maria@example.se",
        settings=app.config,
        link_for=lambda t: tokens.append(t) or f"http://localhost/s/{t}",
        actor=world.users["caseworker"],
    )
    req.require_eid = True  # the caseworker chose e-ID when sending (eid's choice on that page)
    db.session.commit()
    return tokens[-1]


@pytest.fixture
def link(app: Flask, world: World, sent: Document, bankid_peer: BankIdPeer) -> Link:
    """Guardian 1 has opened her link and identified herself with BankID (an auth order)."""
    req = by_role(sent, "Vårdnadshavare 1")
    token = issue(app, world, req)
    browser = app.test_client()
    opened = Link(browser, token, req, sent)
    resp = browser.post(opened.url("/bankid/identify"))
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    state = status(opened)
    assert state["state"] == "pending"
    bankid_peer.complete(state["qr_payload"], MARIA_PNR, MARIA)
    assert status(opened) == {"state": "identified", "next": f"/s/{token}"}
    page = browser.get(opened.url()).get_data(as_text=True)
    assert "Du har legitimerat dig med BankID." in page
    assert "Skriv under med BankID" in page  # the sign form's BankID button
    return opened


def status(link: Link) -> dict[str, Any]:
    resp = link.browser.get(link.url("/bankid/status"))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/json"
    return resp.get_json()


def form(app: Flask, req: SignatureRequest, name: str = MARIA, **extra: Any) -> dict[str, Any]:
    dtype = runtime(app).registry["consent"]
    return {"s-name": name, "s-statements": list(signing.statements_for(req, dtype)), **extra}


def start(app: Flask, link: Link, **extra: Any) -> Any:
    return link.browser.post(link.url("/bankid"), data=form(app, link.req, **extra))


def events(action: str, req: SignatureRequest) -> list[AuditEvent]:
    found = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.object_id == str(req.document_id))
        .order_by(AuditEvent.id)
    )
    return [e for e in found if e.details.get("request") == req.id]


def fresh(req: SignatureRequest) -> SignatureRequest:
    db.session.expire_all()
    found = db.session.get(SignatureRequest, req.id)
    assert found is not None
    return found


# --------------------------------------------------------------------------- the signature


def test_a_guardian_signs_by_link_with_bankid_and_the_sealed_consent_carries_the_proof_eid(
    app: Flask, world: World, link: Link, bankid_peer: BankIdPeer
) -> None:
    guardian_2_signs(app, world, link.doc)
    resp = start(app, link, **{"s-signature_png": data_url(drawn_png())})
    assert resp.status_code == 303
    assert resp.headers["Location"] == link.url("/bankid")
    pending = fresh(link.req).eid_pending
    assert pending and pending["purpose"] == "sign" and pending["given"]["name"] == MARIA
    assert pending["given"]["signature_sha256"]  # the cleaned drawing, in the file store
    order = bankid_peer.order(pending["order"]["order_ref"])
    assert order.kind == "sign" and order.requirement == {"personalNumber": MARIA_PNR}
    # the text shown in the app names the document and the frozen PDF's hash
    shown = base64.b64decode(order.visible_b64 or "").decode()
    assert f"Referens: {link.doc.reference}" in shown
    assert f"SHA-256: {link.doc.frozen_pdf_sha256}" in shown

    page = link.browser.get(link.url("/bankid"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in html  # inside <noscript>
    assert "<svg" in html and 'class="bankid-qr"' in html
    assert "Starta BankID-appen." in html
    assert (
        f"bankid:///?autostarttoken={pending['order']['auto_start_token']}&amp;redirect=null"
        in html
    )
    assert pending["order"]["qr_start_secret"] not in html  # the secret stays on the server
    assert "Avbryt" in html and "Öppna BankID på den här enheten" in html
    assert link.doc.frozen_pdf_sha256 in html  # the text the signer will see in the app

    state = status(link)
    assert state["state"] == "pending" and QR.match(state["qr_payload"])
    assert state["qr"].startswith("<svg") and pending["order"]["qr_start_secret"] not in json.dumps(
        state
    )
    bankid_peer.scan(state["qr_payload"])  # the app checks the code's HMAC and its age
    assert status(link)["hint"].startswith("Skriv in din säkerhetskod i BankID-appen")
    bankid_peer.complete(pending["order"]["order_ref"], MARIA_PNR, MARIA)

    assert status(link) == {"state": "signed", "next": link.url()}
    req = fresh(link.req)
    assert (req.status, req.method, req.signed_name) == ("signed", "link", MARIA)
    assert req.eid_pending is None and req.signature_sha256 == pending["given"]["signature_sha256"]
    assert req.eid and req.eid["kind"] == "bankid" and req.eid["personal_number"] == MARIA_PNR
    assert req.eid["signature"] and req.eid["ocsp_response"]
    assert link.doc.frozen_pdf_sha256 in req.eid["user_visible_data"]
    assert req.verification and req.verification.startswith(
        "BankID, signerad av personnummer 19800101-XXXX (Maria Öberg), order "
    )  # the whole number only in the proof: this text is in every signer's copy
    assert len(events("sign", req)) == 1
    receipt = link.browser.get(link.url()).get_data(as_text=True)
    assert "Maria Öberg skrev under som Vårdnadshavare 1" in receipt

    # the last signature: the consent is sealed, its evidence record carries BankID's proof
    doc = db.session.get(Document, link.doc.id)
    assert doc is not None and doc.sealed_pdf_sha256
    record = json.loads(embedded_record(runtime(app).store.get(doc.sealed_pdf_sha256)))
    signer = next(s for s in record["signers"] if s["role"] == "Vårdnadshavare 1")
    (proof,) = signer["proofs"]
    assert proof["kind"] == "bankid" and proof["personal_number"] == MARIA_PNR
    assert proof["signature"] == req.eid["signature"]
    # after the signature the page and status say it is done, and sign nothing again
    assert link.browser.get(link.url("/bankid")).headers["Location"] == link.url()
    assert status(link)["state"] == "signed" and len(events("sign", req)) == 1


def test_without_javascript_each_reload_collects_and_the_completed_order_signs_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    html = link.browser.get(link.url("/bankid")).get_data(as_text=True)
    payload = re.search(r'data-qr-payload="([^"]+)"', html)
    assert payload and QR.match(payload.group(1))
    assert bankid_peer.scan(payload.group(1)) == ref  # the page's own QR code scans
    bankid_peer.complete(ref, MARIA_PNR, MARIA)
    resp = link.browser.get(link.url("/bankid"))
    assert resp.status_code == 302 and resp.headers["Location"] == link.url()
    assert fresh(link.req).status == "signed"


def test_another_persons_bankid_is_refused_and_audited_nothing_recorded_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    # a real BankID only lets the required person sign (requirement.personalNumber); the peer
    # plays a server that did not enforce it: our own check must still refuse
    assert bankid_peer.order(ref).requirement.pop("personalNumber") == MARIA_PNR
    bankid_peer.complete(ref, OTHER_PNR, "Eva Annan")
    state = status(link)
    assert state == {"state": "failed", "next": link.url()}
    page = link.browser.get(link.url()).get_data(as_text=True)
    assert "annan person än den som ska skriva under" in page
    req = fresh(link.req)
    assert (req.status, req.eid, req.eid_pending, req.signed_at) == ("open", None, None, None)
    (mismatch,) = events("eid_mismatch", req)
    assert mismatch.details["provider"] == "bankid"
    assert OTHER_PNR not in json.dumps(mismatch.details) and "19851224" not in json.dumps(
        mismatch.details
    )
    assert events("sign", req) == []


def test_a_signature_over_another_text_than_the_one_sent_is_not_recorded_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    # the right person, but the signature covers another text (another document's hash)
    other = f"Sekretessbrytande medgivande\nReferens: X\nSHA-256: {'0' * 64}"
    bankid_peer.complete(ref, MARIA_PNR, MARIA, signed_text=other)
    assert status(link) == {"state": "failed", "next": link.url()}
    assert "Något gick fel. Försök igen." in link.browser.get(link.url()).get_data(as_text=True)
    req = fresh(link.req)
    assert (req.status, req.eid, req.eid_pending) == ("open", None, None)
    assert [e.details for e in events("bankid_failed", req)][-1]["reason"] == "signed_text"
    assert events("sign", req) == []


def test_a_cancel_in_the_app_is_said_and_the_form_can_be_sent_again_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    start(app, link)
    first = fresh(link.req).eid_pending["order"]["order_ref"]
    bankid_peer.cancel_by_user(first)
    assert status(link)["state"] == "failed"
    page = link.browser.get(link.url()).get_data(as_text=True)
    assert "Åtgärden avbröts." in page and 'id="sign-form"' in page
    assert fresh(link.req).eid_pending is None
    assert [e.details.get("hint_code") for e in events("bankid_failed", link.req)] == ["userCancel"]
    # again: a new order, and this time she signs
    assert start(app, link).status_code == 303
    second = fresh(link.req).eid_pending["order"]["order_ref"]
    assert second != first
    bankid_peer.complete(second, MARIA_PNR, MARIA)
    assert status(link)["state"] == "signed"


def test_avbryt_on_the_page_cancels_the_order_at_bankid_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    resp = link.browser.post(link.url("/bankid/cancel"))
    assert resp.status_code == 302 and resp.headers["Location"] == link.url()
    assert bankid_peer.order(ref).status == "failed" and bankid_peer.order(ref).hint == "cancelled"
    assert fresh(link.req).eid_pending is None
    page = link.browser.get(link.url()).get_data(as_text=True)
    assert "Du avbröt BankID. Inget är underskrivet" in page
    with pytest.raises(PeerRefused):
        bankid_peer.complete(ref, MARIA_PNR, MARIA)  # a cancelled order cannot be signed
    assert fresh(link.req).status == "open"


def test_an_expired_order_says_so_and_signs_nothing_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    bankid_peer.expire(ref)
    assert status(link) == {"state": "failed", "next": link.url()}
    page = link.browser.get(link.url()).get_data(as_text=True)
    assert "BankID-appen svarar inte." in page
    req = fresh(link.req)
    assert (req.status, req.eid_pending) == ("open", None)
    assert [e.details.get("hint_code") for e in events("bankid_failed", req)] == [
        "expiredTransaction"
    ]


def test_two_status_polls_at_once_after_completion_sign_once_eid(
    app: Flask, world: World, link: Link, bankid_peer: BankIdPeer, live_server: str
) -> None:
    guardian_2_signs(app, world, link.doc)
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    bankid_peer.complete(ref, MARIA_PNR, MARIA)
    # the same browser (its cookies) asks twice at the same instant, over real HTTP
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = link.browser.get_cookie(name)
    assert cookie is not None
    cookies = {name: cookie.value}
    barrier = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def poll(i: int) -> None:
        barrier.wait()
        answers[i] = requests.get(
            f"{live_server}{link.url('/bankid/status')}", cookies=cookies, timeout=300
        )

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["state"] for a in answers] == ["signed", "signed"]
    req = fresh(link.req)
    assert req.status == "signed" and len(events("sign", req)) == 1
    db.session.expire_all()
    doc = db.session.get(Document, link.doc.id)
    assert doc is not None and doc.sealed_pdf_sha256
    sealed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "seal", AuditEvent.object_id == str(doc.id))
    ).all()
    assert len(sealed) == 1


# --------------------------------------------------------------------------- refused forms


def test_the_form_is_checked_as_a_signature_before_any_order_starts_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer
) -> None:
    before = len(bankid_peer.requests)
    # another name than the designated signer's
    resp = start(app, link, **{"s-name": "Eva Annan"})
    assert resp.status_code == 200
    assert "Bara Maria Öberg kan skriva under här" in resp.get_data(as_text=True)
    # a statement left out, and a statement the document does not have
    data = form(app, link.req)
    data["s-statements"] = data["s-statements"][1:] + ["Jag godkänner allt"]
    resp = link.browser.post(link.url("/bankid"), data=data)
    assert resp.status_code == 200
    assert "Kryssa i alla påståenden" in resp.get_data(as_text=True)
    # a drawing that is not a PNG
    resp = start(app, link, **{"s-signature_png": "data:image/png;base64,AAAA"})
    assert resp.status_code == 200 and "kunde inte läsas" in resp.get_data(as_text=True)
    assert len(bankid_peer.requests) == before  # BankID was never asked
    assert fresh(link.req).eid_pending is None


@pytest.mark.parametrize(
    "field,value",
    [
        ("s-name", "M" * 200_000),
        ("s-signature_png", "data:image/png;base64," + "A" * 800_000),
        ("s-statements", ["x" * 5000] * 200),
        ("s-name", "Maria\x00Öberg"),
        ("s-name", "<script>alert(1)</script>"),
    ],
)
def test_huge_or_hostile_input_is_refused_clearly_eid(
    app: Flask, link: Link, bankid_peer: BankIdPeer, field: str, value: Any
) -> None:
    resp = start(app, link, **{field: value})
    assert resp.status_code in (200, 413), resp.status_code
    assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
    assert fresh(link.req).eid_pending is None and fresh(link.req).status == "open"


def test_forged_links_and_other_requests_orders_open_nothing_eid(
    app: Flask, world: World, link: Link, bankid_peer: BankIdPeer, smtp_server: SmtpServer
) -> None:
    start(app, link)
    ref = fresh(link.req).eid_pending["order"]["order_ref"]
    for method, tail in (
        ("post", "/bankid"),
        ("get", "/bankid"),
        ("get", "/bankid/status"),
        ("post", "/bankid/cancel"),
        ("post", "/bankid/identify"),
    ):
        resp = getattr(link.browser, method)(f"/s/{'x' * 43}{tail}")
        assert resp.status_code == 404 and "Länken gäller inte" in resp.get_data(as_text=True)
    # another browser holding the same link (without the code or e-ID) sees no order of hers
    stranger = app.test_client()
    assert stranger.get(link.url("/bankid/status")).get_json() == {
        "state": "none",
        "next": link.url(),
    }
    assert stranger.get(link.url("/bankid")).status_code == 302
    assert stranger.post(link.url("/bankid/cancel")).status_code == 302
    assert bankid_peer.order(ref).status == "pending"  # her order is untouched
    # nor can it start its own order over hers (the link alone lets it try to identify)
    taken = stranger.post(link.url("/bankid/identify"))
    assert taken.status_code == 302 and taken.headers["Location"] == link.url()
    assert "pågår redan" in stranger.get(link.url()).get_data(as_text=True)
    assert fresh(link.req).eid_pending["order"]["order_ref"] == ref
    assert bankid_peer.order(ref).status == "pending"
    stranger_start = stranger.post(link.url("/bankid"), data=form(app, link.req))
    assert stranger_start.status_code == 302  # the content is not open in that browser
    # guardian 2's own link (e-mail code) shows no order of guardian 1's, to either browser
    johan = by_role(link.doc, "Vårdnadshavare 2")
    tokens: list[str] = []
    signing.issue_link(
        johan,
        "johan.oberg@example.se",
        settings=app.config,
        link_for=lambda t: tokens.append(t) or f"http://localhost/s/{t}",
        actor=world.users["caseworker"],
    )
    guardian_2 = app.test_client()
    open_with_code(guardian_2, smtp_server, tokens[-1], "johan.oberg@example.se")
    for browser in (guardian_2, link.browser):
        answer = browser.get(f"/s/{tokens[-1]}/bankid/status").get_json()
        assert answer == {"state": "none", "next": f"/s/{tokens[-1]}"}
        assert browser.post(f"/s/{tokens[-1]}/bankid/cancel").status_code == 302
    # guardian 2 cannot use BankID (the consent gives no personnummer for him)
    refused = guardian_2.post(f"/s/{tokens[-1]}/bankid", data=form(app, johan, "Johan Öberg"))
    assert refused.status_code == 302 and fresh(johan).eid_pending is None
    assert bankid_peer.order(ref).status == "pending"
    bankid_peer.complete(ref, MARIA_PNR, MARIA)
    assert status(link)["state"] == "signed"
    assert fresh(johan).status == "open" and fresh(johan).eid is None


def test_no_bankid_configured_means_no_bankid_pages_eid(
    app: Flask, link: Link, make_app: Callable[..., Flask]
) -> None:
    plain = make_app(BANKID=None)
    browser = plain.test_client()
    for method, tail in (("post", "/bankid"), ("get", "/bankid"), ("get", "/bankid/status")):
        assert getattr(browser, method)(link.url(tail)).status_code == 404


# --------------------------------------------------------------------------- in person


def test_in_person_a_guardian_signs_with_bankid_on_the_locked_device_eid(
    app: Flask, client: FlaskClient, sent: Document, bankid_peer: BankIdPeer, world: World
) -> None:
    req = by_role(sent, "Vårdnadshavare 1")
    base = f"/documents/{sent.id}/signatures/{req.id}/in-person"
    assert client.get(base).status_code == 200  # the caseworker hands over the locked device
    page = client.get(base).get_data(as_text=True)
    assert "Skriv under med BankID" in page
    # a wrong name: the page again, with the error, what was typed and the BankID button
    wrong = client.post(f"{base}/bankid", data=form(app, req, name="Eva Annan"))
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 200 and "Bara Maria Öberg kan skriva under här" in text
    assert 'value="Eva Annan"' in text and "Skriv under med BankID" in text
    resp = client.post(f"{base}/bankid", data=form(app, req))
    assert resp.status_code == 303 and resp.headers["Location"] == f"{base}/bankid"
    html = client.get(f"{base}/bankid").get_data(as_text=True)
    payload = re.search(r'data-qr-payload="([^"]+)"', html)
    assert payload
    ref = bankid_peer.scan(payload.group(1))
    bankid_peer.complete(ref, MARIA_PNR, MARIA)
    state = client.get(f"{base}/bankid/status").get_json()
    assert state == {"state": "signed", "next": base}
    done = client.get(base).get_data(as_text=True)
    assert "Underskriften från Vårdnadshavare 1 är registrerad" in done
    req = fresh(req)
    assert (req.status, req.method, req.actor_id) == (
        "signed",
        "in_person",
        world.users["caseworker"].id,
    )
    assert req.eid and req.eid["kind"] == "bankid" and req.verification.startswith("BankID")
    # the lock still holds: other pages go to the unlock page
    assert client.get("/").status_code == 303


def test_in_person_a_participant_under_18_cannot_use_bankid_eid(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document,
    bankid_peer: BankIdPeer,
) -> None:  # fmt: skip
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    req = by_role(consent_doc, "Deltagare")
    base = f"/documents/{consent_doc.id}/signatures/{req.id}/in-person"
    client.get(base)
    resp = client.post(f"{base}/bankid", data=form(app, req, name=req.expected_name))
    assert resp.status_code == 302 and resp.headers["Location"] == base
    assert "BankID kan inte användas" in client.get(base).get_data(as_text=True)
    assert bankid_peer.requests == [] and fresh(req).eid_pending is None


def test_in_person_bankid_pages_need_the_staff_login_and_the_district_eid(
    app: Flask, sent: Document, world: World
) -> None:
    req = by_role(sent, "Vårdnadshavare 1")
    base = f"/documents/{sent.id}/signatures/{req.id}/in-person/bankid"
    # a GET (a link from anywhere) neither starts anything nor locks the caseworker's session
    caseworker = app.test_client()
    caseworker.post("/login", data={"username": "caseworker", "password": PASSWORD})
    for tail in ("", "/status"):
        resp = caseworker.get(f"{base}{tail}")
        assert resp.status_code in (200, 302)
    assert caseworker.get("/").status_code == 200  # not sent to the unlock page
    anonymous = app.test_client()
    assert anonymous.get(base).status_code == 302  # to the login
    assert anonymous.get(f"{base}/status").status_code == 302
    other = app.test_client()
    other.post("/login", data={"username": "other_caseworker", "password": PASSWORD})
    assert other.get(base).status_code == 404
    assert other.post(base, data=form(app, req)).status_code == 404
