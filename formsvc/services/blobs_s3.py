"""Stored files' encrypted blobs in S3-compatible object storage (STORAGE_BACKEND = "s3").

Keys are ``<prefix>/<sha[:2]>/<sha>``. A PUT replaces an object whole, so a reader never sees
half a blob. The blobs are the ciphertext FileStore makes (docs/adr/005): the object store
never holds a plaintext or a key, and a changed object fails authentication when read.

boto3 is imported when an S3Backend is made, so an instance on another backend never loads it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from formsvc.services.blobs import is_sha256

#: The keys STORAGE_S3 must have.
REQUIRED = ("endpoint_url", "bucket", "access_key", "secret_key", "region")
# S3's own rules for a bucket name (lower case, digits, dots, hyphens; 3-63)
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_RE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
# error codes meaning "this key is not there" (HEAD answers with a bare status)
_ABSENT = {"NoSuchKey", "404", "NotFound"}


class StorageUnavailable(OSError):
    """The storage service cannot be used now (down, wrong credentials, no such bucket).

    Not a damaged file (StoredFileError): nothing is wrong with the document, so the user is
    told to try again later and the operator finds the reason in the log and on /readyz.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"file storage unavailable: {reason}")
        #: what was wrong, in English, for logs and the operator (never a secret)
        self.reason = reason

    @property
    def message(self) -> str:
        """What a user is told (Swedish source string, translated when shown)."""
        return _(
            "Fillagringen svarar inte just nu, så filen kan inte visas. Inget har försvunnit. "
            "Försök igen om en stund eller kontakta administratören."
        )


