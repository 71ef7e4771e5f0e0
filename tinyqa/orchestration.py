"""Where a run's steps execute: on a Prefect API, as flows and tasks, or in this process.

Prefect is used where its records last: a Prefect API configured (PREFECT_API_URL, the active
profile's API URL, settings Prefect already holds, as in a test harness), `--prefect`, a
deployment, `tinyqa nightly`. Otherwise an operation runs the same steps in this process
(`flows/steps.py`), without importing Prefect: the task's retries (`retrying`), work
alongside (a thread, as a task's `.submit`) and the checkpoint behave as on Prefect (docs/orchestration.md).
This module imports nothing of Prefect.
"""
from __future__ import annotations

import os
import sys
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# The tiny-qa task's retries on Prefect: a failure tinyqa does not explain (a crash, the store
# unreachable) is tried again after these delays; one it explains (bad input, a failed check,
# a provider that refuses) is not.
RETRY_DELAYS_S = (10.0, 60.0)


def profile_url() -> str | None:
    """PREFECT_API_URL of the active Prefect profile (what `prefect config set` and `prefect
    cloud login` write), read without importing Prefect."""
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")


def configured_api() -> str | None:
    """The Prefect API this process is configured with, if any: the environment, the active
    profile, or (when Prefect is already imported) Prefect's own settings."""
    url = os.environ.get("PREFECT_API_URL") or profile_url()
    if url:
        return url
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url
    return None


def use_prefect(asked: bool | None = None) -> bool:
    """Whether an operation runs as Prefect flows: when asked (`--prefect`), or a Prefect API is
    configured; `TINYQA_PREFECT=1` asks too (=0 refuses a configured one)."""
    if asked is not None:
        return asked
    flag = os.environ.get("TINYQA_PREFECT")
    if flag in ("0", "1"):
        return flag == "1"
    return configured_api() is not None


def retrying(fn: Callable[[], T], retry_if: Callable[[BaseException], bool],
             delays: tuple[float, ...] = RETRY_DELAYS_S) -> T:
    """`fn()`, tried again after each of `delays` while it fails with an exception `retry_if`
    accepts: a Prefect task's retries, in process."""
    for attempt in range(len(delays) + 1):
        try:
            return fn()
        except Exception as e:
            if attempt == len(delays) or not retry_if(e):
                raise
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")


def attempt_id() -> str:
    """An id for one task's attempts (what Prefect's task run id is to its retries)."""
    return str(uuid.uuid4())
