"""``run`` (the bridge), ``pair-info`` (setup code and QR again) and ``reset-pairing``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from typing import Any

from hapbridge.cli.context import CONFIG_NAME, Context
from hapbridge.config import AppConfig, BridgeConfig
from hapbridge.errors import ConfigError
from hapbridge.storage import Storage, StorageError

_LOGGER = logging.getLogger(__name__)

DEMO_STORAGE = "demo"
# What HAP-python's state file holds per controller; accessory_states go with the last
# admin, as HAP-python itself clears them when the last controller unpairs.
PAIRING_KEYS = ("paired_clients", "client_properties", "client_uuid_to_bytes",
                "accessory_states")


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the HomeKit bridge (the default command)",
        description="Publish every TTLock lock of the account to Apple Home. Stop with Ctrl-C.",
    )
    run.add_argument("--demo", action="store_true",
                     help="use a built-in simulated TTLock cloud (no account needed); "
                     "its pairing and locks live in STORAGE/demo, apart from a real bridge's")
    run.add_argument("--demo-locks", type=int, metavar="N", default=None,
                     help="with --demo: an account of N locks (more than 149 makes several "
                     "bridges, one QR code each)")
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
    info.add_argument("--bridge", type=int, metavar="N",
                      help="only bridge N (an account with more than 149 locks has several; "
                      "each is paired once, with its own code)")
    info.set_defaults(handler=_pair_info)

    reset = subparsers.add_parser(
        "reset-pairing", help="forget every HomeKit pairing (stop the bridge first)",
        description="Remove all HomeKit pairings so the bridge can be added to a Home again, "
        "and forget the wrong setup codes tried (after 100 the bridge refuses pair-setup). "
        "Lock IDs and the setup code are kept. Stop the bridge first.",
    )
    reset.add_argument("--bridge", type=int, metavar="N",
                       help="only bridge N (default: every bridge)")
    reset.set_defaults(handler=_reset_pairing)


def _bridge_config(ctx: Context) -> BridgeConfig:
    """The config's bridge block when there is a config file, else the defaults."""
    if not ctx.config_path.exists():
        return BridgeConfig()
    return ctx.load_config(require_credentials=False).bridge


def demo_context(ctx: Context) -> Context:
    """The demo's own storage, always ``STORAGE/demo``: in the storage itself it would take
    over the paired bridge (its locks replaced by demo locks, rooms and scenes lost) and
    overwrite locks.json, bridge.json, tokens and usage. The config (bridge name, port,
    bind) is still read."""
    return dataclasses.replace(ctx, storage_dir=ctx.storage_dir / DEMO_STORAGE)


async def _run(args: argparse.Namespace, ctx: Context) -> int:
    if args.demo_locks is not None and not args.demo:
        raise ConfigError("--demo-locks is for the demo only: add --demo")
    if args.demo:
        from hapbridge.bridge.demo import (
            MAX_DEMO_LOCKS,
            demo_app_config,
            demo_cloud,
            write_admin_config,
        )

        if args.demo_locks is not None and not 1 <= args.demo_locks <= MAX_DEMO_LOCKS:
            raise ConfigError(f"--demo-locks must be from 1 to {MAX_DEMO_LOCKS}, got "
                              f"{args.demo_locks}")
        bridge = _bridge_config(ctx) if ctx.config_path.exists() else None
        ctx = demo_context(ctx)
        _LOGGER.info("demo: storage in %s", ctx.storage_dir)
        async with demo_cloud(args.demo_locks) as sim:
            config = demo_app_config(sim, bridge, ctx.storage)
            write_admin_config(ctx.storage_dir / CONFIG_NAME, sim, config.platform.callback)
            await _serve(config, ctx, args)
        return 0
    config = ctx.load_config()
    for note in config.notes:
        _LOGGER.log(note.level, "config: %s", note.text)
    await _serve(config, ctx, args)
    return 0


async def _serve(config: AppConfig, ctx: Context, args: argparse.Namespace) -> None:
    # Imported here: the other commands should not pay for loading HAP-python.
    from hapbridge.bridge.lock_hub import RESTORE_MAX_AGE
    from hapbridge.bridge.server import BridgeServer, ServerOptions, serve_until_signalled

    options = ServerOptions(port=args.port, bind=tuple(args.bind) if args.bind else None,
                            restore_max_age=0.0 if args.demo else RESTORE_MAX_AGE)
    server = BridgeServer(config, ctx.storage, ctx.client_for(config.platform), options)
    await serve_until_signalled(server)


def _chosen_bridges(args: argparse.Namespace, ctx: Context) -> list[int]:
    """The bridges a command is about: ``--bridge N``, else every bridge that has run."""
    from hapbridge.bridge.bridge_set import known_bridges

    known = known_bridges(ctx.storage)
    if args.bridge is None:
        return known
    if args.bridge not in known:
        raise ConfigError(
            f"--bridge {args.bridge}: no such bridge has run with the storage "
            f"{ctx.storage_dir} (bridges: {', '.join(map(str, known))}); a bridge is made "
            "when the locks need it")
    return [args.bridge]


