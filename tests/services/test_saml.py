"""The SAML service provider against a real IdP (SimpleSAMLphp), and hostile responses refused."""

from __future__ import annotations

import base64
import copy
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from lxml import etree
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import SsoSeen
from formsvc.services import saml, sso
from tests.idp.saml import (  # noqa: F401 - saml_idp_fixture: the fixture saml_idp
    NS,
    SamlIdp,
    response_tree,
    saml_idp_fixture,
    self_signed,
    sign_assertion,
    to_response,
)

NAME = "siths"
BASE = "http://localhost"


@pytest.fixture
def idp(saml_idp: SamlIdp) -> SamlIdp:
    saml_idp.register_sp(BASE, NAME)
    saml_idp.add_user(
        "anna",
        name="Anna Andersson",
        mail="anna.andersson@example.se",
        groups=["farsta-chefer", "alla-anstallda"],
    )
    saml_idp.add_user("eve", name="Eve Evil", mail="eve@example.se", groups=["admins"])
    return saml_idp


@pytest.fixture
def conf(idp: SamlIdp) -> dict[str, Any]:
    return idp.provider()


@pytest.fixture
def settings(app: Flask, conf: dict[str, Any]) -> dict[str, Any]:
    return {**app.config, "SSO_PROVIDERS": {NAME: conf}}


def _login(
    idp: SamlIdp,
    conf: dict[str, Any],
    settings: dict[str, Any],
    username: str = "anna",
    **kw: Any,
) -> tuple[str, str]:
    """(request id, SAMLResponse) of a real login at the IdP."""
    url, request_id = saml.begin(NAME, conf, settings, force_authn=False, relay_state="r1")
    _acs, response, _relay = idp.login(url, username, **kw)
    return request_id, response


def _authn_request(url: str) -> str:
    """The AuthnRequest XML in a Redirect-binding URL (deflated, base64)."""
    encoded = parse_qs(urlsplit(url).query)["SAMLRequest"][0]
    return zlib.decompress(base64.b64decode(encoded), -15).decode()


def _refused(conf: dict[str, Any], settings: dict[str, Any], response: str, rid: str) -> str:
    """The refusal's reason for *response*; anything but sso.SsoRefused fails the test."""
    with pytest.raises(sso.SsoRefused) as caught:
        saml.finish(NAME, conf, settings, saml_response=response, outstanding={rid: NAME})
    assert caught.value.message  # what the user is told (Swedish)
    return caught.value.reason


def _changed(
    idp: SamlIdp, response: str, change: Callable[[Any], None], *, resign: bool = True
) -> str:
    """*response* with its assertion changed by *change*, signed again with the IdP's own key."""
    root = response_tree(response)
    assertion = root.find("saml:Assertion", NS)
    change(assertion)
    if resign:
        sign_assertion(assertion, idp.key_path, idp.cert_path)
    return to_response(root)


