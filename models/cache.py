"""The response cache: one JSON file per answer under `$TINYQA_CACHE_DIR/responses/`.

The key is the SHA-256 of everything that changes an answer (the model, where it is served or
which model file serves it, the messages, the decoding parameters) and of nothing else: never
an API key. Only answered requests are stored; files are written atomically.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tinyqa.files import write_atomic
from tinyqa.pack import canonical_json
from tinyqa.settings import cache_dir


def key(identity: dict, messages: list[dict], params: dict) -> str:
    blob = canonical_json({"identity": identity, "messages": messages, "params": params})
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root or cache_dir() / "responses")

    def _path(self, k: str) -> Path:
        return self.root / k[:2] / f"{k}.json"

    def get(self, k: str) -> dict | None:
        try:
            return json.loads(self._path(k).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, k: str, value: dict) -> None:
        write_atomic(self._path(k), json.dumps(value, ensure_ascii=False))
