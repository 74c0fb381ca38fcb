# `make run` serves the API, `make test` runs the tests, `make help` lists the rest.
# Each target sets up what it needs first (virtualenv, packages, Redis, migrations).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.DEFAULT_GOAL := help
.PHONY: help run test test-cluster test-sentinel check lint types format migrate install install-dev test-postgres \
        ensure-chromium ensure-nginx ensure-test-packages stop-redis clean bench load install-bench rotation-drill

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: install ## serve the API on http://127.0.0.1:8000 (SQLite, a private Redis if none answers, the mail worker)
	$(PY) scripts/ensure_redis.py
	$(PY) -m alembic upgrade head
	$(PY) serve.py --mail-worker

# The auth and notes API suites again, on a six-node Redis Cluster and on a
# Sentinel-managed master the run starts (tests/support/cluster.py, sentinel.py);
# `make test` runs them after the whole suite unless PYTEST_ARGS picks tests.
REDIS_SUITES ?= tests/api/test_accounts.py tests/api/test_sessions.py tests/api/test_refresh.py \
  tests/api/test_concurrent_refresh.py tests/api/test_cookie_session.py tests/api/test_login_limits.py \
  tests/api/test_tokens.py tests/api/test_personal_tokens.py tests/api/test_mfa.py tests/api/test_email.py \
  tests/api/test_introspection.py tests/api/test_account_deletion.py tests/api/test_notes.py

test: install-dev ensure-test-packages ## run the test suite, then the auth and notes API suites on a Redis Cluster and on Sentinel (installs redis-server, chromium, nginx-light with apt-get if missing)
	$(PY) -m pytest $(PYTEST_ARGS)
	@[ -n "$(PYTEST_ARGS)" ] || $(MAKE) --no-print-directory test-cluster test-sentinel

test-cluster: install-dev ensure-test-packages ## the auth and notes API suites on a six-node Redis Cluster
	$(PY) -m pytest --redis-cluster $(REDIS_SUITES)

test-sentinel: install-dev ensure-test-packages ## the auth and notes API suites on a Sentinel-managed master
	$(PY) -m pytest --redis-sentinel $(REDIS_SUITES)

check: lint types ## what CI checks besides the tests: ruff and mypy

lint: install-dev ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install-dev ## mypy on service/, config/, asgi.py and serve.py (settings in pyproject.toml)
	$(VENV)/bin/mypy

format: install-dev ## ruff format, then ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: install ## apply the Alembic migrations to DATABASE_URL
	$(PY) -m alembic upgrade head

install: $(VENV)/.installed ## the virtualenv with the runtime packages
install-dev: $(VENV)/.installed-dev ## the virtualenv with the test and lint tools too

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

stop-redis: ## stop the private redis-server that `make run` started
	@if [ -f var/redis.pid ]; then kill $$(cat var/redis.pid) && echo "stopped the private redis-server"; fi

clean: ## remove the virtualenv, var/ and the caches
	rm -rf $(VENV) var .pytest_cache .mypy_cache

# The tests run Debian's redis-server, headless chromium (tests/api/test_docs_page.py)
# and nginx (tests/deploy/test_nginx.py) themselves, on free ports; the system services are not used.
ensure-test-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx-light"; \
	[ -n "$$TEST_REDIS_URL" ] || command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make test: installing Debian packages for the tests with apt-get:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

ensure-chromium: ## install Debian's chromium if missing (tests/api/test_docs_page.py)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium with apt-get (for tests/api/test_docs_page.py)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

ensure-nginx: ## install Debian's nginx-light if missing (tests/deploy/test_nginx.py)
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "installing nginx-light with apt-get (for tests/deploy/test_nginx.py)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx-light >/dev/null; }

# The whole suite on PostgreSQL: each run creates its own databases (a
# migrated template copied per test) and drops them.
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

test-postgres: install-dev ensure-test-packages ## the test suite on PostgreSQL (TEST_DATABASE_URL)
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest $(PYTEST_ARGS)

# make load [HOST=http://host:port USERS=50 SPAWN_RATE=10 DURATION=1m]
USERS      ?= 50
SPAWN_RATE ?= 10
DURATION   ?= 1m
# HOST is also the bind address of `make run`: a bare host name means http://HOST:PORT.
LOAD_URL = $(if $(findstring ://,$(HOST)),$(HOST),http://$(or $(HOST),127.0.0.1):$(or $(PORT),8000))

install-bench: $(VENV)/.installed-bench ## the virtualenv with the benchmark and load tools too

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

bench: install-bench ## the service against the floor, the Flask tutorial's sync stack and FastAPI, local and one hop away, about 30 min (SOAK=1 adds a soak; BENCH_BASELINE=ec34670 adds that commit's HS256 code as a target; docs/performance.md)
	@command -v wrk >/dev/null || { echo "make bench: installing wrk with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	@command -v redis-server >/dev/null || { echo "make bench: installing redis-server with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server; }
	SOAK=$(SOAK) $(PY) bench/run.py

load: install-bench ## locust against HOST (default the local server), headless; reports in reports/
	mkdir -p reports
	$(PY) -m locust -f tests/load/locustfile.py --headless --host "$(LOAD_URL)" \
	  --users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(DURATION) \
	  --html reports/load.html --csv reports/load --only-summary

rotation-drill: install-dev install-bench ensure-nginx ## rotate the signing key on two instances behind nginx under locust; fails on any failed request (DRILL_ARGS=--help)
	$(PY) scripts/rotation_drill.py $(DRILL_ARGS)
