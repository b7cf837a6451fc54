"""The S3 blob backend against a real S3 server (SeaweedFS on loopback, tests/s3_server.py).

The storage suite itself also runs on S3 (tests/blob_backends.py); these are S3's own cases.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services.blobs_s3 import S3Backend, StorageUnavailable
from tests.conftest import Auth
from tests.s3_server import S3Server
from tests.views.test_ops import readyz


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def settings(s3_server: S3Server) -> dict[str, Any]:
    """STORAGE_S3 for the run's bucket and a prefix of this test's own."""
    return s3_server.settings()


@pytest.fixture
def backend(settings: dict[str, Any]) -> S3Backend:
    return S3Backend(settings)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


def test_blobs_round_trip_under_prefix_and_two_level_keys(
    backend: S3Backend, s3_server: S3Server, settings: dict[str, Any]
) -> None:
    blobs = [b"FSE1 one", b"FSE1 two", b"", b"\x00" * 70_000]
    for blob in blobs:
        backend.write(sha(blob), blob)
    backend.write(sha(blobs[0]), blobs[0])  # idempotent: the same name again

    assert [backend.read(sha(b)) for b in blobs] == blobs
    assert all(backend.exists(sha(b)) for b in blobs)
    assert list(backend.names()) == sorted(sha(b) for b in blobs)
    prefix = settings["prefix"]
    listed = s3_server.client().list_objects_v2(Bucket=settings["bucket"], Prefix=prefix)
    assert sorted(k["Key"] for k in listed["Contents"]) == sorted(
        f"{prefix}/{sha(b)[:2]}/{sha(b)}" for b in blobs
    )
    backend.check()


def test_a_missing_blob_is_file_not_found_and_delete_says_whether_it_was_there(
    backend: S3Backend,
) -> None:
    name = sha(b"x")
    assert not backend.exists(name)
    with pytest.raises(FileNotFoundError):
        backend.read(name)
    assert backend.delete(name) is False
    backend.write(name, b"blob")
    assert backend.delete(name) is True
    assert backend.delete(name) is False
    with pytest.raises(FileNotFoundError):
        backend.read(name)


def test_names_pages_through_the_listing_and_skips_strays_and_other_prefixes(
    backend: S3Backend, s3_server: S3Server, settings: dict[str, Any]
) -> None:
    names = sorted(sha(bytes([i])) for i in range(7))
    for name in names:
        backend.write(name, b"b")
    client = s3_server.client()
    bucket = settings["bucket"]
    stray = sha(b"stray")
    p = settings["prefix"]
    for key in (
        f"{p}/README",
        f"{p}/{stray}",  # no folder
        f"{p}/00/{stray}",  # wrong folder
        f"{p}/{stray[:2]}/{stray.upper()}",
        f"{p}/{stray[:2]}/{stray}/x",
        f"{p}2/{stray[:2]}/{stray}",  # another prefix that starts with this one
        f"{stray[:2]}/{stray}",
    ):
        client.put_object(Bucket=bucket, Key=key, Body=b"not ours")
    backend.page_size = 2  # several listing requests for the seven blobs and the strays
    assert list(backend.names()) == names

    other = S3Backend({**settings, "prefix": f"{p}2"})
    assert list(other.names()) == [stray]
    assert not other.exists(names[0])


@pytest.mark.parametrize(
    "name", ["", "../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "g" * 64, "a" * 63 + "/"]
)
def test_a_name_that_is_not_a_sha256_never_becomes_a_key(backend: S3Backend, name: str) -> None:
    for call in (backend.read, backend.exists, backend.delete):
        with pytest.raises(ValueError):
            call(name)
    with pytest.raises(ValueError):
        backend.write(name, b"x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bucket": None}, "lacks bucket"),
        ({"secret_key": ""}, "lacks secret_key"),
        ({"endpoint_url": None, "region": None}, "lacks endpoint_url, region"),
        ({"access_key": 12345}, "access_key must be text"),
        ({"endpoint_url": "ftp://127.0.0.1:9000"}, "endpoint_url must be"),
        ({"endpoint_url": "http://user:pw@127.0.0.1:9000"}, "endpoint_url must be"),
        ({"endpoint_url": "http://127.0.0.1:9000/path"}, "endpoint_url must be"),
        ({"bucket": "Bad_Bucket"}, "bucket is not a valid"),
        ({"bucket": "ab"}, "bucket is not a valid"),
        ({"prefix": "a/../b"}, "prefix may hold"),
        ({"prefix": "a b"}, "prefix may hold"),
        ({"read_timeout": "soon"}, "must be numbers"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"max_attempts": 100}, "max_attempts"),
        ({"secret": "typo of secret_key"}, "unknown keys: secret"),
    ],
)
def test_incomplete_or_wrong_settings_refuse_to_start_without_showing_the_secret(
    settings: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    raw = {k: v for k, v in {**settings, **change}.items() if v is not None}
    with pytest.raises(RuntimeError, match=message) as caught:
        S3Backend(raw)
    assert settings["secret_key"] not in str(caught.value)


def test_no_settings_at_all_refuse_to_start() -> None:
    for raw in (None, {}, "s3://bucket"):
        with pytest.raises(RuntimeError, match="STORAGE_S3 is not set"):
            S3Backend(raw)  # type: ignore[arg-type]


def test_the_secret_is_in_no_repr(backend: S3Backend, settings: dict[str, Any]) -> None:
    assert settings["secret_key"] not in repr(backend)
    assert settings["bucket"] in repr(backend)


def assert_unavailable(backend: S3Backend, reason: str, secret: str) -> None:
    name = sha(b"doc")
    calls = [
        backend.check,
        lambda: backend.read(name),
        lambda: backend.write(name, b"blob"),
        lambda: list(backend.names()),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable, match=reason) as caught:
            call()
        assert secret not in str(caught.value)
        assert "Fillagringen svarar inte just nu" in caught.value.message


def test_wrong_credentials_are_a_clear_unavailable_error(
    settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_secret = S3Backend({**settings, "secret_key": "not-the-secret-key"})
    assert_unavailable(wrong_secret, "refused the credentials", "not-the-secret-key")
    unknown_key = S3Backend({**settings, "access_key": "nobody"})
    assert_unavailable(unknown_key, "refused the credentials", settings["secret_key"])
    # botocore logs requests at DEBUG: a signature, never the secret itself
    assert "not-the-secret-key" not in caplog.text
    assert settings["secret_key"] not in caplog.text


def test_a_bucket_that_does_not_exist_is_named_in_the_error(settings: dict[str, Any]) -> None:
    backend = S3Backend({**settings, "bucket": "no-such-bucket-here"})
    assert_unavailable(backend, "'no-such-bucket-here' does not exist", settings["secret_key"])
    # HEAD of an object cannot tell a missing bucket from a missing key; a write can
    assert backend.exists(sha(b"doc")) is False


def test_a_server_that_is_down_is_unavailable_not_a_crash(settings: dict[str, Any]) -> None:
    down = S3Backend(
        {
            **settings,
            "endpoint_url": f"http://127.0.0.1:{closed_port()}",
            "connect_timeout": 1,
            "max_attempts": 2,
        }
    )
    assert_unavailable(down, "EndpointConnectionError", settings["secret_key"])
    with pytest.raises(StorageUnavailable):
        down.exists(sha(b"doc"))
    with pytest.raises(StorageUnavailable):
        down.delete(sha(b"doc"))


# --- the app on S3 ---------------------------------------------------------------------------

PDF = b"%PDF-1.7\n% Asa Oberg, 20100315-1234\n%%EOF\n"
UNAVAILABLE = "Fillagringen svarar inte just nu"


@pytest.fixture
def on_s3(config: dict[str, Any], s3_server: S3Server) -> None:
    """Build this test's app on the S3 backend (a prefix of its own in the run's bucket)."""
    config.update({"STORAGE_BACKEND": "s3", "STORAGE_S3": s3_server.settings()})


def test_the_app_refuses_to_start_on_s3_with_incomplete_settings(config: dict[str, Any]) -> None:
    for partial in ({}, {"bucket": "formsvc"}, {"endpoint_url": "http://127.0.0.1:9"}):
        with pytest.raises(RuntimeError, match="STORAGE_S3"):
            create_app({**config, "STORAGE_BACKEND": "s3", "STORAGE_S3": partial})


@pytest.mark.usefixtures("on_s3")
def test_a_download_while_the_object_store_fails_is_a_clear_page_not_a_500(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    consent_doc: Document,
    make_app: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = runtime(app).store
    assert store.backend.name == "s3"
    doc = db.session.get(Document, consent_doc.id)
    sha256 = store.put(PDF, "application/pdf").sha256
    db.session.commit()  # the stored_file row first: the document's column refers to it
    doc.frozen_pdf_sha256 = sha256
    db.session.commit()
    url = f"/documents/{doc.id}/frozen.pdf"
    auth.login("caseworker")
    ok = client.get(url)
    assert ok.status_code == 200 and ok.data == PDF

    settings = dict(app.config["STORAGE_S3"])
    failures = [  # another instance whose object store is down, or set up wrongly
        ({"endpoint_url": f"http://127.0.0.1:{closed_port()}"}, "EndpointConnectionError"),
        ({"secret_key": "not-the-secret-key"}, "refused the credentials"),
        ({"bucket": "no-such-bucket-here"}, "'no-such-bucket-here' does not exist"),
    ]
    for broken, reason in failures:
        caplog.clear()
        failing = make_app(STORAGE_S3={**settings, **broken, "max_attempts": 1})
        other = failing.test_client()
        Auth(other).login("caseworker")
        resp = other.get(url)
        assert resp.status_code == 503, reason
        assert resp.mimetype == "text/html"
        assert UNAVAILABLE in resp.get_data(as_text=True)
        assert b"%PDF" not in resp.data
        assert reason in caplog.text  # the operator's reason is in the log …
        assert settings["secret_key"] not in caplog.text  # … and no secret is
        assert "not-the-secret-key" not in caplog.text
    assert client.get(url).data == PDF  # the working instance is not disturbed


@pytest.mark.usefixtures("on_s3")
def test_readyz_checks_the_bucket_and_says_failed_without_naming_anything(
    app: Flask, make_app: Any
) -> None:
    assert readyz(app)[:2] == (200, {"status": "ok", "checks": {"database": "ok", "storage": "ok"}})
    settings = dict(app.config["STORAGE_S3"])
    port = closed_port()
    for broken in (
        {"endpoint_url": f"http://127.0.0.1:{port}"},
        {"secret_key": "not-the-secret-key"},
        {"bucket": "no-such-bucket-here"},
    ):
        failing = make_app(STORAGE_S3={**settings, **broken})
        with failing.app_context():
            status, body, raw = readyz(failing)
        assert (status, body["checks"]) == (503, {"database": "ok", "storage": "failed"})
        for secret in (
            settings["secret_key"],
            "not-the-secret-key",
            settings["access_key"],
            settings["bucket"],
            "no-such-bucket-here",
            str(port),
        ):
            assert secret not in raw
