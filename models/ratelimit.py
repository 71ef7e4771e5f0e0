"""Per-provider throttles: a request rate limit in this process (request starts spaced at least
60/rpm seconds apart across every task of the event loop that calls the same provider), and a
Prefect global concurrency limit shared with every process reporting to the same server."""
from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from dataclasses import dataclass


class RateLimiter:
    def __init__(self, rpm: float):
        self.interval = 60.0 / rpm
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


_per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def limiter(provider: str, rpm: float | None) -> RateLimiter | None:
    """The limiter shared by every request to `provider` in the running event loop, at `rpm`
    requests a minute (None: unlimited)."""
    if not rpm:
        return None
    limiters = _per_loop.setdefault(asyncio.get_running_loop(), {})
    return limiters.setdefault((provider, rpm), RateLimiter(rpm))


@dataclass(frozen=True)
class SharedLimit:
    """A Prefect global concurrency limit that every request to a provider holds, across the
    processes and machines reporting to one Prefect server (see docs/orchestration.md).
    `decays`: the limit was created with a slot decay, so it is a rate limit: a slot is taken
    per request and frees itself; otherwise a slot is held for the length of the request."""

    name: str
    decays: bool = False

    @contextlib.asynccontextmanager
    async def slot(self):
        from prefect.concurrency.asyncio import concurrency, rate_limit

        if self.decays:
            await rate_limit(self.name, strict=True)
            yield
        else:
            async with concurrency(self.name, occupy=1, strict=True):
                yield
