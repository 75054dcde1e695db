# Moksori: `make run` runs the whole system, `make test` passes the tests.
# Nothing but python3 (3.11+) and make is needed; everything else comes from PyPI wheels.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

.PHONY: venv  ## create .venv with the pinned dependencies
venv: $(STAMP)

.PHONY: run  ## start NATS, Postgres and the four services, and show demo cases flowing (Ctrl-C stops)
run: $(STAMP)
	$(VENV)/bin/moksori run

.PHONY: test  ## unit, integration, e2e and bounded chaos tests against real NATS and Postgres (what CI runs)
test: $(STAMP)
	$(PYTEST) -m "not browser" tests/unit tests/integration tests/e2e tests/chaos

.PHONY: browser  ## the dashboard rendered in headless Chromium (needs a system Chromium, e.g. Debian's chromium)
browser: $(STAMP)
	$(PYTEST) -m browser tests/e2e

.PHONY: unit  ## unit tests only (no servers)
unit: $(STAMP)
	$(PYTEST) tests/unit

.PHONY: integration  ## integration tests against a real nats-server and PostgreSQL
integration: $(STAMP)
	$(PYTEST) tests/integration

.PHONY: e2e  ## the four services as subprocesses, driven over HTTP and NATS
e2e: $(STAMP)
	$(PYTEST) tests/e2e

.PHONY: chaos  ## the chaos suite at full size (10,000 VOCs a scenario, 30,000 on the NATS cluster; long)
chaos: $(STAMP)
	CHAOS_SCALE=full $(PYTEST) tests/chaos -m chaos -s

# requirements.runtime.lock, the image's (deploy/Dockerfile): pyproject.toml's [project] dependencies alone,
# without the test and bench extras, installed in a throwaway venv at requirements.lock's versions
.PHONY: lock  ## re-pin requirements.lock from the current environment, and requirements.runtime.lock from it
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^moksori' > requirements.lock
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && $(PY) -m venv "$$tmp/venv" && \
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
		> "$$tmp/dependencies.txt" && \
	"$$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -c requirements.lock -r "$$tmp/dependencies.txt" && \
	"$$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^moksori' > requirements.runtime.lock

.PHONY: clean  ## remove local data (var/) and caches; keeps .venv
clean:
	rm -rf var .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

.PHONY: all  ## what CI runs
all: test

.PHONY: help  ## this list
help:
	@grep -E '^\.PHONY: [a-z-]+ +## ' $(MAKEFILE_LIST) | sed -E 's/^\.PHONY: ([a-z-]+) +## (.*)/  make \1\t\2/' | expand -t 20
