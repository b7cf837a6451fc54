"""BankID directly (services/bankid.py) against the BankID RP API v6 protocol test peer over mutual
TLS, and the offline checks of a stored proof, good and tampered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from lxml import etree

from formsvc.models import Document
from formsvc.services import bankid
from tests.bankid_peer import BANKID_NS, DS_NS, BankIdPeer, PeerRefused, TestCa
from tests.idp.bankid import (  # noqa: F401 - the fixtures
    bankid_peer_fixture,
    bankid_peer_session_fixture,
)

PNR = "199001011234"
NAME = "Anna Andersson"
DOC_SHA = hashlib.sha256(b"the frozen PDF").hexdigest()
OTHER_SHA = hashlib.sha256(b"another document").hexdigest()
TEXT = f"Samtycke\nReferens: SIG-2026-000042 v1\nSHA-256: {DOC_SHA}"


def _settings(peer: BankIdPeer, **conf: str) -> dict[str, Any]:
    return {"BANKID": {**peer.settings, **conf}}


def _start(peer: BankIdPeer, text: str = TEXT, pnr: str | None = PNR) -> bankid.Order:
    return bankid.start_sign(
        _settings(peer),
        end_user_ip="203.0.113.7",
        personal_number=pnr,
        visible_text=text,
        non_visible=b"formsvc request 42",
    )


def _completed_proof(peer: BankIdPeer, text: str = TEXT) -> dict[str, Any]:
    order = _start(peer, text)
    peer.complete(bankid.qr_content(order), PNR, NAME)
    collected = bankid.collect(_settings(peer), order.order_ref)
    assert collected.status == "complete"
    return bankid.proof(collected, user_visible_data=text)


def _failed(checks: list[bankid.Check]) -> list[str]:
    return [c.text for c in checks if not c.ok]


def test_eid_sign_collect_complete_over_mutual_tls(app: Flask, bankid_peer: BankIdPeer) -> None:
    settings = _settings(bankid_peer)
    order = _start(bankid_peer)
    endpoint, sent = bankid_peer.requests[-1]
    assert endpoint == "sign"
    assert base64.b64decode(sent["userVisibleData"]).decode() == TEXT
    assert sent["requirement"] == {"personalNumber": PNR}
    assert sent["endUserIp"] == "203.0.113.7"

    first = bankid.collect(settings, order.order_ref)
    assert (first.status, first.hint_code) == ("pending", "outstandingTransaction")
    assert bankid.hint_message(first.status, first.hint_code, qr=True) == "Starta BankID-appen."
    assert (
        bankid.hint_message(first.status, first.hint_code, qr=False)
        == "Försöker starta BankID-appen."
    )

    assert bankid_peer.scan(bankid.qr_content(order)) == order.order_ref
    scanned = bankid.collect(settings, order.order_ref)
    assert scanned.hint_code == "userSign"
    assert "säkerhetskod" in bankid.hint_message("pending", "userSign", qr=True)

    bankid_peer.complete(order.order_ref, PNR, NAME)
    done = bankid.collect(settings, order.order_ref)
    assert done.status == "complete" and done.completion is not None
    assert done.completion["user"] == {
        "personalNumber": PNR,
        "name": NAME,
        "givenName": "Anna",
        "surname": "Andersson",
    }
    assert set(done.completion) >= {"device", "bankIdIssueDate", "stepUp", "signature"}
    assert bankid.completion_signed_text(done.completion) == TEXT

    proof = bankid.proof(done, user_visible_data=TEXT)
    assert proof["kind"] == "bankid" and proof["personal_number"] == PNR
    checks = bankid.check_completion(proof, DOC_SHA)
    assert bankid.verified(checks), _failed(checks)
    # the signed content carries what was not shown too
    xml = etree.fromstring(base64.b64decode(proof["signature"]))
    hidden = xml.find(
        f"{{{DS_NS}}}Object/{{{BANKID_NS}}}bankIdSignedData/{{{BANKID_NS}}}usrNonVisibleData"
    )
    assert hidden is not None and base64.b64decode(hidden.text or "") == b"formsvc request 42"


def test_eid_same_device_start_by_auto_start_token(app: Flask, bankid_peer: BankIdPeer) -> None:
    order = _start(bankid_peer)
    assert bankid_peer.open_app(order.auto_start_token) == order.order_ref
    started = bankid.collect(_settings(bankid_peer), order.order_ref)
    assert started.hint_code == "started"
    assert bankid.hint_message("pending", "started", qr=False).startswith("Söker efter BankID")


def test_eid_identification_order_by_auth(app: Flask, bankid_peer: BankIdPeer) -> None:
    settings = _settings(bankid_peer)
    order = bankid.start_auth(settings, end_user_ip="2001:db8::7", personal_number=PNR)
    endpoint, sent = bankid_peer.requests[-1]
    assert endpoint == "auth"
    assert sent == {"endUserIp": "2001:db8::7", "requirement": {"personalNumber": PNR}}
    bankid_peer.complete(bankid.qr_content(order), PNR, NAME)
    done = bankid.collect(settings, order.order_ref)
    assert done.status == "complete" and done.completion is not None
    assert done.completion["user"]["personalNumber"] == PNR
    signed = etree.fromstring(base64.b64decode(done.completion["signature"]))
    func = signed.find(f".//{{{BANKID_NS}}}funcId")
    assert func is not None and func.text == "Identification"


def test_eid_only_the_required_person_can_complete(app: Flask, bankid_peer: BankIdPeer) -> None:
    order = _start(bankid_peer)
    with pytest.raises(PeerRefused, match="another person"):
        bankid_peer.complete(bankid.qr_content(order), "198002023456", "Bo Berg")
    assert bankid.collect(_settings(bankid_peer), order.order_ref).status == "pending"


def test_eid_client_certificate_from_another_ca_is_refused(
    app: Flask, bankid_peer: BankIdPeer, tmp_path: Path
) -> None:
    stranger = TestCa(tmp_path / "other-ca").rp_client("stranger")
    settings = _settings(
        bankid_peer, cert_file=str(stranger.cert_file), key_file=str(stranger.key_file)
    )
    with pytest.raises(bankid.BankIdError) as refused:
        _start_with(settings)
    assert refused.value.message == "Något gick fel. Försök igen."
    assert bankid_peer.requests == []  # refused in the TLS handshake, before any request


def test_eid_client_without_certificate_is_refused(bankid_peer: BankIdPeer) -> None:
    ctx = ssl.create_default_context(cafile=bankid_peer.settings["ca_file"])
    with httpx.Client(verify=ctx, timeout=5) as plain, pytest.raises(httpx.HTTPError):
        plain.post(bankid_peer.url + "collect", json={"orderRef": "x"})
    assert bankid_peer.requests == []


def test_eid_unregistered_rp_certificate_gets_unauthorized(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    # issued by the right CA (the TLS handshake succeeds) but not an RP of this BankID
    unknown = bankid_peer.ca.rp_client("unregistered")
    settings = _settings(
        bankid_peer, cert_file=str(unknown.cert_file), key_file=str(unknown.key_file)
    )
    with pytest.raises(bankid.BankIdError) as refused:
        _start_with(settings)
    assert refused.value.error_code == "unauthorized"


def test_eid_server_not_from_the_configured_ca_is_refused(
    app: Flask, bankid_peer: BankIdPeer, tmp_path: Path
) -> None:
    other = TestCa(tmp_path / "other-ca")
    with pytest.raises(bankid.BankIdError):
        _start_with(_settings(bankid_peer, ca_file=str(other.ca_file)))
    assert bankid_peer.requests == []


def test_eid_settings_must_be_complete_and_https(app: Flask, bankid_peer: BankIdPeer) -> None:
    with pytest.raises(bankid.BankIdError, match="not configured"):
        bankid.client({"BANKID": None})
    with pytest.raises(bankid.BankIdError, match="https"):
        bankid.client(_settings(bankid_peer, url=bankid_peer.url.replace("https", "http")))
    with pytest.raises(bankid.BankIdError, match="ca_file"):
        bankid.client(_settings(bankid_peer, ca_file=""))


def _start_with(settings: dict[str, Any]) -> bankid.Order:
    return bankid.start_sign(
        settings, end_user_ip="203.0.113.7", personal_number=None, visible_text=TEXT
    )


@pytest.mark.parametrize(
    ("hint", "status", "qr", "message"),
    [
        ("noClient", "pending", True, "Starta BankID-appen."),
        ("userMrtd", "pending", True, "Fotografera och läs av din ID-handling med BankID-appen."),
        ("userSign", "pending", False, "Skriv in din säkerhetskod i BankID-appen"),
        ("expiredTransaction", "failed", True, "BankID-appen svarar inte."),
        ("certificateErr", "failed", True, "Ditt BankID är för gammalt eller spärrat."),
        ("userCancel", "failed", True, "Åtgärden avbröts."),
        ("startFailed", "failed", True, "Misslyckades att läsa av QR-koden."),
        ("startFailed", "failed", False, "Du verkar inte ha BankID-appen."),
    ],
)
def test_eid_hint_codes_reach_the_user_as_bankid_recommends(
    app: Flask, bankid_peer: BankIdPeer, hint: str, status: str, qr: bool, message: str
) -> None:
    order = _start(bankid_peer)
    bankid_peer.set_hint(order.order_ref, hint)
    collected = bankid.collect(_settings(bankid_peer), order.order_ref)
    assert (collected.status, collected.hint_code) == (status, hint)
    assert bankid.hint_message(collected.status, collected.hint_code, qr=qr).startswith(message)


def test_eid_unknown_hint_codes_get_the_generic_messages(app: Flask) -> None:
    assert bankid.hint_message("pending", "somethingNew", qr=True) == (
        "En identifiering eller underskrift pågår."
    )
    assert bankid.hint_message("failed", None, qr=True) == "Något gick fel. Försök igen."


def test_eid_hint_codes_progress_through_an_order(app: Flask, bankid_peer: BankIdPeer) -> None:
    settings = _settings(bankid_peer)
    order = _start(bankid_peer)
    seen = [bankid.collect(settings, order.order_ref).hint_code]
    bankid_peer.set_hint(order.order_ref, "noClient")
    seen.append(bankid.collect(settings, order.order_ref).hint_code)
    bankid_peer.open_app(order.auto_start_token)
    seen.append(bankid.collect(settings, order.order_ref).hint_code)
    bankid_peer.set_hint(order.order_ref, "userSign")
    seen.append(bankid.collect(settings, order.order_ref).hint_code)
    bankid_peer.complete(order.order_ref, PNR, NAME)
    seen.append(bankid.collect(settings, order.order_ref).status)
    assert seen == ["outstandingTransaction", "noClient", "started", "userSign", "complete"]


def test_eid_cancel_by_the_service_and_by_the_user(app: Flask, bankid_peer: BankIdPeer) -> None:
    settings = _settings(bankid_peer)
    order = _start(bankid_peer)
    bankid.cancel(settings, order.order_ref)
    cancelled = bankid.collect(settings, order.order_ref)
    assert (cancelled.status, cancelled.hint_code) == ("failed", "cancelled")
    bankid.cancel(settings, order.order_ref)  # already over: not an error
    with pytest.raises(PeerRefused):
        bankid_peer.complete(order.order_ref, PNR, NAME)

    second = _start(bankid_peer)
    bankid_peer.cancel_by_user(bankid.qr_content(second))
    by_user = bankid.collect(settings, second.order_ref)
    assert (by_user.status, by_user.hint_code) == ("failed", "userCancel")
    assert bankid.hint_message(by_user.status, by_user.hint_code, qr=True) == "Åtgärden avbröts."


def test_eid_an_expired_order_fails_and_cannot_be_completed(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    order = _start(bankid_peer)
    bankid_peer.expire(order.order_ref)
    expired = bankid.collect(_settings(bankid_peer), order.order_ref)
    assert (expired.status, expired.hint_code) == ("failed", "expiredTransaction")
    with pytest.raises(PeerRefused):
        bankid_peer.complete(order.order_ref, PNR, NAME)


def test_eid_qr_content_computed_at_t_is_checked_by_the_peer(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    order = _start(bankid_peer)
    now = order.started + 3.7
    content = bankid.qr_content(order.as_dict(), now=now)
    token, seconds, code = content.removeprefix("bankid.").split(".")
    assert (token, seconds) == (order.qr_start_token, "3")
    assert code == hmac.new(order.qr_start_secret.encode(), b"3", hashlib.sha256).hexdigest()
    assert bankid_peer.scan(content, now=now) == order.order_ref

    other = _start(bankid_peer, pnr=None)
    late = bankid.qr_content(other, now=other.started + 60)
    with pytest.raises(PeerRefused, match="60 s into the order"):
        bankid_peer.scan(late, now=other.started)  # a code from a minute later is no good now
    forged = bankid.qr_content({**other.as_dict(), "qr_start_secret": "guess"})
    with pytest.raises(PeerRefused, match="HMAC"):
        bankid_peer.scan(forged)
    with pytest.raises(PeerRefused):
        bankid_peer.scan("bankid.not-a-qr-code")
    assert bankid_peer.order(other.order_ref).hint == "outstandingTransaction"


def test_eid_requests_are_validated_and_errors_become_user_messages(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    settings = _settings(bankid_peer)
    with pytest.raises(bankid.BankIdError) as bad_ip:
        bankid.start_sign(
            settings, end_user_ip="not-an-ip", personal_number=None, visible_text=TEXT
        )
    assert bad_ip.value.error_code == "invalidParameters"
    with pytest.raises(bankid.BankIdError):
        bankid.start_sign(
            settings, end_user_ip="1.2.3.4", personal_number="1990", visible_text=TEXT
        )
    with pytest.raises(bankid.BankIdError):  # refused before it is sent: BankID's size limit
        bankid.start_sign(
            settings, end_user_ip="1.2.3.4", personal_number=None, visible_text="x" * 2000
        )

    first = _start(bankid_peer)
    with pytest.raises(bankid.BankIdError) as busy:
        _start(bankid_peer)
    assert busy.value.error_code == "alreadyInProgress"
    assert busy.value.message.startswith("En identifiering eller underskrift pågår redan")
    assert bankid.collect(settings, first.order_ref).hint_code == "cancelled"

    bankid_peer.fail_next("maintenance")
    with pytest.raises(bankid.BankIdError) as down:
        bankid.collect(settings, first.order_ref)
    assert (down.value.error_code, down.value.message) == (
        "maintenance",
        "Något gick fel. Försök igen.",
    )
    with pytest.raises(bankid.BankIdError) as unknown:
        bankid.collect(settings, "00000000-0000-0000-0000-000000000000")
    assert unknown.value.error_code == "invalidParameters"
    with pytest.raises(bankid.BankIdError, match="malformed"):
        bankid.collect(settings, "../../etc/passwd")


def test_eid_peer_validates_requests_as_documented(bankid_peer: BankIdPeer) -> None:
    ctx = ssl.create_default_context(cafile=bankid_peer.settings["ca_file"])
    ctx.load_cert_chain(bankid_peer.settings["cert_file"], bankid_peer.settings["key_file"])
    b64 = base64.b64encode(b"Hej").decode()
    with httpx.Client(verify=ctx, timeout=5) as rp:
        cases = [
            ("sign", {"userVisibleData": b64}, 400, "invalidParameters"),  # no endUserIp
            ("sign", {"endUserIp": "1.2.3.4"}, 400, "invalidParameters"),  # no visible data
            ("sign", {"endUserIp": "1.2.3.4", "userVisibleData": "%%%"}, 400, "invalidParameters"),
            (
                "sign",
                {"endUserIp": "1.2.3.4", "userVisibleData": "A" * 1504},
                400,
                "invalidParameters",
            ),
            (
                "auth",
                {"endUserIp": "::1", "requirement": {"personalNumber": "12"}},
                400,
                "invalidParameters",
            ),
            ("auth", {"endUserIp": "::1", "returnUrl": 5}, 400, "invalidParameters"),
            ("nope", {"endUserIp": "::1"}, 404, "notFound"),
            ("cancel", {}, 400, "invalidParameters"),
        ]
        for endpoint, body, status, code in cases:
            answer = rp.post(bankid_peer.url + endpoint, json=body)
            assert (answer.status_code, answer.json()["errorCode"]) == (status, code), body
            assert answer.json()["details"]
        ok = rp.post(
            bankid_peer.url + "auth",
            json={"endUserIp": "::1", "returnUrl": "https://formsvc.example/s/x"},
        )
        assert ok.status_code == 200
        assert set(ok.json()) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
        assert rp.get(bankid_peer.url + "collect").status_code == 405
        assert rp.post(bankid_peer.url + "collect", content=b"{}").status_code == 415


def test_eid_visible_text_names_the_frozen_pdf(app: Flask) -> None:
    doc = Document(
        id=42,
        type_slug="consent",
        version=2,
        created_at=datetime(2026, 12, 7, tzinfo=UTC),
        frozen_pdf_sha256=DOC_SHA,
    )
    text = bankid.visible_text(doc)
    title, reference, sha = text.split("\n")
    assert title and reference == "Referens: SIG-2026-000042 v2"
    assert sha == f"SHA-256: {DOC_SHA}"
    assert len(base64.b64encode(text.encode())) <= bankid.MAX_VISIBLE_B64


# -- check_completion on good and tampered proofs ----------------------------------------------


def _xml(proof: dict[str, Any]) -> etree._Element:
    return etree.fromstring(base64.b64decode(proof["signature"]))


def _with_xml(proof: dict[str, Any], root: etree._Element) -> dict[str, Any]:
    return {**proof, "signature": base64.b64encode(etree.tostring(root)).decode()}


def _signed_data(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{DS_NS}}}Object/{{{BANKID_NS}}}bankIdSignedData")
    assert found is not None
    return found


def _visible(element: etree._Element) -> etree._Element:
    found = element.find(f"{{{BANKID_NS}}}usrVisibleData")
    assert found is not None
    return found


def test_eid_check_completion_of_a_good_proof(app: Flask, bankid_peer: BankIdPeer) -> None:
    checks = bankid.check_completion(_completed_proof(bankid_peer), DOC_SHA)
    assert bankid.verified(checks), _failed(checks)
    texts = " ".join(c.text for c in checks)
    assert "kontrolleras inte" in texts  # says plainly that no chain to BankID is checked
    assert "OCSP" in texts


def test_eid_check_completion_another_documents_hash(app: Flask, bankid_peer: BankIdPeer) -> None:
    checks = bankid.check_completion(_completed_proof(bankid_peer), OTHER_SHA)
    assert _failed(checks) == ["Den signerade texten anger inte det här dokumentets SHA-256."]


def test_eid_check_completion_tampered_visible_text(app: Flask, bankid_peer: BankIdPeer) -> None:
    proof = _completed_proof(bankid_peer)
    # the stored text changed, the signature left alone
    stored = bankid.check_completion({**proof, "user_visible_data": TEXT + " (ändrad)"}, DOC_SHA)
    assert _failed(stored) == ["Den sparade texten är inte den som skrevs under."]
    # the signed text changed inside the signature
    root = _xml(proof)
    forged = f"Något annat\nSHA-256: {DOC_SHA}"
    _visible(_signed_data(root)).text = base64.b64encode(forged.encode()).decode()
    inside = bankid.check_completion(
        {**_with_xml(proof, root), "user_visible_data": forged}, DOC_SHA
    )
    assert "XML-signaturen stämmer inte: det signerade innehållet är ändrat." in _failed(inside)
    assert not bankid.verified(inside)


def test_eid_check_completion_altered_signature_bytes(app: Flask, bankid_peer: BankIdPeer) -> None:
    proof = _completed_proof(bankid_peer)
    root = _xml(proof)
    value = root.find(f"{{{DS_NS}}}SignatureValue")
    assert value is not None and value.text
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    checks = bankid.check_completion(_with_xml(proof, root), DOC_SHA)
    assert "XML-signaturen stämmer inte: det signerade innehållet är ändrat." in _failed(checks)


def test_eid_check_completion_refuses_a_wrapped_element(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    proof = _completed_proof(bankid_peer)
    forged_text = f"Jag lovar allt\nSHA-256: {DOC_SHA}"
    # signature wrapping: the signed original moves into a wrapper where the reference still
    # finds it; a forged bankIdSignedData takes its place where a reader looks
    root = _xml(proof)
    original = _signed_data(root)
    forged = etree.fromstring(etree.tostring(original))
    del forged.attrib["Id"]
    _visible(forged).text = base64.b64encode(forged_text.encode()).decode()
    obj = original.getparent()
    obj.replace(original, forged)
    wrapper = etree.SubElement(root, f"{{{DS_NS}}}Object")
    etree.SubElement(wrapper, "Wrapper").append(original)
    checks = bankid.check_completion(
        {**_with_xml(proof, root), "user_visible_data": forged_text}, DOC_SHA
    )
    assert "XML-signaturen stämmer inte: det signerade innehållet är ändrat." in _failed(checks)
    # the same with the forged element keeping the Id (two candidates for the reference)
    root = _xml(proof)
    original = _signed_data(root)
    twin = etree.fromstring(etree.tostring(original))
    _visible(twin).text = base64.b64encode(forged_text.encode()).decode()
    original.getparent().insert(0, twin)
    checks = bankid.check_completion(_with_xml(proof, root), DOC_SHA)
    assert not bankid.verified(checks)


def test_eid_check_completion_ocsp_for_another_certificate(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    proof = _completed_proof(bankid_peer)
    someone = bankid_peer.user_certificate("198002023456", "Bo Berg")
    other = base64.b64encode(bankid_peer.ocsp_for(someone.cert)).decode()
    checks = bankid.check_completion({**proof, "ocsp_response": other}, DOC_SHA)
    assert _failed(checks) == ["OCSP-svaret gäller ett annat certifikat än signeringscertifikatet."]
    me = bankid_peer.user_certificate(PNR, NAME)
    revoked = base64.b64encode(bankid_peer.ocsp_for(me.cert, "revoked")).decode()
    checks = bankid.check_completion({**proof, "ocsp_response": revoked}, DOC_SHA)
    assert _failed(checks) == ["OCSP-svaret säger inte att certifikatet var giltigt."]


def test_eid_check_completion_another_persons_certificate(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    proof = _completed_proof(bankid_peer)
    checks = bankid.check_completion({**proof, "personal_number": "198002023456"}, DOC_SHA)
    assert _failed(checks) == ["Signeringscertifikatet gäller ett annat personnummer."]


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">&lol2;</Signature>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">&xxe;</Signature>'
)


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "not base64 !!!"},
        {"signature": ""},
        {"signature": None},
        {"signature": 12},
        {"signature": base64.b64encode(b"<not xml").decode()},
        {"signature": base64.b64encode(b"<other/>").decode()},
        {"signature": base64.b64encode(BOMB).decode()},
        {"signature": base64.b64encode(XXE).decode()},
        {"signature": "A" * (bankid.MAX_SIGNATURE_B64 + 4)},
        {"signature": base64.b64encode(b"<a>" * 100_000).decode()[: bankid.MAX_SIGNATURE_B64]},
        {"ocsp_response": "garbage"},
        {"ocsp_response": base64.b64encode(b"\x30\x03\x0a\x01\x01").decode()},  # tryLater
        {"ocsp_response": "A" * (bankid.MAX_OCSP_B64 + 4)},
        {"ocsp_response": None},
        {"user_visible_data": None},
        {"completed_at": "2000-01-01T00:00:00+00:00"},  # before the certificate was issued
        {"completed_at": "yesterday"},
        {"personal_number": ["x"]},
    ],
)
def test_eid_check_completion_hostile_input_fails_without_an_exception(
    app: Flask, bankid_peer: BankIdPeer, change: dict[str, Any]
) -> None:
    proof = {**_completed_proof(bankid_peer), **change}
    checks = bankid.check_completion(proof, DOC_SHA)
    assert not bankid.verified(checks)
    assert all(isinstance(c.text, str) and c.text for c in checks)


@pytest.mark.parametrize("proof", [{}, {"kind": "bankid"}, None, "x", []])
def test_eid_check_completion_of_no_proof(app: Flask, proof: Any) -> None:
    checks = bankid.check_completion(proof, DOC_SHA)
    assert checks and not bankid.verified(checks)


class _Exploding(Mapping[str, Any]):
    """A proof whose every read fails (as a corrupted JSON column might)."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        return iter(["signature"])

    def __len__(self) -> int:
        return 1


