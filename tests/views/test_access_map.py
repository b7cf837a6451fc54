"""Every route × every identity, generated from the app's own url_map (issue 11).

Each rule of `app.url_map` (all but `static`) is requested with each of its methods among GET and
POST, as anonymous, as every staff role, as the other district's caseworker and manager and as two
signers holding personal links. `ACCESS`, keyed by endpoint, says who gets in and what everyone
else gets: a staff page sends the not-logged-in to /login, a wrong role gets 403, another
district's staff 404, a link that opens nothing the "gone" page. An endpoint missing from the table
fails the run (a new route cannot be forgotten), as does an entry whose endpoint no longer exists.

A denial must show no names and change nothing: the whole database is compared before and after.
The objects the URLs name are made once for the module (LibreOffice converts six PDFs); after a
request that changed the database, it is put back as it was, so every case starts from the same
state whatever ran before it.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.routing import Rule

from formsvc.checklist_defaults import CHECKLISTS
from formsvc.extensions import db, limiter
from formsvc.models import Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import checklists, documents, signing, sso_mappings, users
from tests.conftest import (
    BACKEND,
    PASSWORD,
    World,
    base_config,
    build_app,
    empty_database,
    fresh_config,
)
from tests.factories import consent
from tests.services.test_signing import Flow
from tests.smtp import SmtpServer, serving
from tests.views.test_signing import png_scan

# --------------------------------------------------------------------------- who asks

NOT_LOGGED_IN = ("anonymous", "signer_open", "signer_signed")
STAFF = (
    "caseworker",
    "manager",
    "security_officer",
    "analyst",
    "admin",
    "other_caseworker",
    "other_manager",
)
#: signer_open has given the code for an open request's link; signer_signed for a request it
#: has signed (of another document). Both are otherwise anonymous browsers.
IDENTITIES = (*NOT_LOGGED_IN, *STAFF)
#: The other district's staff member with the same role as a home-district one.
TWIN = {"caseworker": "other_caseworker", "manager": "other_manager"}
HOME = frozenset({"caseworker", "manager"})
CLIENT = frozenset({*HOME, *TWIN.values()})
ALL_STAFF = frozenset(STAFF)

#: Names of the home district's participant and guardians: never in a refusal.
SECRETS = ("Öberg", "Åsa")

# --------------------------------------------------------------------------- what they get

OK = "ok"  #: a POST that got through: 200, a redirect (not to /login) or 400 for an empty form
LOGIN = "login"  #: 302 to /login
GONE = "gone"  #: a personal link that opens nothing: 404 with the "gone" page
BACK = "back"  #: a signer sent back to the link page (302), nothing done
DENIALS = {403, 404, LOGIN, GONE, BACK}
Expect = int | str


@dataclass(frozen=True)
class Staff:
    """A page behind the login, for *roles* (403 for other roles)."""

    roles: frozenset[str]
    args: Mapping[str, object] = field(default_factory=dict)
    #: the URL names an object of the home district: the other district's staff with an allowed
    #: role get 404, as if it did not exist
    district: bool = False
    ok: int = 200  #: what an allowed GET answers
    data: Mapping[str, object] = field(default_factory=dict)  #: the POST body
    query: str = ""  #: the query string, where the page needs one
    #: identities whose answer the view narrows further (a role check after the object's)
    only: Mapping[str, Expect] = field(default_factory=dict)

    def expect(self, identity: str, method: str, _variant: str | None) -> Expect:
        if identity in self.only:
            return self.only[identity]
        if identity in NOT_LOGGED_IN:
            return LOGIN
        if identity in self.roles:
            return self.ok if method == "GET" else OK
        twin_of = {v: k for k, v in TWIN.items()}.get(identity)
        if self.district and twin_of in self.roles:
            return 404
        return 403


@dataclass(frozen=True)
class Public:
    """Open to everyone; *answers* per identity where it is not *ok*."""

    args: Mapping[str, object] = field(default_factory=dict)
    ok: int = 200
    answers: Mapping[str, Expect] = field(default_factory=dict)

    def expect(self, identity: str, method: str, _variant: str | None) -> Expect:
        if identity in self.answers:
            return self.answers[identity]
        return self.ok if method == "GET" else OK


#: The link variants each token page is asked with: the link of the request the endpoint is
#: about, another signer's link of the same document, a link of another document, a forged one.
VARIANTS = ("own", "same_document", "other_document", "forged")


@dataclass(frozen=True)
class Token:
    """A signer's page under /s/<token>: the link is the key, the one-time code opens content.

    *content*: the request states in which a session that gave the code for this very link gets
    in; None when the link alone is enough (the page itself, asking for and giving a code).
    Everyone else gets *refused*; a link that opens nothing gets the "gone" page."""

    own: str  #: "open" or "signed": the request the endpoint is meant for
    content: tuple[str, ...] | None
    refused: Expect = 404
    ok: int = 200
    args: Mapping[str, object] = field(default_factory=dict)  #: <token> comes from the variant

    def expect(self, identity: str, method: str, variant: str | None) -> Expect:
        assert variant is not None
        if variant == "forged":
            return GONE
        token_of = link_token(self.own, variant)
        if self.content is not None:
            verified = VERIFIED.get(identity) == token_of
            if not verified or REQUEST_STATE[token_of] not in self.content:
                return self.refused
        return self.ok if method == "GET" else OK


def link_token(own: str, variant: str) -> str:
    """Which of the module's links a variant uses (names, resolved to tokens at run time)."""
    other = "signed" if own == "open" else "open"
    return {"own": own, "same_document": "open_sibling", "other_document": other}[variant]


