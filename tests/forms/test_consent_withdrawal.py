"""Återkallelse av sekretessbrytande medgivande (bilaga 3.2): the caseworker's form and the
printed record that tells who must be informed."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask import Flask
from markupsafe import escape

from formsvc import doctypes
from formsvc.doctypes import FormContext, RenderInput
from formsvc.forms.consent_withdrawal import DOCUMENT_TYPE, WithdrawalForm, sample
from formsvc.services import documents
from formsvc.services.rendering import render_docx
from formsvc.views._common import converter
from tests.helpers import docx_text, pdf_text, post_data

TODAY = date(2026, 11, 22)
HOSTILE = "<b>&\"'{{ 7*7 }}"


def _posted(app: Flask, **overrides: str) -> tuple[WithdrawalForm, bool]:
    """The form as the caseworker posts it on the consent's page, validated on TODAY."""
    form = WithdrawalForm(formdata=post_data(WithdrawalForm, sample(), **overrides))
    ok = documents.validate(DOCUMENT_TYPE, form, FormContext(today=TODAY))
    return form, ok


def _docx(data: dict[str, Any]) -> bytes:
    base = doctypes.sample_input(DOCUMENT_TYPE)
    ri = RenderInput(
        data=data,
        district=base.district,
        author=base.author,
        reference="SIG-2026-000031 v1",
        printed_at=TODAY,
        subject=base.subject,
    )
    return render_docx(DOCUMENT_TYPE.template_path.read_bytes(), DOCUMENT_TYPE.build_context(ri))


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u00ad", ""))


def test_withdrawal_dated_today_or_earlier_is_accepted_and_stored_as_given(app: Flask) -> None:
    with app.test_request_context():
        form, ok = _posted(app, withdrawn_on=TODAY.isoformat(), how="link")
        assert ok, form.errors
        assert documents.to_data(DOCUMENT_TYPE, form, FormContext(today=TODAY)) == {
            "withdrawn_on": "2026-11-22",
            "how": "link",
            "details": sample()["details"],
            "withdrawn_by": "guardian",
            "withdrawn_by_name": "Maria Öberg",
        }


def test_future_date_is_refused_in_swedish_and_the_typed_text_kept(app: Flask) -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    with app.test_request_context():
        form, ok = _posted(app, withdrawn_on=tomorrow, details="Ringde i går kväll, ärligt.")
        assert not ok
        assert form.withdrawn_on.errors == ["Datumet kan inte ligga i framtiden."]
        assert f'value="{tomorrow}"' in str(form.withdrawn_on())
        assert "Ringde i går kväll, ärligt." in str(form.details())


def test_control_characters_in_details_are_refused_and_kept(app: Flask) -> None:
    typed = "Sade det\x0b i telefon\x00"
    with app.test_request_context():
        form, ok = _posted(app, details=typed)
        assert not ok
        (message,) = form.details.errors
        # names the field and the characters, and why the box shows \ufffd where they are
        assert message.startswith(f"«{form.details.label.text}» innehåller osynliga kontrolltecken")
        assert "(U+000B, U+0000)" in message and "\ufffd" in message
        assert str(escape(typed)) in str(form.details())


def test_details_longer_than_2000_characters_and_a_forged_way_are_refused(app: Flask) -> None:
    with app.test_request_context():
        form, ok = _posted(app, details="å" * 2001, how="by_pigeon")
        assert not ok
        assert form.details.errors == ["Högst 2000 tecken."]
        assert form.how.errors == ["Välj hur medgivandet återkallades."]
        missing, ok = _posted(app, withdrawn_on="", how="")
        assert not ok
        assert missing.withdrawn_on.errors == ["Ange ett giltigt datum (ÅÅÅÅ-MM-DD)."]
        assert missing.how.errors == ["Välj hur medgivandet återkallades."]


def test_printed_withdrawal_lists_every_actor_to_inform_with_a_column_to_sign_off(
    app: Flask,
) -> None:
    data = sample()
    with app.test_request_context():
        pdf = converter().convert(_docx(data))
    text = _plain(pdf_text(pdf))
    assert "Återkallelse av sekretessbrytande medgivande" in text
    assert "Informerad (datum, av vem)" in text
    assert len(data["actors"]) == 3
    for actor in data["actors"]:
        assert actor["name"] in text, actor
        assert actor["contact"] in text, actor
    for kind in data["info_kinds"]:
        assert kind in text, kind
    assert "SIG-2026-000012 v1" in text and "2026-03-01 – 2027-02-28" in text
    # the sample is a partial withdrawal: what goes, what remains, who withdrew, the free text
    assert "Medgivandet återkallas delvis" in text
    assert "Vårdnadshavare Maria Öberg" in text
    assert (
        text.count("Andra uppgifter: Uppgifter om fritidsaktiviteter") == 2
    )  # covered + withdrawn
    assert "Medgivandet gäller fortfarande för: Polismyndigheten, Skola/elevhälsa" in text
    assert "Från och med 2026-11-20 får de återkallade uppgifterna inte lämnas" in text
    assert "Handläggaren Exempel Handläggare ska utan dröjsmål informera varje aktör" in text
    assert "Åsa Öberg" in text and "Karin Lind" in text and "Muntligt" in text


def test_withdrawal_through_the_personal_link_prints_who_recorded_it(app: Flask) -> None:
    data = {
        **sample(),
        "how": "link",
        "details": "",
        "recorded_by": "Deltagaren själv via personlig länk",
    }
    with app.test_request_context():
        text = docx_text(_docx(data))
    assert "Via sin personliga länk" in text
    assert "Deltagaren själv via personlig länk" in text
    assert "Närmare uppgifter" not in text  # no empty heading when nothing was added


def test_hostile_text_in_details_is_printed_literally(app: Flask) -> None:
    with app.test_request_context():
        form, ok = _posted(app, details=HOSTILE)
        assert ok, form.errors
        stored = documents.to_data(DOCUMENT_TYPE, form, FormContext(today=TODAY))
        text = docx_text(_docx({**sample(), **stored}))
    assert f"Närmare uppgifter: {HOSTILE}" in text
