"""Rotating SECRET_KEY: with the old key in SECRET_KEY_FALLBACKS a session, a CSRF token and a
one-time code made under it still work, new ones are made under the new key, and without the
fallback the old ones stop working (README "Running on several machines")."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc import create_app
from formsvc.models import Document
from formsvc.services import signing
from tests.conftest import PASSWORD, World
from tests.smtp import SmtpServer
from tests.views.test_sign_link import ASA, config, give_code, request_code, send_link, sent

__all__ = ["config", "sent"]  # the signing-link fixtures, used here too

NEW = "the-new-secret-key-after-rotation"
MakeApp = Callable[..., Flask]


@pytest.fixture
def keys(config: dict[str, Any], make_app: MakeApp) -> tuple[Flask, Flask, Flask]:
    """The same instance under the old key, during the rotation, and after it."""
    old = str(config["SECRET_KEY"])
    return (
        make_app(),
        make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[old]),
        make_app(SECRET_KEY=NEW),
    )


def session_of(app: Flask, cookie: str | None = None, **login: str) -> str:
    """The session cookie after logging in (or after one request, with *cookie*)."""
    client = app.test_client()
    if cookie:
        client.set_cookie("session", cookie)
    if login:
        client.post("/login", data={**login, "password": PASSWORD})
    found = client.get_cookie("session")
    assert found is not None
    return found.value


def logged_in(app: Flask, cookie: str) -> bool:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/participants/").status_code == 200


def test_a_session_lasts_through_the_rotation_and_ends_when_the_old_key_goes(
    world: World, keys: tuple[Flask, Flask, Flask]
) -> None:
    old, rotating, new = keys
    cookie = session_of(old, username="caseworker")
    assert logged_in(old, cookie)
    assert logged_in(rotating, cookie)
    assert not logged_in(new, cookie)
    # a session started during the rotation is under the new key
    assert logged_in(new, session_of(rotating, username="caseworker"))


def csrf_form(app: Flask, cookie: str | None = None) -> tuple[str, str]:
    """The login page's CSRF token and the session cookie holding its other half."""
    client = app.test_client()
    if cookie:
        client.set_cookie("session", cookie)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    found = client.get_cookie("session")
    assert token and found
    return token.group(1), found.value


def post_login(app: Flask, cookie: str, token: str) -> tuple[int, str | None]:
    """A wrong password posted with *token*: 200 if the CSRF check passed, 400 if not."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    data = {"csrf_token": token, "username": "caseworker", "password": "fel-losenord-1"}
    status = client.post("/login", data=data).status_code
    after = client.get_cookie("session")
    return status, after.value if after else None


def test_a_csrf_token_lasts_through_the_rotation_and_ends_when_the_old_key_goes(
    world: World, config: dict[str, Any], make_app: MakeApp
) -> None:
    old_key = str(config["SECRET_KEY"])
    old = make_app(WTF_CSRF_ENABLED=True)
    rotating = make_app(WTF_CSRF_ENABLED=True, SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[old_key])
    new = make_app(WTF_CSRF_ENABLED=True, SECRET_KEY=NEW)
    token, cookie = csrf_form(old)
    status, resigned = post_login(rotating, cookie, token)
    assert status == 200
    # the session now under the new key, the form's token still the old key's: refused alone
    assert resigned is not None and logged_in(rotating, resigned) is False
    assert post_login(new, resigned, token)[0] == 400
    assert post_login(new, cookie, token)[0] == 400
    # a form shown during the rotation is signed with the new key
    token, cookie = csrf_form(rotating)
    assert post_login(new, cookie, token)[0] == 200


def test_a_one_time_code_lasts_through_the_rotation_and_ends_when_the_old_key_goes(
    client: FlaskClient,
    sent: Document,
    smtp_server: SmtpServer,
    keys: tuple[Flask, Flask, Flask],
) -> None:
    old, rotating, new = keys
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    code = request_code(old.test_client(), smtp_server, token, ASA)
    assert give_code(new.test_client(), token, code).status_code == 200  # refused: wrong code
    assert give_code(rotating.test_client(), token, code).status_code == 302
    # a code sent during the rotation is made under the new key
    code = request_code(rotating.test_client(), smtp_server, token, ASA)
    assert give_code(new.test_client(), token, code).status_code == 302


@pytest.mark.parametrize("fallbacks", ["old-key-as-a-string", [""], [None], [1234], {"k": 1}])
def test_fallbacks_that_are_not_a_list_of_keys_refuse_to_start(
    config: dict[str, Any], fallbacks: object
) -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY_FALLBACKS must be a list"):
        create_app({**config, "SECRET_KEY_FALLBACKS": fallbacks})
