"""Facts about a run that go into the runs table: its id, commit and trigger."""
from __future__ import annotations

import os
import secrets
import subprocess
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_run_id(at: datetime) -> str:
    """Sortable and unique across machines: `20261123T083000Z-3f9a1c`."""
    return f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def git_sha() -> str | None:
    for var in ("GITHUB_SHA", "CI_COMMIT_SHA"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def trigger() -> str:
    """`$TINYQA_TRIGGER` if set, else `ci` under CI, else `manual`."""
    return os.environ.get("TINYQA_TRIGGER") or ("ci" if os.environ.get("CI") else "manual")


def public_url(url: str | None) -> str | None:
    """`url` as it may be recorded: without user, password, query string or fragment, where
    credentials hide (`http://u:KEY@host:8000/v1?key=K` -> `http://host:8000/v1`)."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def hidden(url: str | None) -> SecretStr | None:
    """A base URL as a flow's `api_base` parameter: a SecretStr, which Prefect records as
    `**********` in its database and UI (a base URL can hold credentials)."""
    return SecretStr(url) if url else None


def revealed(url: SecretStr | str | None) -> str | None:
    """The URL in a flow's `api_base` parameter (a deployment's parameters may pass a str)."""
    return url.get_secret_value() if isinstance(url, SecretStr) else url


def run_row(run_id: str, started: datetime, suite: str, model: str, *, pack_ids: list[str],
            api_base: str | None = None, prompt_template: str | None = None,
            prompt_hash: str | None = None, decoding: dict | None = None,
            notes: list[str] | None = None) -> dict:
    """The runs table's row for a finished run: its settings, where and from what it ran (its
    status is the result's, set as it is written: store.write_run).
    `api_base` is recorded without credentials; `decoding` is the parameters the model was
    sent (canonical JSON), `notes` what makes the run less reproducible or comparable."""
    import json

    import tinyqa

    return {
        "run_id": run_id, "started_at": started, "finished_at": now(), "suite": suite, "model": model,
        "api_base": public_url(api_base), "prompt_template": prompt_template, "prompt_hash": prompt_hash,
        "pack_ids": list(pack_ids), "git_sha": git_sha(), "trigger": trigger(),
        "tinyqa_version": tinyqa.__version__,
        "decoding": None if decoding is None else json.dumps(decoding, sort_keys=True),
        "notes": list(notes or []),
    }
