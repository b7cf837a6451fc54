"""Forms that are not annexes: login, password, participant, users and districts."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, PasswordField, RadioField, SelectField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from formsvc.forms._base import choices, long_text, text

_REQUIRED = DataRequired(_l("Fältet måste fyllas i."))


class LoginForm(FlaskForm):
    username = text(_l("Användarnamn"), 80, [_REQUIRED])
    password = PasswordField(_l("Lösenord"), validators=[_REQUIRED, Length(max=256)])
    submit = SubmitField(_l("Logga in"))


#: what the unlock page says to any password that does not open it
WRONG_PASSWORD = _l("Fel lösenord. Enheten är fortfarande låst till underskriften.")


class UnlockForm(FlaskForm):
    """The staff member's password, to leave the locked in-person view."""

    password = PasswordField(
        _l("Ditt lösenord"),
        validators=[_REQUIRED, Length(max=256, message=WRONG_PASSWORD)],
    )
    submit = SubmitField(_l("Lås upp"))


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Nuvarande lösenord"), validators=[_REQUIRED, Length(max=256)])
    new = PasswordField(_l("Nytt lösenord (minst 10 tecken)"), validators=[_REQUIRED])
    repeat = PasswordField(_l("Upprepa det nya lösenordet"), validators=[_REQUIRED])
    submit = SubmitField(_l("Byt lösenord"))

    def validate_repeat(self, field: PasswordField) -> None:
        if field.data != self.new.data:
            raise ValidationError(_l("Lösenorden är inte likadana."))


class ParticipantForm(FlaskForm):
    first_name = text(_l("Förnamn"), 200, [_REQUIRED])
    last_name = text(_l("Efternamn"), 200, [_REQUIRED])
    id_kind = RadioField(
        _l("Identitet"),
        choices=choices(
            [
                ("personnummer", _l("Personnummer")),
                ("samordningsnummer", _l("Samordningsnummer")),
                ("birth_date", _l("Endast födelsedatum")),
            ]
        ),
        default="personnummer",
        validators=[_REQUIRED],
    )
    id_number = text(_l("Personnummer eller samordningsnummer"), 15)
    birth_date = DateField(_l("Födelsedatum (om nummer saknas)"), validators=[Optional()])
    target_group = RadioField(
        _l("Målgrupp"),
        choices=choices(
            [
                ("sig_unga", _l("SIG unga (12–20 år)")),
                ("sig_unga_vuxna", _l("SIG unga vuxna (19–29 år)")),
            ]
        ),
        validators=[_REQUIRED],
    )
    protected_identity = BooleanField(_l("Skyddade personuppgifter"))
    #: shown only with their warning (services.participants.review)
    confirm_age = BooleanField(
        _l("Jag har kontrollerat åldern, och deltagaren ska ingå i målgruppen")
    )
    confirm_other_district = BooleanField(_l("Personen ska få stöd av SIG i den här stadsdelen"))
    submit = SubmitField(_l("Spara"))

    def confirmations(self) -> list[tuple[str, BooleanField]]:
        """(warning key, its confirmation checkbox)."""
        return [("age", self.confirm_age), ("other_district", self.confirm_other_district)]


class UserForm(FlaskForm):
    username = text(
        _l("Användarnamn"),
        80,
        [_REQUIRED, Regexp(r"^[a-zA-Z0-9._-]+$", message=_l("Bara a–z, siffror, punkt, - och _."))],
    )
    full_name = text(_l("Namn"), 200, [_REQUIRED])
    email = text(_l("E-post"), 254, [Optional(), Email(_l("Ange en giltig e-postadress."))])
    title = text(_l("Titel"), 120)
    phone = text(_l("Telefon"), 40)
    role = SelectField(_l("Roll"), validators=[_REQUIRED])
    district_id = SelectField(_l("Stadsdel"), coerce=str)
    active = BooleanField(_l("Aktivt konto"), default=True)
    password = PasswordField(_l("Lösenord (minst 10 tecken)"), validators=[Length(max=256)])
    submit = SubmitField(_l("Spara"))


class DistrictForm(FlaskForm):
    name = text(_l("Namn"), 120, [_REQUIRED])
    active = BooleanField(_l("Aktiv"), default=True)
    submit = SubmitField(_l("Spara"))


class ConfirmForm(FlaskForm):
    """A bare form for POST-only buttons (CSRF only)."""

    submit = SubmitField(_l("Bekräfta"))


class TemplateUploadForm(FlaskForm):
    file = FileField(
        _l("Ny Word-mall (.docx)"),
        validators=[
            FileRequired(_l("Välj en fil.")),
            FileAllowed(["docx"], _l("Bara Word-filer (.docx) kan laddas upp.")),
        ],
    )
    submit = SubmitField(_l("Ladda upp och kontrollera"))


class ChecklistItemForm(FlaskForm):
    text = long_text(_l("Punktens text"), 1000, [_REQUIRED])
    submit = SubmitField(_l("Spara"))
