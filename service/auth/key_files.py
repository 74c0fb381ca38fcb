"""Create a private file once, atomically: what lets several workers generate one key."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def create_private_file(path: Path, data: bytes) -> bool:
    """Create ``path`` (mode 0600) holding ``data`` unless it exists; True if this call created it.

    The data is written whole to a private temporary file and then hard-linked
    into place: ``link`` fails if the name exists, so of several processes
    starting at once exactly one wins and no reader ever sees half a file.
    Other OS errors (an unwritable directory, no hard links) propagate.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):  # never created, or its directory is the problem
            temporary.unlink()
    return True
