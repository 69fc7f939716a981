"""``run`` (the bridge), ``pair-info`` (setup code and QR again) and ``reset-pairing``."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hapbridge.cli.context import Context
from hapbridge.config import AppConfig, BridgeConfig

_LOGGER = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the HomeKit bridge (the default command)",
        description="Publish every TTLock lock of the account to Apple Home. Stop with Ctrl-C.",
    )
    run.add_argument("--demo", action="store_true",
                     help="use a built-in simulated TTLock cloud (no account needed)")
    run.add_argument("--bind", action="append", metavar="ADDR",
                     help="listen and advertise only on this IP address or interface "
                     "(repeatable; overrides bridge.bind)")
    run.add_argument("--port", type=int, metavar="PORT", help="HAP port (overrides bridge.port)")
    run.set_defaults(handler=_run)

    info = subparsers.add_parser(
        "pair-info", help="print the setup code and QR code again",
        description="Print the bridge's setup code and QR code (as at startup).",
    )
    info.add_argument("--svg", metavar="FILE", help="also write the QR code as an SVG image")
    info.set_defaults(handler=_pair_info)

    reset = subparsers.add_parser(
        "reset-pairing", help="forget every HomeKit pairing (stop the bridge first)",
        description="Remove all HomeKit pairings so the bridge can be added to a Home again. "
        "Lock IDs and the setup code are kept. Stop the bridge first.",
    )
    reset.set_defaults(handler=_reset_pairing)


def _bridge_config(ctx: Context) -> BridgeConfig:
    """The config's bridge block when there is a config file, else the defaults."""
    if not ctx.config_path.exists():
        return BridgeConfig()
    return ctx.load_config(require_credentials=False).bridge


async def _run(args: argparse.Namespace, ctx: Context) -> int:
    if args.demo:
        from hapbridge.bridge.demo import demo_app_config, demo_cloud

        bridge = _bridge_config(ctx) if ctx.config_path.exists() else None
        async with demo_cloud() as sim:
            await _serve(demo_app_config(sim, bridge), ctx, args)
        return 0
    config = ctx.load_config()
    for note in config.notes:
        _LOGGER.info("config: %s", note)
    await _serve(config, ctx, args)
    return 0


async def _serve(config: AppConfig, ctx: Context, args: argparse.Namespace) -> None:
    # Imported here: the other commands should not pay for loading HAP-python.
    from hapbridge.bridge.server import BridgeServer, ServerOptions, serve_until_signalled

    options = ServerOptions(port=args.port, bind=tuple(args.bind) if args.bind else None)
    server = BridgeServer(config, ctx.storage, ctx.client_for(config.platform), options)
    await serve_until_signalled(server)


def _pair_info(args: argparse.Namespace, ctx: Context) -> int:
    from hapbridge.bridge.identity import Identity
    from hapbridge.bridge.server import is_paired
    from hapbridge.bridge.setup_code import setup_text, write_svg

    bridge = _bridge_config(ctx)
    identity = Identity.load(ctx.storage, bridge)
    print(setup_text(bridge.name, identity.pincode, identity.setup_id,
                     paired=is_paired(ctx.storage)))
    if args.svg:
        write_svg(args.svg, identity.pincode, identity.setup_id)
        print(f"QR code written to {args.svg}")
    return 0


def _reset_pairing(args: argparse.Namespace, ctx: Context) -> int:
    from hapbridge.bridge.server import STATE_FILE

    storage = ctx.storage
    state = storage.read_json(STATE_FILE)
    if not state or not state.get("paired_clients"):
        print("The bridge is not paired: nothing to reset.")
        return 0
    count = len(state["paired_clients"])
    for key in ("paired_clients", "client_properties", "uuid_to_bytes"):
        state[key] = {}
    storage.write_json(STATE_FILE, state)
    print(f"Removed {count} pairing(s). Also remove the bridge from the Home app, then "
          "start it and pair again ('hapbridge pair-info' shows the code).")
    return 0
