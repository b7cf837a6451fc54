"""Informationsbrev (bilaga 3.0): the text follows the target group; the receipt is optional."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.info_letter import InfoLetterForm, sample
from formsvc.models import Document, Participant
from tests.conftest import Auth, World
from tests.helpers import docx_text, pdf_text, post_data


def _url(participant: Participant) -> str:
    return f"/participants/{participant.id}/documents/new/info_letter"


def _young_adult(world: World) -> Participant:
    """26 years old on the sample letter's date: SIG unga vuxna."""
    return world.add_participant(world.home, "Ali", "Hassan", date(2000, 5, 1))


def _saved_text(client: FlaskClient, participant: Participant, **changes: Any) -> str:
    resp = client.post(_url(participant), data=post_data(InfoLetterForm, {**sample(), **changes}))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    doc = db.session.scalars(db.select(Document).order_by(Document.id.desc())).first()
    return docx_text(client.get(f"/documents/{doc.id}/download.docx").data)


def test_new_letter_for_a_young_participant_starts_with_school_and_the_author(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(world.participant)).get_data(as_text=True)
    assert '<option selected value="sig_unga">' in html
    assert 'value="Skolan och elevhälsan"' in html
    assert "Jobbtorg Stockholm" not in html
    assert 'value="Test caseworker"' in html  # the author is the contact person
    assert "Polisen deltar alltid" in html
    assert "vårdnadshavarna samma information" in html  # Åsa is under 18


def test_new_letter_for_a_young_adult_starts_with_work(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(_young_adult(world))).get_data(as_text=True)
    assert '<option selected value="sig_unga_vuxna">' in html
    assert 'value="Jobbtorg Stockholm"' in html
    assert "Skolan och elevhälsan" not in html
    assert "vårdnadshavarna samma information" not in html


def test_a_letter_for_the_wrong_age_group_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    adult = _young_adult(world)
    resp = client.post(_url(adult), data=post_data(InfoLetterForm, sample()))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Deltagaren är 26 år den 2026-11-16, men SIG unga (12–20 år) gäller" in html
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_sig_unga_letter_involves_guardians_and_school_and_has_a_receipt(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    text = _saved_text(client, world.participant)
    assert "Hej Åsa!" in text and "Hej Åsa Öberg" not in text
    assert "SIG unga (12–20 år)" in text
    assert "Eftersom du är under 18 år får dina vårdnadshavare samma information" in text
    assert "att du går i skolan" in text
    assert "Jobbtorg Stockholm eller Arbetsförmedlingen" not in text
    assert "Polisen\nPolisen deltar alltid i en social insatsgrupp." in text
    assert "Elevhälsan, Husbygårdsskolan" in text
    assert "Mottagningskvitto" in text and "Namnförtydligande" in text


def test_sig_unga_vuxna_letter_is_about_work_and_has_no_receipt_unless_asked(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    text = _saved_text(client, _young_adult(world), variant="sig_unga_vuxna", with_receipt=False)
    assert "SIG unga vuxna (19–29 år)" in text
    assert "Jobbtorg Stockholm eller Arbetsförmedlingen" in text
    assert "försörja dig själv på ett lagligt sätt" in text
    assert "vårdnadshavare" not in text
    assert "Mottagningskvitto" not in text
    assert "Namnförtydligande" not in text


def test_letter_carries_the_personal_data_information(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    text = _saved_text(client, world.participant, dpo_contact="dso.rinkeby-kista@example.se")
    for expected in (
        "Rinkeby-Kista stadsdelsnämnd",  # the controller is the district's committee
        "myndighetsutövning",
        "år efter den sista anteckningen",
        "rättade",
        "begränsas",
        "Integritetsskyddsmyndigheten (IMY)",
        "dso.rinkeby-kista@example.se",
        "Sekretessbrytande medgivande (bilaga 3.2)",
        "Du kan när som helst återkalla medgivandet",
        "inte går att nå under en längre period",
    ):
        assert expected in text, expected


def test_the_police_stay_in_the_letter_even_with_no_other_actors(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    text = _saved_text(client, world.participant, actors=[])
    assert "Polisen\nPolisen deltar alltid i en social insatsgrupp." in text
    assert "Elevhälsan" not in text


def test_the_police_role_cannot_be_left_empty(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(InfoLetterForm, sample(), police_role="")
    resp = client.post(_url(world.participant), data=data)
    assert resp.status_code == 200
    assert "Beskriv vad polisen gör i SIG." in resp.get_data(as_text=True)


def test_pdf_ends_with_the_receipt_on_its_own_page(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    resp = client.post(_url(world.participant), data=post_data(InfoLetterForm, sample()))
    assert resp.status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    pages = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data).split("\f")
    last = [p for p in pages if p.strip()][-1]
    assert "Mottagningskvitto" in last and "Namnförtydligande" in last
    assert "Så behandlar vi dina personuppgifter" not in last


#: what GDPR art. 13 and 21 ask, and disclosure without consent, in the letter's own words
LEGAL_STATEMENTS = (
    "artikel 6.1 e i dataskyddsförordningen, 2 kap. 2 § dataskyddslagen",
    "Ditt medgivande till att dela uppgifter är inte den rättsliga grunden för behandlingen",
    "känsliga uppgifter, till exempel om din hälsa, och uppgifter om brott och misstankar om brott",
    "artikel 9.2 h och artikel 10 i dataskyddsförordningen, 3 kap. 5 och 8 §§ dataskyddslagen "
    "(2018:218) och lagen om behandling av personuppgifter inom socialtjänsten",
    "Även utan ditt medgivande får eller måste vi ibland lämna uppgifter",
    "förhindra att en ung person under 21 år begår brott (10 kap. 18 a § OSL)",
    "(10 kap. 28 § OSL)",
    "Akten gallras, det vill säga tas bort, 7 år efter den sista anteckningen i den",
    "Du har rätt att invända mot att vi behandlar dina personuppgifter (artikel 21 i "
    "dataskyddsförordningen)",
    "Du behöver inte lämna några uppgifter",
    "Företag, föreningar och privatpersoner har inte sekretess",
    "Integritetsskyddsmyndigheten (IMY)",
)


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    """A city that keeps social-services files for 7 years."""
    return {**config, "RETENTION_YEARS": 7}


def _pdf(client: FlaskClient, participant: Participant, **changes: Any) -> tuple[Document, str]:
    resp = client.post(_url(participant), data=post_data(InfoLetterForm, {**sample(), **changes}))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    doc = db.session.scalars(db.select(Document).order_by(Document.id.desc())).first()
    text = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    return doc, re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u00ad", ""))


@pytest.mark.parametrize("variant", ["sig_unga", "sig_unga_vuxna"])
def test_letter_pdf_meets_gdpr_13_and_21_with_retention_from_the_settings(
    client: FlaskClient, auth: Auth, world: World, variant: str
) -> None:
    auth.login("caseworker")
    who = world.participant if variant == "sig_unga" else _young_adult(world)
    doc, text = _pdf(client, who, variant=variant)
    for expected in LEGAL_STATEMENTS:
        assert expected in text, expected
    first, full = ("Åsa", "Åsa Öberg") if variant == "sig_unga" else ("Ali", "Ali Hassan")
    assert f"Hej {first}!" in text and f"Hej {full}" not in text
    assert "när en lag kräver det" not in text  # the old, understated wording
    assert doc.data["retention_years"] == 7
    assert doc.data["texts"]["letter.object"]["version"] == "1"
