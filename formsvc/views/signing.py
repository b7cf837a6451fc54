"""Staff side of signing: send, sign in person / as staff, paper scans, sealed PDF, withdrawal."""

from __future__ import annotations

from typing import Any

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
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from formsvc.doctypes import DocumentType, FormContext
from formsvc.extensions import db
from formsvc.forms._base import data_to_formdata
from formsvc.forms.consent_withdrawal import ScopeForm
from formsvc.models import Document, SignatureRequest, StoredFile
from formsvc.services import (
    access,
    audit,
    consents,
    documents,
    eid,
    signer_roles,
    signing,
    sso,
    throttle,
)
from formsvc.services.conversion import ConversionError
from formsvc.services.mail import MailError
from formsvc.services.signing import reauth
from formsvc.services.untrusted import Busy
from formsvc.views import STOCKHOLM, lock
from formsvc.views._common import (
    NoPublicAddress,
    converter,
    inline_pdf,
    locked_message,
    origin,
    password_policy,
    public_url,
    record_and_finalise,
    registry,
    roles_required,
    seal_if_complete,
    store,
    untrusted,
)
from formsvc.views.documents import load_document
from formsvc.views.signing_forms import (
    DeclineForm,
    EmailForm,
    PaperForm,
    SignForm,
    StaffSignForm,
)

bp = Blueprint("signing", __name__)
STAFF = ("caseworker", "manager")


def _request(doc: Document, rid: int) -> SignatureRequest:
    req = db.session.get(SignatureRequest, rid)
    if req is None or req.document_id != doc.id or req.document_version != doc.version:
        abort(404)
    return req


@bp.post("/documents/<int:doc_id>/send")
@roles_required(*STAFF)
def send(doc_id: int) -> BaseResponse:
    doc, dtype = load_document(doc_id)
    if not access.can_edit_document(current_user, doc, dtype):
        abort(403)
    try:
        signing.send(
            doc, dtype, actor=current_user, store=store(), converter=converter(), origin=origin()
        )
        flash(_("Dokumentet är låst och skickat för underskrift."), "info")
    except signing.SigningError as exc:
        flash(exc.message, "error")
    except ConversionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("documents.show", doc_id=doc.id))


@bp.post("/documents/<int:doc_id>/signatures/<int:rid>/link")
@roles_required(*STAFF)
def send_link(doc_id: int, rid: int) -> str | BaseResponse | tuple[str, int]:
    doc, dtype = load_document(doc_id)
    req = _request(doc, rid)
    form = EmailForm()
    if form.validate_on_submit():
        try:
            identify = request.form.get("identify", "")
            with_eid = eid.link_choice(req, identify[:10], current_app.config)
            signing.issue_link(
                req,
                form.email.data,
                settings=current_app.config,
                link_for=lambda t: public_url("public.link", token=t),
                actor=current_user,
                origin=origin(),
                require_eid=with_eid,
            )
            flash(_("Länken är skickad till %(to)s.", to=req.email), "info")
            return redirect(url_for("documents.show", doc_id=doc.id))
        except signing.SigningError as exc:
            db.session.rollback()
            form.email.errors = [exc.message]
        except MailError as exc:  # say so, keep the address
            db.session.rollback()
            form.email.errors = [exc.message]
        except NoPublicAddress:
            db.session.rollback()
            current_app.logger.error("PUBLIC_BASE_URL is not set: no personal link was sent")
            form.email.errors = [
                _(
                    "Tjänstens publika adress är inte inställd, så ingen länk skickades. "
                    "Kontakta administratören (PUBLIC_BASE_URL)."
                )
            ]
    flash(_("Länken kunde inte skickas. Se felet vid e-postadressen."), "error")
    from formsvc.views.documents import show

    return show(doc.id, link_forms={req.id: form}), 400


