"""Without LibreOffice the PDF download explains itself in Swedish and the DOCX still works."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from formsvc.models import Document
from tests.conftest import Auth


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "CONVERTER_PYTHON": "/nonexistent/python3",
        "CONVERTER_SOFFICE": "/nonexistent/soffice",
        "CONVERTER_BASE_PORT": 23390,
    }


def test_pdf_without_libreoffice_shows_swedish_error_and_keeps_docx(
    client: FlaskClient, auth: Auth, consent_doc: Document
) -> None:
    auth.login("caseworker")
    resp = client.get(f"/documents/{consent_doc.id}/download.pdf")
    assert resp.status_code == 503
    html = resp.get_data(as_text=True)
    assert "LibreOffice saknas på servern" in html
    assert f"/documents/{consent_doc.id}/download.docx" in html
    assert client.get(f"/documents/{consent_doc.id}/download.docx").status_code == 200


def test_the_framed_preview_without_libreoffice_says_why_and_is_not_framed(
    client: FlaskClient, auth: Auth, consent_doc: Document
) -> None:
    auth.login("caseworker")
    page = client.get(f"/documents/{consent_doc.id}")
    assert page.status_code == 200  # the page itself needs no conversion
    assert f'src="/documents/{consent_doc.id}/preview.pdf"' in page.get_data(as_text=True)
    resp = client.get(f"/documents/{consent_doc.id}/preview.pdf")
    assert resp.status_code == 503
    assert "LibreOffice saknas på servern" in resp.get_data(as_text=True)
    # an error page is never framed, even at an address that frames a PDF when it works
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
