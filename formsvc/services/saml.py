"""SAML 2.0 service provider for staff single sign-on: pysaml2 with Debian's xmlsec1, no Flask.

SP-initiated only (Redirect binding out, signed; POST binding back). An assertion is accepted
only when it is signed by the IdP's key from its metadata, names our entity id as audience and
the IdP as issuer, answers a request this browser has outstanding, is in its validity window and
has not been used before (SsoSeen, shared by every instance). pysaml2 parses with defusedxml (no
DTD, no entities) and verifies with xmlsec1 against the metadata's certificates only, checking
that the signature covers the very assertion it reads (signature wrapping, CVE-2020-5390).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import gc
import hashlib
import ipaddress
import logging
import subprocess
import tempfile
import threading
import time
import warnings
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused_et
from flask_babel import gettext as _
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.ident import code, decode
from saml2.request import LogoutRequest
from saml2.sigver import get_xmlsec_binary
from saml2.time_util import str_to_time
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import SsoSeen
from formsvc.services import sso

log = logging.getLogger(__name__)

#: A SAMLResponse larger than this (base64 characters) is refused before it is decoded; a real
#: one is a few kB, an AD FS one with many group claims well under 200 kB.
MAX_RESPONSE_CHARS = 1024 * 1024
#: A LogoutResponse (Redirect binding: deflated, base64, in the query) is a few hundred bytes;
#: larger ones are refused, and none may inflate beyond MAX_LOGOUT_XML bytes.
MAX_LOGOUT_CHARS = 16 * 1024
MAX_LOGOUT_XML = 64 * 1024
#: Clock difference accepted between the IdP and us (s), for NotBefore/NotOnOrAfter.
CLOCK_SKEW = 60
#: IdP metadata from a URL larger than this is refused (a federation's aggregate is tens of MB).
MAX_METADATA_BYTES = 64 * 1024 * 1024
#: IdP metadata fetched from a URL is reused this long (s).
METADATA_TTL = 600
#: A replay-cache entry is kept at least this long, also for an assertion without an expiry.
MIN_SEEN_SECONDS = 3600

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"

_metadata_cache: dict[str, tuple[float, str]] = {}
_config_cache: dict[str, tuple[float, SPConfig]] = {}
#: metadata (by hash, with the certificate) already checked, until when (time.time())
_checked_metadata: dict[str, float] = {}
_metadata_lock = threading.Lock()


def _refused(message: str, reason: str) -> sso.SsoRefused:
    return sso.SsoRefused(message=message, reason=reason)


def _base_url(settings: Mapping[str, Any]) -> str:
    base = (settings.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not base:
        # the ACS address the IdP posts to must be stable and registered there: never the Host
        # header of whatever request happened to start the login
        raise _refused(
            _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
            "PUBLIC_BASE_URL is not set",
        )
    return base


def urls(name: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The SP's own addresses for provider *name*: entity id (= metadata), ACS, SLS, login."""
    base = _base_url(settings)
    return {
        "metadata": f"{base}/saml/{name}/metadata",
        "acs": f"{base}/saml/{name}/acs",
        "sls": f"{base}/saml/{name}/sls",
        "login": f"{base}/saml/{name}/login",
    }


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _idp_metadata(conf: Mapping[str, Any]) -> str:
    """The IdP's metadata XML, from idp_metadata_file or idp_metadata_url (https; cached), with
    its signature checked against idp_metadata_cert when set and its validUntil in the future."""
    path = conf.get("idp_metadata_file")
    if path:
        with open(path, encoding="utf-8") as f:
            xml = f.read()
    elif conf.get("idp_metadata_url"):
        xml = _fetch_metadata(conf)
    else:
        raise _refused(
            _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
            "neither idp_metadata_file nor idp_metadata_url is set",
        )
    _check_metadata(xml, conf.get("idp_metadata_cert"))
    return xml


