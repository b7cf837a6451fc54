"""Every document type: sample validates, renders with no missing variables, prints its values."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from formsvc import doctypes
from formsvc.config import defaults
from formsvc.forms._base import data_to_formdata
from formsvc.services import documents
from formsvc.services.rendering import render_docx, undeclared_variables
from formsvc.views._common import converter
from tests.helpers import docx_text, pdf_text

REGISTRY = doctypes.discover()
#: the annexes PRODUCT.md names; each must be in the registry
EXPECTED = {"1", "2.0", "2.3", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "checklista"}


def test_every_annex_is_registered() -> None:
    assert {t.annex for t in REGISTRY.values()} >= EXPECTED


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_sample_validates_like_a_browser_post(app: Flask, slug: str) -> None:
    dtype = REGISTRY[slug]
    ctx = documents.offline_context(dtype, dtype.sample(), defaults("/tmp"))
    form = dtype.form_class(
        formdata=data_to_formdata(dtype.form_class, dtype.sample()), meta={"csrf": False}
    )
    with app.test_request_context():
        assert documents.validate(dtype, form, ctx), form.errors
        stored = documents.to_data(dtype, form, ctx)
    # what is stored is what was given, so a re-render shows the same document
    assert stored == {k: v for k, v in dtype.sample().items() if k in stored}


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_sample_renders_with_no_undeclared_variables_and_prints_its_values(
    app: Flask, slug: str
) -> None:
    dtype = REGISTRY[slug]
    template = dtype.template_path.read_bytes()
    context = dtype.build_context(doctypes.sample_input(dtype))
    assert undeclared_variables(template, context) == set()
    docx = render_docx(template, context)
    assert dtype.sample_expect, f"{slug} declares no sample_expect"
    text = _plain(docx_text(docx))
    for expected in dtype.sample_expect:
        assert _plain(expected) in text, expected
    with app.test_request_context():
        pdf = converter().convert(docx)
    ptext = _plain(pdf_text(pdf))
    for expected in dtype.sample_expect:
        assert _plain(expected) in ptext, expected
    assert re.search(r"Sida 1 av \d", ptext)


def _plain(text: str) -> str:
    """Fold no-break spaces and line breaks so phrases compare as a reader sees them."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u00ad", ""))
