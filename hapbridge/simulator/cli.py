"""``hapbridge simulator``: serve the simulated cloud until Ctrl-C, for manual testing.

It prints the base URL and the credentials it accepts, so a config.json can point at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hapbridge.errors import HapbridgeError
from hapbridge.simulator.config import MAX_EVENTS_PER_MINUTE, SimConfig

if TYPE_CHECKING:
    from hapbridge.simulator.server import SimulatorServer

HOST = "127.0.0.1"  # a development tool: never reachable from the network
MAX_LOCKS = 1000  # of each kind: more is a typo, not a test


def ranged(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from ``low`` to ``high``, else a one-line usage error."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: {low:g} to {high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimConfig()
    parser.add_argument("--port", type=ranged(int, 0, 65535), default=8080,
                        help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--locks", type=ranged(int, 0, MAX_LOCKS), default=defaults.locks,
                        help="Bluetooth locks behind gateways")
    parser.add_argument("--gateways", type=ranged(int, 0, MAX_LOCKS),
                        default=defaults.gateways, help="gateways the locks share")
    parser.add_argument("--wifi-locks", type=ranged(int, 0, MAX_LOCKS),
                        default=defaults.wifi_locks, help="Wi-Fi locks (no gateway needed)")
    parser.add_argument("--orphan-locks", type=ranged(int, 0, MAX_LOCKS),
                        default=defaults.orphan_locks,
                        help="locks without a gateway (remote commands answer -2012)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed for names, MACs, battery, records and faults")
    parser.add_argument("--command-seconds", type=ranged(float, 0, 60),
                        default=defaults.command_seconds,
                        help="how long one gateway command takes")
    parser.add_argument("--latency", type=ranged(float, 0, 60), default=defaults.latency,
                        help="seconds added to every request")
    parser.add_argument("--busy-rate", type=ranged(float, 0, 1), default=defaults.busy_rate,
                        help="probability (0-1) that an idle gateway still answers -3003")
    parser.add_argument("--error-rate", type=ranged(float, 0, 1),
                        default=defaults.error_5xx_rate,
                        help="probability (0-1) of an HTTP 500 answer")
    parser.add_argument("--callback-url", metavar="URL", default=None,
                        help="push each new record of a gateway or Wi-Fi lock to URL, as the "
                        "cloud does (e.g. the output of 'hapbridge callback-url')")
    parser.add_argument("--push-delay", type=float, default=defaults.push_delay,
                        metavar="SECONDS",
                        help="seconds between an event and its push (the gateway's upload; "
                        f"default {defaults.push_delay})")
    parser.add_argument("--outside-events", type=float, metavar="PER_MINUTE",
                        default=defaults.outside_events_per_minute,
                        help="random keypad, card, button and door events per minute "
                        f"(at most {MAX_EVENTS_PER_MINUTE:.0f}; default: none)")


def config_from(args: argparse.Namespace) -> SimConfig:
    if not 0 <= args.outside_events <= MAX_EVENTS_PER_MINUTE:
        raise HapbridgeError(f"--outside-events must be from 0 to {MAX_EVENTS_PER_MINUTE:.0f} "
                             "per minute")
    if args.push_delay < 0 or args.push_delay > 60:
        raise HapbridgeError("--push-delay must be from 0 to 60 seconds")
    if args.callback_url is not None:
        parts = urlsplit(args.callback_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HapbridgeError("--callback-url must be an http(s) URL, e.g. the one "
                                 "'hapbridge callback-url' prints")
    return SimConfig(
        locks=args.locks,
        gateways=args.gateways,
        wifi_locks=args.wifi_locks,
        orphan_locks=args.orphan_locks,
        seed=args.seed,
        command_seconds=args.command_seconds,
        latency=args.latency,
        busy_rate=args.busy_rate,
        error_5xx_rate=args.error_rate,
        callback_url=args.callback_url,
        push_delay=args.push_delay,
        outside_events_per_minute=args.outside_events,
    )


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event SIGINT or SIGTERM sets: own handlers, installed before the server listens,
    since a shell starting us in the background hands SIGINT down ignored."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve_forever(args: argparse.Namespace) -> int:
    """Serve on 127.0.0.1 until cancelled (Ctrl-C); the server is stopped on the way out."""
    from hapbridge.simulator.server import SimulatorServer

    config = config_from(args)
    server = SimulatorServer(config)
    with _stop_on_signals() as stop:
        try:
            await server.start(HOST, args.port)
        except OSError as err:
            raise HapbridgeError(
                f"cannot listen on {HOST}:{args.port}: {err.strerror}") from None
        await _serve(server, config, stop)
    return 0


async def _serve(server: SimulatorServer, config: SimConfig, stop: asyncio.Event) -> None:
    try:
        print(f"Simulated TTLock cloud at {server.url}")
        print(f"  {len(server.world.locks)} locks, {len(server.world.gateways)} gateways")
        print(f"  clientId      {config.client_id}")
        print(f"  clientSecret  {config.client_secret}")
        print(f"  username      {config.username}")
        print(f"  password      {config.password}")
        print(f"  app accounts  {', '.join(server.world.accounts)} (eKey receivers)")
        if config.callback_url:
            print("  pushes records of gateway and Wi-Fi locks to the callback URL")
        print(f"  outside events: POST {server.url}/sim/event "
              '{"lockId": ..., "recordType": 4}')
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
        print("Stopping the simulated cloud.", flush=True)
    finally:
        await server.stop()
