"""Sekretessbrytande medgivande (3.2) states the law exactly (issue 18): scope, basis, police both
ways, recipients without secrecy, guardians' own words, 12 kap. 3 § OSL, the configured period."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.consent import ConsentForm, sample
from formsvc.models import Document, Participant, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import Auth, World
from tests.helpers import docx_text, pdf_text, post_data
from tests.services.test_signing import Flow

#: the civil-society row of the sample: a football club, which has no secrecy under OSL
CLUB = "Fotbollsföreningen IK Kista"
NO_SECRECY_STATEMENT = "inte har sekretess enligt offentlighets- och sekretesslagen"


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    """A city that allows 18 months and has adapted one legal text."""
    return {
        **config,
        "CONSENT_MAX_MONTHS": 18,
        "LEGAL_TEXTS": {"consent.not_blanket": "Stadens egen text: inget generellt medgivande."},
    }


def _url(participant: Participant) -> str:
    return f"/participants/{participant.id}/documents/new/consent"


def _adult(world: World) -> Participant:
    return world.add_participant(world.home, "Ali", "Hassan", date(2000, 5, 1))


def _public_only(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "actors": [r for r in data["actors"] if r["actor"] != "other"]}


def _save(
    client: FlaskClient, participant: Participant, data: dict[str, Any], **kw: str
) -> Document:
    resp = client.post(_url(participant), data=post_data(ConsentForm, data, **kw))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    return db.session.scalars(db.select(Document).order_by(Document.id.desc())).first()


def _pdf(client: FlaskClient, doc: Document) -> str:
    text = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u00ad", ""))


def _adult_data() -> dict[str, Any]:
    return {**sample(), "custody": "", "guardians": [{}, {}]}


def test_adult_consent_pdf_states_scope_basis_and_the_configured_period(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = {**_adult_data(), "period_to": "2028-05-31"}  # 18 months: allowed by this city
    text = _pdf(client, _save(client, _adult(world), _public_only(data)))
    for expected in (
        # the scope as the guidance works: in SIG meetings and bilaterally, per direction
        "På mötena i den sociala insatsgruppen får socialtjänsten och aktörerna i tabellen lämna "
        "uppgifter om dig till varandra",
        "Utanför mötena får socialtjänsten och varje aktör lämna uppgifter till varandra",
        "bara i den riktning som anges för varje aktör",
        # the basis, exactly: 26:1 is the secrecy, 12:2 the waiver, 10:1 only refers to it
        "26 kap. 1 § offentlighets- och sekretesslagen (2009:400)",
        "kan helt eller delvis efterge den (12 kap. 2 § OSL)",
        "hänvisningen i 10 kap. 1 § OSL",
        "10 kap. 18 a § OSL",
        "artikel 6.1 e i dataskyddsförordningen",
        "ingår därför alltid i medgivandet, åt båda hållen",
        "Ett medgivande gäller som längst 18 månader",
        "Stadens egen text: inget generellt medgivande.",
        "Jag lämnar mitt medgivande till att uppgifter om mig lämnas",
    ):
        assert expected in text, expected
    for absent in ("12 månader", "12 kap. 3 §", "Vårdnadshavare", "mitt barn", "Mottagare utan"):
        assert absent not in text, absent


def test_a_saved_consent_keeps_the_texts_and_period_it_printed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    doc = _save(client, _adult(world), _public_only(_adult_data()))
    assert doc.data["max_months"] == 18
    assert doc.data["police_direction"] == "both"
    adapted = doc.data["texts"]["consent.not_blanket"]
    assert adapted["text"] == "Stadens egen text: inget generellt medgivande."
    assert adapted["version"].startswith("lokal-")
    assert doc.data["texts"]["consent.basis"]["version"] == "1"


def test_minor_consent_is_written_for_guardians_and_cites_12_kap_3(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    doc = _save(client, world.participant, sample())  # Åsa is 16, joint custody
    text = _pdf(client, doc)
    for expected in (
        "Sekretessen kan ändå gälla mot dina vårdnadshavare, om du kan antas lida betydande men "
        "av att de får veta en uppgift (12 kap. 3 § OSL)",
        "Till dig som är vårdnadshavare: du lämnar medgivandet för uppgifter om ditt barn",
        "Jag är vårdnadshavare till Åsa Öberg och lämnar mitt medgivande till att uppgifter om "
        "mitt barn lämnas",
    ):
        assert expected in text, expected
    dtype = runtime(app).registry["consent"]
    slots = {s.key: s for s in dtype.signers(documents.render_input(doc))}
    assert set(slots) == {"participant", "guardian1", "guardian2"}
    for key in ("guardian1", "guardian2"):
        words = " ".join(slots[key].statements)
        assert "mitt barn" in words and "om mig" not in words and "jag när som helst" not in words
    assert "uppgifter om mig" in slots["participant"].statements[0]


def test_private_recipient_is_warned_about_in_the_pdf_and_in_every_signers_statements(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    doc = _save(client, world.participant, sample())
    text = _pdf(client, doc)
    assert f"{CLUB} (ingen sekretess enligt OSL)" in text
    assert f"Mottagare utan sekretess. Några mottagare i medgivandet har inte sekretess enligt " \
        f"offentlighets- och sekretesslagen: {CLUB}." in text  # fmt: skip
    assert f"Jag har fått veta att {CLUB} {NO_SECRECY_STATEMENT}, och att uppgifter om mig" in text
    assert f"{NO_SECRECY_STATEMENT}, och att uppgifter om mitt barn" in text
    dtype = runtime(app).registry["consent"]
    for slot in dtype.signers(documents.render_input(doc)):
        assert any(NO_SECRECY_STATEMENT in s for s in slot.statements), slot.key


def test_without_private_recipients_there_is_no_warning_and_no_extra_statement(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    doc = _save(client, world.participant, _public_only(sample()))
    assert "sekretess enligt OSL)" not in _pdf(client, doc)
    dtype = runtime(app).registry["consent"]
    for slot in dtype.signers(documents.render_input(doc)):
        assert len(slot.statements) == 2


def test_a_signer_who_does_not_tick_the_no_secrecy_statement_cannot_sign(
    app: Flask, world: World, consent_doc: Document
) -> None:
    flow = Flow(app, world, consent_doc)
    req = next(r for r in flow.send() if r.slot == "guardian1")
    wanted = signing.statements_for(req, flow.dtype)
    without = tuple(s for s in wanted if NO_SECRECY_STATEMENT not in s)
    assert len(without) == len(wanted) - 1
    given = signing.Given(name="Maria Öberg", statements=without, ip="127.0.0.1", user_agent="t")
    with pytest.raises(signing.SigningError):
        signing.sign(
            req, flow.dtype, given, method="in_person", verification="på plats",
            actor=world.users["caseworker"], settings=app.config, store=flow.store,
        )  # fmt: skip
    flow.sign(req, "Maria Öberg")
    row = db.session.get(SignatureRequest, req.id)
    assert any(NO_SECRECY_STATEMENT in s and "mitt barn" in s for s in row.statements)


def test_the_form_warns_about_recipients_without_secrecy(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = {**sample(), "actors": [*sample()["actors"], {"actor": "relative", "contact": "Moster"}]}
    # a post with an error keeps what was typed and shows the warning
    resp = client.post(_url(world.participant), data=post_data(ConsentForm, data, period_to=""))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f"Mottagare utan sekretess: {CLUB}, Närstående (familj, släkt)." in html
    # and so does the saved consent's edit page
    doc = _save(client, world.participant, data)
    html = client.get(f"/documents/{doc.id}/edit").get_data(as_text=True)
    assert "Mottagare utan sekretess:" in html and CLUB in html
    # a consent with public actors only carries no warning
    doc = _save(client, world.participant, _public_only(sample()))
    assert "Mottagare utan sekretess" not in client.get(f"/documents/{doc.id}/edit").get_data(
        as_text=True
    )


def test_other_actor_and_housing_must_say_whether_they_have_secrecy(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample(), **{"actors-2-secrecy": ""})
    data.add("actors-3-actor", "housing")
    data.add("actors-3-contact", "Svenska Bostäder, Husby")
    resp = client.post(_url(world.participant), data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("Ange om mottagaren har sekretess") == 2
    assert "Svenska Bostäder, Husby" in html  # what was typed is kept
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_a_housing_company_with_secrecy_gets_no_warning(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = _public_only(sample())
    data["actors"].append(
        {"actor": "housing", "contact": "Bostadsförmedlingen", "secrecy": "public"}
    )
    doc = _save(client, world.participant, data)
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Bostadsbolag" in text and "ingen sekretess" not in text


@pytest.mark.parametrize("forged", ["to_social", "from_social", "", "sideways", "x" * 5000])
def test_the_police_cannot_be_made_one_way_by_a_forged_post(
    client: FlaskClient, auth: Auth, world: World, forged: str
) -> None:
    auth.login("caseworker")
    doc = _save(client, world.participant, sample(), police_direction=forged)
    assert doc.data["police_direction"] == "both"
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Polismyndigheten\nKommunpolis Rinkeby-Kista, Anders Berg\nBåda hållen" in text


def test_the_form_offers_no_direction_for_the_police_and_the_new_kinds_and_actors(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(world.participant)).get_data(as_text=True)
    assert 'name="police_direction"' not in html
    assert "Polismyndigheten ingår alltid, åt båda hållen, och kan inte tas bort." in html
    assert 'value="threats"' in html and "Hot och säkerhet" in html
    assert 'value="relative"' in html and 'value="network"' in html


@pytest.mark.parametrize(
    "value", ["private\u202e", "public<script>", "x" * 10_000, "\x00", "PRIVATE"]
)
def test_hostile_secrecy_values_are_refused(
    client: FlaskClient, auth: Auth, world: World, value: str
) -> None:
    auth.login("caseworker")
    resp = client.post(
        _url(world.participant),
        data=post_data(ConsentForm, sample(), **{"actors-2-secrecy": value}),
    )
    assert resp.status_code == 200
    assert "Formuläret innehåller fel" in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"consent.basiss": "x"}, "unknown text 'consent.basiss'"),
        ({"consent.basis": ""}, "must be 1–5000 characters"),
        ({"consent.basis": 42}, "must be 1–5000 characters"),
        ({"consent.basis": "x" * 5001}, "must be 1–5000 characters"),
        (["consent.basis"], "must map text keys"),
    ],
)
def test_a_mistyped_legal_text_setting_stops_the_app_at_start(
    make_app: Any, overrides: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_app(LEGAL_TEXTS=overrides)


def test_an_adapted_text_with_an_unknown_placeholder_prints_as_written(
    make_app: Any, world: World
) -> None:
    app = make_app(LEGAL_TEXTS={"consent.period": "Högst %(manader)s månader, 100 %."})
    with app.test_client() as client, app.app_context():
        Auth(client).login("caseworker")
        doc = _save(client, world.participant, sample())
        text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Högst %(manader)s månader, 100 %." in text
