"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives, for tests."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


class _Collector:
    """aiosmtpd handler: parses each message as the recipient's mail program would."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # SMTP carries CRLF lines; a mailbox (and so a person's mail program) stores LF
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
            self.messages.append(message)
        return "250 Message accepted for delivery"


class _LoopbackController(Controller):
    def _trigger_server(self) -> None:
        # port 0 lets the OS pick a free port with no race; aiosmtpd connects to itself once to
        # check it is up, so it has to learn the real port first
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """What the `smtp_server` fixture yields: where it listens and what it has received."""

    def __init__(self, host: str, port: int, collector: _Collector) -> None:
        self.host = host  #: always the loopback address
        self.port = port  #: chosen by the OS
        self._collector = collector

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first."""
        with self._collector.lock:
            return list(self._collector.messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        """(MAIL FROM, RCPT TO list) of every message, in the same order as .messages."""
        with self._collector.lock:
            return list(self._collector.envelopes)

    @property
    def settings(self) -> dict[str, Any]:
        """MAIL_SERVER and MAIL_PORT, to merge into an app's config mapping."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port}

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool], timeout: float = 10
    ) -> EmailMessage:
        """The first message matching *predicate*, waiting up to *timeout* seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if predicate(message):
                    return message
            if time.monotonic() >= deadline:
                arrived = [(m["To"], m["Subject"]) for m in self.messages] or "nothing"
                raise AssertionError(f"no matching mail within {timeout} s; arrived: {arrived}")
            time.sleep(0.05)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 and a free port, collecting what it receives."""
    with serving() as server:
        yield server


@contextmanager
def serving() -> Iterator[SmtpServer]:
    """The `smtp_server` fixture's server, for a fixture of a wider scope."""
    collector = _Collector()
    # server_hostname: without it aiosmtpd asks DNS for this machine's name (slow offline);
    # enable_SMTPUTF8 is the Controller's default, said out loud, so UTF-8 mail is accepted
    controller = _LoopbackController(
        collector,
        hostname=HOST,
        port=0,
        server_hostname="smtp.formsvc-test.invalid",
        ready_timeout=30.0,
        enable_SMTPUTF8=True,
    )
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, collector)
    finally:
        controller.stop()
