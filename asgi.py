"""The ASGI entry point: ``python -m hypercorn --config python:config.hypercorn asgi:app``."""

from config.settings import load_settings_or_exit
from service import create_app
from service.asgi import ServiceAsgi

app = ServiceAsgi(create_app(load_settings_or_exit()))
