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
        # Stored files are encrypted under the active key of this keyring (docs/adr/005)
        "STORAGE_ENCRYPTION": True,
        "STORAGE_KEYRING_PATH": str(inst / "storage-keys.json"),
        # LibreOffice converter pool (see docs/adr/002-conversion.md)
        "CONVERTER_PROCESSES": 1,
        "CONVERTER_BASE_PORT": 2003,
        "CONVERTER_TIMEOUT": 60.0,
        "CONVERTER_PROFILE_ROOT": str(inst / "lo-profiles"),
        "CONVERTER_PYTHON": "/usr/bin/python3",
        "CONVERTER_SOFFICE": "soffice",
        "CONVERTER_START_AT_BOOT": False,
        # LibreOffice runs in an empty network namespace (unshare -rn) where the kernel allows it
        # (docs/adr/010); without one it still has its locked-down profile
        "CONVERTER_ISOLATE_NETWORK": True,
        # Consent (bilaga 3.2): the longest period a consent may cover, in months.
        "CONSENT_MAX_MONTHS": 12,
        # District checklist: a contact list (bilaga 1) counts as current when its "last
        # updated" date is at most this many months old.
        "CONTACT_LIST_CURRENT_MONTHS": 12,
        # Follow-up statistics (bilaga 3.4): groups smaller than this are not shown.
        "STATISTICS_MIN_GROUP": 5,
        # Retention (gallring): years after the last entry in a participant's file; per type
        # overrides, e.g. {"follow_up": 2}; types about staff or the district are kept (None)
        "RETENTION_YEARS": 5,
        "RETENTION_YEARS_BY_TYPE": {},
        # Signing (docs/adr/004-signing-evidence.md)
        "SIGN_LINK_DAYS": 14,  # a personal link expires after this many days
        # a signed link opens the signer's receipt, copy and withdrawal this many days after the
        # document was completed (sealed), then ends; the caseworker can still help
        "SIGNED_LINK_DAYS": 90,
        # Where signers reach the service, e.g. "https://blanketter.stockholm.se": mailed links are
        # built from it, never from the request's Host header. `flask serve` sets it to its own
        # address when unset; without it no link is sent.
        "PUBLIC_BASE_URL": None,
        "OTP_TTL_MINUTES": 10,  # a one-time code by e-mail is valid this long
        "OTP_MAX_ATTEMPTS": 5,  # wrong codes before a new code must be sent
        "OTP_MAX_SENDS": 5,  # codes per personal link
        "SIGN_RATE_LIMIT": "30 per minute;200 per hour",  # per address, on the public signing pages
        "VERIFY_RATE_LIMIT": "20 per minute",
        "SIGNATURE_MAX_BYTES": 512 * 1024,  # a drawn signature (PNG)
        "SCAN_MAX_BYTES": 15 * 1024 * 1024,  # an uploaded paper scan
        "SCAN_MAX_PAGES": 40,
        # Untrusted files (/verify, scans, template checks) are parsed in a child process with
        # these limits, a few at a time; beyond that an upload gets "försök igen" (503).
        # See docs/adr/009-untrusted-files.md.
        "UNTRUSTED_CONCURRENCY": 2,  # child processes at once, per web process
        "UNTRUSTED_CPU_SECONDS": 10,  # CPU time of one check
        "UNTRUSTED_MEMORY_MB": 1024,  # address space of one check
        "UNTRUSTED_WALL_SECONDS": 30,  # wall-clock time of one check
        "UNTRUSTED_NICE": 10,  # lower priority than the web workers
        # A scan's image (or any image in a scanned PDF) may have at most this many pixels:
        # an A4 page scanned at 600 dpi has 35 million. Also Pillow's MAX_IMAGE_PIXELS there.
        "SCAN_MAX_PIXELS": 50_000_000,
        # PDF structure limits (scans and /verify): objects, all streams unpacked together
        "PDF_MAX_OBJECTS": 50_000,
        "PDF_MAX_UNPACKED_BYTES": 200 * 1024 * 1024,
        # /verify: a PDF sealed here is small and has one seal per version
        "VERIFY_MAX_BYTES": 15 * 1024 * 1024,
        "VERIFY_MAX_PAGES": 500,
        "VERIFY_MAX_SIGNATURES": 10,
        "FINALISE_STALE_MINUTES": 10,  # a finalisation claim older than this is taken over
        "REMINDER_AFTER_DAYS": 3,  # remind a signer this many days after the link was sent
        "CONSENT_EXPIRY_NOTICE_DAYS": 30,
        # Seal: set by instance/config.py (scripts/setup_instance.py makes a demo certificate)
        "SEAL_PKCS12_PATH": str(inst / "seal" / "demo-seal.p12"),
        "SEAL_PKCS12_PASSPHRASE": None,
        "SEAL_TIMESTAMP_URL": None,
        "SEAL_REASON": "Försegling av signerat dokument",
        "SEAL_LOCATION": "Stockholm",
        # Audit checkpoints (docs/adr/008-audit-checkpoints.md): the chain's head is signed with
        # this Ed25519 key, which is never in the database; `make setup` creates it
        "AUDIT_CHECKPOINTS": True,
        "AUDIT_KEY_PATH": str(inst / "audit" / "audit-key.pem"),
        # public keys (*.pem) of earlier audit keys whose checkpoints still verify
        "AUDIT_TRUSTED_KEYS_DIR": str(inst / "audit" / "trusted"),
        # a checkpoint at every signature and seal, and after this many events in between
        "AUDIT_CHECKPOINT_EVERY": 100,
        # every checkpoint is appended here after its commit (copy it off the server); None: off
        "AUDIT_CHECKPOINT_FILE": str(inst / "audit" / "checkpoints.jsonl"),
        # and mailed here, if set (e.g. an archive mailbox the database's admins cannot edit)
        "AUDIT_CHECKPOINT_EMAIL": None,
        # Mail (personal links, one-time codes, reminders)
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 25,
        "MAIL_SENDER": "formsvc <noreply@formsvc.invalid>",
        "MAIL_USE_STARTTLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_TIMEOUT": 10,
        "MAIL_SUPPRESS": False,
        "MAIL_DEMO_SINK": False,  # demo only: `flask serve` runs a local sink on MAIL_PORT
        # Staff single sign-on (docs/adr/017-staff-sso.md; README "Single sign-on"): name →
        # {"type": "oidc"|"saml", "label": shown on the login page, the protocol's settings,
        # "mappings": [{"claim", "value", "role", "district"}]}. Empty: passwords only.
        "SSO_PROVIDERS": {},
        # False: the login page offers only SSO; accounts named in BREAK_GLASS_USERS (local
        # administrators for when the IdP is down) may still sign in with a password
        "LOCAL_LOGIN": True,
        "BREAK_GLASS_USERS": (),
        # a staff signature by an SSO account needs an IdP re-authentication this recent (s)
        "SSO_REAUTH_SECONDS": 300,
        # Signer e-ID (docs/adr/018-eid-evidence.md): an OpenID Connect e-ID broker (the
        # Swedish eID Framework's OIDC profile), name → {"label", "server_metadata_url" or
        # "issuer", "client_id", "client_secret", "acr_values", "ca_bundle"}
        "EID_PROVIDERS": {},
        # BankID RP API v6 directly: {"url": "https://appapi2.test.bankid.com/rp/v6.0/",
        # "cert_file", "key_file" (the RP certificate), "ca_file" (BankID's server CA)}; None: off
        "BANKID": None,
        # per address, on the BankID page and its status poll (about one request a second while
        # the signer's app is open: SIGN_RATE_LIMIT would cut a three-minute order off)
        "BANKID_POLL_RATE_LIMIT": "120 per minute;3000 per hour",
        # e-ID required per document type and method ("link", "in_person"), e.g.
        # {"consent": ["link"]}: a consent's personal link then offers no e-mail code
        "EID_REQUIRED": {},
        # Security
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # served over HTTPS (PREFERRED_URL_SCHEME="https"): Secure cookies and HSTS are turned on
        "PREFERRED_URL_SCHEME": "http",
        "SESSION_COOKIE_SECURE": False,  # forced True when PREFERRED_URL_SCHEME is "https"
        "HSTS_MAX_AGE": 365 * 24 * 3600,  # Strict-Transport-Security, sent only over "https"
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "RATELIMIT_STORAGE_URI": "memory://",
        # a sliding window: a fixed one lets twice the limit through around its boundary
        "RATELIMIT_STRATEGY": "moving-window",
        # Password attempts (login, password change, unlock, staff signing), counted in the
        # database so every instance sees the same (docs/adr/011-login-throttling.md)
        "LOGIN_ACCOUNT_FAILURES": 5,  # failures for one user name before it is locked
        "LOGIN_LOCKOUT_SECONDS": 60,  # its first lockout; each further failure doubles it …
        "LOGIN_LOCKOUT_MAX_SECONDS": 3600,  # … up to this
        "LOGIN_FAILURE_MEMORY_SECONDS": 24 * 3600,  # a name's failures forgotten after this quiet
        "LOGIN_ADDRESS_FAILURES": 30,  # failures from one address within the window below …
        "LOGIN_ADDRESS_WINDOW_SECONDS": 900,  # … lock that address for this long
        # Behind a reverse proxy: how many proxies in front of the app set X-Forwarded-For;
        # 0 = none, the header is ignored (anyone could send it). Nginx in front: 1.
        "PROXY_FIX_X_FOR": 0,
        "PROXY_FIX_X_PROTO": 0,  # the same for X-Forwarded-Proto (https seen by the proxy)
        # the load balancers' own addresses: forwarded headers from any other peer are dropped
        "PROXY_TRUSTED": ["127.0.0.1/32", "::1/128"],
        "ARGON2_PROFILE": "RFC_9106_LOW_MEMORY",
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        # Language: Swedish is the source language, English the second.
        "BABEL_DEFAULT_LOCALE": "sv",
        "LANGUAGES": ("sv", "en"),
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "ORGANISATION_NAME": "Stockholms stad",
        # The city printed under "Ort och datum" in the final PDF for signatures made at the
        # office (on site, or by staff); "" prints the date alone. Link signatures never get it.
        "SIGNING_CITY": "Stockholm",
        # Demo mode: `flask seed-demo` fills every district with fictitious participants and
        # documents, and the login page lists the demo accounts with their password. Off unless
        # the instance says so (scripts/setup_instance.py writes DEMO_MODE = True for `make run`)
        "DEMO_MODE": False,
        "DEMO_PASSWORD": os.environ.get("FORMSVC_DEMO_PASSWORD", "Demo-losen-2026"),
        # S3 storage backend (STORAGE_BACKEND = "s3", formsvc/services/blobs_s3.py):
        # {"endpoint_url", "bucket", "access_key", "secret_key", "region", "prefix"} and optional
        # "connect_timeout", "read_timeout" (s), "max_attempts"; the secret e.g. from
        # FORMSVC_STORAGE_S3__secret_key
        "STORAGE_S3": {},
        # Shared rate limits (README "Running on several machines"): with
        # RATELIMIT_STORAGE_URI = "redis://host:6379/N" every instance counts in the same Redis,
        # under this prefix. If Redis cannot be reached, each process goes on counting in its own
        # memory (so a limit holds per process, not per city) and goes back to Redis when it
        # answers again: public pages neither fail nor lose their limits with Redis.
        "RATELIMIT_KEY_PREFIX": "formsvc",
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # a Redis that hangs costs a request at most this long (seconds), not a thread for ever
        "RATELIMIT_STORAGE_OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        # Secret rotation: earlier SECRET_KEY values, still accepted for sessions, CSRF tokens and
        # one-time codes made before the switch; new ones use SECRET_KEY. Every instance the same.
        "SECRET_KEY_FALLBACKS": [],
        # gunicorn worker n (set per worker by deploy/gunicorn.conf.py): its converters use ports
        # CONVERTER_BASE_PORT + 2·CONVERTER_PROCESSES·n … and profiles under worker-n/
        "CONVERTER_SLOT": 0,
        # Storage backends (issue 15, docs/adr/019-storage-backends.md): where the encrypted
        # stored files live: "local" (STORAGE_DIR), "database" (table stored_blob, in the same
        # transaction as the rows) or "s3" (STORAGE_S3). `flask storage migrate --to` moves them;
        # its targets take their settings from STORAGE_MIGRATE_TARGETS[name] (else these keys)
        "STORAGE_BACKEND": "local",
        "STORAGE_MIGRATE_TARGETS": {},
        # Operations (issue 15, README "Operations"): logs, /readyz, /metrics
        "LOG_FORMAT": "text",  # "json": one JSON object per line, for a log collector
        "LOG_LEVEL": "INFO",  # of formsvc's own loggers (libraries keep theirs)
        "READYZ_TIMEOUT": 2.0,  # seconds for all of /readyz's checks together
        # /metrics answers these networks (after PROXY_FIX_X_FOR) and a bearer METRICS_TOKEN
        # (at least 16 characters; None: no token); everyone else gets 404
        "METRICS_ALLOW": ("127.0.0.0/8", "::1/128"),
        "METRICS_TOKEN": None,
        # Jobs (docs/adr/020-job-queue.md): "inline" runs tasks in this process right after the
        # commit (one machine, no Redis; scheduled jobs from cron); "celery" sends them to Redis
        # for `celery -A formsvc.worker worker`, scheduled by `celery -A formsvc.worker beat`
        "QUEUE_MODE": "inline",
        "CELERY_BROKER_URL": None,  # e.g. "redis://127.0.0.1:6379/0"
        "QUEUE_KEY_PREFIX": "formsvc:",  # every Redis key of this deployment starts with it
        "QUEUE_NAME_PREFIX": "",  # prefixed to the queue names mail, default, convert
        "QUEUE_HEARTBEAT_TTL": 30,  # seconds: a worker without a heartbeat this long is down
        "CELERY_TASK_SOFT_TIME_LIMIT": 240,  # seconds; above CONVERTER_TIMEOUT and MAIL_TIMEOUT
        "CELERY_TASK_TIME_LIMIT": 300,  # the worker process is killed (and the task redelivered)
        # an unacknowledged message goes to another worker after this: above the time limit
        "CELERY_VISIBILITY_TIMEOUT": 3600,
        # when celery beat sends each scheduled job: a five-field cron line ("minute hour day
        # month weekday") in Stockholm time, so a restarted beat keeps the times; None turns a
        # job off. Not between 02:00 and 03:00, which summer time skips or repeats
        "BEAT_SCHEDULE": {
            "reminders": "5 * * * *",
            "retention": "15 3 * * *",
            "audit_checkpoint": "45 3 * * *",
        },
        # beat's record of the last runs (writable, kept across restarts: a job whose time
        # passed while beat was down runs when it starts)
        "BEAT_SCHEDULE_FILE": str(inst / "celerybeat-schedule"),
    }
