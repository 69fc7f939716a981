"""Questions for ``init`` and ``register``, and the flags that answer them for scripts.

A value comes from its flag, else the environment (TTLOCK_*, as the config loader reads
them), else a question when there is a terminal to ask on; without one (or with --yes) a
missing value is a one-line error naming its flag. Secrets are asked without echo; on the
command line they are accepted with a warning (``ps`` shows them to every user, and they
stay in the shell history).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from hapbridge.config import REGIONS
from hapbridge.errors import ConfigError

SECRET_FLAG_WARNING = ("hapbridge: warning: {flag} on the command line can be seen by other "
                       "users (ps) and stays in the shell history; prefer {instead}")


def add_app_options(parser: argparse.ArgumentParser) -> None:
    """The developer application and the cloud to talk to."""
    parser.add_argument("--client-id", metavar="ID",
                        help="your TTLock developer application's client id "
                        "(or TTLOCK_CLIENT_ID)")
    parser.add_argument("--client-secret", metavar="SECRET",
                        help="its client secret (or TTLOCK_CLIENT_SECRET, safer: a command "
                        "line is visible to other users)")
    parser.add_argument("--region", choices=sorted(REGIONS),
                        help="where the account lives: eu (euapi.ttlock.com, default) or cn")
    parser.add_argument("--base-url", metavar="URL",
                        help="another TTLock API server (a simulator, say); overrides --region")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    parser.add_argument("--password", help=argparse.SUPPRESS)  # accepted, with a warning
    parser.add_argument("--yes", "-y", action="store_true",
                        help="ask nothing: every value comes from flags or the environment")


class Asker:
    """Where each answer comes from, decided once per command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._stdin_password: str | None = None
        if args.password_stdin:
            self._stdin_password = sys.stdin.readline().rstrip("\r\n")
            if not self._stdin_password:
                raise ConfigError("--password-stdin: standard input held no password: "
                                  "pipe it in, e.g. printf '%s\\n' \"$PASS\" | hapbridge ...")
        # Questions need a terminal that --password-stdin has not taken.
        self.interactive = (not args.yes and not args.password_stdin
                            and sys.stdin.isatty())

    def say(self, text: str = "") -> None:
        """Narration goes to stderr: stdout stays for results a script may read."""
        print(text, file=sys.stderr, flush=True)

    def value(self, given: str | None, label: str, flag: str, *, default: str | None = None,
              check: Callable[[str], str] | None = None) -> str:
        if given and given.strip():
            given = given.strip()  # a pasted id with a stray space answers "invalid client"
            return check(given) if check else given
        if not self.interactive:
            if default is not None:
                return default
            raise self._missing(label, flag)
        shown = f" [{default}]" if default else ""
        for _ in range(3):
            print(f"{label}{shown}: ", end="", file=sys.stderr, flush=True)
            answer = sys.stdin.readline()
            if not answer:
                raise ConfigError(f"{label}: no answer (end of input); pass {flag}")
            answer = answer.strip() or (default or "")
            if not answer:
                continue
            try:
                return check(answer) if check else answer
            except ConfigError as err:
                self.say(f"  {err}")
        raise ConfigError(f"{label}: no usable answer after 3 tries; pass {flag}")

    def secret(self, given: str | None, label: str, flag: str, *, instead: str,
               from_stdin: bool = False, confirm: bool = False, strip: bool = False) -> str:
        """``given`` came from the command line (warned about) or the environment.
        ``strip``: spaces around it are a pasting accident (a client secret), where a
        password may really hold them."""
        answer = self._secret(given, label, flag, instead=instead, from_stdin=from_stdin,
                              confirm=confirm)
        return answer.strip() if strip else answer

    def _secret(self, given: str | None, label: str, flag: str, *, instead: str,
                from_stdin: bool, confirm: bool) -> str:
        if from_stdin and self._stdin_password is not None:
            return self._stdin_password
        if given:
            return given
        if not self.interactive:
            # the safe ways first: a secret on the command line is visible to other users
            way = instead if flag in instead else f"{instead} (or {flag})"
            raise self._missing(label, way)
        for _ in range(3):
            answer = getpass.getpass(f"{label} (not shown): ")
            if not answer:
                continue
            if confirm and getpass.getpass("The same again: ") != answer:
                self.say("  the two did not match; again")
                continue
            return answer
        raise ConfigError(f"{label}: no answer after 3 tries; pass {instead}")

    def yes_no(self, question: str, *, default: bool) -> bool:
        if not self.interactive:
            return default
        print(f"{question} [{'Y/n' if default else 'y/N'}]: ", end="", file=sys.stderr,
              flush=True)
        answer = sys.stdin.readline().strip().lower()
        return default if not answer else answer.startswith("y")

    def _missing(self, label: str, flag: str) -> ConfigError:
        why = "--yes asks nothing" if self._args.yes else "there is no terminal to ask on"
        return ConfigError(f"{label} is missing: pass {flag} ({why})")


def warn_secret_flags(args: argparse.Namespace) -> None:
    """The warning for each secret typed on the command line."""
    for flag, value, instead in (
        ("--client-secret", args.client_secret, "TTLOCK_CLIENT_SECRET or the prompt"),
        ("--password", args.password, "--password-stdin, TTLOCK_PASSWORD or the prompt"),
    ):
        if value:
            print(SECRET_FLAG_WARNING.format(flag=flag, instead=instead), file=sys.stderr)
