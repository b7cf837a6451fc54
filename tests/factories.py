"""Objects tests build through the services, as the application would store them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from formsvc.forms.consent import INFO_KINDS
from formsvc.models import Document, Participant, User
from formsvc.runtime import runtime
from formsvc.services import documents, signing


def consent(
    app: Flask,
    participant: Participant,
    author: User,
    *,
    status: str = "active",
    starts: int = -1,
    ends: int = 300,
    **data: Any,
) -> Document:
    """A consent (the type's sample, all kinds of information unless *data* says otherwise) for
    *participant*, in *status* ("active" is what signing by everyone makes it), running from
    *starts* to *ends* days from today."""
    dtype = runtime(app).registry["consent"]
    today = signing.today_local()
    values = {
        **dtype.sample(),
        "info_kinds": list(INFO_KINDS),
        "period_from": (today + timedelta(days=starts)).isoformat(),
        "period_to": (today + timedelta(days=ends)).isoformat(),
        **data,
    }
    return documents.create(
        dtype,
        values,
        actor=author,
        participant=participant,
        store=runtime(app).store,
        status=status,
    )


def security_talk(app: Flask, manager: User, employee: User) -> Document:
    """A security talk (bilaga 2.0, the type's sample) by *manager* about *employee*: both sign
    as staff with their passwords."""
    dtype = runtime(app).registry["security_talk"]
    return documents.create(
        dtype,
        dtype.sample(),
        actor=manager,
        employee=employee,
        store=runtime(app).store,
    )


def signed_in_person(
    app: Flask,
    doc: Document,
    actor: User,
    *,
    seal: bool = True,
    leave_open: int = 0,
    drawn: bytes | None = None,
) -> Document:
    """Send *doc*, have its places sign in person (witnessed by *actor*; the first with the
    *drawn* PNG; the last *leave_open* not at all) and, with *seal*, finalise it, through the
    same services the signing views call."""
    from formsvc.services.sealing import get_sealer

    dtype = runtime(app).registry[doc.type_slug]
    store = runtime(app).store
    converter = runtime(app).converter
    reqs = signing.send(doc, dtype, actor=actor, store=store, converter=converter)
    for i, req in enumerate(reqs[: len(reqs) - leave_open]):
        given = signing.Given(
            name=req.expected_name,
            statements=signing.statements_for(req, dtype),
            signature_png=drawn if i == 0 else None,
            ip="127.0.0.1",
            user_agent="pytest",
        )
        signing.sign(
            req, dtype, given, method="in_person", actor=actor, settings=app.config, store=store
        )
    if seal:
        signing.finalise_if_complete(
            doc,
            dtype,
            store=store,
            converter=converter,
            sealer=get_sealer(app),
            settings=app.config,
        )
    return doc


def demo_seed(app: Flask) -> Any:
    """Demo mode's seed (`flask seed-demo`), mailed links pointing at http://localhost."""
    from formsvc.services import demo
    from formsvc.services.sealing import get_sealer

    return demo.seed(
        password=app.config["DEMO_PASSWORD"],
        registry=runtime(app).registry,
        settings=app.config,
        store=runtime(app).store,
        converter=runtime(app).converter,
        sealer=get_sealer(app),
        link_for=lambda token: f"{app.config['PUBLIC_BASE_URL']}/s/{token}",
        today=signing.today_local(),
    )