#: The link each signer identity has given the one-time code for.
VERIFIED = {"signer_open": "open", "signer_signed": "signed"}
#: The state of each link's request.
REQUEST_STATE = {"open": "open", "open_sibling": "open", "signed": "signed"}

# "$name" in args and data is an object made by `Objects`; anything else is literal.
DOC = {"doc_id": "$draft"}
ACCESS: dict[str, Staff | Public | Token] = {
    # sign-in, language, the seal check and the lock's page: for everyone
    "auth.login": Public(answers=dict.fromkeys(STAFF, 302)),
    "auth.logout": Public(),
    "main.lang": Public(args={"code": "sv"}, ok=302),
    "lock.unlock": Public(ok=302),  # no lock held: back to the start page
    "public.verify_page": Public(),
    # every staff member
    "main.index": Staff(ALL_STAFF),
    "main.procurement": Staff(ALL_STAFF),
    "account.password": Staff(ALL_STAFF),
    # client work: lists and new things in one's own district
    "participants.index": Staff(CLIENT),
    "participants.new": Staff(CLIENT),
    "documents.index": Staff(CLIENT),
    "staff.index": Staff(CLIENT),
    "documents.new_for_district": Staff(CLIENT, {"slug": "contact_list"}),
    # the home district's participant and documents
    "participants.show": Staff(HOME, {"pid": "$pid"}, district=True),
    "participants.edit": Staff(HOME, {"pid": "$pid"}, district=True),
    "participants.export": Staff(HOME, {"pid": "$pid"}, district=True),
    "participants.assignments": Staff(
        frozenset({"manager"}), {"pid": "$pid"}, district=True, data={"user_id": "$employee"}
    ),
    "participants.unprotect": Staff(frozenset({"manager"}), {"pid": "$pid"}, district=True),
    "participants.hold": Staff(frozenset({"manager"}), {"pid": "$pid"}, district=True),
    "documents.new": Staff(HOME, {"pid": "$pid", "slug": "consent"}, district=True),
    # a competence review is the manager's: the caseworker may see the colleague, not create it
    "documents.new_for_employee": Staff(
        HOME,
        {"uid": "$employee", "slug": "competence"},
        district=True,
        only={"caseworker": 403},
    ),
    "documents.show": Staff(HOME, DOC, district=True),
    "documents.edit": Staff(HOME, DOC, district=True),
    "documents.download": Staff(HOME, {**DOC, "fmt": "docx", "version": 1}, district=True),
    "documents.preview": Staff(HOME, DOC, district=True),
    # signing, staff side (a sent consent, a sealed one, a security talk waiting for its manager)
    # sending again what is already sent is refused with a message: no LibreOffice per case
    "signing.send": Staff(HOME, {"doc_id": "$sent"}, district=True),
    "signing.send_link": Staff(HOME, {"doc_id": "$sent", "rid": "$sent_req"}, district=True),
    "signing.in_person": Staff(HOME, {"doc_id": "$sent", "rid": "$sent_req"}, district=True),
    "signing.paper": Staff(HOME, {"doc_id": "$sent"}, district=True),
    "signing.frozen_pdf": Staff(HOME, {"doc_id": "$sent"}, district=True),
    "signing.sealed_pdf": Staff(HOME, {"doc_id": "$sealed"}, district=True),
    "signing.sealed_pdf_inline": Staff(HOME, {"doc_id": "$sealed"}, district=True),
    "signing.finalise": Staff(HOME, {"doc_id": "$sealed"}, district=True),
    "signing.withdraw": Staff(HOME, {"doc_id": "$sealed"}, district=True),
    "signing.scan": Staff(HOME, {"doc_id": "$sealed", "rid": "$scan_req"}, district=True),
    # the talk's manager place: the talk's employee (the caseworker) sees it but may not sign there
    "signing.as_staff": Staff(
        HOME,
        {"doc_id": "$talk", "rid": "$talk_manager_req"},
        district=True,
        only={"caseworker": 403},
    ),
    "signing.decide": Staff(frozenset({"manager"}), {"doc_id": "$threat"}, district=True),
    # statistics: analysts for the city, managers for their own district
    "statistics.index": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.aggregates_csv": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.rows_csv": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.chart_svg": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.chart_png": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.chart_csv": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.report_xlsx": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "statistics.report_csv": Staff(frozenset({"analyst", "manager", "other_manager"})),
    # closed statistics periods: managers see the list, analysts close (issue 17)
    "periods.index": Staff(frozenset({"analyst", "manager", "other_manager"})),
    "periods.close": Staff(frozenset({"analyst"})),
    # a draft in no closed period: the correction page sends to the ordinary edit
    "periods.correct": Staff(HOME, DOC, district=True, ok=302),
    # trust: the district's trail for its managers, the security function, the administrator
    "audit_log.district_trail": Staff(frozenset({"manager", "other_manager"})),
    "audit_log.admin_trail": Staff(frozenset({"admin"})),
    "security.index": Staff(frozenset({"security_officer"})),
    "security.talk_pdf": Staff(frozenset({"security_officer"}), {"doc_id": "$sealed_talk"}),
    # administration
    "admin.user_list": Staff(frozenset({"admin"})),
    "admin.user_new": Staff(frozenset({"admin"})),
    "admin.user_edit": Staff(frozenset({"admin"}), {"uid": "$analyst"}),
    "admin.user_reset": Staff(frozenset({"admin"}), {"uid": "$analyst"}),
    "admin.user_unlock": Staff(frozenset({"admin"}), {"uid": "$analyst"}),
    "admin.districts": Staff(frozenset({"admin"})),
    "admin.district_edit": Staff(frozenset({"admin"}), {"did": "$other_district"}),
    "admin.templates": Staff(frozenset({"admin"})),
    "admin.template_upload_view": Staff(frozenset({"admin"}), {"slug": "consent"}),
    "admin.template_download": Staff(frozenset({"admin"}), {"slug": "consent", "version": 1}),
    "admin.template_activate": Staff(frozenset({"admin"}), {"slug": "consent", "version": 1}),
    "admin.checklists_view": Staff(frozenset({"admin"}), query=f"list={next(iter(CHECKLISTS))}"),
    "admin.checklist_item": Staff(frozenset({"admin"}), {"item_id": "$checklist_item"}),
    "admin.checklist_action": Staff(
        frozenset({"admin"}), {"item_id": "$checklist_item", "action": "down"}
    ),
    "admin.seal": Staff(frozenset({"admin"})),
    # issue 14: ssoadmin — single sign-on's providers and mapping rules, for administrators
    "sso_admin.index": Staff(frozenset({"admin"})),
    "sso_admin.rule_new": Staff(frozenset({"admin"})),
    "sso_admin.rule_edit": Staff(frozenset({"admin"}), {"rule_id": "$sso_rule"}),
    "sso_admin.rule_delete": Staff(frozenset({"admin"}), {"rule_id": "$sso_rule"}),
    "sso_admin.try_rules": Staff(frozenset({"admin"})),
    # a signer's personal link
    "public.link": Token("open", content=None),
    "public.send_code": Token("open", content=None),  # the code goes to the link's own address
    "public.verify_code": Token("open", content=None),
    "public.sign": Token("open", content=("open",), refused=BACK),
    "public.document_pdf": Token("open", content=("open", "signed")),
    "public.copy_pdf": Token("signed", content=("signed",)),
    "public.withdraw": Token("signed", content=("signed",)),
    # issue 14: sso — the map's app configures no SSO provider: every name is unknown (404);
    # tests/views/test_sso_oidc.py covers these routes with a real IdP
    "sso.login": Public(args={"name": "city"}, ok=404),
    "sso.callback": Public(args={"name": "city"}, ok=404),
    "sso.logout": Public(ok=302),  # no IdP logout under way: to the login page
    # issue 14: saml — no SAML provider in the map's app either: every name is unknown (404);
    # tests/views/test_saml_login.py covers these routes with a real IdP (SimpleSAMLphp)
    "saml.metadata": Public(args={"name": "siths"}, ok=404),
    "saml.login": Public(args={"name": "siths"}, ok=404),
    "saml.acs": Public(args={"name": "siths"}, answers=dict.fromkeys(IDENTITIES, 404)),
    "saml.sls": Public(args={"name": "siths"}, ok=404),
    # issue 14: eid — no broker configured here: a start names one that does not exist (404;
    # a forged link still gets the "gone" page), and the callback with nothing pending is refused
    "eid.link_start": Token("open", content=(), refused=404, args={"provider": "broker"}),
    "eid.in_person_start": Staff(
        HOME, {"doc_id": "$sent", "rid": "$sent_req", "provider": "broker"}, district=True, ok=404
    ),
    "eid.callback": Public(ok=400),
    # issue 14: bankidui — the signer's BankID pages. BANKID is not set in this app: every one
    # answers 404 (a forged link: the "gone" page; in person: the login, the role and the
    # district are checked first). tests/views/test_bankid_eid_signing.py covers them with BankID.
    "bankid.link_start": Token("open", content=()),
    "bankid.link_identify": Token("open", content=()),
    "bankid.link_page": Token("open", content=()),
    "bankid.link_status": Token("open", content=()),
    "bankid.link_cancel": Token("open", content=()),
    **{
        f"bankid.in_person_{step}": Staff(
            HOME,
            {"doc_id": "$sent", "rid": "$sent_req"},
            district=True,
            only={"caseworker": 404, "manager": 404},
        )
        for step in ("start", "page", "status", "cancel")
    },
    # issue 15: ops — probes and metrics need no login; the test client asks from loopback,
    # which METRICS_ALLOW lets in (tests/views/test_ops.py: everyone else gets 404)
    "ops.healthz": Public(),
    "ops.readyz": Public(),
    "ops.metrics": Public(),
}

