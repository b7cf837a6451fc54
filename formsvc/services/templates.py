"""Word template versions: the packaged .docx is registered as a version when first used."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import TemplateVersion
from formsvc.services.storage import FileStore

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def active_version(dtype: DocumentType, store: FileStore) -> TemplateVersion:
    """The version new documents of *dtype* use; registers the packaged template if it changed."""
    data = dtype.template_path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    current = db.session.scalar(
        select(TemplateVersion)
        .where(TemplateVersion.type_slug == dtype.slug, TemplateVersion.active.is_(True))
        .order_by(TemplateVersion.version.desc())
        .limit(1)
    )
    if current is not None and (current.source == "upload" or current.file_sha256 == sha):
        return current
    known = db.session.scalar(
        select(TemplateVersion.id)
        .where(TemplateVersion.type_slug == dtype.slug, TemplateVersion.file_sha256 == sha)
        .limit(1)
    )
    if current is not None and known is not None:
        return current  # an administrator chose another version on purpose
    # the packaged template is new or changed: it becomes the next version
    store.put(data, DOCX_MIME)
    with db.session.begin_nested():
        latest = db.session.scalar(
            select(func.max(TemplateVersion.version)).where(TemplateVersion.type_slug == dtype.slug)
        )
        if current is not None:
            current.active = False
        tv = TemplateVersion(
            type_slug=dtype.slug, version=(latest or 0) + 1, file_sha256=sha, source="builtin"
        )
        db.session.add(tv)
    return tv


def template_bytes(tv: TemplateVersion, store: FileStore) -> bytes:
    """The exact .docx bytes of a template version."""
    return store.get(tv.file_sha256)
