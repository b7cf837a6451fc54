"""Every document type through the browser's path: hostile text in every text field, forged
choices, other districts' ids. Shown exactly as typed, or a clear error that keeps the input."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from wtforms import FieldList, FormField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, Regexp

from formsvc import doctypes
from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import Document
from formsvc.services import documents
from tests import factories
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data

REGISTRY = doctypes.discover()
#: Types with no editors (the consent withdrawal) are created by the signing service, not through
#: the generic "new document" route these tests post to; their route is tested in
#: tests/views/test_signing.py.
FILLABLE = {slug: t for slug, t in REGISTRY.items() if t.editors}
PRINTABLE = {
    "markup": "Anna & Bo <b>x</b> \"q\" 'a' {{ 7*7 }} {% if x %}",
    "rtl_emoji": "محمد عبد الله 👩‍👧 Åsa",
}


def _text_paths(dtype: DocumentType) -> list[tuple[str, bool]]:
    """(posted name, has its own format) for every text field, first row of every table."""
    form = dtype.form_class(formdata=None, meta={"csrf": False})
    sample = dtype.sample()
    out: list[tuple[str, bool]] = []

    def row_index(table: str, sub: str) -> int:
        """The first sample row where *sub* has a value: where the field means something."""
        rows = sample.get(table) or []
        return next((i for i, r in enumerate(rows) if isinstance(r, dict) and r.get(sub)), 0)

    def visit(field: Any, name: str) -> None:
        if isinstance(field, StringField | TextAreaField) and field.type != "HiddenField":
            own_format = any(isinstance(v, Email | Regexp) for v in field.validators)
            out.append((name, own_format))

    for field in form:
        if isinstance(field, FieldList) and issubclass(field.unbound_field.field_class, FormField):
            for sub in field.unbound_field.args[0]():
                visit(sub, f"{field.name}-{row_index(field.name, sub.name)}-{sub.name}")
        else:
            visit(field, field.name)
    return out


def _choice_paths(dtype: DocumentType) -> list[str]:
    form = dtype.form_class(formdata=None, meta={"csrf": False})
    out = []
    for field in form:
        if isinstance(field, SelectField | RadioField):
            out.append(field.name)
        elif isinstance(field, FieldList) and issubclass(
            field.unbound_field.field_class, FormField
        ):
            out += [
                f"{field.name}-0-{s.name}"
                for s in field.unbound_field.args[0]()
                if isinstance(s, SelectField | RadioField)
            ]
    return out


def _cases(kind: str) -> list[tuple[str, str, bool]]:
    with _app_less():
        return [
            (slug, path, fmt)
            for slug, dtype in sorted(FILLABLE.items())
            for path, fmt in (
                _text_paths(dtype) if kind == "text" else [(p, False) for p in _choice_paths(dtype)]
            )
        ]


class _app_less:
    """Forms need an app context for lazy strings only when rendered; building them is enough."""

    def __enter__(self) -> None:
        from formsvc import create_app

        self.app = create_app(
            # nothing is stored or logged here: no keyring, no audit key needed
            {
                "SECRET_KEY": "x",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "STORAGE_ENCRYPTION": False,
                "AUDIT_CHECKPOINTS": False,
            }
        )
        self.ctx = self.app.test_request_context()
        self.ctx.push()

    def __exit__(self, *exc: object) -> None:
        self.ctx.pop()


TEXT_CASES = _cases("text")
#: Types whose sample names recipients, which a consent in force must cover (issue 10).
NEEDS_CONSENT = {"action_plan"}
#: Text fields that must name something already recorded: any other text is refused with a
#: clear message on the field (tests/views/test_plan_distribution.py), like a field with its
#: own format.
MUST_NAME = {("action_plan", "distribution-0-actor")}
CHOICE_CASES = _cases("choice")


class Filler:
    """Logs in as someone who may fill the type and posts its sample to the right URL."""

    def __init__(
        self, app: Flask, client: FlaskClient, auth: Auth, world: World, dtype: DocumentType
    ) -> None:
        self.app, self.client, self.world, self.dtype = app, client, world, dtype
        # assigned-only types (3.3) carry a manager's decision: fill them as the manager
        open_to_caseworkers = "caseworker" in dtype.editors and dtype.access != "assigned"
        self.role = "caseworker" if open_to_caseworkers else "manager"
        auth.login(self.role)
        user = world.users[self.role]
        self.participant = None
        if dtype.subject == "participant":
            s = dtype.sample_subject()
            first, last = s.name.split(" ", 1)
            self.participant = world.add_participant(world.home, first, last, s.birth_date)
            self.url = f"/participants/{self.participant.id}/documents/new/{dtype.slug}"
        elif dtype.subject == "employee":
            self.url = f"/staff/{world.users['caseworker'].id}/documents/new/{dtype.slug}"
        else:
            self.url = f"/district/documents/new/{dtype.slug}"
        #: documents made before posting (the consent in force that a plan's recipients need)
        self.made: list[int] = []
        if dtype.slug in NEEDS_CONSENT:
            self.made.append(factories.consent(app, self.participant, user).id)
        ctx = documents.form_context(
            dtype, author=user, district=world.home.name, settings=app.config
        )
        self.data = dtype.sample()
        for name, entries in ctx.checklists.items():
            rows = self.data.get(name, [])
            self.data[name] = [
                {**(rows[i] if i < len(rows) else {}), "item_id": e.item_id, "text": e.text}
                for i, e in enumerate(entries)
            ]

    def saved(self) -> list[Document]:
        """The documents the test saved."""
        return list(db.session.scalars(db.select(Document).where(Document.id.not_in(self.made))))

    def count(self) -> int:
        return len(self.saved())

    def post(self, **overrides: str) -> Any:
        return self.client.post(
            self.url, data=post_data(self.dtype.form_class, self.data, **overrides)
        )


@pytest.mark.parametrize("slug", sorted(FILLABLE))
def test_sample_saves_and_downloads(
    app: Flask, client: FlaskClient, auth: Auth, world: World, slug: str
) -> None:
    filler = Filler(app, client, auth, world, REGISTRY[slug])
    resp = filler.post()
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    (doc,) = filler.saved()
    docx = client.get(f"/documents/{doc.id}/download.docx")
    assert docx.status_code == 200
    assert client.get(f"/documents/{doc.id}").status_code == 200
    assert client.get(f"/documents/{doc.id}/edit").status_code == 200


@pytest.mark.parametrize(
    ("slug", "path", "own_format"), TEXT_CASES, ids=[f"{s}:{p}" for s, p, _ in TEXT_CASES]
)
@pytest.mark.parametrize("value", PRINTABLE.values(), ids=PRINTABLE.keys())
def test_printable_hostile_text(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    slug: str,
    path: str,
    own_format: bool,
    value: str,
) -> None:
    filler = Filler(app, client, auth, world, REGISTRY[slug])
    resp = filler.post(**{path: value})
    if own_format or (slug, path) in MUST_NAME:
        assert resp.status_code == 200 and str(escape(value)) in resp.get_data(as_text=True)
        assert filler.count() == 0
        return
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    (doc,) = filler.saved()
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert value in text, f"{path} is not shown in the document"


@pytest.mark.parametrize(
    ("slug", "path", "own_format"), TEXT_CASES, ids=[f"{s}:{p}" for s, p, _ in TEXT_CASES]
)
@pytest.mark.parametrize("value", ["Anna\x0bBo\x00", "Å" * 10_000], ids=["control", "huge"])
def test_control_characters_and_huge_values_are_refused_and_kept(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    slug: str,
    path: str,
    own_format: bool,
    value: str,
) -> None:
    filler = Filler(app, client, auth, world, REGISTRY[slug])
    resp = filler.post(**{path: value})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'class="errors"' in html and "Formuläret innehåller fel" in html
    assert str(escape(value)) in html
    assert filler.count() == 0


@pytest.mark.parametrize(
    ("slug", "path", "own_format"), TEXT_CASES, ids=[f"{s}:{p}" for s, p, _ in TEXT_CASES]
)
def test_bidi_and_invisible_characters_are_refused_naming_the_field(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    slug: str,
    path: str,
    own_format: bool,
) -> None:
    # U+202E would print "Anna" reversed in the sealed PDF; U+200B is invisible on screen
    value = "Anna\u202eoB\u200b"
    filler = Filler(app, client, auth, world, REGISTRY[slug])
    resp = filler.post(**{path: value})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert str(escape(value)) in html
    assert filler.count() == 0
    if not own_format:  # a format of its own (e-mail, phone) may refuse it first
        label = _label(REGISTRY[slug], path)
        assert f"«{escape(label)}» innehåller osynliga tecken" in html
        assert "U+202E, U+200B" in html


def _label(dtype: DocumentType, path: str) -> str:
    form = dtype.form_class(formdata=None, meta={"csrf": False})
    parts = path.split("-")
    field = form[parts[0]]
    if len(parts) == 3:
        field = field.unbound_field.args[0]()[parts[2]]
    return str(field.label.text)


@pytest.mark.parametrize(
    ("slug", "path", "_f"), CHOICE_CASES, ids=[f"{s}:{p}" for s, p, _ in CHOICE_CASES]
)
def test_forged_choices_are_refused(
    app: Flask, client: FlaskClient, auth: Auth, world: World, slug: str, path: str, _f: bool
) -> None:
    filler = Filler(app, client, auth, world, REGISTRY[slug])
    resp = filler.post(**{path: "forged<script>"})
    assert resp.status_code == 200
    assert "Formuläret innehåller fel" in resp.get_data(as_text=True)
    assert "<script>" not in resp.get_data(as_text=True).split("<main")[1].replace(
        "&lt;script&gt;", ""
    )
    assert filler.count() == 0


PERSONAL = sorted(slug for slug, t in FILLABLE.items() if t.subject != "district")


@pytest.mark.parametrize("slug", PERSONAL)
def test_other_districts_subjects_are_not_found(
    app: Flask, client: FlaskClient, auth: Auth, world: World, slug: str
) -> None:
    dtype = REGISTRY[slug]
    filler = Filler(app, client, auth, world, dtype)
    if dtype.subject == "participant":
        url = f"/participants/{world.foreign.id}/documents/new/{slug}"
    else:
        url = f"/staff/{world.users['other_caseworker'].id}/documents/new/{slug}"
    assert client.get(url).status_code == 404
    assert client.post(url, data=post_data(dtype.form_class, filler.data)).status_code == 404
    assert filler.count() == 0
