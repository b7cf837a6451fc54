"""Signing: send a frozen document for signature, collect each signature exactly once, finalise.

Knows nothing of HTTP. Views pass plain values (who, from where, what was typed) and get plain
results or a `SigningError` with a Swedish message. See docs/adr/004-signing-evidence.md.

The package's parts, in the order a document meets them:

- `sending`: send a frozen version for signature, void open requests;
- `links`: personal links and one-time codes;
- `record`: record a signature or a refusal, exactly once;
- `paper`: a scanned paper form uploaded by staff;
- `finalise`: seal once when every signature is in, signer copies, reseal;
- `evidence`: what the evidence page and record say about a version;
- `usecases`: `record_and_finalise`, what every signing view calls (one error policy).

Everything callers use is importable from here (`signing.sign(...)`).
"""

from formsvc.services.signing._common import (
    METHOD_LABELS,
    REQUEST_LABELS,
    Given,
    Outcome,
    SigningError,
    may_sign_as_staff,
    requests,
    slots,
    today_local,
)
from formsvc.services.signing.evidence import (
    EVENT_TEXTS,
    evidence_for,
    evidence_record,
    record_bytes,
)
from formsvc.services.signing.finalise import (
    FinalPdfs,
    SealedRecord,
    SealRefused,
    all_signed,
    build_final_pdf,
    build_legacy_final_pdf,
    claim_finalise,
    finalise_if_complete,
    place_marks,
    refuse_untrusted_signatures,
    reseal_pending,
    sealed_record,
    signature_marks,
    signer_copy,
)
from formsvc.services.signing.links import (
    check_code,
    code_allowed,
    find_by_token,
    issue_link,
    link_state,
    mask,
    send_code,
)
from formsvc.services.signing.paper import Scan, check_scan, sign_on_paper
from formsvc.services.signing.record import (
    AlreadyDone,
    attributed_name,
    check_before_signing,
    clean_signature,
    decide_and_sign,
    decline,
    identity_text,
    missing_before_signing,
    sign,
    sso_identity_text,
    statement_choices,
    statements_for,
)
from formsvc.services.signing.sending import send, void_open
from formsvc.services.signing.usecases import (
    Decision,
    Paper,
    Signature,
    finalise_now,
    record_and_finalise,
)

__all__ = [
    "EVENT_TEXTS",
    "METHOD_LABELS",
    "REQUEST_LABELS",
    "AlreadyDone",
    "Decision",
    "FinalPdfs",
    "Given",
    "Outcome",
    "Paper",
    "Scan",
    "SealRefused",
    "SealedRecord",
    "Signature",
    "SigningError",
    "all_signed",
    "attributed_name",
    "build_final_pdf",
    "build_legacy_final_pdf",
    "check_before_signing",
    "check_code",
    "check_scan",
    "claim_finalise",
    "clean_signature",
    "code_allowed",
    "decide_and_sign",
    "decline",
    "evidence_for",
    "evidence_record",
    "finalise_if_complete",
    "finalise_now",
    "find_by_token",
    "identity_text",
    "issue_link",
    "link_state",
    "mask",
    "may_sign_as_staff",
    "missing_before_signing",
    "record_and_finalise",
    "refuse_untrusted_signatures",
    "requests",
    "record_bytes",
    "reseal_pending",
    "sealed_record",
    "send",
    "send_code",
    "sign",
    "sign_on_paper",
    "sso_identity_text",
    "place_marks",
    "signature_marks",
    "signer_copy",
    "slots",
    "statement_choices",
    "statements_for",
    "today_local",
    "void_open",
]
