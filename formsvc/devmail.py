"""A local mail sink for the demo (`make run`): mail to 127.0.0.1:MAIL_PORT is printed and saved.

Only for a machine without a real SMTP server: personal links and one-time codes then show up in
the console and in instance/mail/*.eml instead of being lost. Never enabled unless the instance
configuration says MAIL_DEMO_SINK = True (scripts/setup_instance.py writes that for the demo).
"""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path
from typing import Any

import click

from formsvc.services.storage import write_atomically


class _Handler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{abs(hash(raw)) % 10**6:06d}.eml"
        write_atomically(path, raw, 0o600)  # links and one-time codes: the owner's eyes only
        body = msg.get_body(preferencelist=("plain",))
        click.echo(f"\n--- e-post till {msg['To']}: {msg['Subject']} (sparad i {path})")
        click.echo(body.get_content() if body else "")
        return "250 OK"


def start(host: str, port: int, folder: Path) -> Any:
    """Start the sink on loopback; returns the running controller (stop() it at exit)."""
    from aiosmtpd.controller import Controller

    controller = Controller(_Handler(folder), hostname=host, port=port)
    controller.start()
    return controller
