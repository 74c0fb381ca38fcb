# Two commands: `make run` serves the API, `make test` runs the tests.
# Each sets up what it needs first (virtualenv, packages, Redis, migrations).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: run test lint format migrate install install-dev stop-redis clean

run: install
	$(PY) scripts/ensure_redis.py
	$(PY) -m alembic upgrade head
	$(PY) -m hypercorn --config python:config.hypercorn asgi:app

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: install
	$(PY) -m alembic upgrade head

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

stop-redis:
	@if [ -f var/redis.pid ]; then kill $$(cat var/redis.pid) && echo "stopped the private redis-server"; fi

clean:
	rm -rf $(VENV) var .pytest_cache

# Debian's chromium for tests/test_docs_page.py (headless; started by the test itself).
.PHONY: ensure-chromium
ensure-chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
