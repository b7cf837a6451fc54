"""Signer e-ID through an OpenID Connect e-ID broker (issue 14, ADR 018), by personal link and in
person, against the real OpenID Provider of tests/idp (npm oidc-provider on loopback, accounts
with the Swedish personnummer claim and a LoA in acr).

The signer is an anonymous test client with its own cookies; the broker's login form is filled
in with `requests` (oidc_idp.login) and the browser's return to our callback is replayed on the
signer's client, as the browser would follow the redirect.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, Participant, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import eid, signing
from formsvc.services.final_pdf import embedded_record
from tests import factories
from tests.conftest import Auth, World
from tests.helpers import pdf_text
from tests.idp.oidc import LOA3, PERSONAL_NUMBER, OidcIdp
from tests.smtp import SmtpServer
from tests.views.test_sign_link import LINK, mails_to, sign_by_link
from tests.views.test_signing import send, sign_in_person, starting_today

MARIA = "198001011231"  # guardian 1 of the consent's sample: "19800101-1231"
OTHER = "197501011234"  # someone else with e-ID
LABEL = "e-legitimation (BankID, Freja eID+)"
CALLBACK = "http://localhost/eid/callback"
ADDRESS = "maria@example.se"


@pytest.fixture
def broker(oidc_idp: OidcIdp) -> dict[str, Any]:
    """An EID_PROVIDERS entry for a new client of the test broker, and its accounts."""
    client = oidc_idp.add_client([CALLBACK])
    oidc_idp.add_account("maria", name="Maria Öberg", personal_number=MARIA, acr=LOA3)
    oidc_idp.add_account("stranger", name="Eva Annan", personal_number=OTHER, acr=LOA3)
    oidc_idp.add_account("nonumber", name="Utan Nummer", acr=LOA3)
    return oidc_idp.provider_conf(
        client, label=LABEL, acr_values=LOA3, personal_number_claim=PERSONAL_NUMBER
    )


@pytest.fixture
def config(
    config: dict[str, Any], smtp_server: SmtpServer, broker: dict[str, Any]
) -> dict[str, Any]:
    return {**config, **smtp_server.settings, "EID_PROVIDERS": {"broker": broker}}


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    """The sample consent (participant 16, joint custody), sent by the logged-in caseworker."""
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    return consent_doc


def slot(doc: Document, key: str) -> SignatureRequest:
    return next(r for r in signing.requests(doc) if r.slot == key)


def send_link(
    client: FlaskClient, smtp: SmtpServer, doc: Document, req: SignatureRequest, identify: str
) -> str:
    """The caseworker sends a personal link choosing *identify*; returns the mailed token."""
    before = len(mails_to(smtp, ADDRESS))
    resp = client.post(
        f"/documents/{doc.id}/signatures/{req.id}/link",
        data={"email": ADDRESS, "identify": identify},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    got = mails_to(smtp, ADDRESS)
    assert len(got) == before + 1
    found = LINK.search(got[-1].get_content())
    assert found
    return found.group(1)


def start(signer: FlaskClient, token: str) -> str:
    resp = signer.get(f"/s/{token}/eid/broker/start")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


def come_back(signer: FlaskClient, url: str) -> Any:
    """The browser follows the broker's redirect to our callback."""
    assert url.startswith(CALLBACK + "?"), url
    parts = urlsplit(url)
    return signer.get(f"{parts.path}?{parts.query}")


def identify(signer: FlaskClient, idp: OidcIdp, token: str, username: str) -> Any:
    return come_back(signer, idp.login(start(signer, token), username))


def text(resp: Any) -> str:
    return resp.get_data(as_text=True)