# --------------------------------------------------------------------------- the cases


def routes(app: Flask) -> list[tuple[Rule, str]]:
    """Every rule but static files, with each of its methods among GET and POST."""
    return [
        (rule, method)
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule))
        if rule.endpoint != "static"
        for method in ("GET", "POST")
        if method in (rule.methods or ())
    ]


def unclassified(app: Flask, table: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """Endpoints of *app* the table does not name, and table entries *app* does not have."""
    endpoints = {rule.endpoint for rule, _method in routes(app)}
    return sorted(endpoints - set(table)), sorted(set(table) - endpoints)


def _app_for_collection() -> Flask:
    # the url_map only: no database is opened to build it
    with tempfile.TemporaryDirectory() as tmp:
        return build_app(base_config(Path(tmp), Path(tmp), f"sqlite:///{tmp}/unused.sqlite"))


@dataclass(frozen=True)
class Case:
    endpoint: str
    rule: str
    method: str
    identity: str
    variant: str | None  #: which link, on a signer's page

    @property
    def id(self) -> str:
        link = f" {self.variant}-link" if self.variant else ""
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"\1", self.rule)
        return f"{self.method} {path}{link} as {self.identity}"


def cases(app: Flask) -> list[Case]:
    out = []
    for rule, method in routes(app):
        entry = ACCESS.get(rule.endpoint)
        variants = VARIANTS if isinstance(entry, Token) else (None,)
        for identity in IDENTITIES:
            for variant in variants:
                out.append(Case(rule.endpoint, rule.rule, method, identity, variant))
    return out


