"""Where things live: caches, the report store, the shipped packs."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$TINYQA_CACHE_DIR`, default `~/.cache/tinyqa`."""
    return Path(os.environ.get("TINYQA_CACHE_DIR") or Path.home() / ".cache" / "tinyqa")


DEFAULT_REPORTS = "reports"   # a folder or a filesystem URL
