# formsvc: one image for the web (gunicorn), the Celery worker and beat, and the migrate step.
# README "Running on several machines"; compose.yaml shows how the pieces fit. No secret is in
# the image: SECRET_KEY, the database password, the storage keyring, the audit key and the seal
# come from the environment and mounted secrets when a container starts.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY formsvc ./formsvc
# the .mo catalogues are built, not committed (make translations)
RUN pip install --no-cache-dir "Babel==2.19.0" \
    && pybabel compile -d formsvc/translations \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# As scripts/install-system.sh: LibreOffice and Debian's python3-uno (unoserver runs under
# /usr/bin/python3, CONVERTER_PYTHON), the fonts the PDFs use, poppler/qpdf, rsvg-convert
# (statistics chart PNG), xmlsec1 (SAML). Not pinned to Debian revisions: bookworm's security
# updates replace them, and the base image tag already fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libreoffice-writer-nogui python3-uno fonts-liberation2 fonts-dejavu-core fonts-symbola \
        poppler-utils qpdf librsvg2-bin xmlsec1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
# every dependency is pinned exactly in pyproject.toml
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/formsvc --create-home formsvc
COPY deploy/gunicorn.conf.py /etc/formsvc/gunicorn.conf.py
USER 10001:10001
WORKDIR /var/lib/formsvc
RUN mkdir -m 0700 instance
ENV FORMSVC_INSTANCE_PATH=/var/lib/formsvc/instance \
    GUNICORN_BIND=0.0.0.0:8000 \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "-c", "/etc/formsvc/gunicorn.conf.py", "formsvc.wsgi:app"]
