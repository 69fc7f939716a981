"""The HTTP face of the simulated cloud: routing, request rules, auth, fault injection.

Everything every call shares lives here, once: counting, latency, 5xx injection, the
form-urlencoded rule, the clientId/accessToken/date checks, and turning ApiError into
the cloud's errcode answer. Endpoint modules only hold what their endpoints mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import MultiDict

from hapbridge.simulator import (
    routes_app,
    routes_credentials,
    routes_ekeys,
    routes_gateways,
    routes_locks,
    routes_passage,
    routes_passcodes,
    routes_qrcodes,
    routes_users,
)
from hapbridge.simulator.api import JSON_BODY_REFUSED, Call, Route, check_date
from hapbridge.simulator.commands import Physics
from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.oauth import token_answer
from hapbridge.simulator.outside import OutsideEvents
from hapbridge.simulator.params import Params
from hapbridge.simulator.pusher import Pusher
from hapbridge.simulator.seed import build_world
from hapbridge.simulator.world import World

ROUTES: tuple[Route, ...] = (
    *routes_locks.ROUTES,
    *routes_gateways.ROUTES,
    *routes_passcodes.ROUTES,
    *routes_passage.ROUTES,
    *routes_ekeys.ROUTES,
    *routes_qrcodes.ROUTES,
    *routes_credentials.ROUTES,
    *routes_app.ROUTES,
)
FORM = "application/x-www-form-urlencoded"
SHUTDOWN_GRACE = 0.25 # seconds an in-flight command may still finish when stopping
ERROR_500_PAGE = "<html><body><h1>500 Internal Server Error</h1></body></html>"

AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Answered without an access token: the client's id and secret are checked instead.
OpenHandler = Callable[[Params, World, SimConfig], dict[str, Any]]
OPEN_ROUTES: tuple[tuple[str, OpenHandler], ...] = (
    ("/oauth2/token", token_answer),
    (routes_users.PATH, routes_users.register_answer),
)


class SimulatorServer:
    """A simulated TTLock cloud over real HTTP; ``config`` and ``world`` are live."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.world: World = build_world(self.config)
        self._rng = random.Random(self.config.seed)  # fault injection, reproducible
        self.physics = Physics(self.world, lambda: self.config, self._rng)
        self.pusher = Pusher(self.world, lambda: self.config)
        self.world.on_record = self.pusher.record_added
        self.outside = OutsideEvents(self.world, self.physics, lambda: self.config,
                                     random.Random(self.config.seed + 1))
        self._outside_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the simulator is not started")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host`` only (never all interfaces); port 0 picks a free one."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        runner = web.AppRunner(
            self._build_app(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.config.outside_events_per_minute > 0:
            self._outside_task = asyncio.create_task(self.outside.run())
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{bound_port}"

    async def stop(self) -> None:
        """Stop listening, end in-flight requests, cancel auto-lock timers and pushes."""
        self.physics.close()
        if self._outside_task is not None:
            self._outside_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._outside_task
            self._outside_task = None
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.physics.close()  # a command that finished during shutdown may have set one
        await self.pusher.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the app ----------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._every_request])
        for path, handler in OPEN_ROUTES:
            app.router.add_post(path, self._open(handler))
        app.router.add_post("/sim/event", self.outside.handle)
        for route in ROUTES:
            endpoint = self._endpoint(route)
            for method in route.methods:
                app.router.add_route(method, route.path, endpoint)
        return app

    @web.middleware
    async def _every_request(
        self, request: web.Request, handler: AiohttpHandler
    ) -> web.StreamResponse:
        self.world.calls[request.path] += 1
        self.world.month_calls[routes_app.cloud_month()] += 1
        config = self.config
        if config.latency > 0:
            await asyncio.sleep(config.latency)
        if (
            request.path.startswith("/v3/")
            and config.error_5xx_rate > 0
            and self._rng.random() < config.error_5xx_rate
        ):
            return web.Response(status=500, text=ERROR_500_PAGE, content_type="text/html")
        return await handler(request)

    def _error(self, err: ApiError) -> web.Response:
        self.world.errcodes[err.errcode] += 1
        return web.json_response(err.body())

    def _open(self, handler: OpenHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            params = await _params(request)
            try:
                return web.json_response(handler(params, self.world, self.config))
            except ApiError as err:
                return self._error(err)

        return endpoint

    def _endpoint(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            params = await _params(request)
            try:
                uid = self._authenticate(params)
                if scripted := self.config.scripted_errcodes.get(request.path):
                    raise ApiError(scripted.pop(0))
                call = Call(params, self.world.world_of(uid), self.physics, self.config, uid)
                return web.json_response(await route.handler(call))
            except ApiError as err:
                return self._error(err)

        return endpoint

    def _authenticate(self, params: Params) -> int:
        """The checks every /v3 call passes first: client, token, then clock."""
        config = self.config
        if params.str("clientId", "") != config.client_id:
            raise ApiError(10000)
        grant = self.world.access_tokens.get(params.str("accessToken", ""))
        if grant is None:
            raise ApiError(10003)
        uid, expires_at = grant
        if time.time() >= expires_at:
            raise ApiError(10004)
        check_date(params, config)
        return uid


async def _params(request: web.Request) -> Params:
    """Query parameters, overlaid with the form body of a POST; other bodies are refused."""
    values: MultiDict[str] = MultiDict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type != FORM:
            raise web.HTTPBadRequest(
                text=json.dumps(JSON_BODY_REFUSED), content_type="application/json"
            )
        form = await request.post()
        values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return Params(values)