def _fetch_metadata(conf: Mapping[str, Any]) -> str:
    url = str(conf["idp_metadata_url"])
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname or "")):
        raise _refused(
            _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
            "idp_metadata_url must be https",
        )
    with _metadata_lock:
        hit = _metadata_cache.get(url)
        if hit and time.monotonic() - hit[0] < METADATA_TTL:
            return hit[1]
    try:
        with requests.get(
            url, timeout=10, verify=conf.get("ca_bundle") or True, stream=True
        ) as resp:
            resp.raise_for_status()
            body = resp.raw.read(MAX_METADATA_BYTES + 1, decode_content=True)
    except requests.RequestException as e:
        raise _refused(
            _("Identitetsleverantören svarar inte just nu. Försök igen om en stund."),
            f"IdP metadata not fetched: {e}",
        ) from e
    if len(body) > MAX_METADATA_BYTES:
        raise _refused(
            _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
            f"IdP metadata larger than {MAX_METADATA_BYTES} bytes",
        )
    text = body.decode("utf-8", errors="replace")
    with _metadata_lock:
        _metadata_cache[url] = (time.monotonic(), text)
    return text


MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


def _check_metadata(xml: str, cert_file: str | None) -> None:
    """Refuse metadata past its validUntil, and, with *cert_file*, metadata whose root is not
    signed by that certificate (a federation's aggregate is signed by the federation)."""
    digest = hashlib.sha256(f"{cert_file}\n{xml}".encode()).hexdigest()
    with _metadata_lock:
        if _checked_metadata.get(digest, 0) > time.time():
            return
    bad = _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören.")
    try:
        root = defused_et.fromstring(xml.encode(), forbid_dtd=True)
    except (defused_et.ParseError, DefusedXmlException, ValueError) as e:
        raise _refused(bad, f"IdP metadata is not XML: {str(e)[:200]}") from e
    if root.tag not in (f"{{{MD_NS}}}EntitiesDescriptor", f"{{{MD_NS}}}EntityDescriptor"):
        raise _refused(bad, f"IdP metadata root is {root.tag[:100]}")
    valid_until = root.get("validUntil")
    until = None
    if valid_until:
        try:
            until = calendar.timegm(str_to_time(valid_until))
        except (ValueError, TypeError) as e:
            raise _refused(bad, f"IdP metadata validUntil {valid_until[:40]!r}") from e
        if until <= time.time():
            raise _refused(bad, f"IdP metadata expired (validUntil {valid_until})")
    if cert_file:
        _verify_metadata_signature(xml, root, cert_file, bad)
    with _metadata_lock:
        if len(_checked_metadata) > 64:
            _checked_metadata.clear()
        _checked_metadata[digest] = min(until or float("inf"), time.time() + METADATA_TTL)


