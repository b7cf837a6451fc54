"""The registry of document types (annexes): one module in formsvc/forms/ per type declares one."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from formsvc.forms._base import form_to_data
from formsvc.services.rendering import Image

TEMPLATE_DIR = Path(__file__).parent / "templates_docx"


class RegistryError(RuntimeError):
    """The registry is inconsistent; the app refuses to start."""


@dataclass(frozen=True)
class Author:
    """The staff member a document is written by, as printed on it."""

    name: str  #: full name
    title: str = ""  #: e.g. Lots/samordnare
    phone: str = ""  #: function phone
    email: str = ""  #: function e-mail


@dataclass(frozen=True)
class Subject:
    """The participant a document is about, as far as a form needs to know."""

    name: str  #: first and last name
    id_kind: str  #: personnummer / samordningsnummer / birth_date
    id_number: str | None  #: long form, or None
    birth_date: date  #: used for age rules
    target_group: str  #: sig_unga / sig_unga_vuxna
    #: skyddade personuppgifter: documents print the identity number masked
    protected: bool = False

    def age_on(self, day: date) -> int:
        """Age in whole years on *day*."""
        before = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before


#: How an identity kind and a target group are printed on documents.
ID_LABELS = {
    "personnummer": _l("Personnummer"),
    "samordningsnummer": _l("Samordningsnummer"),
    "birth_date": _l("Födelsedatum"),
}
TARGET_GROUPS = {
    "sig_unga": _l("SIG unga (12–20 år)"),
    "sig_unga_vuxna": _l("SIG unga vuxna (19–29 år)"),
}


def _masked(number: str) -> str:
    """An identity number with the last four digits hidden (protected identity)."""
    return f"{number[:9]}****"


def printed_number(number: str | None, *, protected: bool = False) -> str:
    """An identity number as documents print it: masked for a protected identity."""
    if not number:
        return ""
    return _masked(number) if protected else number


def printed_subject(s: Subject | None, on: str | None = None) -> dict[str, str]:
    """A participant as documents print them; ``age`` is the age on the ISO date *on*, if given."""
    if s is None:
        return {"name": "", "id_label": "", "id_value": "", "target_group": "", "age": ""}
    return {
        "name": s.name,
        "id_label": str(ID_LABELS.get(s.id_kind, ID_LABELS["birth_date"])),
        "id_value": _masked(s.id_number)
        if s.protected and s.id_number
        else (s.id_number or s.birth_date.isoformat()),
        "target_group": str(TARGET_GROUPS.get(s.target_group, "")),
        "age": str(s.age_on(date.fromisoformat(on))) if on else "",
    }


@dataclass(frozen=True)
class ChecklistEntry:
    """One checklist item as a form shows it: its id and the text it had."""

    item_id: int  #: ChecklistItem.id
    text: str  #: the item's text when the document was filled


@dataclass(frozen=True)
class SignerSlot:
    """One signature a document of a type needs (declared by the type from its data)."""

    key: str  #: stable within the type, e.g. "participant", "guardian2", "manager"
    role: str  #: printed role, e.g. "Vårdnadshavare 2"
    kind: str = "external"  #: "external" (participant, guardian) or "staff"
    #: for staff: "manager" (any manager of the district), "caseworker" (any caseworker or
    #: manager of the district who may see the document) or "employee" (the document's employee)
    staff_role: str | None = None
    name: str = ""  #: the name expected, as the form holds it ("" when unknown)
    #: the signer's personnummer or samordningsnummer as printed ("" when not known)
    id_number: str = ""
    #: what the signer ticks to agree to (every one is required to sign)
    statements: tuple[str, ...] = ()
    #: an e-mail address the form holds for this signer ("" when none): the personal link's
    #: address is prefilled with it
    email: str = ""


@dataclass(frozen=True)
class SignatureMark:
    """A given signature as the final document prints it in its signature place."""

    name: str  #: the name the signature is attributed to (the designated signer's)
    signed: str  #: printed under "Ort och datum", e.g. "2026-11-22 (e-signerad)"
    image: bytes | None = None  #: drawn signature (PNG), if any


@dataclass(frozen=True)
class RenderInput:
    """Everything build_context may use: plain values, no ORM objects, no request."""

    data: Mapping[str, Any]  #: the stored form data
    district: str  #: district name
    author: Author  #: who wrote the document
    reference: str  #: e.g. SIG-2026-000123 v2
    printed_at: date  #: date printed on the document
    subject: Subject | None = None  #: the participant, for participant documents
    employee: Author | None = None  #: the employee, for 2.0 and 2.3
    #: signer key -> the signature given (only when rendering the final, signed document)
    signatures: Mapping[str, SignatureMark] = field(default_factory=dict)


def signer_lines(ri: RenderInput, slots: list[SignerSlot]) -> list[dict[str, Any]]:
    """The template's ``signers``: key, role, name, signature image (or "") and date per slot."""
    lines = []
    for slot in slots:
        mark = ri.signatures.get(slot.key)
        lines.append(
            {
                "key": slot.key,
                "role": slot.role,
                "name": mark.name if mark else slot.name,
                "signature": Image(mark.image, width_mm=45) if mark and mark.image else "",
                "signed": mark.signed if mark else "",
            }
        )
    return lines


