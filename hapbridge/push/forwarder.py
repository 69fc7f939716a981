"""Pass each accepted push on, unchanged, to other consumers (``forwardTo``).

A developer application has one callback URL, so the bridge is the only one to receive
pushes; Home Assistant or a PMS can still get them through it. Forwarding must never delay
the answer to the cloud nor pile up: each target has its own small queue and worker (a dead
target does not hold back the others), posts time out quickly, and a full queue drops the
push, counted and logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from hapbridge.log_limit import RateLimitedLog
from hapbridge.redact import install_log_redaction, mask_in_logs

_LOGGER = logging.getLogger(__name__)

QUEUE_SIZE = 64  # pushes waiting per target
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class _Target:
    url: str

    @property
    def shown(self) -> str:
        """The URL without its path: webhook ids are secrets too."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


class Forwarder:
    """``offer`` never waits; ``start``/``stop`` bound the workers' lives."""

    def __init__(self, urls: tuple[str, ...], *, queue_size: int = QUEUE_SIZE,
                 timeout: httpx.Timeout = TIMEOUT) -> None:
        self._targets = [_Target(url) for url in urls]
        for url in urls:  # httpx logs each POST: the webhook id must not show
            parts = urlsplit(url)
            mask_in_logs(parts.path, parts.query)
        self._queues: list[asyncio.Queue[bytes]] = [
            asyncio.Queue(queue_size) for _ in self._targets]
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.sent: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()  # queue full
        self.failed: Counter[str] = Counter()  # refused, timed out, unreachable
        self._warn = RateLimitedLog(_LOGGER).at(logging.WARNING)

    def __bool__(self) -> bool:
        return bool(self._targets)

    async def start(self) -> None:
        if not self._targets or self._client is not None:
            return
        install_log_redaction()
        self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        self._workers = [asyncio.create_task(self._work(target, queue))
                         for target, queue in zip(self._targets, self._queues, strict=True)]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def offer(self, body: bytes) -> None:
        """Queue ``body`` (the form as the cloud sent it) for every target."""
        for target, queue in zip(self._targets, self._queues, strict=True):
            try:
                queue.put_nowait(body)
            except asyncio.QueueFull:
                self.dropped[target.url] += 1
                self._warn(f"drop {target.url}",
                           "forwarding to %s is behind: a push was dropped (%d so far)",
                           target.shown, self.dropped[target.url])

    async def _work(self, target: _Target, queue: asyncio.Queue[bytes]) -> None:
        assert self._client is not None
        while True:
            body = await queue.get()
            try:
                answer = await self._client.post(
                    target.url, content=body, headers={"Content-Type": FORM})
            except httpx.HTTPError as err:
                self.failed[target.url] += 1
                self._warn(f"fail {target.url}", "cannot forward a push to %s (%s)",
                           target.shown, type(err).__name__)
                continue
            if answer.is_success:
                self.sent[target.url] += 1
            else:
                self.failed[target.url] += 1
                self._warn(f"fail {target.url}", "forwarding a push to %s answered HTTP %d",
                           target.shown, answer.status_code)
