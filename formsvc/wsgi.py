"""The WSGI entry point for gunicorn: `gunicorn -c deploy/gunicorn.conf.py formsvc.wsgi:app`.

Settings come from instance/config.py and FORMSVC_* variables, as for `flask --app formsvc`.
Each gunicorn worker imports this after the fork (preload_app stays off), so the converter
pool and the untrusted-file runner are started per worker, never shared across a fork.
"""

from __future__ import annotations

from formsvc import create_app

app = create_app()