def test_saml_login_gives_the_identity_with_its_attributes(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    url, rid = saml.begin(NAME, conf, settings, force_authn=False, relay_state="back-here")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(idp.sso_url)
    # the AuthnRequest is signed (Redirect binding) and the IdP checks it: validate.authnrequest
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"] and query["RelayState"] == ["back-here"]
    acs, response, relay = idp.login(url, "anna")
    assert (acs, relay) == (f"{BASE}/saml/{NAME}/acs", "back-here")
    identity = saml.finish(NAME, conf, settings, saml_response=response, outstanding={rid: NAME})
    assert identity.provider == NAME and identity.protocol == "saml"
    assert identity.issuer == idp.entity_id
    assert (identity.subject, identity.username) == ("anna", "anna")
    assert identity.full_name == "Anna Andersson"
    assert identity.email == "anna.andersson@example.se"
    assert identity.attributes["groups"] == ("farsta-chefer", "alla-anstallda")
    assert identity.acr == "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
    now = datetime.now(UTC)
    assert identity.auth_time is not None
    assert now - timedelta(minutes=10) < identity.auth_time <= now + timedelta(seconds=61)
    assert identity.logout_hint["name_id"] and identity.logout_hint["session_index"]
    assert db.session.scalar(select(func.count()).select_from(SsoSeen)) == 1


def test_saml_force_authn_makes_the_idp_ask_for_the_password_again(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    browser = requests.Session()
    _login(idp, conf, settings, session=browser)
    # signed in at the IdP already: without ForceAuthn no form is shown, the password unused
    url, _rid = saml.begin(NAME, conf, settings, force_authn=False, relay_state="")
    assert 'ForceAuthn="true"' not in _authn_request(url)
    idp.login(url, "anna", "not-the-password", session=browser)
    url, rid = saml.begin(NAME, conf, settings, force_authn=True, relay_state="")
    assert 'ForceAuthn="true"' in _authn_request(url)
    with pytest.raises(PermissionError):
        idp.login(url, "anna", "not-the-password", session=browser)
    url, rid = saml.begin(NAME, conf, settings, force_authn=True, relay_state="")
    _acs, response, _relay = idp.login(url, "anna", session=browser)
    identity = saml.finish(NAME, conf, settings, saml_response=response, outstanding={rid: NAME})
    assert identity.subject == "anna"


def test_saml_resigned_unchanged_response_is_accepted(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    # the control for the hostile tests below: signing again with the IdP's key is not what
    # makes them fail, the change they make is
    rid, response = _login(idp, conf, settings)
    resigned = _changed(idp, response, lambda a: None)
    identity = saml.finish(NAME, conf, settings, saml_response=resigned, outstanding={rid: NAME})
    assert identity.subject == "anna"


def test_saml_unsigned_assertion_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)

    def strip(assertion: Any) -> None:
        for sig in assertion.findall("ds:Signature", NS):
            assertion.remove(sig)

    reason = _refused(conf, settings, _changed(idp, response, strip, resign=False), rid)
    assert "Signature missing" in reason
    assert db.session.scalar(select(func.count()).select_from(SsoSeen)) == 0


def test_saml_assertion_signed_by_another_key_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any], tmp_path: Any
) -> None:
    rid, response = _login(idp, conf, settings)
    key, cert = self_signed(tmp_path, "forger", "formsvc test IdP")  # same name, other key
    root = response_tree(response)
    sign_assertion(root.find("saml:Assertion", NS), key, cert)
    assert "Signature" in _refused(conf, settings, to_response(root), rid)


def test_saml_replayed_response_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)
    saml.finish(NAME, conf, settings, saml_response=response, outstanding={rid: NAME})
    # the same request still outstanding (another browser tab, another instance): SsoSeen says no
    assert "replayed" in _refused(conf, settings, response, rid)


def test_saml_response_to_a_request_not_outstanding_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)
    other_rid, _ = saml.begin(NAME, conf, settings, force_authn=False, relay_state="")[::-1]
    for outstanding in ({}, {other_rid: NAME}):
        with pytest.raises(sso.SsoRefused):
            saml.finish(NAME, conf, settings, saml_response=response, outstanding=outstanding)
    # unchanged, the response is good for the request it answers
    saml.finish(NAME, conf, settings, saml_response=response, outstanding={rid: NAME})


def test_saml_wrong_audience_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)

    def elsewhere(assertion: Any) -> None:
        for audience in assertion.iterfind(".//saml:Audience", NS):
            audience.text = "https://another-sp.example.se/metadata"

    assert "Audience" in _refused(conf, settings, _changed(idp, response, elsewhere), rid)


def test_saml_response_meant_for_another_sp_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    # a real, correctly signed response for another SP of the same IdP, brought to ours
    idp.register_sp(BASE, "other")
    other_settings = {**settings, "SSO_PROVIDERS": {"other": conf}}
    url, rid = saml.begin("other", conf, other_settings, force_authn=False, relay_state="")
    _acs, response, _relay = idp.login(url, "anna")
    assert _refused(conf, settings, response, rid)


