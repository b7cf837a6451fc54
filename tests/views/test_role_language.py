"""Signer roles and statements are stored in Swedish (document text) and shown in the interface's
language (a statement with its Swedish original, which is what the signer attests to).

The document page, the in-person signing page and the personal link's page of a consent for a
minor with two guardians, once with the session in English and once in Swedish.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.models import Document
from formsvc.services import signing
from tests.conftest import Auth, World
from tests.smtp import SmtpServer
from tests.views.test_sign_link import open_with_code, send_link
from tests.views.test_signing import send, starting_today

SWEDISH_ROLES = ("Deltagare", "Vårdnadshavare 1", "Vårdnadshavare 2")
ENGLISH_ROLES = ("Participant", "Guardian 1", "Guardian 2")
#: Every Swedish role name of every document type: none may show in an English interface. As
#: names (capitalised): the statements a guardian ticks are the document's Swedish text ("Jag är
#: vårdnadshavare till …"), stored at sending and printed in the evidence as attested.
ANY_SWEDISH_ROLE = re.compile(r"Deltagare|Vårdnadshavare|Arbetsledare|Lots/samordnare|Medarbetare")


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def visible(page: str) -> str:
    """The page's text and attribute values a reader meets (no script, no hidden CSRF token)."""
    body = page[page.index("<body") :]
    return re.sub(r"<script.*?</script>", "", body, flags=re.S)


def pages(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    doc: Document,
    smtp_server: SmtpServer,
    lang: str,
) -> dict[str, str]:
    """The three pages that name the roles, in *lang*, for a sent consent."""
    auth.login("caseworker")
    client.get(f"/lang/{lang}")
    reqs = send(client, starting_today(app, world, doc))
    assert [r.role for r in reqs] == list(SWEDISH_ROLES)  # stored in Swedish either way
    guardian2 = reqs[2]
    token = send_link(client, smtp_server, doc, guardian2, "maria@example.se")
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, "maria@example.se")
    signer.get(f"/lang/{lang}")  # after the code: the helper reads the Swedish code mail
    out = {
        "document": client.get(f"/documents/{doc.id}").get_data(as_text=True),
        "in-person": client.get(f"/documents/{doc.id}/signatures/{reqs[1].id}/in-person").get_data(
            as_text=True
        ),
        "link": signer.get(f"/s/{token}").get_data(as_text=True),
    }
    assert signing.requests(doc)[2].role == "Vårdnadshavare 2"  # nothing stored changed
    return {name: visible(page) for name, page in out.items()}


def test_with_english_the_pages_show_english_roles_and_no_swedish_ones(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    shown = pages(app, client, auth, world, consent_doc, smtp_server, "en")
    for name, page in shown.items():
        assert ANY_SWEDISH_ROLE.findall(page) == [], name
    for role in ENGLISH_ROLES:
        assert f'data-label="Role">{role}</td>' in shown["document"]
    assert "Waiting for" not in shown["document"] or "Waiting for Guardian" in shown["document"]
    assert "Guardian 1" in shown["in-person"]
    assert re.search(r"<dt>You are</dt>\s*<dd>Guardian 2</dd>", shown["link"])
    # the statement reads in English; what is ticked and attested is the document's Swedish
    for page in (shown["in-person"], shown["link"]):
        assert ">I am the guardian of Åsa Öberg and give my consent" in page
        assert (
            'In the document, in Swedish: <span lang="sv">Jag är vårdnadshavare till Åsa Öberg'
            in page
        )
        assert 'value="Jag är vårdnadshavare till Åsa Öberg' in page


def test_with_swedish_the_pages_show_the_roles_as_stored(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    shown = pages(app, client, auth, world, consent_doc, smtp_server, "sv")
    for role in SWEDISH_ROLES:
        assert f'data-label="Roll">{role}</td>' in shown["document"]
    assert "Vårdnadshavare 1" in shown["in-person"]
    assert re.search(r"<dt>Du är</dt>\s*<dd>Vårdnadshavare 2</dd>", shown["link"])
    for page in shown.values():
        assert "Guardian" not in page and "Participant" not in page
        assert "I dokumentet, på svenska" not in page  # the label is the document's text
