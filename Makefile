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
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
	SOAK=$(SOAK) $(PY) bench/run.py

load: install-bench
	mkdir -p reports
	$(PY) -m locust -f tests/load/locustfile.py --headless --host "$(LOAD_URL)" \
	  --users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(DURATION) \
	  --html reports/load.html --csv reports/load --only-summary
