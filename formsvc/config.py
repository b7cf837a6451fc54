"""Settings: defaults here, overridden by instance/config.py and FORMSVC_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path

#: Roles a staff account can have; the order is the order shown in the admin UI.
ROLES = ("caseworker", "manager", "security_officer", "analyst", "admin")


def defaults(instance_path: str) -> dict[str, object]:
    """Return the default settings for an app whose instance folder is *instance_path*."""
    inst = Path(instance_path)
    return {
        "SECRET_KEY": None,  # must come from instance/config.py, the environment or a test mapping
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{inst / 'formsvc.sqlite'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "STORAGE_DIR": str(inst / "files"),
        # LibreOffice converter pool (see docs/adr/002-conversion.md)
        "CONVERTER_PROCESSES": 1,
        "CONVERTER_BASE_PORT": 2003,
        "CONVERTER_TIMEOUT": 60.0,
        "CONVERTER_PROFILE_ROOT": str(inst / "lo-profiles"),
        "CONVERTER_PYTHON": "/usr/bin/python3",
        "CONVERTER_SOFFICE": "soffice",
        "CONVERTER_START_AT_BOOT": False,
        # Consent (bilaga 3.2): the longest period a consent may cover, in months.
        "CONSENT_MAX_MONTHS": 12,
        # Follow-up statistics (bilaga 3.4): groups smaller than this are not shown.
        "STATISTICS_MIN_GROUP": 5,
        # Security
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,  # set True behind HTTPS
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
        "ARGON2_PROFILE": "RFC_9106_LOW_MEMORY",
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        # Language: Swedish is the source language, English the second.
        "BABEL_DEFAULT_LOCALE": "sv",
        "LANGUAGES": ("sv", "en"),
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "ORGANISATION_NAME": "Stockholms stad",
        "DEMO_PASSWORD": os.environ.get("FORMSVC_DEMO_PASSWORD", "Demo-losen-2026"),
    }