CASES = cases(_app_for_collection())

# --------------------------------------------------------------------------- the module's world


@dataclass
class Objects:
    """What the URLs name (ids and tokens), the identities' cookies, and the database as made."""

    ids: dict[str, object]
    tokens: dict[str, str]
    cookies: dict[str, str]
    snapshot: dict[str, list[tuple[Any, ...]]]  #: every row, to put back
    fingerprint: dict[str, object]  #: to see what a request changed
    baseline: Path | None  #: a copy of the SQLite file as made


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order: the state a denial must not change."""
    db.session.remove()
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


def fingerprints() -> dict[str, object]:
    """Per table, a value that changes when any of its rows does: the rows themselves on SQLite
    (in process, cheap), a checksum of them from PostgreSQL in one round trip."""
    if BACKEND != "postgresql":
        return dict(rows())
    db.session.remove()
    # table names come from the models' metadata, not from input; jsonb spells a row one way
    # (a json column keeps the spacing it was written with, which a restore need not repeat)
    sql = " UNION ALL ".join(
        f"SELECT '{t.name}', md5(COALESCE(string_agg(to_jsonb(x)::text, '|' ORDER BY "  # noqa: S608
        f"to_jsonb(x)::text), '')) "
        f'FROM "{t.name}" x'
        for t in db.metadata.sorted_tables
    )
    with db.engine.connect() as conn:
        return {name: digest for name, digest in conn.execute(text(sql))}


def restore(objects: Objects, changed: set[str]) -> None:
    """Put the database back as the module made it (ids a case used up stay used)."""
    db.session.remove()
    if objects.baseline is not None:  # SQLite: the file as it was
        db.engine.dispose()
        live = Path(db.engine.url.database or "")
        for extra in (Path(f"{live}-wal"), Path(f"{live}-shm"), Path(f"{live}-journal")):
            extra.unlink(missing_ok=True)
        shutil.copyfile(objects.baseline, live)
        return
    tables = [t for t in db.metadata.sorted_tables if t.name in changed]
    with db.engine.begin() as conn:
        # PostgreSQL checks foreign keys (and runs any append-only rule) in triggers: off while
        # the changed tables are put back, so the unchanged ones are not touched
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(tables):
            conn.execute(table.delete())
        for table in tables:
            saved = objects.snapshot[table.name]
            if saved:
                keys = list(table.columns.keys())
                conn.execute(table.insert(), [dict(zip(keys, r, strict=True)) for r in saved])


def _sign_by_link(client: FlaskClient, app: Flask, token: str, req: SignatureRequest) -> None:
    dtype = runtime(app).registry["consent"]
    resp = client.post(
        f"/s/{token}/sign",
        data={
            "s-name": req.expected_name,
            "s-statements": list(signing.statements_for(req, dtype)),
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)


class Maker:
    """Makes the module's objects through the services and pages a user would use."""

    LINK = re.compile(r"/s/([A-Za-z0-9_-]{40,})")
    CODE = re.compile(r"\b(\d{6})\b")

    def __init__(self, app: Flask, smtp: SmtpServer) -> None:
        self.app, self.smtp = app, smtp
        self.world = World()
        self.store = runtime(app).store
        self.converter = runtime(app).converter

    def staff_login(self, username: str) -> str:
        client = self.app.test_client()
        resp = client.post("/login", data={"username": username, "password": PASSWORD})
        assert resp.status_code == 302 and "/login" not in resp.headers["Location"], username
        cookie = client.get_cookie("session")
        assert cookie is not None
        return cookie.value

    def link(self, req: SignatureRequest, address: str) -> str:
        """A personal link mailed for *req*; its token as the mail carries it."""
        before = len(self.smtp.messages)
        signing.issue_link(
            req,
            address,
            settings=self.app.config,
            link_for=lambda t: f"http://localhost/s/{t}",
            actor=self.world.users["caseworker"],
        )
        found = self.LINK.search(self.smtp.messages[before].get_content())
        assert found
        return found.group(1)

    def open_with_code(self, client: FlaskClient, token: str) -> None:
        """The signer asks for a one-time code and gives it: the link's content is open."""
        before = len(self.smtp.messages)
        assert client.post(f"/s/{token}/code").status_code == 302
        found = self.CODE.search(self.smtp.messages[before].get_content())
        assert found
        resp = client.post(f"/s/{token}/verify", data={"code": found.group(1)})
        assert resp.status_code == 302, resp.get_data(as_text=True)

    def paper(self, doc: Document, req: SignatureRequest) -> None:
        """The caseworker uploads a scan of *req*'s signature on paper, as on the page."""
        client = self.app.test_client()
        client.post("/login", data={"username": "caseworker", "password": PASSWORD})
        resp = client.post(
            f"/documents/{doc.id}/paper",
            data={"requests": [str(req.id)], "scan": (io.BytesIO(png_scan()), "skanning.png")},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)

    def talk(self) -> tuple[Document, Flow]:
        dtype = runtime(self.app).registry["security_talk"]
        doc = documents.create(
            dtype,
            dtype.sample(),
            actor=self.world.users["manager"],
            store=self.store,
            employee=self.world.users["caseworker"],
        )
        return doc, Flow(self.app, self.world, doc)

    def make(self) -> Objects:
        w, app = self.world, self.app
        users.create_user(
            username="other_manager",
            full_name="Olga Nilsson",
            role="manager",
            password=PASSWORD,
            district_id=w.other.id,
        )
        caseworker = w.users["caseworker"]
        draft = consent(app, w.participant, caseworker, status="draft")
        threat_type = runtime(app).registry["threat_assessment"]
        threat = documents.create(
            threat_type,
            threat_type.sample(),
            actor=w.users["manager"],
            store=self.store,
            participant=w.participant,
        )
        # a consent waiting for its three signers, two of them with a personal link
        sent = consent(app, w.participant, caseworker, status="draft")
        sent_reqs = Flow(app, w, sent).send()
        tokens = {
            "open": self.link(sent_reqs[1], "maria@example.se"),
            "open_sibling": self.link(sent_reqs[2], "johan@example.se"),
        }
        # a sealed consent: one signer by link, one on paper, one in person
        sealed = consent(app, w.participant, caseworker, status="draft")
        flow = Flow(app, w, sealed)
        sealed_reqs = flow.send()
        tokens["signed"] = self.link(sealed_reqs[1], "maria@example.se")
        signer_signed = app.test_client()
        self.open_with_code(signer_signed, tokens["signed"])
        _sign_by_link(signer_signed, app, tokens["signed"], sealed_reqs[1])
        self.paper(sealed, sealed_reqs[0])
        flow.sign(sealed_reqs[2], "Johan Öberg")
        assert flow.finalise()
        signer_open = app.test_client()
        self.open_with_code(signer_open, tokens["open"])
        # security talks: one waiting for its signers, one sealed for the security function
        talk, talk_flow = self.talk()
        talk_reqs = talk_flow.send()
        sealed_talk, sealed_flow = self.talk()
        for req, name in zip(sealed_flow.send(), ["Test manager", "Test caseworker"], strict=True):
            sealed_flow.sign(req, name)
        assert sealed_flow.finalise()
        checklists.ensure_defaults(next(iter(CHECKLISTS)))
        item = checklists.items(next(iter(CHECKLISTS)))[0]
        db.session.commit()
        # issue 14: ssoadmin — an administrator's SSO mapping rule
        sso_rule = sso_mappings.add(
            app.config,
            provider="*",
            claim="groups",
            value="access-map",
            role="analyst",
            district_id=None,
            actor=None,
        )
        ids: dict[str, object] = {
            "pid": w.participant.id,
            "employee": caseworker.id,
            "analyst": w.users["analyst"].id,
            "other_district": w.other.id,
            "draft": draft.id,
            "threat": threat.id,
            "sent": sent.id,
            "sent_req": sent_reqs[0].id,
            "sealed": sealed.id,
            "scan_req": sealed_reqs[0].id,
            "talk": talk.id,
            "talk_manager_req": next(r.id for r in talk_reqs if r.staff_role == "manager"),
            "sealed_talk": sealed_talk.id,
            "checklist_item": item.id,
            "sso_rule": sso_rule.id,  # issue 14: ssoadmin
        }
        cookies = {name: self.staff_login(name) for name in STAFF}
        for name, client in (("signer_open", signer_open), ("signer_signed", signer_signed)):
            cookie = client.get_cookie("session")
            assert cookie is not None
            cookies[name] = cookie.value
        return Objects(ids, tokens, cookies, {}, {}, None)


