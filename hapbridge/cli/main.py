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
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from hapbridge import __version__
from hapbridge.cli.context import Context
from hapbridge.errors import HapbridgeError
from hapbridge.storage import access_error

# Modules that each add their commands with ``register(subparsers)``.
COMMAND_MODULES = (
    "hapbridge.cli.run",
    "hapbridge.cli.setup",
    "hapbridge.cli.simulator",
    "hapbridge.cli.admin",
    "hapbridge.cli.push",
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


@dataclass(frozen=True)
class GlobalOption:
    """An option of ``hapbridge`` itself, which goes before the command."""

    short: str
    long: str
    metavar: str | None  # None: a switch without a value
    help: str

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        if self.metavar is None:
            parser.add_argument(self.short, self.long, action="store_true", help=self.help)
        else:
            parser.add_argument(self.short, self.long, metavar=self.metavar, help=self.help)

    def owns(self, word: str) -> bool:
        """Whether ``word`` is this option, alone or with its value (-U/x, --config=x)."""
        if word in (self.short, self.long):
            return True
        return self.metavar is not None and (
            word.startswith(f"{self.long}=")
            or (word.startswith(self.short) and not word.startswith("--"))
        )

    def takes_next(self, word: str) -> bool:
        """Whether the word after ``word`` is this option's value."""
        return self.metavar is not None and word in (self.short, self.long)


GLOBAL_OPTIONS = (
    GlobalOption("-c", "--config", "CONFIG",
                 "config.json to use (default: STORAGE/config.json)"),
    GlobalOption("-U", "--user-storage-path", "STORAGE",
                 "storage directory for pairings, tokens, IDs (default: ~/.hapbridge)"),
    GlobalOption("-D", "--debug", None, "debug logging"),
)


def _global_words(argv: Sequence[str], i: int) -> list[str]:
    """The words of the global option at ``argv[i]`` (with its value), or [] if none is."""
    option = next((opt for opt in GLOBAL_OPTIONS if opt.owns(argv[i])), None)
    if option is None:
        return []
    if not option.takes_next(argv[i]):
        return [argv[i]]
    return [argv[i], *(argv[i + 1:i + 2] or [option.metavar or ""])]


def _command_index(argv: Sequence[str]) -> int | None:
    """Where the command is: the first word that is neither an option nor its value."""
    i = 0
    while i < len(argv) and argv[i] != "--":
        if not argv[i].startswith("-"):
            return i
        i += len(_global_words(argv, i)) or 1
    return None


def misplaced_globals(argv: Sequence[str]) -> str | None:
    """The command line with the global options moved before the command, when some come
    after it (where argparse would call the value of ``-U /tmp/x`` an invalid choice)."""
    command = _command_index(argv)
    if command is None:
        return None
    moved: list[str] = []
    rest: list[str] = []
    i = command
    while i < len(argv) and argv[i] != "--":
        words = _global_words(argv, i)
        if words:
            moved.extend(words)
        else:
            rest.append(argv[i])
        i += len(words) or 1
    if not moved:
        return None
    return shlex.join(["hapbridge", *argv[:command], *moved, *rest, *argv[i:]])


def _command_words(args: argparse.Namespace) -> list[str]:
    """The command and subcommand chosen (``passcodes add``): each subparser's ``dest`` is
    ``command``, ``action`` or ``NAME_command``."""
    words = [args.command] if args.command else []
    words += [value for key, value in vars(args).items()
              if (key == "action" or key.endswith("_command")) and isinstance(value, str)]
    return words


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="hapbridge",
        description="TTLock smart locks in Apple Home, plus everyday lock administration.",
        epilog="Run 'hapbridge COMMAND --help' for a command's options. "
        "Without a command, 'run' starts the bridge.",
    )
    for option in GLOBAL_OPTIONS:
        option.add_to(parser)
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
    if corrected := misplaced_globals(args_list):
        print(f"hapbridge: error: global options go before the command: {corrected}",
              file=sys.stderr)
        return 2
    args, unknown = parser.parse_known_args(args_list)
    if args.command is None and not unknown:
        args, unknown = parser.parse_known_args([*args_list, "run"])
    if unknown:
        # argparse leaves them to the top parser, whose help is not the one to read
        words = _command_words(args)
        prog = shlex.join(["hapbridge", *words])
        where = f"{' '.join(words)}: " if words else ""
        parser.exit(2, f"hapbridge: error: {where}unrecognized arguments: "
                       f"{' '.join(unknown)}; see '{prog} --help'\n")
    setup_logging(args.debug, chatty=args.command in CHATTY_COMMANDS)
    ctx = Context.from_args(args)
    try:
        try:
            result = args.handler(args, ctx)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            return int(result or 0)
        except OSError as err:
            if err.filename is None or isinstance(err, BrokenPipeError):
                raise
            # A file of the storage or config that this user cannot open (or that is not
            # there): one line naming it, exit 2, so a service manager does not restart
            # a bridge that cannot start.
            raise access_error(err) from None
    except HapbridgeError as err:
        print(f"hapbridge: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        # At a prompt or mid-command: one line, not a traceback; 130 as a shell reports it.
        print("\nhapbridge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
