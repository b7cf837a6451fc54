"""Pages without login: a signer's personal link and the seal verification page."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from formsvc.extensions import db, limiter
from formsvc.models import SignatureRequest
from formsvc.services import audit, consents, documents, eid, signing, verification
from formsvc.services.conversion import ConversionError
from formsvc.services.mail import MailError
from formsvc.services.sealing import SealError, get_sealer, trusted_certificates
from formsvc.services.untrusted import Busy, Refused
from formsvc.views._common import (
    converter,
    inline_pdf,
    origin,
    record_and_finalise,
    registry,
    store,
    untrusted,
)
from formsvc.views.signing_forms import CodeForm, DeclineForm, SignForm, VerifyForm

bp = Blueprint("public", __name__)
#: A verified code opens the link's content for this long (seconds).
VERIFIED_FOR = 30 * 60


def _limit() -> str:
    return str(current_app.config["SIGN_RATE_LIMIT"])


class UnknownLink(NotFound):
    """A token that opens nothing: forged, replaced by a newer link, or its request voided."""


@bp.errorhandler(UnknownLink)
def unknown_link(_e: UnknownLink) -> tuple[str, int]:
    """One page for every link that opens nothing: it says what to do and shows no data."""
    return render_template("signing/link.html", state="gone"), 404


def _req(token: str) -> SignatureRequest:
    req = signing.find_by_token(token)
    if req is None:
        # one answer for unknown, replaced, forged and voided tokens: nothing to learn from it,
        # but a signer still reads what to do rather than the staff pages' "not found"
        raise UnknownLink()
    return req


def _verified(req: SignatureRequest) -> bool:
    until = session.get("signing_verified", {}).get(str(req.id))
    return bool(until and until > time.time())


def _mark_verified(req: SignatureRequest) -> None:
    marks = {k: v for k, v in session.get("signing_verified", {}).items() if v > time.time()}
    marks[str(req.id)] = time.time() + VERIFIED_FOR
    session["signing_verified"] = marks


def _current(req: SignatureRequest) -> bool:
    # a signature stays with the version it was given for; after an edit the document's
    # checksum, sealed copy and state belong to a version this signer never signed here
    return req.document_version == req.document.version


def _page(req: SignatureRequest, token: str, **kw: object) -> str:
    dtype = registry()[req.document.type_slug]
    state = signing.link_state(req)
    form = kw.pop("form", None) or SignForm(prefix="s")
    form.statements.choices = signing.statement_choices(req, dtype)
    if request.method == "GET" and not form.name.data:
        form.name.data = req.expected_name
    doc = req.document
    from formsvc.views import eid as eid_views  # it imports this module

    return render_template(
        "signing/link.html",
        eid_proof=eid_views.identified(req) if req.require_eid else None,
        eid_buttons=eid_views.buttons(req, token=token) if req.require_eid else [],
        req=req,
        token=token,
        state=state,
        verified=_verified(req),
        document=doc,
        dtype=dtype,
        form=form,
        decline=kw.pop("decline", None) or DeclineForm(prefix="d"),
        code_form=kw.pop("code_form", None) or CodeForm(),
        context=dtype.build_context(documents.render_input(doc)),
        current=_current(req),
        complete=state == "signed" and signing.all_signed(doc),
        now=consents.current_state(doc, signing.today_local())
        if doc.type_slug == "consent" and doc.sealed_at is not None
        else None,
        can_withdraw=doc.type_slug == "consent"
        and doc.status in consents.WITHDRAWABLE
        and state == "signed"
        and _current(req),
        **kw,
    )


@bp.get("/s/<token>")
@limiter.limit(_limit)
def link(token: str) -> str:
    req = _req(token)
    return _page(req, token)


@bp.post("/s/<token>/code")
@limiter.limit(_limit)
def send_code(token: str) -> BaseResponse:
    req = _req(token)
    try:
        signing.send_code(req, settings=current_app.config, origin=origin())
        flash(
            _(
                "En kod är skickad till din e-post. Den gäller i %(m)d minuter.",
                m=int(current_app.config["OTP_TTL_MINUTES"]),
            ),
            "info",
        )
    except signing.SigningError as exc:
        flash(exc.message, "error")
    except MailError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for(".link", token=token))


@bp.post("/s/<token>/verify")
@limiter.limit(_limit)
def verify_code(token: str) -> str | BaseResponse:
    req = _req(token)
    form = CodeForm()
    if form.validate_on_submit():
        try:
            signing.check_code(req, form.code.data, settings=current_app.config, origin=origin())
            _mark_verified(req)
            return redirect(url_for(".link", token=token))
        except signing.SigningError as exc:
            form.code.errors = [exc.message]
    return _page(req, token, code_form=form)


@bp.post("/s/<token>/sign")
@limiter.limit(_limit)
def sign(token: str) -> str | BaseResponse:
    req = _req(token)
    if not _verified(req):
        flash(_("Ange engångskoden först."), "error")
        return redirect(url_for(".link", token=token))
    if signing.link_state(req) != "open":
        # an expired (or already used) link neither signs nor declines, even in a session that
        # gave its code in time; the page says why
        return redirect(url_for(".link", token=token))
    proof = None
    if req.require_eid:
        from formsvc.views import eid as eid_views  # it imports this module

        proof = eid_views.identified(req)
        if proof is None:
            # e-ID links sign only on a fresh identification of this very signer
            flash(
                _("Legitimera dig med e-legitimation först. En identifiering gäller i 30 minuter."),
                "error",
            )
            return redirect(url_for(".link", token=token))
    dtype = registry()[req.document.type_slug]
    form = SignForm(prefix="s")
    form.statements.choices = signing.statement_choices(req, dtype)
    decline = DeclineForm(prefix="d")
    try:
        if "d-reason" in request.form:
            if decline.validate_on_submit():
                signing.decline(
                    req, decline.reason.data, method="link", actor=None, origin=origin()
                )
                return redirect(url_for(".link", token=token))
        elif form.validate_on_submit():
            what = signing.Signature(
                req,
                form.given(origin()),
                "link",
                verification=eid.verification_text(proof) if proof else None,
                eid=proof,
            )
            record_and_finalise(what, dtype, actor=None)
            return redirect(url_for(".link", token=token))
    except signing.AlreadyDone:
        db.session.rollback()
        return redirect(url_for(".link", token=token))
    except signing.SigningError as exc:
        db.session.rollback()
        form.name.errors = [*form.name.errors, exc.message]
    return _page(req, token, form=form, decline=decline)


def _send(data: bytes, name: str, *, inline: bool) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'{disposition}; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _log_read(req: SignatureRequest, what: str) -> None:
    audit.record(
        "download",
        actor_id=None,
        actor_label=req.role,
        object_type="document",
        object_id=req.document_id,
        district_id=req.document.district_id,
        details={"format": what, "request": req.id},
        origin=origin(),
    )
    db.session.commit()


@bp.get("/s/<token>/document.pdf")
@limiter.limit(_limit)
@inline_pdf  # shown in the link page's frame (signing/_pdf_inline.html); errors stay unframeable
def document_pdf(token: str) -> Response:
    """The PDF to sign, inline: only after the one-time code, in the session that gave it,
    while the link is open (or signed) and for its version."""
    req = _req(token)
    doc = req.document
    if (
        not _verified(req)
        or signing.link_state(req) not in ("open", "signed")  # expired or declined: no content
        or not doc.frozen_pdf_sha256
        or req.document_version != doc.version
    ):
        abort(404)
    _log_read(req, "frozen_pdf")
    return _send(store().get(doc.frozen_pdf_sha256), f"{doc.reference}.pdf", inline=True)


@bp.get("/s/<token>/copy.pdf")
@limiter.limit(_limit)
def copy_pdf(token: str) -> Response | tuple[str, int]:
    req = _req(token)
    doc = req.document
    if (
        not _verified(req)
        or signing.link_state(req) != "signed"  # not signed, or the link has ended
        or not _current(req)
        or not doc.sealed_pdf_sha256
    ):
        abort(404)
    refused = audit.sealed_problem(doc.id, doc.version, doc.sealed_pdf_sha256)
    if refused:
        return render_template("error.html", title=_("Filen lämnas inte ut"), text=refused), 409
    try:
        sha = signing.signer_copy(
            req,
            registry()[doc.type_slug],
            store=store(),
            converter=converter(),
            sealer=get_sealer(current_app),
            settings=current_app.config,
        )
    except signing.SealRefused as exc:  # the rows do not match the audit log
        db.session.rollback()
        return render_template("error.html", title=_("Filen lämnas inte ut"), text=exc.message), 409
    except (ConversionError, SealError, OSError):
        current_app.logger.exception("making the signer's copy of document %s failed", doc.id)
        db.session.rollback()
        return Response(
            render_template("signing/copy_unavailable.html", token=token),
            status=503,
            headers={"Cache-Control": "no-store", "Retry-After": "60"},
        )
    _log_read(req, "signer_copy")
    return _send(store().get(sha), f"{doc.reference}-signerad.pdf", inline=False)


@bp.post("/s/<token>/withdraw")
@limiter.limit(_limit)
def withdraw(token: str) -> BaseResponse:
    req = _req(token)
    doc = req.document
    if (
        not _verified(req)
        or signing.link_state(req) != "signed"  # not signed, or the link has ended
        or not _current(req)
        or doc.type_slug != "consent"
    ):
        abort(404)
    if request.form.get("confirm") != "yes":
        flash(_("Kryssa i rutan för att bekräfta att du återkallar medgivandet."), "error")
        return redirect(url_for(".link", token=token))
    reason = (request.form.get("details") or "").strip()[:2000]
    from formsvc.forms._base import text_problem

    problem = text_problem(reason, 2000, multiline=True, label=_("Varför"))
    if problem:
        flash(problem, "error")
        return redirect(url_for(".link", token=token))
    if doc.status not in consents.WITHDRAWABLE:
        flash(_("Medgivandet är redan avslutat."), "info")
        return redirect(url_for(".link", token=token))
    with documents.in_document_language():  # the withdrawal's record is document text
        recorded_by = _(
            "%(role)s %(name)s via personlig länk", role=req.role, name=req.signed_name or ""
        )
    try:
        consents.withdraw(
            doc,
            withdrawn_on=signing.today_local(),
            how="link",
            details=reason,
            recorded_by=recorded_by,
            actor=None,
            store=store(),
            origin=origin(),
            request=consents.Request(
                everything=True,
                by="guardian" if req.slot.startswith("guardian") else "participant",
                by_name=req.expected_name or req.signed_name or "",
            ),
        )
    except ValueError:
        flash(_("Medgivandet är redan avslutat."), "info")
        return redirect(url_for(".link", token=token))
    flash(_("Ditt medgivande är återkallat. Din handläggare informerar aktörerna."), "info")
    return redirect(url_for(".link", token=token))


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit(lambda: str(current_app.config["VERIFY_RATE_LIMIT"]), methods=["POST"])
def verify_page() -> tuple[str, int]:
    form = VerifyForm()
    check = result = record = now = None
    status = 200
    if form.validate_on_submit():
        upload = form.pdf.data
        limit = int(current_app.config["VERIFY_MAX_BYTES"])
        data = upload.read(limit + 1) if upload else b""
        if not data:
            form.pdf.errors = [_("Välj en PDF-fil.")]
        elif len(data) > limit:
            form.pdf.errors = [_("Filen är för stor.")]
        else:
            trust = trusted_certificates(current_app)
            try:
                check = verification.verify_upload(
                    data, trust, runner=untrusted(), settings=current_app.config
                )
            except Refused as exc:  # a limit, or Busy: every slot taken (503, "försök igen")
                form.pdf.errors = [exc.message]
                status = 503 if isinstance(exc, Busy) else 200
            result, record = (check.seal, check.record) if check else (None, None)
            if record is not None:
                now = consents.current_state(record.document, signing.today_local())
    page = render_template(
        "signing/verify.html",
        form=form,
        result=result,
        check=check,
        record=record,
        now=now,
        method_labels=signing.METHOD_LABELS,
    )
    return page, status
