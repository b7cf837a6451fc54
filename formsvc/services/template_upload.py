"""Check an uploaded Word template before it is used, then keep it as a new version."""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile

from sqlalchemy import func, select

from formsvc.doctypes import DocumentType, SignerSlot, sample_input
from formsvc.extensions import db
from formsvc.models import TemplateVersion, User
from formsvc.services import audit, template_safety
from formsvc.services.conversion import (
    ConversionError,
    ConversionTimeout,
    ConverterPool,
    ConverterUnavailable,
)
from formsvc.services.rendering import TemplateError, template_variables
from formsvc.services.storage import FileStore
from formsvc.services.template_trial import check_places, render_sample
from formsvc.services.templates import DOCX_MIME
from formsvc.services.untrusted import Refused, Runner

MAX_UPLOAD = 5 * 1024 * 1024  #: bytes of the .docx itself
MAX_UNPACKED = 60 * 1024 * 1024  #: bytes once unzipped, all parts together
MAX_PARTS = 500  #: zip entries
MAX_RATIO = 200  #: uncompressed / compressed per entry (zip-bomb guard)


logger = logging.getLogger(__name__)


class UploadRefused(ValueError):
    """The upload was refused; str(err) says why, in Swedish, naming the variable or tag."""


def check(
    dtype: DocumentType,
    data: bytes,
    *,
    runner: Runner,
    converter: ConverterPool | None = None,
) -> None:
    """Refuse anything that is not a safe .docx this type's form can fill (in a bounded child
    process) and, given a converter, turn into a PDF with one signature place per signer."""
    if len(data) > MAX_UPLOAD:
        raise UploadRefused(f"Filen är för stor: högst {MAX_UPLOAD // (1024 * 1024)} MB.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadRefused("Filen är ingen Word-fil (.docx).") from None
    _check_package(archive, infos)
    try:
        wanted = template_variables(data)
    except TemplateError as exc:
        raise UploadRefused(exc.message) from None
    sample = sample_input(dtype)
    context = dtype.build_context(sample)
    missing = sorted(wanted - set(context))
    if missing:
        names = ", ".join(f"”{m}”" for m in missing)
        known = ", ".join(sorted(context))
        raise UploadRefused(
            f"Mallen använder {names}, som formuläret inte har. Variabler som finns: {known}."
        )
    try:
        filled = render_sample(runner, data, dtype.slug)
    except Refused as exc:
        raise UploadRefused(exc.message) from None
    if converter is None:
        return
    slots = dtype.signers(sample)
    # a signed type's document is frozen as PDF/A when sent: try exactly that
    pdf = _trial_conversion(converter, filled, pdfa=bool(slots))
    if slots:  # each signer the sample declares needs its place in that PDF (ADR 013)
        try:
            check_places(runner, pdf, slots)
        except Refused as exc:
            raise UploadRefused(exc.message) from None


def sample_signers(dtype: DocumentType) -> list[SignerSlot]:
    """The signers the type's sample declares: each needs a signature place in the template."""
    return dtype.signers(sample_input(dtype))


def _trial_conversion(converter: ConverterPool, filled: bytes, *, pdfa: bool) -> bytes:
    """Convert the template filled with sample data, as every document of the type will be."""
    try:
        return converter.convert(filled, pdfa=pdfa)
    except ConverterUnavailable:
        raise UploadRefused(
            "PDF-omvandlingen (LibreOffice) fungerar inte på servern just nu, så mallen kan "
            "inte provas. Försök igen senare."
        ) from None
    except ConversionTimeout:
        raise UploadRefused(
            "Mallen fylldes i med exempeldata, men omvandlingen till PDF tog för lång tid. "
            "Mallen kan inte användas."
        ) from None
    except ConversionError:
        raise UploadRefused(
            "Mallen fylldes i med exempeldata, men LibreOffice kunde inte omvandla den till PDF. "
            "Mallen kan inte användas."
        ) from None


def _check_package(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    names = {i.filename for i in infos}
    if len(infos) > MAX_PARTS:
        raise UploadRefused("Filen innehåller för många delar för att vara en Word-mall.")
    if sum(i.file_size for i in infos) > MAX_UNPACKED or any(
        i.compress_size and i.file_size / i.compress_size > MAX_RATIO for i in infos
    ):
        raise UploadRefused("Filen packas upp till orimligt mycket data (möjlig zip-bomb).")
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise UploadRefused("Filen är ingen Word-fil (.docx): word/document.xml saknas.")
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise UploadRefused("Mallen innehåller makron, vilket inte är tillåtet.")
    try:
        template_safety.check_package(archive, infos)
    except template_safety.TemplateUnsafe as exc:
        raise UploadRefused(str(exc)) from None


def upload(
    dtype: DocumentType,
    data: bytes,
    *,
    actor: User,
    store: FileStore,
    runner: Runner,
    converter: ConverterPool,
    filename: str = "",
) -> TemplateVersion:
    """Check *data*, fill it with sample data and convert it; then make it the active version."""
    try:
        check(dtype, data, runner=runner, converter=converter)
    except UploadRefused as exc:  # one line per refused upload, never the file's content
        logger.warning(
            "template upload for %s refused: %s (%d bytes, sha256 %s)",
            dtype.slug,
            str(exc)[:200],
            len(data),
            hashlib.sha256(data).hexdigest()[:16],
        )
        raise
    stored = store.put(data, DOCX_MIME)
    latest = db.session.scalar(
        select(func.max(TemplateVersion.version)).where(TemplateVersion.type_slug == dtype.slug)
    )
    for tv in db.session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.type_slug == dtype.slug, TemplateVersion.active.is_(True)
        )
    ):
        tv.active = False
    tv = TemplateVersion(
        type_slug=dtype.slug,
        version=(latest or 0) + 1,
        file_sha256=stored.sha256,
        source="upload",
        active=True,
        created_by_id=actor.id,
    )
    db.session.add(tv)
    db.session.flush()
    audit.record(
        "template_upload",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="template_version",
        object_id=tv.id,
        details={
            "type": dtype.slug,
            "version": tv.version,
            "sha256": stored.sha256,
            "filename": filename[:200],
        },
    )
    db.session.commit()
    return tv


def activate(
    tv: TemplateVersion,
    dtype: DocumentType,
    *,
    actor: User,
    store: FileStore,
    runner: Runner,
    converter: ConverterPool,
) -> None:
    """Make an earlier version the one new documents use; an uploaded one is checked again."""
    if tv.source == "upload":  # it may predate today's checks, or the form may have changed
        check(dtype, store.get(tv.file_sha256), runner=runner, converter=converter)
    for other in db.session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.type_slug == tv.type_slug, TemplateVersion.active.is_(True)
        )
    ):
        other.active = False
    tv.active = True
    audit.record(
        "template_activate",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="template_version",
        object_id=tv.id,
        details={"type": tv.type_slug, "version": tv.version},
    )
    db.session.commit()


def versions(slug: str) -> list[TemplateVersion]:
    """All versions of a type's template, newest first."""
    return list(
        db.session.scalars(
            select(TemplateVersion)
            .where(TemplateVersion.type_slug == slug)
            .order_by(TemplateVersion.version.desc())
        )
    )
