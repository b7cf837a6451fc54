"""Fixture `bankid_peer`: the BankID RP API v6 protocol test peer (tests/bankid_peer.py), loopback.

One peer (test CA, server and RP certificates, HTTPS with mutual TLS) per test run; each test gets
it with no orders left from another test. Use it with::

    from tests.idp.bankid import bankid_peer_fixture, bankid_peer_session_fixture  # noqa: F401

    def test_x(config, bankid_peer):
        config["BANKID"] = bankid_peer.settings
        ...
        bankid_peer.complete(order_ref_or_qr_content, "199001011234", "Anna Andersson")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bankid_peer import BankIdPeer, PeerRefused

__all__ = ["BankIdPeer", "PeerRefused", "bankid_peer_fixture", "bankid_peer_session_fixture"]


@pytest.fixture(scope="session", name="bankid_peer_session")
def bankid_peer_session_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankIdPeer]:
    """The peer for the whole run (its keys are made once: RSA keys take a moment)."""
    peer = BankIdPeer(Path(tmp_path_factory.mktemp("bankid-peer")))
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture(name="bankid_peer")
def bankid_peer_fixture(bankid_peer_session: BankIdPeer) -> Iterator[BankIdPeer]:
    """The peer, without orders or injected errors from other tests.

    `.settings` is the mapping for settings["BANKID"]; `.complete(order_ref or QR content,
    personal_number, name)`, `.cancel_by_user(...)`, `.set_hint(...)`, `.scan(...)`,
    `.open_app(auto_start_token)`, `.expire(order_ref)`, `.fail_next(error_code)`."""
    bankid_peer_session.reset()
    yield bankid_peer_session
    bankid_peer_session.reset()
