"""What is printed is what was typed (issue 10, defect 9), through HTTP on both databases.

Bidi controls and invisible formatting characters are refused with a message naming the field;
emoji print (fonts-symbola) and characters no installed font has are refused, never dropped;
invalid UTF-8 in a post, a query string or a path gives a Swedish 400 page and stores nothing.
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.models import Document, Participant
from formsvc.runtime import runtime
from formsvc.services import documents, glyphs
from tests.conftest import Auth, World
from tests.helpers import pdf_text
from tests.views.test_signing import send, sign_in_person, starting_today

BASE = {
    "first_name": "Sara",
    "last_name": "Nilsson",
    "id_kind": "personnummer",
    "id_number": "20120101-1234",
    "target_group": "sig_unga",
}
#: Every character the issue names, each of which changes how text prints without being seen.
INVISIBLE = {
    "LRE": "\u202a",
    "RLE": "\u202b",
    "POP": "\u202c",  # pop directional formatting
    "LRO": "\u202d",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "RLI": "\u2067",
    "FSI": "\u2068",
    "PDI": "\u2069",
    "LRM": "\u200e",
    "RLM": "\u200f",
    "ALM": "\u061c",
    "ZWSP": "\u200b",
    "ZWNJ": "\u200c",
    "ZWJ": "\u200d",
    "WJ": "\u2060",
    "BOM": "\ufeff",
    "SHY": "\u00ad",
    "LSEP": "\u2028",
}
#: Emoji and symbols that must print, sequences included (ZWJ family, skin tone, flag).
EMOJI = "Åsa 😀 👩‍👧 👍🏽 🇸🇪 ❤️ ✓ ☎"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Participant.id)))


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_in_a_name_are_refused_naming_the_field(
    client: FlaskClient, auth: Auth, world: World, char: str
) -> None:
    auth.login("caseworker")
    typed = f"Sara{char}Anna"
    resp = client.post("/participants/new", data={**BASE, "first_name": typed})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "«Förnamn» innehåller osynliga tecken" in html
    assert f"U+{ord(char):04X}" in html
    assert str(escape(typed)) in html  # kept, so it can be fixed
    assert _count() == 2


def test_the_reversing_character_is_named_in_the_last_name_too(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.post(
        "/participants/new", data={**BASE, "last_name": "Nilsson\u202egnirts"}
    ).get_data(as_text=True)
    assert "«Efternamn» innehåller osynliga tecken" in html and "U+202E" in html
    assert _count() == 2


@pytest.mark.parametrize("name", [EMOJI, "محمد عبد الله", "Zoë Ångström-Łukasz"])
def test_emoji_and_other_scripts_that_print_are_accepted(
    client: FlaskClient, auth: Auth, world: World, name: str
) -> None:
    auth.login("caseworker")
    resp = client.post("/participants/new", data={**BASE, "first_name": name})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert (
        db.session.scalars(
            db.select(Participant.first_name).where(Participant.last_name == "Nilsson")
        ).one()
        == name
    )


def test_a_character_no_font_has_is_refused_never_dropped(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    linear_a = "\U00010600"
    assert glyphs.unprintable(linear_a) == [linear_a]  # the fonts the setup installs lack it
    auth.login("caseworker")
    typed = f"Nilsson {linear_a}"
    resp = client.post("/participants/new", data={**BASE, "last_name": typed})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "«Efternamn» innehåller tecknen" in html and "U+10600" in html
    assert str(escape(typed)) in html
    assert _count() == 2


def test_the_replacement_character_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.post("/participants/new", data={**BASE, "first_name": "Sa\ufffda"}).get_data(
        as_text=True
    )
    assert "«Förnamn» innehåller tecknet" in html and "U+FFFD" in html
    assert _count() == 2


def test_a_hold_reason_with_a_bidi_character_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    resp = client.post(
        f"/participants/{world.participant.id}/hold",
        data={"on": "1", "reason": "Tvist\u202e pågår"},
        follow_redirects=True,
    )
    assert "«Skäl till spärren» innehåller osynliga tecken" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert world.participant.legal_hold is False


# -- invalid UTF-8 -------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


def _body(**fields: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode({**BASE, **fields}).encode()


@pytest.mark.parametrize(
    "body",
    [
        _body().replace(b"first_name=Sara", b"first_name=Sa%FFra"),
        _body().replace(b"first_name=Sara", b"first_name=Sa\xffra"),  # not even percent-encoded
        _body().replace(b"last_name=Nilsson", b"last_name=Nil%C3sson"),  # a cut-off sequence
        _body() + b"&extra%FF=1",  # in a field name
    ],
    ids=["percent", "raw", "truncated", "name"],
)
def test_invalid_utf8_in_a_form_post_is_a_swedish_400_and_stores_nothing(
    client: FlaskClient, auth: Auth, world: World, body: bytes
) -> None:
    auth.login("caseworker")
    resp = client.post("/participants/new", data=body, content_type=FORM)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Texten kunde inte läsas" in html and "Ingenting har sparats" in html
    assert _count() == 2
    # valid percent-encoded UTF-8 goes through
    ok = client.post(
        "/participants/new",
        data=_body().replace(b"first_name=Sara", b"first_name=%C3%85sa"),
        content_type=FORM,
    )
    assert ok.status_code == 302
    assert (
        db.session.scalars(
            db.select(Participant.first_name).where(Participant.last_name == "Nilsson")
        ).one()
        == "Åsa"
    )


def test_invalid_utf8_is_not_called_an_expired_form(make_app, world: World) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        resp = client.post("/login", data=b"username=case%FFworker&password=x", content_type=FORM)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Texten kunde inte läsas" in html and "gått ut" not in html


@pytest.mark.parametrize(
    "url",
    ["/participants/?sort=%FF", "/verify?x=%E2%82", "/login?next=%C0%AF"],
)
def test_invalid_utf8_in_a_query_or_path_is_a_swedish_400(
    client: FlaskClient, auth: Auth, world: World, url: str
) -> None:
    auth.login("caseworker")
    resp = client.get(url)
    assert resp.status_code == 400
    assert "Texten kunde inte läsas" in resp.get_data(as_text=True)


def test_invalid_utf8_in_a_path_is_a_swedish_400(live_server: str, world: World) -> None:
    # through a real server: the test client would already have replaced the byte by U+FFFD
    resp = requests.get(f"{live_server}/participants/%FF", timeout=30, allow_redirects=False)
    assert resp.status_code == 400 and "Texten kunde inte läsas" in resp.text
    resp = requests.get(f"{live_server}/login?next=%FF", timeout=30)
    assert resp.status_code == 400 and "Texten kunde inte läsas" in resp.text


def test_invalid_utf8_in_a_multipart_post_is_a_swedish_400(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    boundary = "xyzzy"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="first_name"\r\n\r\n'.encode()
        + b"Sa\xffra\r\n"
        + "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in BASE.items()
            if k != "first_name"
        ).encode()
        + f"--{boundary}--\r\n".encode()
    )
    resp = client.post(
        "/participants/new",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert resp.status_code == 400
    assert "Texten kunde inte läsas" in resp.get_data(as_text=True)
    assert _count() == 2


# -- printing ------------------------------------------------------------------------------------


def test_a_signer_name_with_a_bidi_character_is_refused(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    reqs = send(client, starting_today(app, world, consent_doc))
    resp = sign_in_person(client, app, consent_doc, reqs[0], "Åsa\u202e Öberg")
    html = resp.get_data(as_text=True)
    assert "«Ditt namn» innehåller osynliga tecken" in html and "U+202E" in html


def test_an_emoji_name_prints_in_the_pdf(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    p = world.add_participant(world.home, "Åsa 😀", "Öberg ✓", date(2010, 3, 15))
    dtype = runtime(app).registry["consent"]
    doc = documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["caseworker"],
        participant=p,
        store=runtime(app).store,
    )
    auth.login("caseworker")
    pdf = client.get(f"/documents/{doc.id}/download.pdf")
    assert pdf.status_code == 200
    assert "Åsa 😀 Öberg ✓" in pdf_text(pdf.data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emoji.pdf"
        path.write_bytes(pdf.data)
        fonts = subprocess.run(
            ["pdffonts", str(path)], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    # a font with outlines for the emoji is embedded (a colour bitmap font would print blank)
    assert "Symbola" in fonts and "NotoColorEmoji" not in fonts