@pytest.fixture(scope="module")
def objects(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_db: str,
    converter_root: Path,
    seal_pkcs12: bytes,
) -> Iterator[tuple[Flask, Objects]]:
    tmp = tmp_path_factory.mktemp("access-map")
    with serving() as smtp:
        config = {**fresh_config(tmp, migrated_db, converter_root, seal_pkcs12), **smtp.settings}
        app = build_app(config)
        with app.app_context():
            try:
                made = Maker(app, smtp).make()
                made.snapshot, made.fingerprint = rows(), fingerprints()
                if BACKEND == "sqlite":
                    db.engine.dispose()
                    made.baseline = tmp / "baseline.sqlite"
                    shutil.copyfile(Path(db.engine.url.database or ""), made.baseline)
                yield app, made
            finally:
                empty_database()


# --------------------------------------------------------------------------- the test


def url_for_case(case: Case, entry: Staff | Public | Token, objects: Objects) -> str:
    values = {k: resolve(v, objects) for k, v in entry.args.items()}
    if isinstance(entry, Token):
        assert case.variant is not None
        values["token"] = (
            "forged-" + "x" * 43
            if case.variant == "forged"
            else objects.tokens[link_token(entry.own, case.variant)]
        )

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in values, f"{case.endpoint}: ACCESS gives no value for <{name}>"
        return str(values[name])

    query = getattr(entry, "query", "")
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", fill, case.rule) + (f"?{query}" if query else "")


