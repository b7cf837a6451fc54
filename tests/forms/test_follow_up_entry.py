"""Uppföljning (bilaga 3.4), issue 17 "Entry is easier and consistent", through HTTP: a new
follow-up is pre-filled from the participant and their enrolment assessment, the target group is
stored and printed, saving checks the form against the participant's other assessments (errors
block, warnings are shown and saved), and hostile input gets clear errors with nothing lost."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.follow_up import FollowUpForm, sample
from formsvc.models import Document
from formsvc.models.document import DocumentStatus
from formsvc.runtime import runtime
from formsvc.services import documents, lifecycle
from tests.conftest import Auth, World
from tests.helpers import docx_text, pdf_text, post_data

#: sample() as an enrolment assessment of the world's participant (SIG unga, 16 years old)
ENROLMENT = {
    "assessment": "enrolment",
    "assessed_on": "2025-12-10",
    "enrolled_on": "2025-12-03",
    "gender": "male",
    "target_group": "sig_unga",
    "discharged_on": "",
    "discharge_reason": "",
    "discharge_comment": "",
}
COMMENT = "Målen är uppnådda; fortsatt kontakt med Jobbtorg."


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/follow_up"


def _docs() -> list[Document]:
    return list(db.session.scalars(db.select(Document).order_by(Document.id)))


def _post(client: FlaskClient, url: str, **overrides: str) -> tuple[int, str]:
    """Post sample() with *overrides*; follow a redirect (to read what is flashed there)."""
    data = {**sample(), "discharge_comment": COMMENT}
    resp = client.post(url, data=post_data(FollowUpForm, data, **overrides))
    if resp.status_code == 302:
        page = client.get(resp.headers["Location"]).get_data(as_text=True)
        return 302, page
    return resp.status_code, resp.get_data(as_text=True)


def _enrol(client: FlaskClient, world: World, **overrides: str) -> Document:
    status, html = _post(client, _url(world), **{**ENROLMENT, **overrides})
    assert status == 302, _errors(html)
    return _docs()[-1]


def _selected(html: str, name: str) -> str:
    """The value of the selected option of the select *name* ("" when none is)."""
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>.*?</select>', html, re.S)
    assert select, name
    chosen = re.search(r'<option selected value="([^"]*)"', select.group(0))
    return chosen.group(1) if chosen else ""


def _value(html: str, name: str) -> str:
    field = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert field, name
    value = re.search(r'value="([^"]*)"', field.group(0))
    return value.group(1) if value else ""


def _errors(html: str) -> list[str]:
    return re.findall(r'<ul class="errors"[^>]*>(.*?)</ul>', html, re.S)


def _warnings(html: str) -> str:
    return " ".join(re.findall(r'<p class="flash warning"[^>]*>(.*?)</p>', html, re.S))


# --------------------------------------------------------------------------- pre-fill


def test_a_first_follow_up_proposes_an_enrolment_in_the_participants_group(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert _selected(html, "assessment") == "enrolment"
    assert _selected(html, "target_group") == world.participant.target_group == "sig_unga"
    assert _selected(html, "gender") == "" and _value(html, "enrolled_on") == ""
    assert "Målgrupp vid bedömningen" in html
    # why the group can be changed, read with the select by a screen reader
    hint = re.search(r'<span class="hint" id="target_group-hint">([^<]*)</span>', html)
    assert hint and "till exempel efter att ha fyllt 20" in hint.group(1)
    assert re.search(
        r'<select[^>]*aria-describedby="target_group-hint"[^>]*name="target_group"', html
    )


def test_an_open_enrolment_is_followed_by_its_discharge_pre_filled(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    _enrol(client, world, gender="female", target_group="sig_unga_vuxna")
    html = client.get(_url(world)).get_data(as_text=True)
    assert _selected(html, "assessment") == "discharge"
    assert _value(html, "enrolled_on") == "2025-12-03"
    assert _selected(html, "gender") == "female"
    # the group is the participant's today, not the enrolment's
    assert _selected(html, "target_group") == "sig_unga"
    assert _value(html, "discharged_on") == "" and _selected(html, "discharge_reason") == ""
    assert "Deltagaren har ingen första bedömning" not in html  # nothing to warn about


def test_after_the_discharge_a_new_enrolment_is_proposed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    _enrol(client, world, gender="female")
    status, _ = _post(client, _url(world), gender="female", enrolled_on="2025-12-03")
    assert status == 302
    html = client.get(_url(world)).get_data(as_text=True)
    assert _selected(html, "assessment") == "enrolment"
    assert _selected(html, "gender") == "female" and _value(html, "enrolled_on") == ""


def test_voided_and_other_districts_assessments_are_not_used(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    """A voided assessment says nothing; another district's is not the user's to read (the
    participant moved: the statistics count each assessment where it was made)."""
    auth.login("caseworker")
    voided = _enrol(client, world, gender="female")
    lifecycle.transition(voided, DocumentStatus.VOIDED, actor=world.users["caseworker"])
    elsewhere = documents.create(
        runtime(app).registry["follow_up"],
        {**sample(), **ENROLMENT, "gender": "other", "discharged_on": None},
        actor=world.users["caseworker"],
        store=runtime(app).store,
        participant=world.participant,
    )
    elsewhere.district_id = world.other.id
    db.session.commit()
    html = client.get(_url(world)).get_data(as_text=True)
    assert _selected(html, "assessment") == "enrolment"
    assert _selected(html, "gender") == "" and _value(html, "enrolled_on") == ""


# --------------------------------------------------------------------------- cross-checks


def test_a_discharge_before_the_enrolment_is_refused_and_kept(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    enrolment = _enrol(client, world)
    status, html = _post(client, _url(world), enrolled_on="2025-11-01", discharged_on="2025-11-20")
    assert status == 200
    assert (
        f"Utskrivningsdatumet 2025-11-20 är före inskrivningen: deltagarens första bedömning "
        f"{enrolment.reference} anger inskrivningsdatum 2025-12-03." in html
    )
    assert "Formuläret innehåller fel" in html
    assert len(_docs()) == 1
    # what was typed is still there
    assert _value(html, "discharged_on") == "2025-11-20"
    assert _value(html, "enrolled_on") == "2025-11-01"
    assert COMMENT in html and _selected(html, "discharge_reason") == "planned"


def test_a_discharge_before_its_own_enrolment_date_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    _enrol(client, world)
    status, html = _post(client, _url(world), enrolled_on="2025-12-03", discharged_on="2025-12-01")
    assert status == 200
    assert "Utskrivningsdatumet kan inte vara före inskrivningsdatumet." in html
    assert "är före inskrivningen: deltagarens första bedömning" not in html  # said once
    assert len(_docs()) == 1


def test_a_second_open_enrolment_is_saved_with_a_warning(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    first = _enrol(client, world)
    status, page = _post(client, _url(world), **{**ENROLMENT, "enrolled_on": "2026-02-01"})
    assert status == 302 and len(_docs()) == 2
    warning = (
        f"Två öppna inskrivningar: deltagarens första bedömning {first.reference} (inskriven "
        "2025-12-03) har ingen andra bedömning (utskrivning) efter sig."
    )
    assert warning in _warnings(page)
    # the form says it again when the second is opened for editing, but not about itself
    second = _docs()[-1]
    assert warning in _warnings(client.get(f"/documents/{second.id}/edit").get_data(as_text=True))
    own = client.get(f"/documents/{first.id}/edit").get_data(as_text=True)
    assert second.reference in _warnings(own)  # the first now sees the second as open


def test_editing_the_only_enrolment_is_not_two_open_enrolments(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    doc = _enrol(client, world)
    html = client.get(f"/documents/{doc.id}/edit").get_data(as_text=True)
    assert "Två öppna inskrivningar" not in html
    resp = client.post(
        f"/documents/{doc.id}/edit",
        data=post_data(FollowUpForm, {**sample(), **ENROLMENT, "housing": "no"}),
    )
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Två öppna inskrivningar" not in page


def test_a_discharge_without_an_enrolment_assessment_is_saved_with_a_warning(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    status, page = _post(client, _url(world))
    assert status == 302 and len(_docs()) == 1
    assert "indikatorerna kan inte jämföras med läget vid inskrivningen" in _warnings(page)


def test_gender_and_enrolment_date_differing_from_the_enrolment_are_named(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    enrolment = _enrol(client, world, gender="male")
    status, page = _post(client, _url(world), gender="female", enrolled_on="2025-12-04")
    assert status == 302 and len(_docs()) == 2
    warnings = _warnings(page)
    assert (
        f"Könet skiljer sig från den första bedömningen {enrolment.reference}: här Kvinna, "
        "där Man." in warnings
    )
    assert (
        f"Inskrivningsdatumet skiljer sig från den första bedömningen {enrolment.reference}: "
        "här 2025-12-04, där 2025-12-03." in warnings
    )
    # the same values: no warning
    status, page = _post(client, _url(world), gender="male", enrolled_on="2025-12-03")
    assert status == 302 and "skiljer sig" not in _warnings(page)


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "target_group",
    [
        "sig_vuxna",  # a key not in the list
        "SIG_UNGA",
        "sig_unga ",
        '"><script>alert(1)</script>',
        "x" * 5000,
        "",
    ],
)
def test_a_forged_or_missing_target_group_is_refused_in_swedish(
    client: FlaskClient, auth: Auth, world: World, target_group: str
) -> None:
    auth.login("caseworker")
    status, html = _post(client, _url(world), target_group=target_group)
    assert status == 200
    message = "Välj målgrupp." if not target_group else "Välj ett av alternativen i listan."
    assert any(message in e for e in _errors(html)), _errors(html)
    assert "Not a valid choice" not in html and "<script>alert(1)" not in html
    assert _docs() == []
    assert COMMENT in html and _value(html, "discharged_on") == "2026-11-27"


@pytest.mark.parametrize("field", ["assessed_on", "enrolled_on", "discharged_on"])
@pytest.mark.parametrize(
    "typed", ["2025-02-30", "31/12/2025", "2025-13-01", "0000-01-01", "9" * 300]
)
def test_an_invalid_date_is_refused_and_kept(
    client: FlaskClient, auth: Auth, world: World, field: str, typed: str
) -> None:
    auth.login("caseworker")
    status, html = _post(client, _url(world), **{field: typed})
    assert status == 200
    assert _errors(html) and "Formuläret innehåller fel" in html
    assert _value(html, field) == typed  # shown as typed, to be corrected
    assert _docs() == []
    assert COMMENT in html and _selected(html, "target_group") == "sig_unga_vuxna"


@pytest.mark.parametrize(
    ("comment", "code"),
    [
        ("Avslut\u202eretsam", "U+202E"),  # right-to-left override
        ("Avslut\u200bmed kontakt", "U+200B"),  # zero-width space
        ("Avslut\x0bmed kontakt", "U+000B"),  # vertical tab: not allowed in Word's XML
        ("Avslut\x00", "U+0000"),
    ],
)
def test_invisible_characters_in_the_comment_are_refused_and_kept(
    client: FlaskClient, auth: Auth, world: World, comment: str, code: str
) -> None:
    auth.login("caseworker")
    status, html = _post(client, _url(world), discharge_comment=comment)
    assert status == 200
    assert any(code in e for e in _errors(html)), _errors(html)
    assert _docs() == []
    assert _selected(html, "discharge_reason") == "planned"
    assert _value(html, "discharged_on") == "2026-11-27"


def test_xml_breaking_comment_and_the_new_reason_and_group_are_printed_as_typed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    """Markup-like text is stored and printed literally (Word and PDF through the converter),
    with relapse into substance abuse as the reason and the stored target group."""
    auth.login("caseworker")
    _enrol(client, world, target_group="sig_unga")
    comment = 'Återfall <w:t>&amp; "x" ]]> {{ 7*7 }} {%p endif %}'
    status, page = _post(
        client,
        _url(world),
        discharge_reason="substance",
        discharge_comment=comment,
        enrolled_on="2025-12-03",
        target_group="sig_unga_vuxna",
    )
    assert status == 302
    doc = _docs()[-1]
    assert doc.data["discharge_comment"] == comment
    assert (
        doc.data["target_group"] == "sig_unga_vuxna" and doc.data["discharge_reason"] == "substance"
    )
    assert "SIG unga vuxna (19–29 år)" in page  # the summary on the document's page
    word = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    pdf = " ".join(pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data).split())
    for text in (" ".join(word.split()), pdf):
        assert "Avbrott – återfall i missbruk" in text
        assert "SIG unga vuxna (19–29 år)" in text
        assert comment in text  # literally: the template did not evaluate {{ 7*7 }}


def test_an_old_follow_up_without_a_target_group_prints_the_participants(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    """Saved before issue 17: no "target_group" in the data; editing asks for one."""
    data = {**sample(), **ENROLMENT, "discharged_on": None}
    del data["target_group"]
    doc = documents.create(
        runtime(app).registry["follow_up"],
        data,
        actor=world.users["caseworker"],
        store=runtime(app).store,
        participant=world.participant,
    )
    auth.login("caseworker")
    assert "SIG unga (12–20 år)" in docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    resp = client.post(f"/documents/{doc.id}/edit", data=post_data(FollowUpForm, data))
    assert resp.status_code == 200 and "Välj målgrupp." in resp.get_data(as_text=True)
    assert date.fromisoformat(doc.data["enrolled_on"]) == date(2025, 12, 3)