def test_saml_wrong_issuer_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)
    root = response_tree(response)
    for issuer in root.iterfind(".//saml:Issuer", NS):
        issuer.text = "https://idp.evil.example/metadata"
    sign_assertion(root.find("saml:Assertion", NS), idp.key_path, idp.cert_path)
    assert _refused(conf, settings, to_response(root), rid)


def test_saml_expired_assertion_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)
    past = datetime.now(UTC) - timedelta(hours=2)

    def expire(assertion: Any) -> None:
        for el in assertion.iter():
            if el.get("NotOnOrAfter"):
                el.set("NotOnOrAfter", past.strftime("%Y-%m-%dT%H:%M:%SZ"))
            if el.get("NotBefore"):
                el.set("NotBefore", (past - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))

    assert _refused(conf, settings, _changed(idp, response, expire), rid)


def _evil_copy(assertion: Any) -> Any:
    """An unsigned assertion saying the user is eve."""
    evil = copy.deepcopy(assertion)
    for sig in evil.findall("ds:Signature", NS):
        evil.remove(sig)
    evil.set("ID", "_evil" + assertion.get("ID"))
    evil.find(".//saml:NameID", NS).text = "eve"
    for value in evil.iterfind(".//saml:AttributeValue", NS):
        value.text = {"anna": "eve", "Anna Andersson": "Eve Evil"}.get(value.text, value.text)
    return evil


def _xsw_before(root: Any) -> None:
    signed = root.find("saml:Assertion", NS)
    signed.addprevious(_evil_copy(signed))


def _xsw_after(root: Any) -> None:
    signed = root.find("saml:Assertion", NS)
    signed.addnext(_evil_copy(signed))


def _xsw_wrapped_in_evil(root: Any) -> None:
    # the signed assertion hidden inside the evil one (its Advice), the evil one read
    signed = root.find("saml:Assertion", NS)
    evil = _evil_copy(signed)
    advice = etree.SubElement(evil, f"{{{NS['saml']}}}Advice")
    advice.append(copy.deepcopy(signed))
    root.replace(signed, evil)


def _xsw_signed_in_extensions(root: Any) -> None:
    # the signed assertion moved to Extensions, an evil one with the same ID where it was
    signed = root.find("saml:Assertion", NS)
    evil = _evil_copy(signed)
    evil.set("ID", signed.get("ID"))
    ext = etree.Element(f"{{{NS['samlp']}}}Extensions")
    root.find("saml:Issuer", NS).addnext(ext)
    ext.append(copy.deepcopy(signed))
    root.replace(signed, evil)


def _xsw_evil_with_the_signature(root: Any) -> None:
    # the evil assertion carries the good assertion's signature, whose Object holds the original
    signed = root.find("saml:Assertion", NS)
    evil = _evil_copy(signed)
    sig = copy.deepcopy(signed.find("ds:Signature", NS))
    obj = etree.SubElement(sig, f"{{{NS['ds']}}}Object")
    obj.append(copy.deepcopy(signed))
    evil.find("saml:Issuer", NS).addnext(sig)
    evil.set("ID", signed.get("ID"))
    root.replace(signed, evil)


@pytest.mark.parametrize(
    "wrap",
    [
        _xsw_before,
        _xsw_after,
        _xsw_wrapped_in_evil,
        _xsw_signed_in_extensions,
        _xsw_evil_with_the_signature,
    ],
)
def test_saml_signature_wrapping_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any], wrap: Callable[[Any], None]
) -> None:
    rid, response = _login(idp, conf, settings)
    root = response_tree(response)
    wrap(root)
    _refused(conf, settings, to_response(root), rid)
    assert db.session.scalar(select(func.count()).select_from(SsoSeen)) == 0