def unverified_link(case: Case, entry: Staff | Public | Token) -> bool:
    """A signer's page of a real link, asked without having given the code for that link."""
    if not isinstance(entry, Token) or case.variant in (None, "forged"):
        return False
    return VERIFIED.get(case.identity) != link_token(entry.own, case.variant or "")


def resolve(value: object, objects: Objects) -> object:
    if isinstance(value, str) and value.startswith("$"):
        return objects.ids[value[1:]]
    return value


def ask(app: Flask, objects: Objects, case: Case, url: str, data: Mapping[str, object]) -> Any:
    client = app.test_client()  # a fresh browser: a lock or a logout never reaches the next case
    if case.identity != "anonymous":
        client.set_cookie("session", objects.cookies[case.identity])
    limiter.reset()
    return client.open(url, method=case.method, data=dict(data))


def check(case: Case, entry: Staff | Public | Token, expected: Expect, resp: Any, url: str) -> None:
    """The answer is *expected*; a refusal, or a signer's page before the code, shows no names."""
    status, body = resp.status_code, resp.get_data().decode("utf-8", "replace")
    location = resp.headers.get("Location", "")
    where = f"{case.id} -> {url}: got {status} {location}"
    if expected == OK:
        assert status in (200, 302, 303, 400), where
        assert not (isinstance(entry, Staff) and location.startswith("/login")), where
    elif expected == LOGIN:
        assert status == 302 and location.startswith("/login"), where
    elif expected == GONE:
        assert status == 404 and "Länken gäller inte" in body, where
    elif expected == BACK:
        assert status == 302 and location == url.removesuffix("/sign"), where
    else:
        assert status == expected, where
    if expected in DENIALS or unverified_link(case, entry):
        leaked = [name for name in SECRETS if name in body]
        assert not leaked, f"{where}: a refusal shows {leaked}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_route_access(objects: tuple[Flask, Objects], case: Case) -> None:
    app, made = objects
    entry = ACCESS.get(case.endpoint)
    assert entry is not None, f"{case.endpoint} ({case.rule}) is not in ACCESS: classify it"
    expected = entry.expect(case.identity, case.method, case.variant)
    url = url_for_case(case, entry, made)
    data = {k: resolve(v, made) for k, v in getattr(entry, "data", {}).items()}
    try:
        resp = ask(app, made, case, url, data)
        check(case, entry, expected, resp, url)
    finally:
        after = fingerprints()
        changed = {t for t in after if after[t] != made.fingerprint[t]}
        if changed:
            restore(made, changed)
    if expected in DENIALS:
        assert not changed, f"{case.id}: refused, yet changed {sorted(changed)}"


def test_every_endpoint_is_classified_and_every_entry_exists() -> None:
    missing, stale = unclassified(_app_for_collection(), ACCESS)
    assert missing == [], f"routes nobody has classified: {missing}"
    assert stale == [], f"ACCESS names endpoints that no longer exist: {stale}"


def test_a_new_route_or_a_removed_one_is_reported() -> None:
    app = _app_for_collection()
    app.add_url_rule("/forgotten", "forgotten.page", lambda: "data", methods=["GET", "POST"])
    missing, stale = unclassified(app, {**ACCESS, "removed.page": Public()})
    assert missing == ["forgotten.page"]
    assert stale == ["removed.page"]
    assert any(c.endpoint == "forgotten.page" and c.method == "POST" for c in cases(app))