def _sign_page(
    doc: Document, dtype: DocumentType, req: SignatureRequest, *, staff: bool
) -> str | BaseResponse:
    """In person (locked view, witnessed) or as the logged-in staff member (password, or for an
    SSO account a fresh re-authentication at its IdP)."""
    if req.status != "open":
        return render_template("signing/done.html", document=doc, req=req, locked=not staff)
    idp = reauth.provider_for(current_user, current_app.config) if staff else None
    form = (StaffSignForm if staff and idp is None else SignForm)(prefix="s")
    form.statements.choices = signing.statement_choices(req, dtype)
    decline = DeclineForm(prefix="d")
    if not staff and request.method == "GET":
        form.name.data = req.expected_name
    if staff and request.method == "GET":
        form.name.data = current_user.full_name
    method = "staff" if staff else "in_person"
    proof, refused = _fresh_reauth(idp), None
    # issue 14: in person, the signer may prove who they are with e-ID on the city's device
    from formsvc.views import eid as eid_views

    eid_proof = None if staff or eid.why_not(req) else eid_views.identified(req)
    eid_forced = _eid_forced(doc, req, staff=staff)
    try:
        if request.method == "POST" and "d-reason" in request.form and decline.validate():
            signing.decline(
                req, decline.reason.data, method=method, actor=current_user, origin=origin()
            )
            return render_template("signing/done.html", document=doc, req=req, locked=not staff)
        if request.method == "POST" and "d-reason" not in request.form and form.validate():
            if idp is not None and proof is None:
                refused = _reauth_refused(idp)
            elif (
                staff
                and idp is None
                and not (checked := _staff_password(doc, form.password.data, {})).ok
            ):
                form.password.errors = _password_errors(checked)
            elif eid_forced and eid_proof is None:
                flash(_("Undertecknaren ska legitimera sig med e-legitimation först."), "error")
            elif staff:
                what = signing.Signature(req, form.given(origin()), method, **_evidence(proof))
                _record_staff(what, dtype, proof)
                return render_template("signing/done.html", document=doc, req=req, locked=False)
            else:
                if eid_proof is None and req.eid is not None:
                    req.eid = None  # an identification made elsewhere is not this signature's
                what = signing.Signature(
                    req,
                    form.given(origin()),
                    method,
                    verification=eid.verification_text(eid_proof) if eid_proof else None,
                    eid=eid_proof,
                )
                record_and_finalise(what, dtype, actor=current_user)
                if eid_proof is not None:
                    eid_views.forget(req)
                return render_template("signing/done.html", document=doc, req=req, locked=True)
    except signing.SigningError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return render_sign_page(
        doc,
        dtype,
        req,
        form=form,
        decline=decline,
        staff=staff,
        reauth_view=_reauth_view(idp, proof, refused),
    )


def render_sign_page(
    doc: Document,
    dtype: DocumentType,
    req: SignatureRequest,
    *,
    form: SignForm | StaffSignForm,
    decline: DeclineForm,
    staff: bool,
    reauth_view: Any = None,
) -> str:
    """The in-person or staff signing page with *form* (and its errors), e-ID part included
    (also for views/bankid.py re-rendering it after a refused BankID start); *reauth_view*:
    the staff SSO re-authentication part (_reauth_view)."""
    from formsvc.views import eid as eid_views

    eid_why = None if staff else eid.why_not(req)
    return render_template(
        "signing/sign.html",
        document=doc,
        dtype=dtype,
        req=req,
        form=form,
        decline=decline,
        staff=staff,
        locked=not staff,
        pdf_url=url_for("signing.frozen_pdf", doc_id=doc.id),
        context=dtype.build_context(documents.render_input(doc)),
        missing=signing.missing_before_signing(req, dtype),
        reauth=reauth_view,
        eid_proof=None if staff or eid_why else eid_views.identified(req),
        eid_forced=_eid_forced(doc, req, staff=staff),
        eid_why=eid_why,
        eid_buttons=[] if staff or eid_why else eid_views.buttons(req),
    )


def _eid_forced(doc: Document, req: SignatureRequest, *, staff: bool) -> bool:
    """EID_REQUIRED binds in person those who can use e-ID; a minor (or a signer whose number
    the document lacks) is identified by the witnessing staff member, as before."""
    return (
        not staff
        and eid.why_not(req) is None
        and eid.required(current_app.config, doc.type_slug, "in_person")
    )


@bp.route("/documents/<int:doc_id>/signatures/<int:rid>/in-person", methods=["GET", "POST"])
@roles_required(*STAFF)
def in_person(doc_id: int, rid: int) -> str | BaseResponse:
    doc, dtype = load_document(doc_id)
    req = _request(doc, rid)
    if req.kind != "external":
        abort(404)
    lock.start(doc, req)
    return _sign_page(doc, dtype, req, staff=False)


@bp.route("/documents/<int:doc_id>/signatures/<int:rid>/staff", methods=["GET", "POST"])
@roles_required(*STAFF)
def as_staff(doc_id: int, rid: int) -> str | BaseResponse:
    doc, dtype = load_document(doc_id)
    req = _request(doc, rid)
    if not signing.may_sign_as_staff(current_user, req, dtype):
        abort(403)
    return _sign_page(doc, dtype, req, staff=True)


