"""WTForms for signing, the personal link, paper scans, withdrawal and the verify page."""

from __future__ import annotations

import base64
import binascii

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from formsvc.forms._base import long_text, text
from formsvc.services.audit import Origin
from formsvc.services.signing import Given

#: A data URL of a drawn signature may be at most this long (about 500 kB of PNG).
MAX_DATA_URL = 700_000
_PREFIX = "data:image/png;base64,"


class Checkboxes(SelectMultipleField):
    """A list of checkboxes (the statements a signer agrees to)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmailForm(FlaskForm):
    email = StringField(
        _l("E-postadress"),
        validators=[
            DataRequired(_l("Ange e-postadressen länken ska skickas till.")),
            Length(max=254, message=_l("Högst %(max)d tecken.")),
            Email(_l("Ange en giltig e-postadress."), check_deliverability=False),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Engångskod"),
        validators=[
            DataRequired(_l("Skriv koden från e-postmeddelandet.")),
            Length(max=20, message=_l("Koden har sex siffror.")),
        ],
        # phones offer the code from the message and a digit keypad
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
        },
    )


class SignForm(FlaskForm):
    name = text(
        _l("Ditt namn"),
        200,
        validators=[DataRequired(_l("Skriv ditt namn för att skriva under."))],
    )
    statements = Checkboxes(_l("Jag intygar"), choices=[], validate_choice=False)
    signature_png = HiddenField()

    def validate_statements(self, field: Checkboxes) -> None:
        wanted = [value for value, _label in field.choices]
        if any(w not in (field.data or []) for w in wanted):
            raise ValidationError(_l("Kryssa i alla påståenden för att skriva under, eller avböj."))

    def validate_signature_png(self, field: HiddenField) -> None:
        value = field.data or ""
        if value and (len(value) > MAX_DATA_URL or not value.startswith(_PREFIX)):
            raise ValidationError(_l("Den ritade underskriften kunde inte läsas. Rita igen."))

    def drawn(self) -> bytes | None:
        """The drawn signature's PNG bytes (validated form only)."""
        value = self.signature_png.data or ""
        if not value:
            return None
        try:
            return base64.b64decode(value[len(_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            return b"not a png"  # the service refuses it with a clear message

    def given(self, origin: Origin) -> Given:
        """What the signer gave, as the signing service takes it (validated form only)."""
        return Given(
            name=self.name.data or "",
            statements=tuple(self.statements.data or ()),
            signature_png=self.drawn(),
            ip=origin.ip,
            user_agent=origin.user_agent,
        )


class StaffSignForm(SignForm):
    password = PasswordField(
        _l("Ditt lösenord"), validators=[DataRequired(_l("Ange ditt lösenord för att signera."))]
    )


class DeclineForm(FlaskForm):
    reason = long_text(
        _l("Varför avböjer du?"),
        2000,
        validators=[DataRequired(_l("Skriv varför du avböjer."))],
    )


class PaperForm(FlaskForm):
    scan = FileField(_l("Inskannad blankett (PDF, PNG eller JPEG)"))
    requests = Checkboxes(_l("Vilka har skrivit under på papperet?"), choices=[], coerce=int)

    def validate_requests(self, field: Checkboxes) -> None:
        if not field.data:
            raise ValidationError(_l("Välj vilka som har skrivit under på papperet."))


class VerifyForm(FlaskForm):
    pdf = FileField(_l("PDF-fil att kontrollera"))


class SealForm(FlaskForm):
    pkcs12 = FileField(_l("Certifikat med nyckel (PKCS#12, .p12/.pfx)"))
    passphrase = PasswordField(_l("Lösenord för filen"))