def events(doc: Document, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_id == str(doc.id), AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


# --------------------------------------------------------------------------- the right person


@pytest.mark.converter
def test_eid_the_right_guardian_signs_and_the_sealed_pdf_embeds_an_id_token_that_verifies(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
) -> None:
    maria = slot(sent, "guardian1")
    shown = text(client.get(f"/documents/{sent.id}"))
    assert f'id="identify-{maria.id}-eid"' in shown  # offered for Maria, whose number is known
    token = send_link(client, smtp_server, sent, maria, "eid")
    mail = mails_to(smtp_server, ADDRESS)[-1].get_content()
    assert "legitimerar du dig med e-legitimation" in mail and "engångskod" not in mail
    db.session.refresh(maria)
    assert maria.require_eid

    signer = app.test_client()
    page = text(signer.get(f"/s/{token}"))
    assert f"Legitimera med {LABEL}" in page and f"/s/{token}/eid/broker/start" in page
    assert "Skicka kod till min e-post" not in page and 'name="code"' not in page
    # no code for an e-ID link, whatever is posted
    assert signer.post(f"/s/{token}/code").status_code == 302
    assert mails_to(smtp_server, ADDRESS)[-1].get_content() == mail
    assert "öppnas med e-legitimation" in text(signer.get(f"/s/{token}"))
    # nothing to read or sign before the identification
    assert signer.get(f"/s/{token}/document.pdf").status_code == 404
    assert sign_by_link(signer, app, token, maria, "Maria Öberg").status_code == 302
    db.session.refresh(maria)
    assert maria.status == "open"

    back = identify(signer, oidc_idp, token, "maria")
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/s/{token}")
    page = text(signer.get(f"/s/{token}"))
    assert "Du har legitimerat dig" in page and "s-statements" in page
    assert signer.get(f"/s/{token}/document.pdf").status_code == 200
    db.session.refresh(maria)
    proof = dict(maria.eid or {})
    assert proof["kind"] == "oidc" and proof["personal_number"] == MARIA
    assert proof["issuer"] == oidc_idp.issuer and proof["loa"] == LOA3
    assert proof["label"] == LABEL and proof["id_token"].count(".") == 2
    assert [e.details["provider"] for e in events(sent, "eid_identified")] == ["broker"]

    assert sign_by_link(signer, app, token, maria, "Maria Öberg").status_code == 302
    db.session.refresh(maria)
    assert maria.status == "signed" and maria.method == "link"
    assert maria.eid == proof
    assert maria.verification.startswith(f"E-legitimation via {LABEL} ({oidc_idp.issuer}), ")
    assert "tillitsnivå loa3" in maria.verification
    # the document page's signer list shows the proof
    assert "ID-token inbäddad" in text(client.get(f"/documents/{sent.id}"))

    # later, on another device, Maria's e-ID opens her receipt (no code on an e-ID link)
    later = app.test_client()
    assert "Legitimera dig först" in text(later.get(f"/s/{token}"))
    identify(later, oidc_idp, token, "maria")
    receipt = text(later.get(f"/s/{token}"))
    assert "Maria Öberg skrev under som Vårdnadshavare 1" in receipt
    db.session.refresh(maria)
    assert maria.eid == proof  # the signature's proof stays the one it was given with

    for key in ("participant", "guardian2"):
        req = slot(sent, key)
        sign_in_person(client, app, sent, req, req.expected_name)
    db.session.refresh(sent)
    assert sent.sealed_pdf_sha256
    pdf = runtime(app).store.get(sent.sealed_pdf_sha256)
    evidence = " ".join(pdf_text(pdf).split())
    assert f"e-legitimation: {oidc_idp.issuer}, tillitsnivå loa3, " in evidence
    assert "ID-token inbäddad" in evidence and "Legitimerad med e-legitimation" in evidence
    record = json.loads(embedded_record(pdf) or b"{}")
    (signer_record,) = [s for s in record["signers"] if s["slot"] == "guardian1"]
    assert signer_record["proofs"] == [proof]
    # the embedded token is the broker's, signed with its published key
    http = oidc_idp.http()
    jwks = http.get(http.get(oidc_idp.metadata_url, timeout=10).json()["jwks_uri"], timeout=10)
    token_ = jwt.decode(
        signer_record["proofs"][0]["id_token"],
        KeySet.import_key_set(jwks.json()),
        algorithms=["RS256"],
    )
    assert token_.claims[PERSONAL_NUMBER] == MARIA and token_.claims["iss"] == oidc_idp.issuer

    verified = client.post(
        "/verify",
        data={"pdf": (io.BytesIO(pdf), "medgivande.pdf")},
        content_type="multipart/form-data",
    )
    shown = text(verified)
    assert verified.status_code == 200 and "Dokumentet är äkta och oförändrat" in shown
    assert "E-legitimation i beviset" in shown
    assert "Personnumret i ID-token är den utsedda undertecknarens." in shown
    assert "E-legitimationen i beviset är den vi sparade vid underskriften" in shown
    assert "Problem:" not in shown


# --------------------------------------------------------------------------- the wrong person


def test_eid_another_persons_identification_is_refused_audited_and_nothing_stored(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    for who in ("stranger", "nonumber"):
        back = identify(signer, oidc_idp, token, who)
        assert back.status_code == 302
        page = text(signer.get(f"/s/{token}"))
        assert "Du legitimerade dig som en annan person" in page
        assert "Bara Maria Öberg kan skriva under här" in page
        assert "s-statements" not in page  # the content stays closed
        assert signer.get(f"/s/{token}/document.pdf").status_code == 404
    db.session.refresh(maria)
    assert maria.eid is None and maria.status == "open"
    refused = events(sent, "eid_mismatch")
    assert [e.details["reason"] for e in refused] == ["other_person", "no_number"]
    for e in refused:  # not even a masked number of the other person
        assert "19750101" not in json.dumps(e.details) and "1234" not in json.dumps(e.details)
    assert events(sent, "eid_identified") == []
    assert sign_by_link(signer, app, token, maria, "Maria Öberg").status_code == 302
    db.session.refresh(maria)
    assert maria.status == "open"


# --------------------------------------------------------------------------- hostile answers


def test_eid_a_forged_or_tampered_state_is_refused(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    answer = oidc_idp.login(start(signer, token), "maria")
    parts = urlsplit(answer)
    query = dict(p.split("=", 1) for p in parts.query.split("&"))
    query["state"] = "forged-" + query["state"][7:]
    back = signer.get(f"{parts.path}?{urlencode(query)}")
    assert back.status_code == 302
    assert "s-statements" not in text(signer.get(f"/s/{token}"))
    # the pending identification is used up: the genuine answer afterwards opens nothing
    assert come_back(signer, answer).status_code == 400
    # an answer carried to another browser (no pending state there) opens nothing either
    other = app.test_client()
    answer = oidc_idp.login(start(signer, token), "maria")
    resp = come_back(other, answer)
    assert resp.status_code == 400 and "Identifieringen kunde inte slutföras" in text(resp)
    db.session.refresh(maria)
    assert maria.eid is None
    assert [e.action for e in events(sent, "eid_refused")] == ["eid_refused"]


def test_eid_a_callback_replayed_after_success_opens_nothing_more(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    answer = oidc_idp.login(start(signer, token), "maria")
    assert come_back(signer, answer).status_code == 302
    assert come_back(signer, answer).status_code == 400  # this browser: nothing pending now
    thief = app.test_client()
    assert come_back(thief, answer).status_code == 400
    assert "s-statements" not in text(thief.get(f"/s/{token}"))
    # even with a pending identification of its own, the stolen answer does not match it
    start(thief, token)
    assert come_back(thief, answer).status_code == 302
    assert "s-statements" not in text(thief.get(f"/s/{token}"))
    assert len(events(sent, "eid_identified")) == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=x",
        "state=" + "x" * 5000,
        "error=access_denied&error_description=%3Cscript%3E",
        "code=a&code=b&state=c&state=d",
        "code=%00%01&state=%E2%80%AE",
        "iss=https://evil.example&code=x&state=y",
    ],
    ids=["empty", "no-state", "huge", "error", "repeated", "controls", "other-iss"],
)
def test_eid_hostile_callback_parameters_get_a_clear_answer_never_a_500(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
    query: str,
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    assert signer.get(f"/eid/callback?{query}").status_code == 400  # nothing pending
    start(signer, token)
    back = signer.get(f"/eid/callback?{query}")
    assert back.status_code == 302
    page = text(signer.get(f"/s/{token}"))
    assert "flash error" in page and "<script>" not in page and "s-statements" not in page
    db.session.refresh(maria)
    assert maria.eid is None


def test_eid_a_callback_that_is_not_utf8_is_refused_before_it_reaches_the_flow(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    start(signer, token)
    resp = signer.get("/eid/callback?code=%ff&state=%fe")
    assert resp.status_code == 400  # the app's own check of the request's text (views/encoding)
    db.session.refresh(maria)
    assert maria.eid is None


def test_eid_hostile_start_addresses_are_refused(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    for provider in ("nobroker", "..", "broker%00", "BROKER", "x" * 300):
        assert signer.get(f"/s/{token}/eid/{provider}/start").status_code == 404
    assert (
        signer.get("/s/forged-token-forged-token-forged-token/eid/broker/start").status_code == 404
    )
    assert signer.post(f"/s/{token}/eid/broker/start").status_code == 405


def test_eid_a_code_link_does_not_start_an_identification(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "code")
    signer = app.test_client()
    resp = signer.get(f"/s/{token}/eid/broker/start")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/s/{token}")
    page = text(signer.get(f"/s/{token}"))
    assert "Skicka kod till min e-post" in page and "Legitimera med" not in page


def test_eid_a_stale_identification_must_be_redone(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
) -> None:
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    identify(signer, oidc_idp, token, "maria")
    db.session.refresh(maria)
    old = dict(maria.eid or {})
    maria.eid = {**old, "auth_time": "2020-01-01T00:00:00+00:00"}  # as if 31+ minutes ago
    db.session.commit()
    page = text(signer.get(f"/s/{token}"))
    assert "s-statements" not in page and f"Legitimera med {LABEL}" in page
    resp = sign_by_link(signer, app, token, maria, "Maria Öberg", follow_redirects=True)
    assert "Legitimera dig med e-legitimation först" in text(resp)
    db.session.refresh(maria)
    assert maria.status == "open"


# --------------------------------------------------------------------------- who is offered e-ID


def test_eid_is_not_offered_without_a_known_personnummer(
    client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    johan = slot(sent, "guardian2")  # the sample gives Johan no personnummer
    shown = text(client.get(f"/documents/{sent.id}"))
    assert f'id="identify-{johan.id}-eid"' not in shown
    resp = client.post(
        f"/documents/{sent.id}/signatures/{johan.id}/link",
        data={"email": ADDRESS, "identify": "eid"},
    )
    assert resp.status_code == 400
    assert "personnummer finns inte i dokumentet" in text(resp)
    assert mails_to(smtp_server, ADDRESS) == []
    db.session.refresh(johan)
    assert johan.token_hash is None and not johan.require_eid


def test_eid_is_not_offered_to_a_participant_under_18(
    app: Flask, client: FlaskClient, auth: Auth, world: World, smtp_server: SmtpServer
) -> None:
    today = signing.today_local()
    young = Participant(
        district_id=world.home.id,
        first_name="Ung",
        last_name="Deltagare",
        id_kind="personnummer",
        id_number=f"{today.year - 16}0101-1234",
        birth_date=today.replace(year=today.year - 16, month=1, day=1),
        target_group="sig_unga",
        created_by_id=world.users["caseworker"].id,
    )
    db.session.add(young)
    db.session.commit()
    doc = factories.consent(app, young, world.users["caseworker"], status="draft", starts=0)
    auth.login("caseworker")
    send(client, doc)
    req = slot(doc, "participant")
    assert eid.normalise(req.expected_id)  # the number is known: age alone decides
    shown = text(client.get(f"/documents/{doc.id}"))
    assert f'id="identify-{req.id}-eid"' not in shown
    assert "under 18 år och skriver under på plats" in shown
    resp = client.post(
        f"/documents/{doc.id}/signatures/{req.id}/link",
        data={"email": ADDRESS, "identify": "eid"},
    )
    assert resp.status_code == 400 and "under 18 år" in text(resp)
    db.session.refresh(req)
    assert req.token_hash is None


def test_eid_required_for_links_is_enforced(
    make_app: Any, sent: Document, smtp_server: SmtpServer, oidc_idp: OidcIdp
) -> None:
    strict = make_app(EID_REQUIRED={"consent": ["link"]})
    caseworker = strict.test_client()
    Auth(caseworker).login("caseworker")
    maria, johan = slot(sent, "guardian1"), slot(sent, "guardian2")
    shown = text(caseworker.get(f"/documents/{sent.id}"))
    assert "krävs för dokumenttypen" in shown
    assert "En personlig länk kan inte skickas" in shown  # Johan: no personnummer
    # choosing the code does not get round it
    resp = caseworker.post(
        f"/documents/{sent.id}/signatures/{maria.id}/link",
        data={"email": ADDRESS, "identify": "code"},
    )
    assert resp.status_code == 302
    db.session.refresh(maria)
    assert maria.require_eid
    resp = caseworker.post(
        f"/documents/{sent.id}/signatures/{johan.id}/link",
        data={"email": "johan@example.se"},
    )
    assert resp.status_code == 400 and "kräver e-legitimation" in text(resp)
    assert mails_to(smtp_server, "johan@example.se") == []


# --------------------------------------------------------------------------- in person


def test_eid_in_person_the_signer_identifies_on_the_citys_device(
    app: Flask, client: FlaskClient, sent: Document, oidc_idp: OidcIdp
) -> None:
    maria = slot(sent, "guardian1")
    url = f"/documents/{sent.id}/signatures/{maria.id}/in-person"
    page = text(client.get(url))
    assert "Signeraren legitimerar sig med e-legitimation" in page
    resp = client.get(f"{url}/eid/broker")
    assert resp.status_code == 302
    # a signer who is not Maria is refused, the device stays on her page
    back = come_back(client, oidc_idp.login(resp.headers["Location"], "stranger"))
    assert back.headers["Location"].endswith(url)
    assert "Du legitimerade dig som en annan person" in text(client.get(url))
    resp = client.get(f"{url}/eid/broker")
    back = come_back(client, oidc_idp.login(resp.headers["Location"], "maria"))
    assert back.headers["Location"].endswith(url)
    assert "Identiteten är styrkt med e-legitimation" in text(client.get(url))
    sign_in_person(client, app, sent, maria, "Maria Öberg")
    db.session.refresh(maria)
    assert maria.status == "signed" and maria.method == "in_person"
    assert maria.eid and maria.eid["personal_number"] == MARIA
    assert maria.verification.startswith("E-legitimation via ")
    # Johan, without a number, is witnessed as before
    johan = slot(sent, "guardian2")
    assert "Signeraren legitimerar sig" not in text(
        client.get(f"/documents/{sent.id}/signatures/{johan.id}/in-person")
    )


def test_eid_required_in_person_hides_the_form_until_identified(
    make_app: Any, sent: Document, oidc_idp: OidcIdp
) -> None:
    strict = make_app(EID_REQUIRED={"consent": ["in_person"]})
    staff = strict.test_client()
    Auth(staff).login("caseworker")
    maria = slot(sent, "guardian1")
    url = f"/documents/{sent.id}/signatures/{maria.id}/in-person"
    page = text(staff.get(url))
    assert "Legitimera med" in page and "s-statements" not in page
    dtype = runtime(strict).registry["consent"]
    resp = staff.post(
        url,
        data={"s-name": "Maria Öberg", "s-statements": list(signing.statements_for(maria, dtype))},
    )
    assert "ska legitimera sig med e-legitimation först" in text(resp)
    db.session.refresh(maria)
    assert maria.status == "open"


@pytest.mark.converter
def test_eid_a_broker_entry_without_acr_values_requires_loa3(
    app: Flask,
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
    broker: dict[str, Any],
) -> None:
    """review E5: an EID_PROVIDERS entry without acr_values asks for and requires loa3; a lower
    LoA (e.g. Freja basic) is refused, audited, and nothing is stored."""
    del broker["acr_values"]
    app.config["EID_PROVIDERS"] = {"broker": broker}
    loa2 = "http://id.elegnamnden.se/loa/1.0/loa2"
    oidc_idp.add_account("weak", name="Maria Öberg", personal_number=MARIA, acr=loa2)
    maria = slot(sent, "guardian1")
    token = send_link(client, smtp_server, sent, maria, "eid")
    signer = app.test_client()
    address = start(signer, token)
    assert "acr_values=" + urlencode({"": LOA3})[1:] in address
    back = come_back(signer, oidc_idp.login(address, "weak"))
    assert back.status_code in (200, 302)
    db.session.refresh(maria)
    assert maria.eid is None and maria.status == "open"
    assert [e.details["provider"] for e in events(sent, "eid_refused")] == ["broker"]
    assert events(sent, "eid_identified") == []


def test_eid_in_person_start_alone_does_not_lock_the_session_the_callback_does(
    app: Flask, client: FlaskClient, sent: Document, oidc_idp: OidcIdp
) -> None:
    """review E2: the start is a GET (a cross-site link could reach it), so it changes no lock;
    the caseworker's own identification coming back locks the device to the signer."""
    maria = slot(sent, "guardian1")
    url = f"/documents/{sent.id}/signatures/{maria.id}/in-person"
    resp = client.get(f"{url}/eid/broker")
    assert resp.status_code == 302
    with client.session_transaction() as sess:
        assert "in_person_lock" not in sess
    assert client.get("/").status_code == 200  # not sent to the unlock page
    back = come_back(client, oidc_idp.login(resp.headers["Location"], "maria"))
    assert back.headers["Location"].endswith(url)
    with client.session_transaction() as sess:
        assert sess["in_person_lock"]["req"] == maria.id
    assert client.get("/").status_code == 303  # locked: the unlock page
    assert "Identiteten är styrkt med e-legitimation" in text(client.get(url))
