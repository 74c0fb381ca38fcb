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
	$(PY) serve.py

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

# --- Scale out (issue 5) ---
# The whole suite on PostgreSQL: each run creates its own databases (a
# migrated template copied per test) and drops them.
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: test-postgres
test-postgres: install-dev
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest $(PYTEST_ARGS)

# nginx for tests/test_nginx.py (the Debian package; the test runs it itself
# on a free port, the system service is not used).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: ensure-nginx
ensure-nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "installing nginx"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx-light >/dev/null; }

# --- Performance and load testing (issue 7) ---
# make bench [SOAK=1]: the service against the floor and the synchronous stack (bench/run.py).
# make load [HOST=http://host:port USERS=50 SPAWN_RATE=10 DURATION=1m]: locust, headless, reports in reports/.
.PHONY: bench load install-bench

USERS      ?= 50
SPAWN_RATE ?= 10
DURATION   ?= 1m
# HOST is also the bind address of `make run`: a bare host name means http://HOST:PORT.
LOAD_URL = $(if $(findstring ://,$(HOST)),$(HOST),http://$(or $(HOST),127.0.0.1):$(or $(PORT),8000))

install-bench: $(VENV)/.installed-bench

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

bench: install-bench
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server; }
	SOAK=$(SOAK) $(PY) bench/run.py

load: install-bench
	mkdir -p reports
	$(PY) -m locust -f tests/load/locustfile.py --headless --host "$(LOAD_URL)" \
	  --users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(DURATION) \
	  --html reports/load.html --csv reports/load --only-summary
