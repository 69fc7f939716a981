"""Entry point: global options before the command, as Homebridge takes them.

``hapbridge [-c CONFIG] [-U STORAGE] [-D] COMMAND ...``; ``run`` is the default command.
Every user mistake ends as one line on stderr and a nonzero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from hapbridge import __version__
from hapbridge.cli.context import Context
from hapbridge.errors import HapbridgeError

# Modules that each add their commands with ``register(subparsers)``.
COMMAND_MODULES = (
    "hapbridge.cli.run",
    "hapbridge.cli.simulator",
    "hapbridge.cli.admin",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose mistakes read like every other error: one line, the fix, exit code 2.

    Subcommand parsers inherit the class, so ``hapbridge passcodes add`` without a lock says
    so in one line that names the command's help instead of printing the whole usage.
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("hapbridge").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"hapbridge: error: {where}{message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="hapbridge",
        description="TTLock smart locks in Apple Home, plus everyday lock administration.",
        epilog="Run 'hapbridge COMMAND --help' for a command's options. "
        "Without a command, 'run' starts the bridge.",
    )
    parser.add_argument("-c", "--config", metavar="CONFIG",
                        help="config.json to use (default: STORAGE/config.json)")
    parser.add_argument("-U", "--user-storage-path", metavar="STORAGE",
                        help="storage directory for pairings, tokens, IDs (default: ~/.hapbridge)")
    parser.add_argument("-D", "--debug", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"hapbridge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


# Long-running commands narrate at INFO; one-shot admin commands print results, logs only warn.
CHATTY_COMMANDS = frozenset({"run", "simulator"})


def setup_logging(debug: bool, chatty: bool = True) -> None:
    default = logging.INFO if chatty else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if debug else default,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not debug:
        for noisy in ("httpx", "httpcore", "pyhap", "zeroconf", "aiohttp.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(args_list)
    if args.command is None:
        args = parser.parse_args([*args_list, "run"])
    setup_logging(args.debug, chatty=args.command in CHATTY_COMMANDS)
    ctx = Context.from_args(args)
    try:
        result = args.handler(args, ctx)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except HapbridgeError as err:
        print(f"hapbridge: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
