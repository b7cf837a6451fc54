"""The registry refuses to start on duplicates, missing templates and unknown variables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from formsvc import doctypes
from formsvc.doctypes import RegistryError


def test_registry_has_the_consent() -> None:
    registry = doctypes.discover()
    assert registry["consent"].annex == "3.2"
    doctypes.check(registry)  # the real registry is consistent


def test_duplicate_slug_refuses_to_start() -> None:
    with pytest.raises(RegistryError, match="duplicate document type slug 'consent'"):
        doctypes.discover("tests.data.dup_registry")


def test_missing_template_refuses_to_start() -> None:
    broken = replace(doctypes.discover()["consent"], template="finns-inte.docx")
    with pytest.raises(RegistryError, match="is missing"):
        doctypes.check({"consent": broken})


def test_template_variable_the_form_lacks_refuses_to_start() -> None:
    real = doctypes.discover()["consent"]

    def lacking(ri: doctypes.RenderInput) -> dict:
        ctx = real.build_context(ri)
        del ctx["actors"]
        return ctx

    with pytest.raises(RegistryError, match=r"uses \['actors'\]"):
        doctypes.check({"consent": replace(real, build_context=lacking)})


def test_create_app_refuses_a_broken_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from formsvc import create_app

    monkeypatch.setattr(doctypes, "TEMPLATE_DIR", tmp_path)
    with pytest.raises(RegistryError):
        create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
