"""Documents record the template version that made them and re-render with it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from flask import Flask

from formsvc import doctypes
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import documents
from formsvc.services.templates import active_version
from tests.conftest import World
from tests.helpers import docx_text


def test_changed_packaged_template_becomes_v2_and_old_documents_keep_v1(
    app: Flask,
    world: World,
    consent_doc: Document,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = runtime(app).store
    dtype = runtime(app).registry["consent"]
    assert consent_doc.template_version.version == 1

    # a template author changes the packaged template
    changed = DocxDocument(io.BytesIO(dtype.template_path.read_bytes()))
    changed.add_paragraph("Ny rad i version två")
    new_dir = tmp_path / "templates_docx"
    shutil.copytree(doctypes.TEMPLATE_DIR, new_dir)
    changed.save(new_dir / "consent.docx")
    monkeypatch.setattr(doctypes, "TEMPLATE_DIR", new_dir)

    assert active_version(dtype, store).version == 2
    newer = documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["caseworker"],
        participant=world.participant,
        store=store,
    )
    assert "Ny rad i version två" in docx_text(documents.render(newer, dtype, store))
    assert "Ny rad i version två" not in docx_text(documents.render(consent_doc, dtype, store))
