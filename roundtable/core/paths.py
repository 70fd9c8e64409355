"""Where roundtable keeps what outlives one comparison: tokenized blocks, measured
scoring speeds, step-0 scores, converted pretrained models. One root for all of them,
so one variable moves or clears the lot."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$ROUNDTABLE_CACHE``, else ``~/.cache/roundtable``."""
    return Path(os.environ.get("ROUNDTABLE_CACHE", Path.home() / ".cache" / "roundtable"))