def _form_problems(doc: Document, dtype: DocumentType, data: dict[str, Any]) -> list[str]:
    """The type's own rules (e.g. a decision not before the assessment) on the merged data."""
    ctx = documents.form_context(
        dtype,
        author=current_user,
        district=doc.district.name,
        settings=current_app.config,
        participant=doc.participant,
        employee=doc.subject_user,
        stored=doc.data,
    )
    full = dtype.form_class(formdata=data_to_formdata(dtype.form_class, data), meta={"csrf": False})
    if documents.validate(dtype, full, ctx):
        return []
    return [
        f"{f.label.text}: {e}"
        for f in full
        if isinstance(f.errors, list)
        for e in f.errors
        if isinstance(e, str)
    ] or [_("Bedömningen har fel som måste rättas först.")]


@bp.route("/documents/<int:doc_id>/decide", methods=["GET", "POST"])
@roles_required("manager")
def decide(doc_id: int) -> str | BaseResponse:
    """The manager records the decision and signs it in one step."""
    doc, dtype = load_document(doc_id)
    if dtype.decision is None or doc.status not in documents.EDITABLE:
        abort(404)
    if not access.can_edit_document(current_user, doc, dtype):
        abort(403)
    today = signing.today_local()
    decision = dtype.decision.form_class(
        prefix="b",
        data=dtype.decision.initial(doc.data, current_user.full_name, today)
        if request.method == "GET"
        else None,
    )
    idp = reauth.provider_for(current_user, current_app.config)
    form = (StaffSignForm if idp is None else SignForm)(prefix="s")
    if request.method == "GET":
        form.name.data = current_user.full_name
    proof, refused = _fresh_reauth(idp), None
    if request.method == "POST" and all([decision.validate(), form.validate()]):
        values = dtype.decision.to_data(decision, current_user.full_name)
        problems = _form_problems(doc, dtype, {**doc.data, **values})
        if idp is None:  # a local account re-enters its password
            checked = _staff_password(doc, form.password.data, {"decide": True})
            form.password.errors = [] if checked.ok else _password_errors(checked)
            identified = checked.ok
        else:  # an SSO account has re-authenticated at its IdP just before
            refused = None if proof else _reauth_refused(idp)
            identified = proof is not None
        if identified and problems:
            for problem in problems:
                flash(problem, "error")
        elif identified:
            try:
                what = signing.Decision(doc, values, form.given(origin()), **_evidence(proof))
                done = _("Beslutet är registrerat och underskrivet.")
                _record_staff(what, dtype, proof, done=done)
                return redirect(url_for("documents.show", doc_id=doc.id))
            except signing.SigningError as exc:
                flash(exc.message, "error")
    return render_template(
        "signing/decide.html",
        document=doc,
        dtype=dtype,
        decision=decision,
        form=form,
        # what the decision page cannot fill in: the assessment must be completed first
        missing=dtype.missing_before_signing(
            dtype.decision.slot, {**doc.data, **dict.fromkeys(dtype.decision.supplies, True)}
        ),
        context=dtype.build_context(documents.render_input(doc)),
        reauth=_reauth_view(idp, proof, refused),
    )


@bp.route("/documents/<int:doc_id>/paper", methods=["GET", "POST"])
@roles_required(*STAFF)
def paper(doc_id: int) -> tuple[str, int] | BaseResponse:
    doc, dtype = load_document(doc_id)
    if not access.can_edit_document(current_user, doc, dtype):
        abort(403)
    open_external = [
        r for r in signing.requests(doc) if r.status == "open" and r.kind == "external"
    ]
    form, status = PaperForm(), 200
    form.requests.choices = [
        (r.id, f"{signer_roles.label(r.role)} – {r.expected_name}") for r in open_external
    ]
    if form.validate_on_submit():
        chosen = [r for r in open_external if r.id in form.requests.data]
        names = {r.id: request.form.get(f"name-{r.id}", "") for r in chosen}
        upload = form.scan.data
        try:
            data = upload.read(int(current_app.config["SCAN_MAX_BYTES"]) + 1) if upload else b""
            scan = signing.check_scan(data, runner=untrusted(), settings=current_app.config)
            what = signing.Paper(chosen, scan, names)
            done = _("Den inskannade blanketten är sparad.")
            record_and_finalise(what, dtype, actor=current_user, done=done)
            return redirect(url_for("documents.show", doc_id=doc.id))
        except (signing.SigningError, Busy) as exc:
            form.scan.errors = [exc.message]
            status = 503 if isinstance(exc, Busy) else 200
    page = render_template(
        "signing/paper.html", document=doc, dtype=dtype, form=form, requests=open_external
    )
    return page, status