def _verify_metadata_signature(xml: str, root: Any, cert_file: str, bad: str) -> None:
    # the signature must be the root's own, over the whole document: the first Signature in
    # document order, a direct child of the root, with one reference to "" or the root's ID
    signatures = list(root.iter(f"{{{DS_NS}}}Signature"))
    direct = root.findall(f"{{{DS_NS}}}Signature")
    if not signatures or not direct or signatures[0] is not direct[0]:
        raise _refused(bad, "IdP metadata is not signed (idp_metadata_cert is set)")
    refs = direct[0].findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    root_id = root.get("ID")
    allowed = {""} | ({f"#{root_id}"} if root_id else set())
    if len(refs) != 1 or refs[0].get("URI") not in allowed:
        raise _refused(bad, "IdP metadata signature does not cover the whole document")
    local = root.tag.rpartition("}")[2]
    with tempfile.NamedTemporaryFile("w", suffix=".xml", encoding="utf-8") as f:
        f.write(xml)
        f.flush()
        done = subprocess.run(  # noqa: S603 - fixed program, our own arguments
            [
                get_xmlsec_binary(["/usr/bin"]),
                "--verify",
                "--enabled-reference-uris",
                "empty,same-doc",
                "--enabled-key-data",
                "raw-x509-cert",
                "--pubkey-cert-pem",
                cert_file,
                "--id-attr:ID",
                f"{MD_NS}:{local}",
                f.name,
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
    if done.returncode != 0:
        raise _refused(bad, "IdP metadata signature does not verify with idp_metadata_cert")


def forget_metadata() -> None:
    """Drop cached IdP metadata (tests; a city that just rolled its IdP certificate)."""
    with _metadata_lock:
        _metadata_cache.clear()
        _config_cache.clear()
        _checked_metadata.clear()


def _client(name: str, conf: Mapping[str, Any], settings: Mapping[str, Any]) -> Saml2Client:
    own = urls(name, settings)
    entity_id = conf.get("sp_entity_id") or own["metadata"]
    key, cert = conf.get("sp_key_file"), conf.get("sp_cert_file")
    if not (key and cert):
        raise _refused(
            _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
            "sp_key_file and sp_cert_file are required (requests are signed)",
        )
    config = {
        "entityid": entity_id,
        "metadata": {"inline": [_idp_metadata(conf)]},
        "service": {
            "sp": {
                "name": conf.get("label") or name,
                "endpoints": {
                    "assertion_consumer_service": [(own["acs"], BINDING_HTTP_POST)],
                    "single_logout_service": [(own["sls"], BINDING_HTTP_REDIRECT)],
                },
                # the assertion itself must carry the IdP's signature (a signed response around
                # an unsigned assertion is not enough); the response may be signed as well
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "allow_unsolicited": False,
                "allow_unknown_attributes": True,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            }
        },
        "key_file": key,
        "cert_file": cert,
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin"]),
        "accepted_time_diff": CLOCK_SKEW,
    }
    # parsing metadata is the slow part (a federation's aggregate holds thousands of entities):
    # the loaded configuration is reused while nothing in it changed; each call gets its own
    # client, so nothing pysaml2 keeps per client is shared between requests
    key = hashlib.sha256(
        repr(sorted((k, repr(v)) for k, v in config.items() if k != "metadata")).encode()
        + hashlib.sha256(config["metadata"]["inline"][0].encode()).digest()
    ).hexdigest()
    with _metadata_lock:
        hit = _config_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < METADATA_TTL:
            return Saml2Client(config=hit[1])
    sp_config = SPConfig()
    sp_config.load(config)
    with _metadata_lock:
        if len(_config_cache) >= 16:
            _config_cache.clear()
        _config_cache[key] = (time.monotonic(), sp_config)
    return Saml2Client(config=sp_config)


def _idp_entity_id(client: Saml2Client, conf: Mapping[str, Any]) -> str:
    idps = sorted(client.metadata.identity_providers())
    wanted = conf.get("idp_entity_id")
    if wanted:
        if wanted not in idps:
            raise _refused(
                _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
                f"idp_entity_id {wanted!r} is not in the IdP metadata",
            )
        return wanted
    if len(idps) != 1:
        raise _refused(
            _("Inloggningen är inte färdigkonfigurerad. Kontakta administratören."),
            f"the metadata names {len(idps)} IdPs; set idp_entity_id",
        )
    return idps[0]


def begin(
    name: str,
    conf: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    force_authn: bool,
    relay_state: str,
) -> tuple[str, str]:
    """A signed AuthnRequest (Redirect binding): (the IdP address to send the browser to, id)."""
    client = _client(name, conf, settings)
    idp = _idp_entity_id(client, conf)
    request_id, info = client.prepare_for_authenticate(
        entityid=idp,
        relay_state=relay_state,
        binding=BINDING_HTTP_REDIRECT,
        response_binding=BINDING_HTTP_POST,
        sign=True,
        sigalg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
        force_authn="true" if force_authn else None,
    )
    location = dict(info["headers"])["Location"]
    return location, request_id


def _decoded(saml_response: str) -> bytes:
    """The response's XML, or a refusal for anything that is not plausible base64 XML."""
    if not isinstance(saml_response, str) or not saml_response.strip():
        raise _refused(_("Svaret från identitetsleverantören saknas."), "empty SAMLResponse")
    if len(saml_response) > MAX_RESPONSE_CHARS:
        raise _refused(
            _("Svaret från identitetsleverantören kunde inte tolkas."),
            f"SAMLResponse too large ({len(saml_response)} characters)",
        )
    try:
        xml = base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _refused(
            _("Svaret från identitetsleverantören kunde inte tolkas."),
            "SAMLResponse is not base64",
        ) from e
    # defusedxml refuses these too; saying so early keeps the reason readable in the audit log
    if b"<!DOCTYPE" in xml.upper() or b"<!ENTITY" in xml.upper():
        raise _refused(
            _("Svaret från identitetsleverantören kunde inte tolkas."),
            "SAMLResponse carries a DTD",
        )
    try:
        root = defused_et.fromstring(xml, forbid_dtd=True)
    except (defused_et.ParseError, DefusedXmlException, ValueError) as e:
        raise _refused(
            _("Svaret från identitetsleverantören kunde inte tolkas."),
            f"SAMLResponse is not XML: {str(e)[:200]}",
        ) from e
    # exactly one plain assertion, directly in the Response: a second one anywhere (wrapped in
    # an Advice, an Extensions, a Signature's Object, beside the signed one) is how signature
    # wrapping starts; we advertise no encryption key, so an encrypted assertion is not ours
    if root.tag != f"{{{SAMLP_NS}}}Response":
        raise _refused(
            _("Svaret från identitetsleverantören kunde inte tolkas."), f"root is {root.tag[:100]}"
        )
    assertions = list(root.iter(f"{{{SAML_NS}}}Assertion"))
    direct = root.findall(f"{{{SAML_NS}}}Assertion")
    if (
        len(assertions) != 1
        or len(direct) != 1
        or any(root.iter(f"{{{SAML_NS}}}EncryptedAssertion"))
    ):
        raise _refused(
            _("Inloggningen kunde inte godkännas. Försök igen."),
            f"{len(assertions)} assertions in the response ({len(direct)} directly)",
        )
    return xml


def _attributes(assertion: saml.Assertion, converters: Any) -> dict[str, tuple[str, ...]]:
    """Every attribute under its Name, and also under the standard name pysaml2 knows for that
    Name (urn:oid:0.9.2342.19200300.100.1.3 -> mail). Never under the message's FriendlyName:
    it is advisory, and two attributes sharing one would be merged into one claim."""
    found: dict[str, list[str]] = {}

    def add(key: str | None, values: list[str]) -> None:
        if key:
            have = found.setdefault(key, [])
            have.extend(v for v in values if v not in have)

    for statement in assertion.attribute_statement or ():
        for attribute in statement.attribute or ():
            if not attribute.name:
                continue
            values = [str(v.text).strip() for v in attribute.attribute_value or () if v.text]
            add(attribute.name, values)
            for converter in converters or ():
                if attribute.name_format and converter.name_format != attribute.name_format:
                    continue
                known = (converter._fro or {}).get(attribute.name.strip().lower())
                if known and known != attribute.name:
                    add(known, values)
                    break
    return {k: tuple(v) for k, v in found.items()}


def _first(attributes: Mapping[str, tuple[str, ...]], key: str | None) -> str | None:
    if not key:
        return None
    values = attributes.get(key) or ()
    return values[0] if values else None


def _expiry(assertion: saml.Assertion) -> datetime:
    """When the assertion stops being acceptable anyway: the replay record may go then."""
    times = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        times.append(assertion.conditions.not_on_or_after)
    for sc in (assertion.subject.subject_confirmation if assertion.subject else None) or ():
        data = sc.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            times.append(data.not_on_or_after)
    now = datetime.now(UTC).replace(tzinfo=None)
    latest = now + timedelta(seconds=MIN_SEEN_SECONDS)
    for t in times:
        at = datetime.fromtimestamp(calendar.timegm(str_to_time(t)), UTC)
        latest = max(latest, at.replace(tzinfo=None) + timedelta(seconds=CLOCK_SKEW))
    return latest


def _remember(issuer: str, assertion_id: str, expires_at: datetime) -> None:
    """Record the assertion id as used; a second use (here or on another instance) is a replay."""
    key = "saml:" + hashlib.sha256(f"{issuer}\n{assertion_id}".encode()).hexdigest()
    now = datetime.now(UTC).replace(tzinfo=None)
    db.session.execute(delete(SsoSeen).where(SsoSeen.expires_at < now))
    try:
        with db.session.begin_nested():
            db.session.add(SsoSeen(key=key, expires_at=expires_at))
    except IntegrityError as e:
        db.session.commit()  # the purge above
        raise _refused(
            _("Inloggningssvaret har redan använts. Logga in igen."),
            f"replayed assertion {assertion_id}",
        ) from e
    db.session.commit()


def _parse(
    name: str, client: Saml2Client, saml_response: str, outstanding: Mapping[str, str]
) -> Any:
    """pysaml2's checks: signature (xmlsec1, metadata keys), InResponseTo, times, audience."""
    try:
        return client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding=dict(outstanding)
        )
    except Exception as e:  # noqa: BLE001 - pysaml2/xmlsec raise dozens of types; all mean "no"
        reason = f"{type(e).__name__}: {str(e)[:300]}"
    log.info("SAML response from %s refused: %s", name, reason)
    # pysaml2 leaves its xmlsec1 temporary files to the garbage collector, and after a failure
    # they sit in a reference cycle with the exception: free them now, not at a random later
    # point with a ResourceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    raise _refused(_("Inloggningen kunde inte godkännas. Försök igen."), reason)


def finish(
    name: str,
    conf: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    saml_response: str,
    outstanding: Mapping[str, str],
) -> sso.Identity:
    """The identity in a posted SAMLResponse, after every check; raises sso.SsoRefused."""
    _decoded(saml_response)
    client = _client(name, conf, settings)
    idp = _idp_entity_id(client, conf)
    entity_id = client.config.entityid
    response = _parse(name, client, saml_response, outstanding)
    if response is None or response.assertion is None:
        raise _refused(
            _("Inloggningen kunde inte godkännas. Försök igen."), "no assertion in the response"
        )
    assertion = response.assertion
    # pysaml2 has verified the assertion's signature against the metadata; these are ours on top
    if response.issuer() != idp or (assertion.issuer is None or assertion.issuer.text != idp):
        raise _refused(
            _("Inloggningen kunde inte godkännas. Försök igen."),
            f"issuer {response.issuer()!r} is not the configured IdP {idp!r}",
        )
    if response.in_response_to not in outstanding:
        raise _refused(
            _("Inloggningen kunde inte godkännas. Försök igen."),
            "response to no outstanding request",
        )
    audiences = [
        a.text
        for r in (assertion.conditions.audience_restriction if assertion.conditions else ()) or ()
        for a in r.audience or ()
    ]
    if entity_id not in audiences:
        raise _refused(
            _("Inloggningen kunde inte godkännas. Försök igen."),
            f"audience {audiences!r} does not name {entity_id!r}",
        )
    if not assertion.id:
        raise _refused(_("Inloggningen kunde inte godkännas. Försök igen."), "assertion has no ID")

    mapping = dict(conf.get("attributes") or {})
    attributes = _attributes(assertion, client.config.attribute_converters)
    name_id = response.name_id
    if mapping.get("subject"):
        subject = _first(attributes, mapping["subject"])
        if not subject:
            raise _refused(
                _("Identitetsleverantören skickade ingen beständig identitet för kontot."),
                f"no attribute {mapping['subject']!r} (attributes.subject)",
            )
    else:
        # the account is bound to the subject for good: only a persistent NameID never passes
        # to another person (an e-mail address or user name is given again when people leave)
        if name_id is None or not name_id.text or name_id.format != saml.NAMEID_FORMAT_PERSISTENT:
            raise _refused(
                _("Identitetsleverantören skickade ingen beständig identitet för kontot."),
                f"NameID format {getattr(name_id, 'format', None)!r} is not persistent; "
                "set attributes.subject to an attribute that never changes",
            )
        subject = name_id.text
    subject = subject.strip()
    if not subject or len(subject) > 255:
        raise _refused(
            _("Identitetsleverantören skickade ingen beständig identitet för kontot."),
            f"subject of {len(subject)} characters (1-255)",
        )
    statement = (assertion.authn_statement or [None])[0]
    auth_time = acr = None
    session_index = ""
    if statement is not None:
        if statement.authn_instant:
            auth_time = datetime.fromtimestamp(
                calendar.timegm(str_to_time(statement.authn_instant)), UTC
            )
        session_index = statement.session_index or ""
        ctx = statement.authn_context
        if ctx is not None and ctx.authn_context_class_ref is not None:
            acr = (ctx.authn_context_class_ref.text or "").strip() or None
    _remember(idp, assertion.id, _expiry(assertion))
    return sso.Identity(
        provider=name,
        protocol="saml",
        issuer=idp,
        subject=subject,
        username=_first(attributes, mapping.get("username", "uid")),
        full_name=_first(attributes, mapping.get("name", "displayName")) or "",
        email=_first(attributes, mapping.get("email", "mail")) or "",
        attributes=attributes,
        auth_time=auth_time,
        acr=acr,
        logout_hint={
            "name_id": code(name_id) if name_id is not None else "",
            "session_index": session_index,
        },
    )


def metadata(name: str, conf: Mapping[str, Any], settings: Mapping[str, Any]) -> bytes:
    """Our SP metadata (entity id, ACS, SLS, signing certificate) for the IdP's administrator."""
    from saml2.metadata import create_metadata_string

    client = _client(name, conf, settings)
    return create_metadata_string(None, client.config, valid=24 * 365, sign=False)


def logout_url(
    name: str,
    conf: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    name_id: str,
    session_index: str,
    relay_state: str,
) -> str | None:
    """A signed LogoutRequest to the IdP (Redirect binding), or None when it offers no SLO.

    Never raises: the local logout has happened, a broken SLO only leaves the IdP session."""
    if not name_id:
        return None
    try:
        return _logout_url(name, conf, settings, name_id, session_index, relay_state)
    except Exception as e:  # noqa: BLE001 - metadata unreachable, odd NameID, pysaml2 errors
        log.warning("SAML %s: no single logout: %s: %s", name, type(e).__name__, e)
        return None


def _logout_url(
    name: str,
    conf: Mapping[str, Any],
    settings: Mapping[str, Any],
    name_id: str,
    session_index: str,
    relay_state: str,
) -> str | None:
    client = _client(name, conf, settings)
    idp = _idp_entity_id(client, conf)
    services = client.metadata.single_logout_service(idp, BINDING_HTTP_REDIRECT, "idpsso")
    if not services:
        return None
    destination = services[0]["location"]
    _req_id, request = client.create_logout_request(
        destination,
        idp,
        name_id=decode(name_id),
        session_indexes=[session_index] if session_index else None,
        sign=False,
    )
    info = client.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(request),
        destination,
        relay_state,
        sign=True,
        sigalg=SIG_RSA_SHA256,
    )
    return dict(info["headers"])["Location"]


