"""create_app builds one typed Runtime; nothing of formsvc's own hides in string keys."""

from __future__ import annotations

from flask import Flask

from formsvc.runtime import EXTENSION_KEY, Runtime, runtime
from formsvc.services.conversion import ConverterPool
from formsvc.services.storage import FileStore


def test_the_runtime_holds_what_the_app_works_with(app: Flask) -> None:
    rt = runtime(app)
    assert isinstance(rt, Runtime)
    assert isinstance(rt.store, FileStore)
    assert "consent" in rt.registry
    assert isinstance(rt.converter, ConverterPool)
    assert rt.converter is runtime(app).converter  # one pool per settings
    with app.app_context():
        assert runtime() is rt


def test_no_other_formsvc_extension_keys(app: Flask) -> None:
    ours = [key for key in app.extensions if key.startswith("formsvc")]
    assert ours == [EXTENSION_KEY]


def test_two_apps_have_their_own_runtime(make_app) -> None:  # noqa: ANN001
    one, two = make_app(), make_app()
    assert runtime(one) is not runtime(two)
    assert runtime(one).sealer_cache is not runtime(two).sealer_cache
