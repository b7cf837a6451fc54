"""Signer e-ID (issue 14, ADR 018): who may use it, the person check, the proof in the evidence.

The broker flow itself (a real OpenID Provider) is in tests/views/test_eid_link.py; here the
proof is made as the broker flow makes it (an RS256 JWS from a key of this test), signed into
a consent through the same services the views call, sealed, and read back by /verify's code.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import eid, signing, verification
from formsvc.services.evidence import Evidence, EvidenceSigner, evidence_pdf
from formsvc.services.final_pdf import embedded_record
from formsvc.services.sealing import Verification, trusted_certificates
from tests import factories
from tests.conftest import World
from tests.helpers import pdf_text
from tests.idp.bankid import (  # noqa: F401 - the fixtures
    BankIdPeer,
    bankid_peer_fixture,
    bankid_peer_session_fixture,
)

MARIA = "198001011231"  # guardian 1 of the consent's sample
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
ISSUER = "https://broker.example.se"


def proof_for(number: str, *, minutes_ago: int = 1, issuer: str = ISSUER) -> dict[str, Any]:
    """An oidc proof as services/eid.finish makes it, around a real RS256 ID token."""
    key = RSAKey.generate_key(2048)
    at = int(time.time()) - minutes_ago * 60
    token = jwt.encode(
        {"alg": "RS256", "kid": "k1"},
        {
            "iss": issuer,
            "sub": "sub-" + number[-4:],
            "aud": "formsvc",
            "iat": at,
            "exp": at + 300,
            "auth_time": at,
            "acr": LOA3,
            eid.PERSONAL_NUMBER_CLAIM: number,
        },
        key,
    )
    return {
        "kind": "oidc",
        "provider": "broker",
        "label": "e-legitimation (BankID, Freja eID+)",
        "issuer": issuer,
        "subject": "sub-" + number[-4:],
        "personal_number": number,
        "loa": LOA3,
        "auth_time": datetime.fromtimestamp(at, UTC).isoformat(),
        "id_token": token,
    }


@pytest.fixture
def sent(app: Flask, world: World) -> list[SignatureRequest]:
    """The sample consent (a 16-year-old, joint custody), sent: participant, guardian 1 and 2."""
    doc = factories.consent(app, world.participant, world.users["caseworker"], status="draft")
    dtype = runtime(app).registry["consent"]

    return signing.send(
        doc,
        dtype,
        actor=world.users["caseworker"],
        store=runtime(app).store,
        converter=runtime(app).converter,
    )


def by_slot(reqs: list[SignatureRequest], slot: str) -> SignatureRequest:
    return next(r for r in reqs if r.slot == slot)


# --------------------------------------------------------------------------- who may use e-ID


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19800101-1231", MARIA),
        (MARIA, MARIA),
        (" 19800101-1231 ", MARIA),
        ("19800101-****", None),  # a protected identity's printed number: not comparable
        ("800101-1231", None),  # no century: never guessed
        ("19800101--1231", None),
        ("1980010112310", None),
        ("", None),
        (None, None),
        (198001011231, None),
        ("1" * 5000, None),
        ("１９８００１０１１２３１", None),  # full-width digits are not digits here
        ("19８００１０１１２３１", None),  # review E4: not after an ASCII century either
        ("1980\u06601\u066011231", None),  # Arabic-Indic zeros
        ("19800101123-4", None),  # review E4: the hyphen only before the last four
        ("-198001011231", None),
        ("198001011231-", None),
    ],
)
def test_eid_numbers_are_compared_as_twelve_digits_or_not_at_all(value: Any, expected: Any) -> None:
    assert eid.normalise(value) == expected


def test_eid_is_offered_to_a_guardian_with_a_known_number_only(
    app: Flask, sent: list[SignatureRequest]
) -> None:
    maria, johan = by_slot(sent, "guardian1"), by_slot(sent, "guardian2")
    participant = by_slot(sent, "participant")
    assert eid.why_not(maria) is None
    assert "personnummer finns inte" in (eid.why_not(johan) or "")
    assert "personnummer finns inte" in (eid.why_not(participant) or "")  # a birth date only
    assert eid.may_use_eid(maria, method="in_person")
    assert not eid.may_use_eid(maria, method="link")  # the caseworker did not choose it
    maria.require_eid = True
    assert eid.may_use_eid(maria, method="link")
    assert not eid.may_use_eid(johan, method="in_person")


def test_eid_is_not_offered_to_a_participant_under_18_but_to_one_of_18(
    app: Flask, world: World
) -> None:
    today = signing.today_local()
    young = today.replace(year=today.year - 17)
    adult = today.replace(year=today.year - 18)
    rows = []
    for born, tail in ((young, "1238"), (adult, "2394")):
        number = f"{born:%Y%m%d}-{tail}"
        req = SignatureRequest(kind="external", role="Deltagare", expected_id=number)
        rows.append(req)
    assert "under 18" in (eid.why_not(rows[0], today) or "")
    assert eid.why_not(rows[1], today) is None
    # a samordningsnummer's day has 60 added: the birth date is still read
    coordinated = SignatureRequest(
        kind="external", role="Deltagare", expected_id=f"{young:%Y%m}{young.day + 60:02d}-1230"
    )
    assert "under 18" in (eid.why_not(coordinated, today) or "")
    staff = SignatureRequest(kind="staff", role="Chef", expected_id=None)
    assert eid.why_not(staff, today)


def test_the_link_choice_honours_eid_required_and_says_why_it_cannot(
    app: Flask, sent: list[SignatureRequest]
) -> None:
    maria, johan = by_slot(sent, "guardian1"), by_slot(sent, "guardian2")
    off: dict[str, Any] = {"EID_PROVIDERS": {}, "BANKID": None, "EID_REQUIRED": {}}
    on = {**off, "EID_PROVIDERS": {"broker": {"label": "Broker"}}}
    forced = {**on, "EID_REQUIRED": {"consent": ["link"]}}
    assert eid.link_choice(maria, "code", on) is False
    assert eid.link_choice(maria, "", on) is False
    assert eid.link_choice(maria, "eid", on) is True
    assert eid.link_choice(maria, "code", forced) is True  # EID_REQUIRED wins over the choice
    with pytest.raises(signing.SigningError, match="inte inställd"):
        eid.link_choice(maria, "eid", off)
    with pytest.raises(signing.SigningError, match="personnummer finns inte"):
        eid.link_choice(johan, "eid", on)
    with pytest.raises(signing.SigningError, match="kräver e-legitimation.*på plats"):
        eid.link_choice(johan, "code", forced)
    for hostile in ("EID", "eid\x00", "<script>", "x" * 10):
        with pytest.raises(signing.SigningError, match="Välj hur"):
            eid.link_choice(maria, hostile, on)
    assert eid.required(forced, "consent", "link") and not eid.required(forced, "consent", "x")
    assert eid.providers({"EID_PROVIDERS": {"bad name/..": {}, "ok": {"label": "x"}}}) == {
        "ok": {"label": "x"}
    }


def test_another_persons_eid_is_refused_and_audited_without_their_number(
    app: Flask, sent: list[SignatureRequest]
) -> None:
    maria = by_slot(sent, "guardian1")
    eid.check_person(maria, MARIA, provider="broker")  # the right person passes
    eid.check_person(maria, "19800101-1231", provider="broker")
    for other in ("197501011234", "", "19800101****"):
        with pytest.raises(signing.SigningError) as refused:
            eid.check_person(maria, other, provider="broker")
        assert "Maria Öberg" in refused.value.message and "Ingenting har sparats" in str(
            refused.value.message
        )
    events = list(
        signing_events(maria.document_id, "eid_mismatch")
    )  # committed: they stay whatever the caller rolls back
    assert len(events) == 3
    assert [e.details["reason"] for e in events] == ["other_person", "no_number", "no_number"]
    assert all("1975" not in json.dumps(e.details) for e in events)
    assert maria.eid is None


def signing_events(doc_id: int, action: str) -> list[AuditEvent]:
    from formsvc.extensions import db

    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_id == str(doc_id), AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def test_an_identification_older_than_30_minutes_is_stale() -> None:
    assert eid.fresh(proof_for(MARIA, minutes_ago=1))
    assert not eid.fresh(proof_for(MARIA, minutes_ago=31))
    assert not eid.fresh({**proof_for(MARIA), "auth_time": "not a time"})
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert not eid.fresh({**proof_for(MARIA), "auth_time": future})
    assert not eid.fresh({"kind": "bankid"}) and not eid.fresh(None)


def test_each_proof_kind_reads_as_one_line(app: Flask) -> None:
    with app.test_request_context():
        oidc = eid.summary(proof_for(MARIA))
        assert oidc.startswith(f"e-legitimation: {ISSUER}, tillitsnivå loa3, ")
        assert oidc.endswith(", ID-token inbäddad")
        bankid = eid.summary(
            {"kind": "bankid", "name": "Maria Öberg", "completed_at": "2026-12-07T20:30:00+00:00"}
        )
        assert bankid == "BankID: Maria Öberg, 2026-12-07 21:30, signatur och OCSP-svar inbäddade"
        sso = eid.summary(
            {
                "kind": "sso",
                "label": "Stockholms stad",
                "protocol": "saml",
                "username": "kalle",
                "loa": "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
                "auth_time": "2026-12-07T20:30:00Z",
            }
        )
        assert sso.startswith("inloggning via Stockholms stad (SAML) som kalle, tillitsnivå ")
        assert eid.summary({"kind": "<b>"}) == "okänt slag av bevis"
        assert eid.summary(None) == ""
        assert eid.verification_text(proof_for(MARIA)).startswith(
            f"E-legitimation via e-legitimation (BankID, Freja eID+) ({ISSUER}), tillitsnivå loa3, "
        )


def test_another_signers_copy_embeds_the_facts_and_digest_not_the_token() -> None:
    proof = proof_for(MARIA)
    assert eid.embedded(proof) == proof
    short = eid.embedded(proof, full=False)
    assert short is not None and "id_token" not in short and "personal_number" not in short
    assert short["id_token_sha256"] == eid.token_digest(proof) and short["omitted"] is True
    assert eid.embedded({"kind": "other"}) is None and eid.embedded(None) is None


def test_the_evidence_page_prints_the_eid_line(app: Flask) -> None:
    at = datetime(2026, 12, 7, 20, 30, tzinfo=UTC)
    signer = EvidenceSigner(
        role="Vårdnadshavare 1",
        name="Maria Öberg",
        method="Personlig länk",
        outcome="signed",
        signed_at=at,
        verification="E-legitimation via broker",
        ip=None,
        user_agent=None,
        witness=None,
        statements=(),
        has_image=False,
        scan_sha256=None,
        eid={**proof_for(MARIA), "auth_time": at.isoformat()},
    )
    ev = Evidence(
        organisation="Stockholms stad",
        title="Medgivande",
        reference="SIG-1",
        document_sha256="0" * 64,
        template="consent v1",
        sent_at=at,
        sent_by="Test",
        finalised_at=at,
        signers=(signer,),
        events=(),
    )
    with app.test_request_context():
        text = " ".join(pdf_text(evidence_pdf(ev)).split())
    assert (
        f"e-legitimation: {ISSUER}, tillitsnivå loa3, 2026-12-07 21:30, ID-token inbäddad" in text
    )


@pytest.mark.converter
def test_a_sealed_consent_embeds_the_eid_proof_and_verify_shows_and_checks_it(
    app: Flask, world: World, sent: list[SignatureRequest]
) -> None:
    maria = by_slot(sent, "guardian1")
    doc: Document = maria.document
    dtype = runtime(app).registry["consent"]
    proof = proof_for(MARIA)
    store = runtime(app).store
    # Maria's personal link is open (as issue_link leaves it); she signs through it with e-ID
    maria.token_expires_at, maria.require_eid = utcnow() + timedelta(days=1), True
    for req in sent:
        given = signing.Given(
            name=req.expected_name, statements=signing.statements_for(req, dtype), ip="127.0.0.1"
        )
        with_eid = req.id == maria.id
        signing.sign(
            req,
            dtype,
            given,
            method="link" if with_eid else "in_person",
            actor=None if with_eid else world.users["caseworker"],
            settings=app.config,
            store=store,
            verification=eid.verification_text(proof) if with_eid else None,
            eid=proof if with_eid else None,
        )
    factories_finalise(app, doc)
    pdf = store.get(doc.sealed_pdf_sha256)
    record = json.loads(embedded_record(pdf) or b"{}")
    (signer,) = [s for s in record["signers"] if s["slot"] == "guardian1"]
    assert signer["proofs"] == [proof]  # the raw ID token among it
    assert signer["identity_check"].startswith("E-legitimation via ")
    assert all(s["proofs"] == [] for s in record["signers"] if s["slot"] != "guardian1")
    assert "ID-token inbäddad" in " ".join(pdf_text(pdf).split())

    result = check(app, pdf)
    assert result.ok, [f.text for f in result.findings if not f.ok]
    found = " ".join(f.text for f in result.findings)
    assert (
        "E-legitimationen i beviset är den vi sparade vid underskriften (1 undertecknare)" in found
    )
    (shown,) = result.eid_proofs()
    assert shown.name == "Maria Öberg" and shown.kind == "oidc"
    assert all(c.ok for c in shown.checks), [c.text for c in shown.checks]
    assert "Personnumret i ID-token är den utsedda undertecknarens." in [
        c.text for c in shown.checks
    ]

    # the other guardian's... here the participant's own copy: facts and digest, no token
    participant = by_slot(sent, "participant")
    sha = signing.signer_copy(
        participant, dtype, store=store, converter=converter(app), sealer=sealer(app),
        settings=app.config,
    )  # fmt: skip
    copy = store.get(sha)
    copied = json.loads(embedded_record(copy) or b"{}")
    (theirs,) = [s for s in copied["signers"] if s["slot"] == "guardian1"]
    assert theirs["proofs"][0]["omitted"] is True and "id_token" not in theirs["proofs"][0]
    assert proof["id_token"] not in copy.decode("latin-1")
    result = check(app, copy)
    assert result.ok, [f.text for f in result.findings if not f.ok]


def test_verify_reports_a_proof_that_differs_from_the_one_kept(
    app: Flask, world: World, sent: list[SignatureRequest]
) -> None:
    """A record whose proof names someone else is caught, both against the file's own token
    and against the database (the record itself is read as /verify reads it)."""
    maria = by_slot(sent, "guardian1")
    maria.eid = proof_for(MARIA)
    from formsvc.extensions import db

    db.session.commit()
    other = proof_for("197501011234")
    reading = verification.Reading(
        format="final",
        record={
            "frozen_pdf": {"sha256": "0" * 64},
            "signers": [
                {
                    "request": maria.id,
                    "role": maria.role,
                    "signed_name": "Maria Öberg",
                    "designated": {"name": "Maria Öberg", "id_number": maria.expected_id},
                    "proofs": [other],
                },
                {"request": maria.id, "proofs": [{"kind": "oidc", "id_token": "not.a.jws!"}]},
                {"proofs": "not a list"},
            ],
        },
    )
    ours = Verification(is_pdf=True, sealed=True, intact=True, trusted=True, whole_file=True)
    result = verification.Result(seal=ours, reading=reading)
    shown = result.eid_proofs()
    texts = [c.text for p in shown for c in p.checks if not c.ok]
    assert "Personnumret i ID-token är inte den utsedda undertecknarens." in texts
    assert "ID-token i beviset går inte att läsa." in texts
    # review E1: without our intact seal nothing in the proofs is vouched for
    for seal in (None, Verification(is_pdf=True, sealed=True, intact=True)):
        unsealed = verification.Result(seal=seal, reading=reading)  # type: ignore[arg-type]
        for p in unsealed.eid_proofs():
            assert [(c.ok, c.text[:39]) for c in p.checks] == [
                (False, "E-legitimationen i filen kan inte bedöm")
            ]
    rows = {maria.id: maria}
    findings = verification._proof_findings(reading.record or {}, rows)
    assert [f.ok for f in findings] == [False]
    assert "inte den vi sparade" in findings[0].text


def test_eid_proof_reading_never_raises_on_hostile_tokens() -> None:
    for token in (None, "", "a.b", "a.b.c", "x" * 100000, "e30.bm90anNvbg.x", "e30.W10.x", 7):
        assert verification._jws_claims(token) is None or isinstance(
            verification._jws_claims(token), dict
        )
    assert verification._jws_claims("e30.e30.x") == {}


# --------------------------------------------------------------------------- helpers


def converter(app: Flask) -> Any:

    return runtime(app).converter


def sealer(app: Flask) -> Any:
    from formsvc.services.sealing import get_sealer

    return get_sealer(app)


def factories_finalise(app: Flask, doc: Document) -> None:
    dtype = runtime(app).registry[doc.type_slug]
    assert signing.finalise_if_complete(
        doc,
        dtype,
        store=runtime(app).store,
        converter=converter(app),
        sealer=sealer(app),
        settings=app.config,
    )


def check(app: Flask, pdf: bytes) -> verification.Result:
    return verification.verify_upload(
        pdf, trusted_certificates(app), runner=runtime(app).untrusted, settings=app.config
    )


def test_verify_shows_a_bankid_proof_and_reports_what_its_checks_found(app: Flask) -> None:
    """A BankID proof is checked by bankid.check_completion (offline); a damaged one is a
    failed check on the page, never an error."""
    signer = {"role": "Vårdnadshavare 1", "signed_name": "Maria Öberg"}
    proof = {
        "kind": "bankid",
        "order_ref": "0" * 36,
        "personal_number": MARIA,
        "name": "Maria Öberg",
        "user_visible_data": "Medgivande\nSHA-256: " + "0" * 64,
        "signature": "PD94bWwgdmVyc2lvbj0iMS4wIj8+PGJyb2tlbi8+",
        "ocsp_response": "bm90IG9jc3A=",
        "completed_at": "2026-12-07T20:30:00+00:00",
    }
    with app.test_request_context():
        shown = verification._eid_proof(signer, proof, "19800101-1231", "0" * 64)
    assert shown.kind == "bankid" and shown.name == "Maria Öberg"
    assert shown.line.startswith("BankID: Maria Öberg, 2026-12-07 21:30")
    assert shown.checks and not all(c.ok for c in shown.checks)


@pytest.mark.converter
def test_a_sealed_consent_with_a_bankid_proof_verifies_its_checks_on_verify(
    app: Flask, world: World, sent: list[SignatureRequest], bankid_peer: BankIdPeer
) -> None:
    """A real BankID completion (the protocol test peer's XML signature and OCSP response) over
    the frozen PDF's hash, signed into the consent and sealed: /verify's checks all pass."""
    from formsvc.services import bankid

    maria = by_slot(sent, "guardian1")
    doc: Document = maria.document
    dtype = runtime(app).registry["consent"]
    settings = {"BANKID": bankid_peer.settings}
    text = bankid.visible_text(doc)
    order = bankid.start_sign(
        settings, end_user_ip="127.0.0.1", personal_number=MARIA, visible_text=text
    )
    bankid_peer.complete(bankid.qr_content(order), MARIA, "Maria Öberg")
    proof = bankid.proof(bankid.collect(settings, order.order_ref), user_visible_data=text)
    store = runtime(app).store
    for req in sent:
        given = signing.Given(
            name=req.expected_name, statements=signing.statements_for(req, dtype), ip="127.0.0.1"
        )
        signing.sign(
            req, dtype, given, method="in_person", actor=world.users["caseworker"],
            settings=app.config, store=store, eid=proof if req.id == maria.id else None,
        )  # fmt: skip
    factories_finalise(app, doc)
    pdf = store.get(doc.sealed_pdf_sha256)
    assert "signatur och OCSP-svar inbäddade" in " ".join(pdf_text(pdf).split())
    result = check(app, pdf)
    assert result.ok, [f.text for f in result.findings if not f.ok]
    (shown,) = result.eid_proofs()
    assert shown.kind == "bankid" and shown.line.startswith("BankID: Maria Öberg, ")
    assert shown.checks and all(c.ok for c in shown.checks), [c.text for c in shown.checks]


def test_verify_reads_the_personal_number_from_the_claim_the_proof_names(app: Flask) -> None:
    """review E3: a broker whose entry names another claim (personal_number_claim): the proof
    records the claim, and /verify compares that one, not the framework's default."""
    key = RSAKey.generate_key(2048)
    claim = "urn:example:pnr"
    at = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "kid": "k1"},
        {"iss": ISSUER, "sub": "s1", "aud": "formsvc", "iat": at, "acr": LOA3, claim: MARIA},
        key,
    )
    proof = {**proof_for(MARIA), "subject": "s1", "id_token": token}
    proof["personal_number_claim"] = claim
    with app.test_request_context():
        checks = verification._oidc_checks(proof, "19800101-1231")
    assert all(c.ok for c in checks), [c.text for c in checks]
    assert "Personnumret i ID-token är den utsedda undertecknarens." in [c.text for c in checks]
    # a proof made before the claim was recorded reads the framework's claim, as before
    del proof["personal_number_claim"]
    with app.test_request_context():
        assert not all(c.ok for c in verification._oidc_checks(proof, "19800101-1231"))
