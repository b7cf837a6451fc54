"""Two first logins of one person at the same instant, over real HTTP (issue 14): one account."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import User
from tests.conftest import World
from tests.views.test_sso_oidc import CITY_MAPPINGS, events

CLIENT_ID = f"formsvc-twins-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def op_client(oidc_idp: Any) -> dict[str, Any]:
    # registered again below with the live server's address, under the same id and secret
    return oidc_idp.add_client(["http://127.0.0.1/sso/city/callback"], client_id=CLIENT_ID)


@pytest.fixture
def config(config: dict[str, Any], oidc_idp: Any, op_client: dict[str, Any]) -> dict[str, Any]:
    conf = oidc_idp.provider_conf(op_client, mappings=CITY_MAPPINGS)
    return {**config, "SSO_PROVIDERS": {"city": conf}}


def test_two_first_logins_of_one_person_at_once_make_one_account(
    app: Flask, live_server: str, oidc_idp: Any, op_client: dict[str, Any], world: World
) -> None:
    oidc_idp.add_client(
        [f"{live_server}/sso/city/callback"],
        client_id=CLIENT_ID,
        client_secret=op_client["client_secret"],
    )
    username = f"twin.{uuid.uuid4().hex[:8]}@stad.example"
    sub = oidc_idp.add_account(username, name="Tvilling Svensson", groups=["rinkeby-lotsar"])
    browsers, callbacks = [], []
    for _ in range(2):  # two browsers, each through the IdP up to our callback
        browser = requests.Session()
        start = browser.get(f"{live_server}/sso/city/login", allow_redirects=False, timeout=10)
        assert start.status_code == 302, start.text
        callbacks.append(oidc_idp.login(start.headers["Location"], username))
        browsers.append(browser)
    barrier = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def back(i: int) -> None:
        barrier.wait(timeout=10)
        answers[i] = browsers[i].get(callbacks[i], allow_redirects=False, timeout=30)

    threads = [threading.Thread(target=back, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [a.status_code for a in answers] == [302, 302], [a.text[:300] for a in answers]
    for browser in browsers:
        assert "Välkommen, Tvilling Svensson" in browser.get(f"{live_server}/", timeout=10).text
    db.session.expire_all()
    accounts = db.session.scalars(select(User).where(User.sso_subject == sub)).all()
    assert len(accounts) == 1
    assert len(events("sso_account_created")) == 1 and len(events("sso_login")) == 2
