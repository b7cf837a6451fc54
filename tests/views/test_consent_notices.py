"""The consent form warns about what would make it useless or incomplete, also after saving."""

from __future__ import annotations

import re
from datetime import date

from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.consent import ConsentForm, sample
from formsvc.models import Document
from tests.conftest import Auth, World
from tests.helpers import post_data


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/consent"


def _selected_custody(html: str) -> str:
    select = re.search(r'<select[^>]*name="custody".*?</select>', html, re.S)
    assert select, "the custody field is on the page"
    chosen = re.search(r"<option[^>]*selected[^>]*>([^<]*)</option>", select.group(0))
    first = re.search(r"<option[^>]*>([^<]*)</option>", select.group(0))
    return (chosen or first).group(1)


def test_a_minor_is_not_offered_custody_not_applicable_and_is_told_to_give_it(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    age = world.participant.birth_date and (
        date.today().year
        - world.participant.birth_date.year
        - ((date.today().month, date.today().day)
           < (world.participant.birth_date.month, world.participant.birth_date.day))
    )  # fmt: skip
    assert age < 18
    assert "välj vårdnad" in _selected_custody(html)
    assert "inte aktuellt (deltagaren" not in html
    assert f"Deltagaren är {age} år när medgivandet börjar gälla: ange vårdnaden" in html


def test_a_period_entirely_in_the_past_is_saved_with_a_warning(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample(), period_from="2025-01-01", period_to="2025-06-30")
    resp = client.post(_url(world), data=data, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 1
    assert "Hela perioden (till och med 2025-06-30) har redan passerat" in html


def test_a_current_period_gets_no_such_warning(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    today = date.today()
    data = post_data(
        ConsentForm,
        sample(),
        period_from=today.isoformat(),
        period_to=date(today.year + 1, today.month, 1).isoformat(),
    )
    html = client.post(_url(world), data=data, follow_redirects=True).get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 1
    assert "har redan passerat" not in html
