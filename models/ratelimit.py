"""A per-provider request rate limit: request starts are spaced at least 60/rpm seconds apart
across every task of the event loop that calls the same provider."""
from __future__ import annotations

import asyncio
import time
import weakref


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
