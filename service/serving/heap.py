"""Keep the cyclic garbage collector off the objects that live as long as the process.

Without it, full collections walk every start-up object with the loop
stopped, and the tail latency follows (docs/performance.md, "The GC freeze").
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then move every surviving object out of the collector's reach."""
    gc.collect()
    gc.freeze()
