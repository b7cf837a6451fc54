"""First."""

from formsvc.forms.consent import DOCUMENT_TYPE  # noqa: F401
