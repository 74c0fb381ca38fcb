"""Hypercorn settings, derived from the service's; serve.py reads them (``Config.from_object``)."""

import os
import tempfile
from pathlib import Path

from config.settings import load_settings_or_exit

_settings = load_settings_or_exit()

bind = [f"{_settings.host}:{_settings.port}"]
# WORKERS=0: one per CPU core (the deployment's choice, docker-compose.yml).
workers = _settings.worker_count
worker_class = _settings.worker_class
# Finish in-flight requests on SIGTERM before the pools close.
graceful_timeout = _settings.graceful_timeout
# Unset by default in hypercorn: a client that stops sending would hold its
# connection forever.
read_timeout = _settings.read_timeout
keep_alive_timeout = _settings.keep_alive_timeout
# Request line plus headers still arriving; beyond this h11 refuses the
# request (431) before the app, as problem+json (service/serving/hypercorn_h11.py).
h11_max_incomplete_size = 16 * 1024
backlog = 1024
# No "server: hypercorn-h11" on every response: it tells a scanner what to try.
include_server_header = False
accesslog = None  # the service logs each request itself (service.requests)
errorlog = "-"
# Hypercorn's own lines (startup, shutdown, protocol errors) as JSON too, so
# that every line on stderr is one JSON object. A dict, not a logger: the
# config is pickled to the workers, and each applies it.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "hypercorn.error": {"handlers": ["stderr"], "level": _settings.log_level.upper(), "propagate": False}
    },
}

if workers > 1 or _settings.prometheus_multiproc_dir:
    # Several worker processes: metrics go through prometheus_client's
    # multiprocess mode, in a directory emptied at start (values left by an
    # earlier run would be summed in). This file runs once, in the master,
    # before the workers are spawned; they inherit the environment.
    _metrics = Path(_settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="service-metrics-"))
    _metrics.mkdir(parents=True, exist_ok=True)
    for _stale in _metrics.glob("*.db"):
        _stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics)