def test_saml_attribute_tampered_after_signing_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)

    def promote(assertion: Any) -> None:
        for value in assertion.iterfind(".//saml:AttributeValue", NS):
            if value.text == "alla-anstallda":
                value.text = "admins"

    tampered = _changed(idp, response, promote, resign=False)
    assert b"admins" in base64.b64decode(tampered)
    assert _refused(conf, settings, tampered, rid)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;</samlp:Response>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "not base64 at all!!",
        "QUJD=broken",
        "A" * (2 * 1024 * 1024),
        _b64(b"hello, no XML here"),
        _b64(b"\x00\xff\xfe binary"),
        _b64(b'{"SAMLResponse": "json"}'),
        _b64(b"<html><body>an error page</body></html>"),
        _b64(b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>"),
        _b64(b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'><unclosed>"),
        _b64(BILLION_LAUGHS),
        _b64(XXE),
        _b64(XXE.replace(b"<!DOCTYPE", b"<!doctype")),
    ],
    ids=lambda g: g[:20] or "empty",
)
def test_saml_garbage_is_refused_clearly(
    conf: dict[str, Any], settings: dict[str, Any], garbage: str
) -> None:
    with pytest.raises(sso.SsoRefused) as caught:
        saml.finish(NAME, conf, settings, saml_response=garbage, outstanding={"id-1": NAME})
    assert caught.value.message and caught.value.reason


def test_saml_garbage_inside_a_real_response_is_refused(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)
    xml = base64.b64decode(response)
    doctype = b'<!DOCTYPE r [<!ENTITY x "anna">]>'
    assert _refused(conf, settings, _b64(doctype + xml), rid)
    encrypted = xml.replace(b"saml:Assertion", b"saml:EncryptedAssertion")
    assert _refused(conf, settings, _b64(encrypted), rid)


def test_saml_sp_metadata_names_our_endpoints_and_key(
    conf: dict[str, Any], settings: dict[str, Any], idp: SamlIdp
) -> None:
    xml = saml.metadata(NAME, conf, settings)
    root = etree.fromstring(xml)
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    assert root.get("entityID") == f"{BASE}/saml/{NAME}/metadata"
    sp = root.find(f"{{{md}}}SPSSODescriptor")
    assert sp.get("AuthnRequestsSigned") == "true" and sp.get("WantAssertionsSigned") == "true"
    acs = sp.find(f"{{{md}}}AssertionConsumerService")
    assert acs.get("Location") == f"{BASE}/saml/{NAME}/acs"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    sls = sp.find(f"{{{md}}}SingleLogoutService")
    assert sls.get("Location") == f"{BASE}/saml/{NAME}/sls"
    # a signing key only: an IdP that read an encryption key here would encrypt, and an
    # encrypted assertion is refused (no decryption key is configured)
    assert [kd.get("use") for kd in sp.findall(f"{{{md}}}KeyDescriptor")] == ["signing"]
    cert = sp.find(f".//{{{NS['ds']}}}X509Certificate").text.strip()
    assert cert == "".join(
        line for line in idp.sp_cert_file.read_text().splitlines() if "-----" not in line
    )


