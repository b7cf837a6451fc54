# formsvc – the two commands a newcomer needs:
#   make run    set everything up and serve on http://127.0.0.1:$(PORT)/ (web + worker + beat +
#               a private Redis, by honcho and the Procfile; Ctrl-C stops all; `make run-single`:
#               one process without Redis, QUEUE_MODE inline)
#   make test   set everything up and run the whole suite on SQLite and on PostgreSQL
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app formsvc
PORT ?= 5000
REDIS_PORT ?= 6390
export FORMSVC_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run run-single setup system venv node translations instance test test-sqlite test-postgresql lint bench templates clean

run: setup
	@mkdir -p -m 700 instance/redis
	WEB_PORT=$(PORT) REDIS_PORT=$(REDIS_PORT) FORMSVC_QUEUE_MODE=celery \
	  FORMSVC_CELERY_BROKER_URL=redis://127.0.0.1:$(REDIS_PORT)/0 $(VENV)/bin/honcho start -f Procfile

# One process, no Redis and no worker: tasks run in it right after each commit (QUEUE_MODE inline)
# and scheduled jobs come from cron (`flask reminders`, `flask retention`, `flask audit checkpoint`)
run-single: setup
	$(FLASK) serve --port $(PORT)

setup: system venv translations instance

# npm packages for the tests' identity providers (package-lock.json pins them; Node >= 20)
node: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
	  || { echo "Node.js >= 20 with npm is needed for the tests' OpenID Provider (Debian 12 ships 18: use NodeSource)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error

system:
	@scripts/install-system.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

translations: venv
	$(VENV)/bin/pybabel compile -d formsvc/translations

instance: venv
	$(PY) scripts/setup_instance.py instance
	$(FLASK) db upgrade
	$(FLASK) seed-demo --base-url http://127.0.0.1:$(PORT)

test: FORMSVC_WITH_BROWSER=1
test: export FORMSVC_WITH_BROWSER=1
test: system venv node translations
	mkdir -p build
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql

test-sqlite:
	FORMSVC_TEST_DB=sqlite $(PY) -m pytest -p no:cacheprovider --junitxml=build/test-sqlite.xml

test-postgresql:
	FORMSVC_TEST_DB=postgresql $(PY) -m pytest -p no:cacheprovider --junitxml=build/test-postgresql.xml

lint: venv
	$(VENV)/bin/ruff check formsvc tests scripts bench
	$(VENV)/bin/ruff format --check formsvc tests scripts bench

bench: setup
	$(PY) bench/pdf_pipeline.py
	$(PY) bench/finalise.py
	$(PY) bench/sign_http.py
	$(PY) bench/verify.py

templates: venv
	$(PY) scripts/build_templates.py

# Extract and update the English catalogue after changing user-visible strings.
messages: venv
	mkdir -p build
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k N_ -k "pgettext:1c,2" -o build/messages.pot formsvc
	$(VENV)/bin/pybabel update -i build/messages.pot -d formsvc/translations

clean:
	rm -rf build .pytest_cache node_modules
