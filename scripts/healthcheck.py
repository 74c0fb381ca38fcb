"""Container health check: exit 0 when this instance answers GET /healthz on its own port.

Used by the Dockerfile and docker-compose.yml; reads PORT like the server does.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config.settings import load_settings_or_exit


def main() -> int:
    port = load_settings_or_exit().port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