def _inflate_redirect(message: str) -> bytes | None:
    """A Redirect-binding message inflated, bounded; None when too large or not deflate."""
    if not isinstance(message, str) or len(message) > MAX_LOGOUT_CHARS:
        return None
    try:
        inflater = zlib.decompressobj(-15)
        xml = inflater.decompress(base64.b64decode(message), MAX_LOGOUT_XML)
    except (binascii.Error, ValueError, zlib.error):
        return None
    if inflater.unconsumed_tail or not inflater.eof or b"<!DOCTYPE" in xml.upper():
        return None
    return xml


def idp_logout(
    name: str,
    conf: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    query: Mapping[str, str],
    name_id: str | None,
    session_index: str | None,
) -> tuple[bool, str]:
    """A LogoutRequest the IdP sent (Redirect binding, its query signature required): (whether
    it is about this browser's SSO session, the IdP address to send the LogoutResponse to).

    Raises sso.SsoRefused for anything not signed by the IdP or not for us."""
    refused = _("Utloggningsbegäran från identitetsleverantören kunde inte godkännas.")
    message = query.get("SAMLRequest", "")
    if _inflate_redirect(message) is None:
        raise _refused(refused, "LogoutRequest too large or not deflated XML")
    if not (query.get("SigAlg") and query.get("Signature")):
        raise _refused(refused, "LogoutRequest is not signed")
    client = _client(name, conf, settings)
    idp = _idp_entity_id(client, conf)
    try:
        request = LogoutRequest(
            client.sec,
            client.config.endpoint("single_logout_service", BINDING_HTTP_REDIRECT, "sp"),
            client.config.attribute_converters,
            timeslack=CLOCK_SKEW,
        )
        xml = client.unravel(message, BINDING_HTTP_REDIRECT, LogoutRequest.msgtype)
        # must=True: the query signature is checked against the IdP's metadata keys
        request = request.loads(
            xml,
            BINDING_HTTP_REDIRECT,
            origdoc=message,
            must=True,
            relay_state=query.get("RelayState"),
            sigalg=query["SigAlg"],
            signature=query["Signature"],
        )
        request.verify()
        issuer = request.message.issuer.text if request.message.issuer is not None else None
    except Exception as e:  # noqa: BLE001 - any failure: not a LogoutRequest we act on
        reason = f"{type(e).__name__}: {str(e)[:300]}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        raise _refused(refused, reason) from None
    if issuer != idp:
        raise _refused(refused, f"LogoutRequest from {issuer!r}, not {idp!r}")
    asked = request.message
    ours = decode(name_id) if name_id else None
    same = (
        ours is not None
        and asked.name_id is not None
        and (asked.name_id.text or "").strip() == (ours.text or "").strip()
        and (not asked.session_index or session_index in [i.text for i in asked.session_index])
    )
    response = client.create_logout_response(asked, [BINDING_HTTP_REDIRECT], sign=False)
    destination = client.response_args(asked, [BINDING_HTTP_REDIRECT])["destination"]
    info = client.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(response),
        destination,
        query.get("RelayState") or "",
        response=True,
        sign=True,
        sigalg=SIG_RSA_SHA256,
    )
    return same, dict(info["headers"])["Location"]


def finish_logout(
    name: str, conf: Mapping[str, Any], settings: Mapping[str, Any], *, saml_response: str
) -> bool:
    """Whether a LogoutResponse (Redirect binding, back from the IdP) parses and says success.

    It only decides which message the signed-out person reads (our session ended before the
    LogoutRequest left), so the Redirect binding's query signature is not checked."""
    # pysaml2 inflates the Redirect binding's message without a limit: a few hundred kB of
    # deflated zeros would become hundreds of MB; inflate it here first, bounded
    if _inflate_redirect(saml_response) is None:
        return False
    try:
        client = _client(name, conf, settings)
        response = client.parse_logout_request_response(saml_response, BINDING_HTTP_REDIRECT)
        return response is not None and bool(response.status_ok())
    except Exception as e:  # noqa: BLE001 - any failure: not confirmed
        reason = f"{type(e).__name__}: {str(e)[:300]}"
    log.info("SAML logout response from %s not confirmed: %s", name, reason)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    return False