def _pair_info(args: argparse.Namespace, ctx: Context) -> int:
    from hapbridge.bridge.bridge_set import bridge_spec, bridge_storage
    from hapbridge.bridge.identity import IDENTITY_FILE, Identity
    from hapbridge.bridge.server import is_paired
    from hapbridge.bridge.setup_code import setup_text, write_svg

    if not ctx.storage.path(IDENTITY_FILE).exists():
        # A mistyped -U would otherwise make a new bridge identity: a setup code that no
        # running bridge uses.
        demo = ctx.storage_dir / DEMO_STORAGE
        hint = (f" (the demo's is in {demo}: hapbridge -U {demo} pair-info)"
                if (demo / IDENTITY_FILE).exists() else "")
        raise ConfigError(
            f"no bridge has run with the storage {ctx.storage_dir} yet: start it with "
            f"'hapbridge run' first, or check -U{hint}")
    numbers = _chosen_bridges(args, ctx)
    if args.svg and len(numbers) > 1:
        raise ConfigError(f"--svg writes one QR code, and this storage has {len(numbers)} "
                          "bridges: choose one with --bridge N")
    bridge = _bridge_config(ctx)
    for number in numbers:
        spec = bridge_spec(bridge, number)
        storage = bridge_storage(ctx.storage, number)
        identity = Identity.load(storage, spec.config)
        if len(numbers) > 1:
            print(f"== Bridge {number} of {len(numbers)}: {spec.name} ==")
        print(setup_text(spec.name, identity.pincode, identity.setup_id,
                         paired=is_paired(storage), bridge=number if len(numbers) > 1 or
                         args.bridge is not None else None))
        if args.svg:
            write_svg(args.svg, identity.pincode, identity.setup_id)
            print(f"QR code written to {args.svg}")
    return 0


def _reset_pairing(args: argparse.Namespace, ctx: Context) -> int:
    from hapbridge.bridge.bridge_set import bridge_storage
    from hapbridge.bridge.server import RUNNING_LOCK, RUNNING_WHAT

    # A running bridge keeps its pairings in memory and would write them back: refuse, and
    # keep a bridge from starting while the file is edited.
    held = ctx.storage.hold(RUNNING_LOCK, what=RUNNING_WHAT,
                            fix="stop the bridge first, then run reset-pairing again")
    try:
        numbers = _chosen_bridges(args, ctx)
        many = len(numbers) > 1 or args.bridge is not None
        for number in numbers:
            storage = bridge_storage(ctx.storage, number)
            where = f"Bridge {number}: " if many else ""
            _forget_pairings(storage, where, number if many else None)
            _forget_wrong_codes(storage, where)
        return 0
    finally:
        os.close(held)


def _forget_wrong_codes(storage: Storage, where: str = "") -> None:
    """Pair-setup refused after HomeKit's 100 wrong codes is allowed again (and the count
    restarts) only here, by the owner, on a stopped bridge."""
    from hapbridge.bridge.pairing_attempts import MAX_FAILED, reset_failed

    failed = reset_failed(storage)
    if failed >= MAX_FAILED:
        print(f"{where}Pair-setup is allowed again ({failed} wrong setup codes had been tried:"
              " if that was not you, someone on the network guessed; keep the code secret).")
    elif failed:
        print(f"{where}Forgot {failed} wrong setup code(s) tried since the last pairing.")


def _forget_pairings(storage: Storage, where: str = "", number: int | None = None) -> None:
    from hapbridge.bridge.server import STATE_FILE

    info = "'hapbridge pair-info" + (f" --bridge {number}'" if number else "'")
    try:
        state = storage.read_json(STATE_FILE)
    except StorageError:
        if not os.access(storage.path(STATE_FILE), os.R_OK):
            raise  # unreadable for this user: not damaged, nothing to set aside
        _set_aside_damaged_state(storage, where, info)
        return
    if state is not None and not isinstance(state, dict):
        _set_aside_damaged_state(storage, where, info)
        return
    if not state or not state.get("paired_clients"):
        print(f"{where}The bridge is not paired: nothing to reset.")
        return
    count = len(state["paired_clients"])
    for key in PAIRING_KEYS:
        state[key] = {}
    storage.write_json(STATE_FILE, state)
    print(f"{where}Removed {count} pairing(s). Also remove the bridge from the Home app, then "
          f"start it and pair again ({info} shows the code).")


def _set_aside_damaged_state(storage: Storage, where: str, info: str) -> None:
    """An unreadable state file cannot be edited: move it aside (never delete pairing data).
    The next start makes a fresh one with the same MAC and setup code."""
    from hapbridge.bridge.server import STATE_FILE, move_aside

    backup = move_aside(storage.path(STATE_FILE))
    print(f"{where}The pairing file was damaged: moved it to {backup}. Remove the bridge from "
          f"the Home app, then start it and pair again ({info} shows the code).")