@dataclass(frozen=True)
class S3Settings:
    """STORAGE_S3, checked. The secret key is left out of repr() so it never reaches a log."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str
    prefix: str = "files"
    connect_timeout: float = 2.0  #: seconds to open a connection
    read_timeout: float = 10.0  #: seconds to wait for an answer
    max_attempts: int = 3  #: tries of one call, backing off between them (botocore "standard")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> S3Settings:
        """Check *raw*; RuntimeError naming what is missing or wrong (never a value)."""
        if not isinstance(raw, Mapping) or not raw:
            raise RuntimeError(
                "STORAGE_BACKEND is 's3' but STORAGE_S3 is not set: it needs " + ", ".join(REQUIRED)
            )
        missing = [k for k in REQUIRED if raw.get(k) in (None, "")]
        if missing:
            raise RuntimeError(f"STORAGE_S3 lacks {', '.join(missing)}")
        not_text = [k for k in REQUIRED if not isinstance(raw[k], str) or not raw[k].strip()]
        if not_text:
            raise RuntimeError(f"STORAGE_S3 {', '.join(not_text)} must be text")
        unknown = sorted(set(raw) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise RuntimeError(f"STORAGE_S3 has unknown keys: {', '.join(map(str, unknown))}")
        endpoint = raw["endpoint_url"].strip()
        if not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]-]+/?", endpoint):
            # no user:password@ (it would be logged with every connection error), no path
            raise RuntimeError("STORAGE_S3 endpoint_url must be http(s)://host[:port]")
        if not _BUCKET_RE.fullmatch(raw["bucket"]):
            raise RuntimeError("STORAGE_S3 bucket is not a valid S3 bucket name")
        prefix = str(raw.get("prefix") or "files").strip("/")
        if not _PREFIX_RE.fullmatch(prefix) or ".." in prefix.split("/"):
            raise RuntimeError("STORAGE_S3 prefix may hold letters, digits, . _ - and /")
        try:
            connect = float(raw.get("connect_timeout", 2.0))
            read = float(raw.get("read_timeout", 10.0))
            attempts = int(raw.get("max_attempts", 3))
        except (TypeError, ValueError):
            raise RuntimeError("STORAGE_S3 timeouts and max_attempts must be numbers") from None
        if not (0 < connect <= 60 and 0 < read <= 300 and 1 <= attempts <= 10):
            raise RuntimeError(
                "STORAGE_S3 connect_timeout (0-60 s], read_timeout (0-300 s] and max_attempts 1-10"
            )
        return cls(
            endpoint_url=endpoint,
            bucket=raw["bucket"],
            access_key=raw["access_key"],
            secret_key=raw["secret_key"],
            region=raw["region"],
            prefix=prefix,
            connect_timeout=connect,
            read_timeout=read,
            max_attempts=attempts,
        )


class S3Backend:
    """Blobs as objects in one bucket under a prefix (BlobBackend protocol, formsvc.services.blobs).

    Every failure to reach or use the service is a StorageUnavailable whose reason names the
    cause but no secret; an absent object is FileNotFoundError, as with the other backends.
    """

    name = "s3"
    page_size = 1000  #: keys per listing request (S3's maximum)

    def __init__(self, config: Mapping[str, Any] | None) -> None:
        #: the checked STORAGE_S3 settings
        self.settings = S3Settings.from_mapping(config)
        self._pid = 0
        self._connect()

    def _connect(self) -> None:
        self._pid = os.getpid()
        self._main = _client(self.settings, self.settings.max_attempts)
        # /readyz must answer within a second even when the endpoint is a black hole
        self._check = _client(self.settings, 1, timeout=1.0)

    @property
    def _client(self) -> Any:
        # a forked child (a Celery worker, gunicorn --preload) must not share its parent's
        # pooled connections: two processes reading one socket get each other's answers
        if self._pid != os.getpid():
            self._connect()
        return self._main

    @property
    def _check_client(self) -> Any:
        if self._pid != os.getpid():
            self._connect()
        return self._check

    def __repr__(self) -> str:
        return f"S3Backend({self.settings!r})"

    def key(self, sha256: str) -> str:
        """The object key of the blob named *sha256*."""
        if not is_sha256(sha256):  # the name becomes a key: nothing else gets in
            raise ValueError(f"not a SHA-256 name: {sha256[:80]!r}")
        return f"{self.settings.prefix}/{sha256[:2]}/{sha256}"

    def write(self, sha256: str, blob: bytes) -> None:
        """PUT the object (replaces it whole: never a half blob visible)."""
        with self._errors():
            self._client.put_object(
                Bucket=self.settings.bucket,
                Key=self.key(sha256),
                Body=blob,
                ContentType="application/octet-stream",
            )

    def read(self, sha256: str) -> bytes:
        """The object's bytes; FileNotFoundError if there is none."""
        key = self.key(sha256)
        with self._errors(absent=sha256):
            response = self._client.get_object(Bucket=self.settings.bucket, Key=key)
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def exists(self, sha256: str) -> bool:
        """True if the object is there (a HEAD)."""
        try:
            with self._errors(absent=sha256):
                self._client.head_object(Bucket=self.settings.bucket, Key=self.key(sha256))
        except FileNotFoundError:
            return False
        return True

    def delete(self, sha256: str) -> bool:
        """Delete the object; True if it was there (S3's DELETE does not say, so HEAD first)."""
        if not self.exists(sha256):
            return False  # a retried purge after a crash: already gone
        with self._errors():
            self._client.delete_object(Bucket=self.settings.bucket, Key=self.key(sha256))
        return True

    def names(self) -> Iterator[str]:
        """Every blob's name, sorted (S3 lists keys in order), a page of 1000 at a time."""
        prefix = self.settings.prefix + "/"
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.settings.bucket,
            Prefix=prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        with self._errors():
            for page in pages:
                for item in page.get("Contents", ()):
                    rest = item["Key"][len(prefix) :]
                    folder, _sep, name = rest.partition("/")
                    # strays (other tools' objects, a folder marker) are not blobs
                    if is_sha256(name) and folder == name[:2]:
                        yield name

    def check(self) -> None:
        """HEAD the bucket once, no retry, 1 s timeouts: StorageUnavailable unless usable."""
        with self._errors():
            self._check_client.head_bucket(Bucket=self.settings.bucket)

    @contextmanager
    def _errors(self, absent: str | None = None) -> Iterator[None]:
        """Turn botocore's errors into FileNotFoundError (an absent *absent*) or
        StorageUnavailable, with a reason that names the cause and the bucket, never a secret."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if absent is not None and code in _ABSENT:
                raise FileNotFoundError(absent) from None
            raise StorageUnavailable(_client_reason(code, status, self.settings.bucket)) from None
        except BotoCoreError as exc:
            # connection refused, timeouts, DNS: botocore's message names the endpoint only
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from None


_session_lock = threading.Lock()
_session: Any = None


def _client(s: S3Settings, attempts: int, timeout: float | None = None) -> Any:
    # one boto3 session per process: a new one loads S3's service model again (~0.4 s); a
    # session is not thread-safe, its clients are, so only the making of a client is locked
    global _session
    import boto3
    from botocore.config import Config

    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            "s3",
            endpoint_url=s.endpoint_url,
            aws_access_key_id=s.access_key,
            aws_secret_access_key=s.secret_key,
            region_name=s.region,
            config=Config(
                connect_timeout=min(s.connect_timeout, timeout or s.connect_timeout),
                read_timeout=min(s.read_timeout, timeout or s.read_timeout),
                # botocore's "standard" mode backs off exponentially with jitter between tries
                retries={"max_attempts": attempts, "mode": "standard"},
                # path style works with every S3-compatible server, also without wildcard DNS
                s3={"addressing_style": "path"},
            ),
        )


def _client_reason(code: str, status: object, bucket: str) -> str:
    if code in {"NoSuchBucket"} or (code in {"404", "NotFound"}):
        return f"bucket {bucket!r} does not exist (or the object store lost it)"
    if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied", "Forbidden"}:
        return f"the object store refused the credentials for bucket {bucket!r} ({code})"
    return f"the object store answered {code or status} for bucket {bucket!r}"
