"""``hapbridge simulator``: the simulated TTLock cloud as a standalone server."""

from __future__ import annotations

import argparse
from typing import Any

from hapbridge.cli.context import Context


def register(subparsers: Any) -> None:
    from hapbridge.simulator import cli as sim_cli

    parser = subparsers.add_parser(
        "simulator",
        help="serve a simulated TTLock cloud on 127.0.0.1",
        description="Serve a simulated TTLock cloud on 127.0.0.1 and print the credentials "
        "it accepts; point a config's baseUrl at it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sim_cli.add_arguments(parser)
    parser.set_defaults(handler=_run)


async def _run(args: argparse.Namespace, ctx: Context) -> int:
    from hapbridge.simulator import cli as sim_cli

    return await sim_cli.serve_forever(args)
