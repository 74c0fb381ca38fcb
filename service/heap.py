"""Keep the cyclic garbage collector off the objects that live as long as the process.

A worker holds a few hundred thousand objects from start-up (modules,
classes, SQLAlchemy's and pydantic's compiled structures). Under load,
objects of in-flight requests survive the young collections, and every
second or two that triggers a full collection, which walked all of them:
35 to 63 ms with the event loop stopped, so every request in flight waited
(measured on GET /users/me at 64 connections: p99 at 2.4 times p50, the
slow requests clustered at those pauses). Frozen after start-up, the
start-up objects are never walked again: full collections took about 2 ms
and p99 fell to 1.2 times p50.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then move every surviving object out of the collector's reach."""
    gc.collect()
    gc.freeze()
