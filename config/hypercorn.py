"""Hypercorn settings, derived from the service's (``--config python:config.hypercorn``)."""

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
# Request line plus headers; beyond this h11 answers 431/400 itself.
h11_max_incomplete_size = 16 * 1024
backlog = 1024
accesslog = None
errorlog = "-"
