"""The app's runtime objects, built once by create_app and typed (instead of string-keyed
``app.extensions["formsvc.*"]`` lookups).

Services get what they need as arguments; views, CLI commands and tasks fetch it here::

    from formsvc.runtime import runtime

    runtime().store.get(sha256)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from formsvc.doctypes import DocumentType
    from formsvc.queue import Queue
    from formsvc.services.checkpoints import Anchor
    from formsvc.services.conversion import ConverterPool, ConverterSettings
    from formsvc.services.sealing import Sealer, SealerCache
    from formsvc.services.storage import FileStore
    from formsvc.services.untrusted import Runner

#: where create_app puts the Runtime (the one remaining extensions key of formsvc's own)
EXTENSION_KEY = "formsvc"


@dataclass
class Runtime:
    """Everything long-lived one app instance works with."""

    #: the document types by slug (formsvc.doctypes)
    registry: dict[str, DocumentType]
    #: stored files, encrypted at rest
    store: FileStore
    #: how conversions run; the pool itself is shared per settings (conversion.get_pool)
    converter_settings: ConverterSettings
    #: the bounded runner for parsing untrusted files
    untrusted: Runner
    #: the audit checkpoint key, or None when checkpoints are off
    anchor: Anchor | None
    #: the loaded seal, reloaded when its PKCS#12 changes (sealing.get_sealer)
    sealer_cache: SealerCache = field(init=False, repr=False, compare=False)
    #: the app these objects belong to (for the seal, which reads the app's config)
    app: Flask = field(repr=False, compare=False)
    #: where tasks go after commit: inline or Celery (formsvc.queue; owner: jobs)
    queue: Queue | None = field(default=None, repr=False, compare=False)

    @property
    def converter(self) -> ConverterPool:
        """The converter pool for these settings (started on first use)."""
        from formsvc.services.conversion import get_pool

        return get_pool(self.converter_settings)

    def __post_init__(self) -> None:
        from formsvc.services.sealing import SealerCache

        self.sealer_cache = SealerCache()

    def sealer(self) -> Sealer:
        """The seal, loaded when first needed and reloaded when its PKCS#12 changes."""
        from formsvc.services.sealing import get_sealer

        return get_sealer(self.app)


def runtime(app: Flask | None = None) -> Runtime:
    """The Runtime of *app*, or of the current app."""
    target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    return target.extensions[EXTENSION_KEY]
