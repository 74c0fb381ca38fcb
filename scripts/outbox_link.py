"""Print the token of the newest mail in the development outbox whose link is of a kind.

``python3 scripts/outbox_link.py verify-email`` (or ``reset-password``) reads
``var/outbox/*.eml`` (``--dir`` for another), waiting up to 10 s for such a
mail: the worker writes it a moment after the request. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path


def newest_token(directory: Path, kind: str) -> str | None:
    link = re.compile(rf"/{re.escape(kind)}\?token=([A-Za-z0-9_-]+)")
    for path in sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns, reverse=True):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(("plain",))  # type: ignore[attr-defined]
        found = link.search(body.get_content()) if body is not None else None
        if found:
            return found.group(1)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["verify-email", "reset-password"])
    parser.add_argument("--dir", type=Path, default=Path("var/outbox"))
    arguments = parser.parse_args()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        token = newest_token(arguments.dir, arguments.kind)
        if token:
            print(token)
            return 0
        time.sleep(0.2)
    print(f"no {arguments.kind} mail in {arguments.dir}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
