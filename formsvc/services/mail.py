"""Plain-text e-mail over SMTP (smtplib), with the settings read from a plain mapping."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, localtime, make_msgid, parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

logger = logging.getLogger(__name__)

#: Characters that would let a value end its header and start another (header injection).
_FORBIDDEN_IN_HEADER = ("\r", "\n", "\x00")


class MailError(Exception):
    """Mail was refused or could not be sent; .message is a Swedish sentence safe to show."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Mail:
    """One plain-text (UTF-8) message to one recipient."""

    to: str  #: the recipient's bare address, e.g. anna@example.se
    subject: str  #: one line
    body: str  #: plain text; may hold a one-time code, so it is never logged


def send(settings: Mapping[str, Any], mail: Mail) -> None:
    """Send *mail* through the SMTP server named in *settings* (MAIL_* keys)."""
    to, subject = str(mail.to), str(mail.subject)
    if any(c in value for value in (to, subject) for c in _FORBIDDEN_IN_HEADER):
        raise MailError(_("Mottagaren eller ämnet innehåller otillåtna tecken."))
    try:
        # no SMTPUTF8: many servers lack it; a domain with å/ä/ö still works (as punycode)
        address = validate_email(to, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise MailError(_("E-postadressen %(address)s är inte giltig.", address=to)) from err

    sender = str(settings.get("MAIL_SENDER") or "formsvc <noreply@formsvc.invalid>")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = address.ascii_email
    msg["Subject"] = subject
    msg["Date"] = format_datetime(localtime())
    # an explicit domain: make_msgid's default asks DNS for this host's name (slow, and leaks it)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    # quoted-printable keeps the body 7-bit, so no server needs 8BITMIME to pass it on intact
    msg.set_content(mail.body, charset="utf-8", cte="quoted-printable")

    host = str(settings.get("MAIL_SERVER") or "127.0.0.1")
    port = int(settings.get("MAIL_PORT") or 25)
    if settings.get("MAIL_SUPPRESS"):
        logger.info("MAIL_SUPPRESS is on: mail to %s (%r) was not sent", msg["To"], subject)
        return
    try:
        _deliver(settings, host, port, msg)
    except OSError as err:  # smtplib.SMTPException, refused, timeout and TLS errors are OSErrors
        logger.warning("Mail to %s via %s:%s failed: %r", msg["To"], host, port, err)
        raise MailError(_("E-post kunde inte skickas just nu. Försök igen om en stund.")) from err
    logger.info("Mail to %s (%r) sent via %s:%s", msg["To"], subject, host, port)


def _deliver(settings: Mapping[str, Any], host: str, port: int, msg: EmailMessage) -> None:
    """Open the connection (SSL, STARTTLS or plain), log in if configured, send *msg*."""
    timeout = float(settings.get("MAIL_TIMEOUT") or 10)
    use_ssl = bool(settings.get("MAIL_USE_SSL"))
    use_starttls = bool(settings.get("MAIL_USE_STARTTLS"))
    if use_ssl and use_starttls:
        raise ValueError("MAIL_USE_SSL and MAIL_USE_STARTTLS cannot both be on")
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if use_ssl:
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if use_starttls:
            smtp.starttls(context=context)
        username = settings.get("MAIL_USERNAME")
        if username:
            smtp.login(str(username), str(settings.get("MAIL_PASSWORD") or ""))
        # not send_message(): its generator turns a body line "From …" into ">From …"
        data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        smtp.sendmail(parseaddr(msg["From"])[1], [msg["To"]], data)