def test_saml_single_logout_round_trip(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    browser = requests.Session()
    rid, response = _login(idp, conf, settings, session=browser)
    identity = saml.finish(NAME, conf, settings, saml_response=response, outstanding={rid: NAME})
    url = saml.logout_url(NAME, conf, settings, relay_state="bye", **identity.logout_hint)
    assert url is not None and url.startswith(f"{idp.base_url}/saml2/idp/SingleLogoutService.php")
    # the IdP accepts our signed LogoutRequest and sends the browser back to our SLS
    back = url
    for _hop in range(5):  # SimpleSAMLphp passes through its own resumelogout page first
        resp = browser.get(back, allow_redirects=False, timeout=20)
        assert resp.status_code in (302, 303), resp.text[:2000]
        back = resp.headers["Location"]
        if back.startswith(BASE):
            break
    assert back.startswith(f"{BASE}/saml/{NAME}/sls?")
    query = parse_qs(urlsplit(back).query)
    assert query["RelayState"] == ["bye"]
    assert saml.finish_logout(NAME, conf, settings, saml_response=query["SAMLResponse"][0])
    assert not saml.finish_logout(NAME, conf, settings, saml_response="garbage")
    # signed out at the IdP: the next login asks for the password again
    url, _rid = saml.begin(NAME, conf, settings, force_authn=False, relay_state="")
    with pytest.raises(PermissionError):
        idp.login(url, "anna", "not-the-password", session=browser)


def test_saml_needs_public_base_url(conf: dict[str, Any], settings: dict[str, Any]) -> None:
    with pytest.raises(sso.SsoRefused) as caught:
        saml.begin(
            NAME, conf, {**settings, "PUBLIC_BASE_URL": None}, force_authn=False, relay_state=""
        )
    assert "PUBLIC_BASE_URL" in caught.value.reason


def _attribute(assertion: Any, name: str, values: list[str], **attrs: str) -> None:
    statement = assertion.find("saml:AttributeStatement", NS)
    attribute = etree.SubElement(statement, f"{{{NS['saml']}}}Attribute", Name=name, **attrs)
    for value in values:
        etree.SubElement(attribute, f"{{{NS['saml']}}}AttributeValue").text = value


def test_saml_attributes_by_name_and_standard_name_never_by_friendly_name(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)

    def more(assertion: Any) -> None:
        # FriendlyName is advisory: another attribute calling itself "groups" is not groups
        _attribute(assertion, "urn:example:roles", ["admins"], FriendlyName="groups")
        _attribute(
            assertion,
            "urn:oid:0.9.2342.19200300.100.1.3",
            ["anna@farsta.example.se"],
            NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
        )

    changed = _changed(idp, response, more)
    identity = saml.finish(NAME, conf, settings, saml_response=changed, outstanding={rid: NAME})
    assert identity.attributes["groups"] == ("farsta-chefer", "alla-anstallda")
    assert identity.attributes["urn:example:roles"] == ("admins",)
    assert identity.attributes["urn:oid:0.9.2342.19200300.100.1.3"] == ("anna@farsta.example.se",)
    # the OID's standard name is mail: a rule or setting on "mail" sees both
    assert identity.attributes["mail"] == ("anna.andersson@example.se", "anna@farsta.example.se")


def _name_id_format(fmt: str) -> Callable[[Any], None]:
    def change(assertion: Any) -> None:
        assertion.find(".//saml:NameID", NS).set("Format", fmt)

    return change


def test_saml_subject_needs_a_persistent_name_id_or_a_subject_attribute(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    for fmt in (
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    ):
        rid, response = _login(idp, conf, settings)
        reason = _refused(conf, settings, _changed(idp, response, _name_id_format(fmt)), rid)
        assert "not persistent" in reason
    # with attributes.subject the NameID's format does not matter, the attribute is the subject
    conf["attributes"] = {**conf["attributes"], "subject": "uid"}
    rid, response = _login(idp, conf, settings)
    emailish = _changed(idp, response, _name_id_format(fmt))
    identity = saml.finish(NAME, conf, settings, saml_response=emailish, outstanding={rid: NAME})
    assert identity.subject == "anna"
    # ... and an answer without that attribute is refused
    conf["attributes"] = {**conf["attributes"], "subject": "employeeHsaId"}
    rid, response = _login(idp, conf, settings)
    assert "employeeHsaId" in _refused(conf, settings, response, rid)


def test_saml_subject_longer_than_255_characters_is_refused_not_cut(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    rid, response = _login(idp, conf, settings)

    def longer(assertion: Any) -> None:
        assertion.find(".//saml:NameID", NS).text = "a" * 256

    assert "256 characters" in _refused(conf, settings, _changed(idp, response, longer), rid)


def test_saml_logout_response_bomb_is_refused_without_inflating_it(
    conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    def deflated(data: bytes) -> str:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return base64.b64encode(packer.compress(data) + packer.flush()).decode()

    head = b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><!--'
    small_bomb = deflated(head + b"A" * 8_000_000 + b"--></samlp:LogoutResponse>")
    assert len(small_bomb) < saml.MAX_LOGOUT_CHARS  # inflating is what is limited here
    big_bomb = deflated(head + b"A" * 30_000_000 + b"--></samlp:LogoutResponse>")
    for bomb in (small_bomb, big_bomb, deflated(b"<!DOCTYPE x []><x/>"), "%%%"):
        assert saml.finish_logout(NAME, conf, settings, saml_response=bomb) is False


def _signed_metadata(xml: bytes, key: Path, cert: Path) -> bytes:
    """*xml* (IdP metadata) signed over the whole document, as a federation signs its metadata."""
    from signxml import XMLSigner, methods
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    root = etree.fromstring(xml)
    root.set("ID", "_federation-metadata")
    root.insert(
        0, etree.Element(f"{{{NS['ds']}}}Signature", Id="placeholder", nsmap={"ds": NS["ds"]})
    )
    signed = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(root, key=key.read_bytes(), cert=cert.read_text(), reference_uri="#_federation-metadata")
    return etree.tostring(signed)


def test_saml_idp_metadata_signature_and_validity_are_checked(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any], tmp_path: Path
) -> None:
    fed_key, fed_cert = self_signed(tmp_path, "federation", "Test federation metadata signer")
    other_key, other_cert = self_signed(tmp_path, "other", "Test federation metadata signer")
    plain = idp.metadata_file().read_bytes()
    assert b"/SSOService.php" in plain
    signed = _signed_metadata(plain, fed_key, fed_cert)
    files = {
        "signed": signed,
        "tampered": signed.replace(b"/SSOService.php", b"/SSOServic3.php"),
        "unsigned": plain,
        "other": _signed_metadata(plain, other_key, other_cert),
    }
    for stem, data in files.items():
        (tmp_path / f"{stem}.xml").write_bytes(data)

    def with_metadata(stem: str, **more: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        c = {**conf, "idp_metadata_file": str(tmp_path / f"{stem}.xml"), **more}
        return c, {**settings, "SSO_PROVIDERS": {NAME: c}}

    # signed by the federation: a whole login works
    c, s = with_metadata("signed", idp_metadata_cert=str(fed_cert))
    url, rid = saml.begin(NAME, c, s, force_authn=False, relay_state="")
    _acs, response, _relay = idp.login(url, "anna")
    assert (
        saml.finish(NAME, c, s, saml_response=response, outstanding={rid: NAME}).subject == "anna"
    )
    for stem, reason in (
        ("tampered", "does not verify"),
        ("unsigned", "not signed"),
        ("other", "does not verify"),
    ):
        c, s = with_metadata(stem, idp_metadata_cert=str(fed_cert))
        with pytest.raises(sso.SsoRefused) as caught:
            saml.begin(NAME, c, s, force_authn=False, relay_state="")
        assert reason in caught.value.reason, stem
    # past its validUntil, metadata is not used, signed or not
    root = etree.fromstring(plain)
    root.set("validUntil", (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    (tmp_path / "expired.xml").write_bytes(etree.tostring(root))
    c, s = with_metadata("expired")
    with pytest.raises(sso.SsoRefused) as caught:
        saml.begin(NAME, c, s, force_authn=False, relay_state="")
    assert "expired" in caught.value.reason


def test_saml_idp_metadata_from_a_url(
    idp: SamlIdp, conf: dict[str, Any], settings: dict[str, Any]
) -> None:
    c = {**conf, "idp_metadata_file": None, "idp_metadata_url": idp.metadata_url}
    s = {**settings, "SSO_PROVIDERS": {NAME: c}}
    url, rid = saml.begin(NAME, c, s, force_authn=False, relay_state="")
    _acs, response, _relay = idp.login(url, "anna")
    assert (
        saml.finish(NAME, c, s, saml_response=response, outstanding={rid: NAME}).subject == "anna"
    )
    # only https, but for a loopback address (tests)
    c = {**c, "idp_metadata_url": "http://idp.example.se/metadata"}
    with pytest.raises(sso.SsoRefused) as caught:
        saml.begin(NAME, c, {**s, "SSO_PROVIDERS": {NAME: c}}, force_authn=False, relay_state="")
    assert "https" in caught.value.reason
