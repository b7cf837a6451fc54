"""Small shared column helpers."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now in UTC (stored as naive UTC for SQLite/PostgreSQL parity)."""
    return datetime.now(UTC).replace(tzinfo=None)
