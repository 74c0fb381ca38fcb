"""The ASGI entry point: ``hypercorn --config file:config/hypercorn.py asgi:app``."""

from __future__ import annotations

import sys

from config.settings import SettingsError, load_settings

try:
    _settings = load_settings()
except SettingsError as error:
    # One line that says what to set, not a traceback.
    print(f"configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None

from service import create_app
from service.asgi import ServiceAsgi

app = ServiceAsgi(create_app(_settings))
