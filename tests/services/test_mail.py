"""Mail as the receiving SMTP server sees it: intact Swedish text, refusals, unreachable servers."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from formsvc.services.mail import Mail, MailError, send
from tests.smtp import SmtpServer, smtp_server  # noqa: F401  (the fixture, until conftest has it)

SENDER = "formsvc <noreply@formsvc.invalid>"
UNAVAILABLE = "E-post kunde inte skickas just nu. Försök igen om en stund."


def _settings(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {**server.settings, "MAIL_SENDER": SENDER, **extra}


def test_swedish_subject_and_body_arrive_intact(smtp_server: SmtpServer) -> None:  # noqa: F811
    body = (
        "Hej Åsa Öberg!\n\n"
        "Din kod är 123456. Ärendet gäller rådgivning på Skärholmen.\n"
        ".\n"  # a lone dot ends SMTP DATA unless the client escapes it
        "From Örebro, a line mail programs like to mangle\n" + "å" * 200 + "\n"
    )
    send(_settings(smtp_server), Mail("anna.berg@example.se", "Signera bilaga 3.1 – åäö ÅÄÖ", body))

    received = smtp_server.wait_for(lambda m: m["To"] == "anna.berg@example.se")
    assert received["Subject"] == "Signera bilaga 3.1 – åäö ÅÄÖ"
    assert received["From"] == SENDER
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content() == body
    assert received["Date"] is not None and received["Date"].datetime is not None
    assert received["Message-ID"].endswith("@formsvc.invalid>")
    assert smtp_server.envelopes == [("noreply@formsvc.invalid", ["anna.berg@example.se"])]


def test_two_messages_get_different_message_ids(smtp_server: SmtpServer) -> None:  # noqa: F811
    for n in (1, 2):
        send(_settings(smtp_server), Mail("a@example.se", f"Nr {n}", "text"))
    first, second = smtp_server.messages
    assert first["Message-ID"] != second["Message-ID"]


@pytest.mark.parametrize(
    "mail",
    [
        Mail("a@example.se\r\nBcc: victim@example.org", "Ämne", "x"),
        Mail("a@example.se\nBcc: victim@example.org", "Ämne", "x"),
        Mail("a@example.se", "Ämne\r\nBcc: victim@example.org", "x"),
        Mail("a@example.se", "Ämne\nBcc: victim@example.org", "x"),
        Mail("a@example.se", "Ämne\rBcc: victim@example.org", "x"),
        Mail("a@example.se\x00", "Ämne", "x"),
        Mail("a@example.se", "Ämne\x00", "x"),
    ],
)
def test_header_injection_is_refused_and_nothing_is_sent(
    smtp_server: SmtpServer,  # noqa: F811
    mail: Mail,
) -> None:
    with pytest.raises(MailError) as err:
        send(_settings(smtp_server), mail)
    assert err.value.message == "Mottagaren eller ämnet innehåller otillåtna tecken."
    send(_settings(smtp_server), Mail("check@example.se", "Efter", "x"))  # the server is up...
    assert [m["To"] for m in smtp_server.messages] == ["check@example.se"]  # ...and got one


@pytest.mark.parametrize("address", ["", "anna", "anna@", "@example.se", "anna berg@example.se"])
def test_invalid_address_is_refused_and_nothing_is_sent(
    smtp_server: SmtpServer,  # noqa: F811
    address: str,
) -> None:
    with pytest.raises(MailError) as err:
        send(_settings(smtp_server), Mail(address, "Ämne", "x"))
    assert err.value.message == f"E-postadressen {address} är inte giltig."
    assert smtp_server.messages == []


def test_domain_with_swedish_letters_is_sent_as_punycode(
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    send(_settings(smtp_server), Mail("info@räksmörgås.se", "Ämne", "x"))
    received = smtp_server.wait_for(lambda m: True)
    assert received["To"] == "info@xn--rksmrgs-5wao1o.se"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is reserved (bound) but not listening: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_nothing_listening_gives_a_clear_error(closed_port: int) -> None:
    settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": closed_port, "MAIL_SENDER": SENDER}
    with pytest.raises(MailError) as err:
        send(settings, Mail("anna@example.se", "Ämne", "Din kod är 123456."))
    assert err.value.message == UNAVAILABLE
    assert isinstance(err.value.__cause__, ConnectionRefusedError)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            sock.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(sock.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield sock.getsockname()[1]
        stop.set()
        thread.join(timeout=10)
        for conn in accepted:
            conn.close()


def test_a_server_that_never_answers_gives_a_clear_error(silent_server: int) -> None:
    settings = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": silent_server,
        "MAIL_SENDER": SENDER,
        "MAIL_TIMEOUT": 0.5,
    }
    with pytest.raises(MailError) as err:
        send(settings, Mail("anna@example.se", "Ämne", "x"))
    assert err.value.message == UNAVAILABLE
    # smtplib reports the timed-out read as a disconnection caused by the timeout
    assert isinstance(err.value.__cause__, smtplib.SMTPServerDisconnected)
    assert isinstance(err.value.__cause__.__context__, TimeoutError)


def test_starttls_the_server_does_not_offer_gives_a_clear_error(
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    # STARTTLS asked of a server that does not offer it: an SMTP-level refusal, not a socket error
    with pytest.raises(MailError) as err:
        send(_settings(smtp_server, MAIL_USE_STARTTLS=True), Mail("a@example.se", "Ämne", "x"))
    assert err.value.message == UNAVAILABLE
    assert smtp_server.messages == []


def test_the_body_is_never_logged(
    smtp_server: SmtpServer,  # noqa: F811
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="formsvc")
    send(_settings(smtp_server), Mail("a@example.se", "Ämne", "Din kod är 918273."))
    settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": closed_port}
    with pytest.raises(MailError):
        send(settings, Mail("a@example.se", "Ämne", "Din kod är 918273."))
    assert "a@example.se" in caplog.text  # it does log, just not the body
    assert "918273" not in caplog.text
