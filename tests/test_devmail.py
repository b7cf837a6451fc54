"""The demo mail sink (`make run`): a personal link sent in the demo is printed and saved."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from formsvc import devmail
from formsvc.services import mail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mail_sent_to_the_demo_sink_is_printed_and_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    sink = devmail.start("127.0.0.1", port, tmp_path / "mail")
    try:
        settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port}
        mail.send(settings, mail.Mail("anna@example.se", "Din engångskod", "Koden är 123456"))
    finally:
        sink.stop()
    saved = list((tmp_path / "mail").glob("*.eml"))
    assert len(saved) == 1 and b"anna@example.se" in saved[0].read_bytes()
    out = capsys.readouterr().out
    assert "Din engångskod" in out and "Koden är 123456" in out