@dataclass(frozen=True)
class FormContext:
    """What a form's defaults and cross-field checks may depend on."""

    subject: Subject | None = None  #: the participant, if any
    settings: Mapping[str, Any] = field(default_factory=dict)  #: app settings (limits)
    today: date = field(default_factory=date.today)  #: injectable for tests
    author: Author | None = None  #: who is filling the form
    role: str = ""  #: the role of who is filling it (e.g. only a manager records a decision)
    employee: Author | None = None  #: the employee a 2.0/2.3 document is about
    district: str = ""  #: district name
    #: checklist slug -> entries a new document starts with (active items, in order)
    checklists: Mapping[str, list[ChecklistEntry]] = field(default_factory=dict)
    #: facts the service knows, e.g. for the district checklist's proposed answers
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Required:
    """What must be filled before a signer may sign: one field, or any one of several."""

    fields: tuple[str, ...]  #: form field names; met when any one of them is filled
    label: Any = ""  #: what the signer is told is missing (default: the first field's label)


@dataclass(frozen=True)
class Decision:
    """A decision a signer records and signs in one step (3.3: the manager's decision)."""

    slot: str  #: the signer who decides, e.g. "manager"
    form_class: type[FlaskForm]  #: the decision's own fields, posted with the signature
    #: stored data, the decider's name, today -> the form's starting values
    initial: Callable[[Mapping[str, Any], str, date], dict[str, Any]]
    #: validated form, the decider's name -> the values merged into the document's data
    to_data: Callable[[Any, str], dict[str, Any]]
    #: the data keys to_data writes
    supplies: tuple[str, ...] = ()


