"""The callback receiver: TTLock's pushed lock records over HTTP, checked, then handed on.

Everything arriving here is hostile until checked, and a flood must cost next to nothing,
so the checks run cheapest first: the secret path (404, the same page as any unknown path,
no hint), the method (405), the content type (415), the declared size (413, before a byte
of the body is read), the body read with a cap and a deadline, then the form and its
records (400), the account, the lock and its MAC (403). Each refusal is counted and logged at debug
at most once a minute per kind; none changes state or logs a traceback.

A valid push is answered ``success`` at once: the records go to the bridge through a
bounded queue and a consumer task (a slow :class:`RecordSink` never delays the cloud), and
the unchanged body to the :class:`Forwarder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hapbridge.errors import HapbridgeError
from hapbridge.log_limit import RateLimitedLog
from hapbridge.push.callback_url import CallbackUrls, callback_urls, receiver_paths
from hapbridge.push.forwarder import Forwarder
from hapbridge.push.records import Push, PushError, parse_push
from hapbridge.push.settings import CallbackSettings
from hapbridge.redact import install_log_redaction, mask_in_logs

_LOGGER = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_FIELDS = 16  # the cloud sends five
BODY_DEADLINE = 5.0  # seconds to send the body: a trickling client is cut off
QUEUE_SIZE = 256  # accepted pushes waiting for the sink
DRAIN_SECONDS = 1.0  # at stop, for the sink to take what was accepted
FORM = "application/x-www-form-urlencoded"
NOT_FOUND = "404: Not Found"  # aiohttp's own page for an unknown path: no hint


class RecordSink(Protocol):
    """Where accepted pushes go: the bridge's registry of lock records.

    ``lock_mac`` (the MAC lock/list gives for ``lock_id``, ``None`` for a lock the bridge
    does not know) runs in the request handler, so it must be a lookup, not I/O.
    ``accept`` runs in the receiver's consumer task, one push at a time, in arrival order;
    it may return an awaitable, which is awaited before the next push.
    """

    def lock_mac(self, lock_id: int) -> str | None: ...

    def accept(self, push: Push) -> Awaitable[None] | None: ...


class ReceiverError(HapbridgeError):
    """The receiver cannot start (the port is taken, the address is not this machine's):
    a setting to change, so exit code 2 like a config mistake."""

    exit_code = 2


class _Refused(Exception):
    def __init__(self, kind: str, status: int, text: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.kind, self.status, self.text, self.headers = kind, status, text, headers


class PushReceiver:
    """``start()`` listens on every ``bind`` address, ``stop()`` ends it all."""

    def __init__(
        self,
        settings: CallbackSettings,
        secret: str,
        sink: RecordSink,
        *,
        account: str | None = None,
        forwarder: Forwarder | None = None,
        queue_size: int = QUEUE_SIZE,
        max_body: int = MAX_BODY,
    ) -> None:
        self.settings = settings
        self._secret = secret
        mask_in_logs(secret)
        self._paths = [path.encode() for path in receiver_paths(settings, secret)]
        self._sink = sink
        self._account = account.casefold() if account else None
        self.forwarder = forwarder if forwarder is not None else Forwarder(settings.forward_to)
        self._queue: asyncio.Queue[Push] = asyncio.Queue(queue_size)
        self._max_body = max_body
        self._runner: web.ServerRunner | None = None
        self._consumer: asyncio.Task[None] | None = None
        self.accepted = 0
        self.refused: Counter[str] = Counter()
        self.last_push_at: float | None = None  # unix time of the last accepted push
        self._debug = RateLimitedLog(_LOGGER).at(logging.DEBUG)
        self._warn = RateLimitedLog(_LOGGER).at(logging.WARNING)

    # -- life -------------------------------------------------------------------------

    @property
    def bound(self) -> list[tuple[str, int]]:
        """(address, port) of each listening socket (port 0 in settings picks one)."""
        if self._runner is None:
            return []
        return [(str(address[0]), int(address[1])) for address in self._runner.addresses]

    @property
    def urls(self) -> CallbackUrls:
        """The URLs as listening: the local one names the bound port."""
        bound = self.bound
        host, port = bound[0] if bound else (self.settings.bind[0], self.settings.port)
        settings = CallbackSettings(port=port, bind=(host,), public_url=self.settings.public_url)
        return callback_urls(settings, self._secret)

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the push receiver is already started")
        install_log_redaction()  # aiohttp.server's lines may quote a request's path
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        try:
            for address in self.settings.bind:
                try:
                    await web.TCPSite(runner, address, self.settings.port).start()
                except OSError as err:
                    raise ReceiverError(
                        f"cannot listen for pushes on {address} port {self.settings.port}: "
                        f"{err.strerror or err}; choose another callback.port, or a "
                        "callback.bind address of this machine") from None
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._consumer = asyncio.create_task(self._consume())
        await self.forwarder.start()
        _LOGGER.debug("push receiver listening on %s",
                     ", ".join(f"{host}:{port}" for host, port in self.bound))

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._consumer is not None:
            # pushes already answered "success" are handed over first, briefly: the cloud
            # will not send them again
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_SECONDS):
                    await self._queue.join()
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None
        await self.forwarder.stop()

    # -- requests ---------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            body, push = await self._check(request)
        except _Refused as refused:
            self.refused[refused.kind] += 1
            self._debug(refused.kind, "push refused (HTTP %d, %s) from %s", refused.status,
                        refused.text, request.remote)
            return web.Response(status=refused.status, text=refused.text,
                                headers=refused.headers)
        try:
            self._queue.put_nowait(push)
        except asyncio.QueueFull:
            self.refused["busy"] += 1
            self._warn("busy", "pushes arrive faster than the bridge takes them: one was "
                       "refused (HTTP 503)")
            return web.Response(status=503, text="busy")
        self.accepted += 1
        self.last_push_at = time.time()
        self.forwarder.offer(body)
        return web.Response(text="success")

    async def _check(self, request: web.BaseRequest) -> tuple[bytes, Push]:
        path = request.rel_url.raw_path.encode("utf-8", "surrogateescape")
        if not any(hmac.compare_digest(path, known) for known in self._paths):
            raise _Refused("path", 404, NOT_FOUND)
        if request.method != "POST":
            raise _Refused("method", 405, "only POST", {"Allow": "POST"})
        if request.content_type != FORM:
            raise _Refused("type", 415, f"only {FORM}")
        length = request.content_length
        if length is not None and length > self._max_body:
            raise _Refused("size", 413, f"body over {self._max_body} bytes")
        body = await self._read_body(request)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=True, max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise _Refused("form", 400, "not a form") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise _Refused("form", 400, "a field given twice")
        try:
            push = parse_push(form)
        except PushError as err:
            raise _Refused("records", err.status, err.reason) from None
        # admin is not among the documented fields, so only a sent one is checked; the
        # lockMac always is, and a lockId with another lock's MAC is not this lock's push
        if self._account and push.admin is not None and push.admin.casefold() != self._account:
            raise _Refused("account", 403, "another account's lock")
        known_mac = self._sink.lock_mac(push.lock_id)
        if known_mac is None:
            raise _Refused("lock", 403, "unknown lock")
        if known_mac.upper() != push.lock_mac:
            raise _Refused("mac", 403, "lockMac is not that lock's")
        return body, push

    async def _read_body(self, request: web.BaseRequest) -> bytes:
        """The body, at most ``max_body`` bytes, within ``BODY_DEADLINE``."""
        body = bytearray()
        try:
            async with asyncio.timeout(BODY_DEADLINE):
                while chunk := await request.content.readany():
                    body += chunk
                    if len(body) > self._max_body:
                        raise _Refused("size", 413, f"body over {self._max_body} bytes")
        except TimeoutError:
            raise _Refused("slow", 408, "body too slow") from None
        except (ConnectionError, HttpProcessingError):  # gone mid-body, or a broken chunk
            raise _Refused("broken", 400, "body cut off or malformed") from None
        return bytes(body)

    # -- to the bridge ----------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            push = await self._queue.get()
            try:
                result = self._sink.accept(push)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("the bridge failed to take a push for lock %d", push.lock_id)
            finally:
                self._queue.task_done()
