"""The document lifecycle as one state machine: the allowed moves and the one way to make them.

Every change of ``Document.status`` goes through :func:`transition` (only creation sets the
initial status). The move is a conditional ``UPDATE … WHERE status = <from>``, so of two parallel
requests exactly one moves the document; the other gets :class:`StaleStatus`. Each move writes
one audit event with ``from`` and ``to`` in its details.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, update

from formsvc.extensions import db
from formsvc.models import Document, User
from formsvc.models.document import DocumentStatus as S
from formsvc.services import audit, periods

#: The allowed moves: from a state, the states a document may go to.
TRANSITIONS: dict[S, frozenset[S]] = {
    # sent for signature, or voided before it ever went out
    S.DRAFT: frozenset({S.AWAITING_SIGNATURES, S.VOIDED, S.PURGED}),
    # an edit reopens it; the last signature seals it (signed, or active for a consent); a
    # signer declines; a consent is withdrawn before it is complete; staff void it
    S.AWAITING_SIGNATURES: frozenset(
        {S.DRAFT, S.SIGNED, S.ACTIVE, S.DECLINED, S.WITHDRAWN, S.VOIDED, S.PURGED}
    ),
    S.FINAL: frozenset({S.VOIDED, S.PURGED}),
    S.SIGNED: frozenset({S.VOIDED, S.PURGED}),
    # a consent in force ends by its period, by withdrawal or by voiding
    S.ACTIVE: frozenset({S.EXPIRED, S.WITHDRAWN, S.VOIDED, S.PURGED}),
    S.EXPIRED: frozenset({S.PURGED}),
    S.WITHDRAWN: frozenset({S.PURGED}),
    S.DECLINED: frozenset({S.PURGED}),
    S.VOIDED: frozenset({S.PURGED}),
    S.PURGED: frozenset(),
}


class TransitionError(ValueError):
    """The document could not make the move; nothing was changed."""

    def __init__(self, document_id: int, from_: str, to: str, why: str) -> None:
        super().__init__(f"document {document_id}: {from_} -> {to}: {why}")
        self.document_id = document_id
        self.from_ = from_
        self.to = to


class ForbiddenTransition(TransitionError):
    """The move is not in TRANSITIONS."""


class StaleStatus(TransitionError):
    """The document was no longer in the expected state (e.g. a parallel request moved it)."""


def allowed(from_: str, to: str) -> bool:
    """True if the lifecycle allows moving a document from *from_* to *to*."""
    try:
        return S(to) in TRANSITIONS[S(from_)]
    except ValueError:
        return False


def transition(
    doc: Document,
    to: S | str,
    *,
    actor: User | None,
    origin: audit.Origin | None = None,
    actor_label: str | None = None,
    from_: S | str | None = None,
    action: str = "status",
    details: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    where: Iterable[ColumnElement[bool]] = (),
) -> None:
    """Move *doc* to *to* in the caller's transaction and record the audit event *action*.

    *from_* is the state the caller saw (default: ``doc.status``); *values* are other columns
    set in the same UPDATE and *where* further conditions (e.g. the version the caller saw).
    Raises ForbiddenTransition or StaleStatus; the caller decides whether to roll back.
    """
    source = str(from_ if from_ is not None else doc.status)
    target = S(to)
    if not allowed(source, target):
        raise ForbiddenTransition(doc.id, source, target.value, "not an allowed move")
    if target == S.VOIDED and doc.type_slug == periods.SLUG:
        # issue 17: a follow-up counted in a closed statistics period is corrected, not voided
        periods.serialise()
        if periods.locked_by(doc):
            raise ForbiddenTransition(doc.id, source, target.value, "in a closed period")
    moved = db.session.execute(
        update(Document)
        .where(Document.id == doc.id, Document.status == source, *where)
        .values(status=target.value, **(values or {}))
        .execution_options(synchronize_session="fetch")
    )
    if moved.rowcount != 1:
        raise StaleStatus(doc.id, source, target.value, "the document has moved on")
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor_label or (actor.username if actor else "formsvc"),
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details={**(details or {}), "from": source, "to": target.value},
        origin=origin,
    )