def is_filled(value: Any) -> bool:
    """A stored value that says something: text, a choice, a ticked box, a row with content."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return any(
            is_filled(list(row.values())) if isinstance(row, dict) else is_filled(row)
            for row in value
        )
    return bool(value)


def field_label(form_class: type, name: str) -> str:
    """The label a form class gives a field (its name when it has none)."""
    unbound = getattr(form_class, name, None)
    label = None
    if unbound is not None:
        label = unbound.kwargs.get("label") or (unbound.args[0] if unbound.args else None)
    return str(label) if label and not isinstance(label, type) else name


@dataclass(frozen=True)
class DocumentType:
    slug: str  #: stable key in URLs and the database
    annex: str  #: the guidance's annex number, e.g. "3.2"
    title: Any  #: Swedish title (lazy string)
    form_class: type[FlaskForm]  #: WTForms class; may define check(ctx) for cross-field rules
    template: str  #: file name in templates_docx/
    subject: str  #: "participant", "employee" or "district"
    build_context: Callable[[RenderInput], dict[str, Any]]  #: stored data -> docx context
    sample: Callable[[], dict[str, Any]]  #: valid stored data for tests and `flask sample`
    sample_subject: Callable[[], Subject | None] = lambda: None  #: subject for the sample
    initial: Callable[[FormContext], dict[str, Any]] = lambda ctx: {}  #: a new form's defaults
    to_data: Callable[[Any], dict[str, Any]] = form_to_data  #: validated form -> stored data
    #: who may open it beyond the district rule: "district" (caseworkers and managers of the
    #: district), "assigned" (assigned staff and the district's managers: 3.3), "employee" (the
    #: district's managers and the employee it is about: 2.0, 2.3)
    access: str = "district"
    #: roles that may create and edit it
    editors: tuple[str, ...] = ("caseworker", "manager")
    #: checklists the form goes through (items are data: ChecklistItem)
    checklists: Mapping[str, str] = field(default_factory=dict)  #: form field -> checklist slug
    #: text the sample's PDF must show (checked by the registry test)
    sample_expect: tuple[str, ...] = ()
    #: keys the service writes into the data beyond the form (e.g. what a withdrawal copies from
    #: its consent); `flask render` keeps them from its input, so the sample renders in full
    service_data: tuple[str, ...] = ()
    #: HTML template of the form page
    html: str = "documents/form.html"
    #: who must sign, from the stored data and the participant (empty: the type is not signed)
    signers: Callable[[RenderInput], list[SignerSlot]] = lambda ri: []
    #: the status a fully signed and sealed document gets ("active" for a consent)
    signed_status: str = "signed"
    #: values fixed when the document is saved, stored with its data: the named legal texts
    #: (formsvc/legal_texts.py) and settings it prints, so a later change never alters it
    stamp: Callable[[FormContext], dict[str, Any]] = lambda ctx: {}
    #: what a signer attests to must be there before they sign: signer key -> field names (or
    #: Required for "any of" with a label), checked by the signing service on every path
    required_before_signing: Mapping[str, tuple[str | Required, ...]] = field(default_factory=dict)
    #: a decision a signer records and signs in one step ("Besluta och skriv under")
    decision: Decision | None = None

    @property
    def template_path(self) -> Path:
        return TEMPLATE_DIR / self.template

    def requirements(self, slot: str) -> list[Required]:
        """The requirements before *slot* signs, each with its label."""
        out = []
        for item in self.required_before_signing.get(slot, ()):
            req = Required((item,)) if isinstance(item, str) else item
            label = req.label or field_label(self.form_class, req.fields[0])
            out.append(Required(req.fields, label))
        return out

    def missing_before_signing(self, slot: str, data: Mapping[str, Any]) -> list[str]:
        """Labels of what must be filled before *slot* signs and is not, in declared order."""
        return [
            str(r.label)
            for r in self.requirements(slot)
            if not any(is_filled(data.get(name)) for name in r.fields)
        ]


def discover(package: str = "formsvc.forms") -> dict[str, DocumentType]:
    """Import every module of *package* and collect its DOCUMENT_TYPE; duplicates are an error."""
    registry: dict[str, DocumentType] = {}
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package}.{info.name}")
        dtype = getattr(module, "DOCUMENT_TYPE", None)
        if dtype is None:
            continue
        if dtype.slug in registry:
            raise RegistryError(f"duplicate document type slug {dtype.slug!r} in {module.__name__}")
        registry[dtype.slug] = dtype
    return registry


@functools.lru_cache(maxsize=64)
def _variables(path: str, _mtime_ns: int, _size: int) -> frozenset[str]:
    """A template's variables; parsing costs ~30 ms, so each file version is parsed once."""
    from formsvc.services.rendering import template_variables

    return frozenset(template_variables(Path(path).read_bytes()))


def check(registry: Mapping[str, DocumentType]) -> None:
    """Refuse a registry whose templates are missing or ask for values the form does not give."""
    from formsvc.services.rendering import TemplateError

    for dtype in registry.values():
        for slot, items in dtype.required_before_signing.items():
            for item in items:
                names = (item,) if isinstance(item, str) else item.fields
                unknown = [n for n in names if not hasattr(dtype.form_class, n)]
                if unknown:
                    raise RegistryError(
                        f"{dtype.slug}: required_before_signing[{slot!r}] names {unknown}, "
                        "which the form does not have"
                    )
        if not dtype.template_path.is_file():
            raise RegistryError(f"{dtype.slug}: Word template {dtype.template_path} is missing")
        provided = set(dtype.build_context(sample_input(dtype)))
        stat = dtype.template_path.stat()
        try:
            wanted = _variables(str(dtype.template_path), stat.st_mtime_ns, stat.st_size)
        except TemplateError as exc:
            raise RegistryError(f"{dtype.slug}: {exc.message}") from exc
        missing = wanted - provided
        if missing:
            raise RegistryError(
                f"{dtype.slug}: template {dtype.template} uses {sorted(missing)}, "
                "which the form's build_context does not provide"
            )


SAMPLE_EMPLOYEE = Author(
    name="Exempel Anställd",
    title="Lots/samordnare",
    phone="08-508 000 01",
    email="exempel.anstalld@example.se",
)


def sample_input(dtype: DocumentType) -> RenderInput:
    """The RenderInput for a type's sample data (registry checks, `flask render`, tests)."""
    return RenderInput(
        data=dtype.sample(),
        district="Exempelstadsdel",
        author=Author(name="Exempel Handläggare", title="Lots/samordnare"),
        reference="SIG-0000-000000 v1",
        printed_at=date(2026, 1, 1),
        subject=dtype.sample_subject(),
        employee=SAMPLE_EMPLOYEE if dtype.subject == "employee" else None,
    )