def test_eid_check_completion_never_lets_an_exception_out(app: Flask) -> None:
    checks = bankid.check_completion(_Exploding(), DOC_SHA)
    assert [c.ok for c in checks] == [False]
    assert checks[0].text == "Beviset från BankID kunde inte kontrolleras."


def test_eid_check_completion_with_a_garbage_document_hash(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    proof = _completed_proof(bankid_peer)
    for sha in ("", "SHA-256", DOC_SHA[:10], "x" * 64):
        assert not bankid.verified(bankid.check_completion(proof, sha))


# -- review of issue 14: what an attacker or a misbehaving server could slip through ----------


def _signature_with_references(
    peer: BankIdPeer, text: str, references: list[str], *, ca_first: bool = False
) -> str:
    """A BankID-shaped signature by the peer's test user with the given reference URIs, made
    with one's own key as anyone can (the chain to BankID is not checked offline); *ca_first*
    puts the CA's certificate before the user's in KeyInfo."""
    from signxml import XMLSigner, methods
    from signxml.algorithms import CanonicalizationMethod

    user = peer.user_certificate(PNR, NAME)
    chain = [peer.ca.cert, user.cert] if ca_first else [user.cert]
    der = "".join(
        "<X509Certificate>"
        + base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        + "</X509Certificate>"
        for c in chain
    )
    visible = base64.b64encode(text.encode()).decode()
    holder = etree.fromstring(
        f'<holder><KeyInfo xmlns="{DS_NS}" Id="bidKeyInfo"><X509Data>{der}'
        f'</X509Data></KeyInfo><Object xmlns="{DS_NS}">'
        f'<bankIdSignedData xmlns="{BANKID_NS}" Id="bidSignedData"><usrVisibleData>{visible}'
        f"</usrVisibleData></bankIdSignedData></Object></holder>"
    )
    signer = XMLSigner(
        method=methods.detached,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer.namespaces = {None: DS_NS}
    signer.signature_annotators = []
    sig = signer.sign(holder, key=user.key, reference_uri=references)
    sig.append(holder[0])
    sig.append(holder[0])
    return base64.b64encode(etree.tostring(sig)).decode()


def test_eid_check_completion_refuses_a_signature_with_many_references(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    # /verify checks proofs from uploaded files: every reference costs a canonicalisation of
    # its target, so a thousand references to a large Object cost tens of seconds of CPU. BankID
    # signs two; more than MAX_REFERENCES is refused before anything is canonicalised.
    good = _completed_proof(bankid_peer)
    usual = _signature_with_references(bankid_peer, TEXT, ["#bidSignedData", "#bidKeyInfo"])
    assert bankid.verified(bankid.check_completion({**good, "signature": usual}, DOC_SHA))
    many = ["#bidSignedData"] + ["#bidKeyInfo"] * bankid.MAX_REFERENCES
    forged = _signature_with_references(bankid_peer, TEXT, many)
    checks = bankid.check_completion({**good, "signature": forged}, DOC_SHA)
    assert "XML-signaturen stämmer inte: det signerade innehållet är ändrat." in _failed(checks)
    assert not bankid.verified(checks)


def test_eid_check_completion_wants_the_hash_line_not_the_hash_anywhere(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    for text in (
        f"Samtycke\nDetta gäller INTE dokumentet {DOC_SHA}",
        f"Samtycke\nSHA-256: {DOC_SHA}0",
        f"Samtycke\nSHA-256: {OTHER_SHA}\nfel: {DOC_SHA}",
    ):
        checks = bankid.check_completion(_completed_proof(bankid_peer, text), DOC_SHA)
        assert _failed(checks) == ["Den signerade texten anger inte det här dokumentets SHA-256."]
        bankid_peer.reset()
    # the line as visible_text writes it, wherever it is and in any letter case
    upper = f"SHA-256: {DOC_SHA.upper()}\nSamtycke"
    assert bankid.verified(bankid.check_completion(_completed_proof(bankid_peer, upper), DOC_SHA))


def test_eid_check_completion_a_certificate_naming_no_personnummer_fails(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    order = _start(bankid_peer)
    bankid_peer.complete(order.order_ref, PNR, NAME, cert_serial=False)
    got = bankid.collect(_settings(bankid_peer), order.order_ref)
    proof = bankid.proof(got, user_visible_data=TEXT)
    checks = bankid.check_completion(proof, DOC_SHA)
    assert _failed(checks) == ["Signeringscertifikatet anger inget personnummer."]
    # nor can the proof then name anybody at all
    other = bankid.check_completion({**proof, "personal_number": "198002023456"}, DOC_SHA)
    assert "Signeringscertifikatet anger inget personnummer." in _failed(other)


def test_eid_a_signature_over_another_text_is_found(app: Flask, bankid_peer: BankIdPeer) -> None:
    # a server that signs another text than the order's userVisibleData: the relying party reads
    # the signed text back (completion_signed_text) and the offline checks say so
    order = _start(bankid_peer)
    other = f"Något annat\nSHA-256: {OTHER_SHA}"
    bankid_peer.complete(order.order_ref, PNR, NAME, signed_text=other)
    got = bankid.collect(_settings(bankid_peer), order.order_ref)
    assert got.completion is not None
    assert bankid.completion_signed_text(got.completion) == other
    checks = bankid.check_completion(bankid.proof(got, user_visible_data=TEXT), DOC_SHA)
    assert _failed(checks) == [
        "Den signerade texten anger inte det här dokumentets SHA-256.",
        "Den sparade texten är inte den som skrevs under.",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"user": "199001011234"},
        {"user": {"personalNumber": "9001011234", "name": NAME}},  # ten digits
        {"user": {"personalNumber": "١٩٩٠٠١٠١١٢٣٤", "name": NAME}},  # other script's digits
        {"user": {"personalNumber": 199001011234, "name": NAME}},
        {"user": {"personalNumber": PNR, "name": None}},
        {"signature": None},
        {"signature": ""},
        {"ocspResponse": 12},
        {"bankIdIssueDate": ["2020-01-01"]},
    ],
)
def test_eid_collect_refuses_completion_data_not_shaped_as_documented(
    app: Flask, bankid_peer: BankIdPeer, change: dict[str, Any]
) -> None:
    # a clear BankIdError (the views' "failed"), never an AttributeError in proof() or a view
    order = _start(bankid_peer)
    completion = bankid_peer.complete(order.order_ref, PNR, NAME)
    completion.update(change)
    with pytest.raises(bankid.BankIdError, match="completionData") as refused:
        bankid.collect(_settings(bankid_peer), order.order_ref)
    assert refused.value.message == "Något gick fel. Försök igen."


def test_eid_personal_number_must_be_ascii_digits(app: Flask, bankid_peer: BankIdPeer) -> None:
    with pytest.raises(bankid.BankIdError) as refused:
        bankid.start_sign(
            _settings(bankid_peer),
            end_user_ip="203.0.113.7",
            personal_number="١٩٩٠٠١٠١١٢٣٤",
            visible_text=TEXT,
        )
    assert refused.value.message == "Personnumret ska ha tolv siffror."
    assert bankid_peer.requests == []  # never sent


def test_eid_check_completion_finds_the_signers_certificate_in_any_order(
    app: Flask, bankid_peer: BankIdPeer
) -> None:
    # BankID sends the user's certificate with its CA chain; the signer's is the one that issued
    # none of the others, not necessarily the first
    good = _completed_proof(bankid_peer)
    refs = ["#bidSignedData", "#bidKeyInfo"]
    reordered = _signature_with_references(bankid_peer, TEXT, refs, ca_first=True)
    checks = bankid.check_completion({**good, "signature": reordered}, DOC_SHA)
    assert bankid.verified(checks), _failed(checks)
