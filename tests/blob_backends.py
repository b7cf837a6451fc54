"""The `blob_backend` fixture: a storage test runs once per blob backend (docs/adr/019).

A module opts in with ``pytestmark = pytest.mark.usefixtures("blob_backend")`` (usefixtures are
set up before the test's own fixtures, so `app` is built with the backend chosen). The helpers
read and change a stored blob as the backend holds it, the way damage or an attacker would.
"""

from __future__ import annotations

from typing import Any

import pytest

from formsvc.extensions import db
from formsvc.services.storage import FileStore

#: Every backend the storage suite runs against ("s3": SeaweedFS on loopback, tests/s3_server.py).
BLOB_BACKENDS = ["local", "database", "s3"]


def backend_settings(name: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The config keys backend *name* needs beside STORAGE_BACKEND (a server fixture for S3)."""
    if name in ("local", "database"):
        return {"STORAGE_BACKEND": name}  # STORAGE_DIR / the test database are already set
    if name == "s3":
        # the run's server and bucket, a prefix of this test's own (tests/s3_server.py)
        return {
            "STORAGE_BACKEND": "s3",
            "STORAGE_S3": request.getfixturevalue("s3_server").settings(),
        }
    raise pytest.UsageError(f"no test settings for blob backend {name!r}")


@pytest.fixture(params=BLOB_BACKENDS)
def blob_backend(request: pytest.FixtureRequest, config: dict[str, Any]) -> str:
    """The backend this run of the test uses; sets it in `config` before the app is built."""
    config.update(backend_settings(request.param, request))
    return str(request.param)


def raw_blob(store: FileStore, sha: str) -> bytes:
    """The encrypted bytes as stored."""
    return store.backend.read(sha)


def set_raw_blob(store: FileStore, sha: str, blob: bytes) -> None:
    """Replace the stored bytes under *sha* (committed, as another process would leave them)."""
    store.backend.write(sha, blob)
    db.session.commit()


def drop_blob(store: FileStore, sha: str) -> None:
    """Remove the stored bytes under *sha* behind the database rows' back."""
    store.backend.delete(sha)
    db.session.commit()


def flip_a_byte(store: FileStore, sha: str, pos: int | None = None) -> bytes:
    """Change one bit of the stored blob (in the middle by default); returns the new bytes."""
    raw = bytearray(raw_blob(store, sha))
    raw[len(raw) // 2 if pos is None else pos] ^= 0x01
    set_raw_blob(store, sha, bytes(raw))
    return bytes(raw)
