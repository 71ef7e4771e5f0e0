"""Where a report store is: a local folder or a filesystem URL. Apart from the store (which
imports pyarrow) for the code that runs before a command's first request (the checkpoint)."""
from __future__ import annotations

import re
from pathlib import Path

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")   # what a run id, a run's file and a checkpoint may be named


def is_url(root: Path | str) -> bool:
    """True when `root` names a filesystem URL (`scheme://…`) rather than a local folder."""
    return isinstance(root, str) and "://" in root and not root.startswith("file://")


def local_path(root: Path | str) -> str:
    """The folder a local store names (a path, or a file:// URL)."""
    return str(root).removeprefix("file://")