def _file(data: bytes, mimetype: str, filename: str, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


def _staff_password(doc: Document, password: str, details: dict[str, Any]) -> throttle.Outcome:
    """The staff member's own password, within the limits on password attempts."""
    return throttle.check_password(
        current_user._get_current_object(),
        current_user.username,
        password,
        origin=origin(),
        policy=password_policy(),
        failure=throttle.Failure(
            "sign_password_failed", "document", doc.id, doc.district_id, details
        ),
    )


def _password_errors(outcome: throttle.Outcome) -> list[str]:
    wrong = [] if outcome.refused else [_("Fel lösenord.")]
    return wrong + ([locked_message(outcome)] if outcome.retry_after else [])


# --------------------------------------------------------------------------- SSO re-authentication


def _fresh_reauth(idp: reauth.Provider | None) -> dict[str, Any] | None:
    """The proof of this account's re-authentication at its IdP, if recent enough to sign."""
    if idp is None or not idp.configured:
        return None
    return sso.fresh_reauth(session, current_user._get_current_object(), current_app.config)


def _evidence(proof: dict[str, Any] | None) -> dict[str, Any]:
    """What sign() records instead of "password": the IdP's re-authentication and its proof."""
    if proof is None:
        return {}
    text = signing.sso_identity_text(proof, actor=current_user._get_current_object())
    return {"verification": text, "eid": proof}


def _record_staff(
    what: signing.Signature | signing.Decision,
    dtype: DocumentType,
    proof: dict[str, Any] | None,
    *,
    done: str = "",
) -> None:
    """Record a staff signature; a re-authentication is used up by it, exactly once."""
    user = current_user._get_current_object()
    if proof is not None:
        try:  # in the signature's transaction: a concurrent second submit waits, then fails
            reauth.claim(proof, current_app.config)
        except signing.SigningError:
            sso.consume_reauth(session, user)
            raise
    record_and_finalise(what, dtype, actor=user, done=done)
    if proof is not None:
        sso.consume_reauth(session, user)


def _reauth_refused(idp: reauth.Provider) -> str:
    if not idp.configured:
        return _not_configured(idp)
    return _(
        "Din identitet är inte bekräftad hos %(idp)s, eller bekräftelsen är för gammal eller "
        "redan använd (den gäller i %(minutes)d minuter och för en underskrift). Inget har "
        "registrerats. Bekräfta din identitet igen och fyll sedan i formuläret på nytt.",
        idp=idp.label,
        minutes=_reauth_minutes(),
    )


def _not_configured(idp: reauth.Provider) -> str:
    return _(
        "Ditt konto loggar in via %(idp)s, som inte längre är inställt i tjänsten, så du kan "
        "inte skriva under just nu. Kontakta administratören.",
        idp=idp.name,
    )


def _reauth_minutes() -> int:
    return max(1, -(-int(current_app.config["SSO_REAUTH_SECONDS"]) // 60))


def _reauth_view(
    idp: reauth.Provider | None, proof: dict[str, Any] | None, refused: str | None
) -> dict[str, Any] | None:
    """What the sign form shows an SSO account instead of the password field."""
    if idp is None:
        return None
    start = None
    if idp.configured:  # OIDC prompt=login&max_age=0, SAML ForceAuthn (views/sso.py)
        start = url_for("sso.login", name=idp.name, purpose="reauth", next=request.path)
    at = reauth.auth_time(proof) if proof else None
    until = reauth.valid_until(proof, current_app.config) if proof else None
    return {
        "label": idp.label,
        "start": start,
        "proof": proof,
        "at": at.astimezone(STOCKHOLM).strftime("%H:%M") if at else "",
        "until": until.astimezone(STOCKHOLM).strftime("%H:%M") if until else "",
        "minutes": _reauth_minutes(),
        "error": refused or (None if idp.configured else _not_configured(idp)),
    }


def _log(action: str, doc: Document, details: dict[str, Any]) -> None:
    audit.record(
        action,
        actor_id=current_user.id,
        actor_label=current_user.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details=details,
        origin=origin(),
    )
    db.session.commit()


@bp.get("/documents/<int:doc_id>/frozen.pdf")
@roles_required(*STAFF)
@inline_pdf
def frozen_pdf(doc_id: int) -> Response:
    doc, _dtype = load_document(doc_id)
    if not doc.frozen_pdf_sha256:
        abort(404)
    _log("download", doc, {"format": "frozen_pdf", "version": doc.version})
    name = f"{doc.type_slug}-{doc.id}-v{doc.version}-att-signera.pdf"
    return _file(store().get(doc.frozen_pdf_sha256), "application/pdf", name, inline=True)


@bp.get("/documents/<int:doc_id>/signed.pdf")
@roles_required(*STAFF)
def sealed_pdf(doc_id: int) -> Response | tuple[str, int]:
    return _sealed(doc_id, inline=False)


@bp.get("/documents/<int:doc_id>/signed-inline.pdf")
@roles_required(*STAFF)
@inline_pdf
def sealed_pdf_inline(doc_id: int) -> Response | tuple[str, int]:
    """The signed PDF as the document page shows it in its frame."""
    return _sealed(doc_id, inline=True)


def _sealed(doc_id: int, *, inline: bool) -> Response | tuple[str, int]:
    doc, _dtype = load_document(doc_id)
    if not doc.sealed_pdf_sha256:
        abort(404)
    refused = audit.sealed_problem(doc.id, doc.version, doc.sealed_pdf_sha256)
    if refused:
        _log("download_refused", doc, {"format": "sealed_pdf", "version": doc.version})
        return render_template("error.html", title=_("Filen lämnas inte ut"), text=refused), 409
    details: dict[str, Any] = {"format": "sealed_pdf", "version": doc.version}
    if inline:
        details["inline"] = True
    _log("download", doc, details)
    name = f"{doc.type_slug}-{doc.id}-v{doc.version}-signerad.pdf"
    return _file(store().get(doc.sealed_pdf_sha256), "application/pdf", name, inline=inline)


@bp.get("/documents/<int:doc_id>/signatures/<int:rid>/scan")
@roles_required(*STAFF)
def scan(doc_id: int, rid: int) -> Response:
    doc, _dtype = load_document(doc_id)
    req = db.session.get(SignatureRequest, rid)
    if req is None or req.document_id != doc.id or not req.scan_sha256:
        abort(404)
    row = db.session.get(StoredFile, req.scan_sha256)
    _log("download", doc, {"format": "scan", "request": req.id})
    ext = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}.get(
        row.content_type if row else "", "bin"
    )
    return _file(
        store().get(req.scan_sha256),
        row.content_type if row else "application/octet-stream",
        f"{doc.type_slug}-{doc.id}-skanning.{ext}",
    )


@bp.post("/documents/<int:doc_id>/finalise")
@roles_required(*STAFF)
def finalise(doc_id: int) -> BaseResponse:
    doc, dtype = load_document(doc_id)
    seal_if_complete(doc, dtype)
    return redirect(url_for("documents.show", doc_id=doc.id))


@bp.route("/documents/<int:doc_id>/withdraw", methods=["GET", "POST"])
@roles_required(*STAFF)
def withdraw(doc_id: int) -> str | BaseResponse:
    doc, dtype = load_document(doc_id)
    if doc.type_slug != "consent" or not access.can_edit_document(current_user, doc, dtype):
        abort(404)
    if doc.status not in consents.WITHDRAWABLE:
        flash(_("Medgivandet kan inte återkallas i sitt nuvarande läge."), "error")
        return redirect(url_for("documents.show", doc_id=doc.id))
    wtype = registry()["consent_withdrawal"]
    form = ScopeForm()
    offer = consents.options(doc)
    form.scope_actors.choices, form.scope_kinds.choices, form.withdrawn_by.choices = (
        offer.actors,
        offer.kinds,
        offer.by,
    )
    if request.method == "GET":
        form.withdrawn_on.data = signing.today_local()
    today = signing.today_local()
    if request.method == "POST" and documents.validate(wtype, form, FormContext(today=today)):
        try:
            new = consents.withdraw(
                doc,
                withdrawn_on=form.withdrawn_on.data,
                how=form.how.data,
                details=form.details.data or "",
                recorded_by=current_user.full_name,
                actor=current_user,
                store=store(),
                origin=origin(),
                request=consents.request_for(
                    doc,
                    scope=form.extent.data,
                    actors=form.scope_actors.data or [],
                    kinds=form.scope_kinds.data or [],
                    by=form.withdrawn_by.data,
                    by_name=form.withdrawn_by_name.data or "",
                ),
            )
        except consents.NotWithdrawable:
            flash(
                _(
                    "Medgivandet är redan återkallat eller ändrades samtidigt. "
                    "Kontrollera och försök igen."
                ),
                "error",
            )
            return redirect(url_for("documents.show", doc_id=doc.id))
        except consents.NothingToWithdraw:
            flash(_("Det du valde är redan återkallat."), "error")
            return redirect(url_for("documents.show", doc_id=doc.id))
        flash(
            _("Återkallelsen är registrerad. Informera aktörerna i listan utan dröjsmål."), "info"
        )
        return redirect(url_for("documents.show", doc_id=new.id))
    partial_ok = doc.status == "active"
    return render_template(
        "signing/withdraw.html", document=doc, form=form, wtype=wtype, partial_ok=partial_ok
    )
