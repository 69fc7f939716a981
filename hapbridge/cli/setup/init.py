"""``init``: from nothing to a config that works, tested with a real login before it is
written.

It asks (or takes as flags, for scripts) the developer application's client id and secret,
the TTLock app account and its password, and the region; logs in; counts the locks; and
writes ``STORAGE/config.json`` (0600, directory 0700) with everything else at its default.
An existing config is never replaced without --force, and then kept as ``config.json.bak``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.context import Context
from hapbridge.cli.setup.asking import Asker, add_app_options, warn_secret_flags
from hapbridge.cli.setup.new_account import App, app_from, create_account
from hapbridge.cli.setup.troubleshoot import PORTAL, LoginFailed, explain
from hapbridge.config import PlatformConfig, apply_env
from hapbridge.config_writer import NewConfig, write_config
from hapbridge.errors import ConfigError
from hapbridge.storage import check_writable_dir, write_private
from hapbridge.ttlock import Credentials, RetryPolicy, TTLockClient
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.register import check_username

INTRO = f"""\
hapbridge needs two things from TTLock:
  1. a developer application (register at {PORTAL}, then Application → create): its
     client id and client secret;
  2. a TTLock app account, the one you sign in to the TTLock app with and that holds your
     locks (not the developer-portal login).
"""


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "init", help="write a tested config (asks for your TTLock credentials)",
        description="Ask for the TTLock developer application's client id and secret, the "
        "TTLock app account and its password and the region, test them with a real login, "
        "and write STORAGE/config.json (mode 0600) with everything else at its default. "
        "Values not given as flags or TTLOCK_* variables are asked for; with --yes nothing "
        "is asked. An existing config is replaced only with --force (and kept as "
        "config.json.bak).",
        epilog="examples:\n  hapbridge init\n"
        "  printf '%s\\n' \"$PASS\" | TTLOCK_CLIENT_SECRET=... hapbridge init --yes \\\n"
        "      --client-id ID --username pm@example.com --password-stdin --region eu",
    )
    add_app_options(cmd)
    cmd.add_argument("--username", metavar="ACCOUNT",
                     help="the TTLock app account (e-mail, phone or a prefixed name from "
                     "'hapbridge register'); not the developer-portal login")
    cmd.add_argument("--force", action="store_true",
                     help="replace an existing config (the old one is kept as .bak)")
    cmd.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace, ctx: Context) -> int:
    """Synchronous on purpose: questions are asked outside any event loop, so a Ctrl-C at a
    prompt ends the command at once; only the cloud calls run under ``asyncio.run``."""
    path = ctx.config_path
    if (path.exists() or path.is_symlink()) and not args.force:
        raise ConfigError(
            f"{path} exists already: '{ctx.command('check')}' tests it; to replace it, "
            f"run init again with --force (the old file is kept as {path.name}.bak)")
    for directory in {ctx.storage_dir, path.parent}:  # before any question or login
        check_writable_dir(directory)
    warn_secret_flags(args)
    asker = Asker(args)
    if asker.interactive:
        asker.say(INTRO)
    app = app_from(args, asker, ctx, new_config=True)
    known = apply_env(PlatformConfig(), os.environ)
    username, password = _account(args, asker, app, ctx, known)
    new = NewConfig(app.client_id, app.client_secret, username, password,
                    region=app.where.region or PlatformConfig.region,
                    base_url=None if app.where.region else app.where.url)
    asker.say(f"Logging in to {app.where.url} as {username} ...")
    locks = asyncio.run(_login(new, app, ctx))
    if path.exists():
        write_private(path.with_name(f"{path.name}.bak"), path.read_bytes())
    write_config(path, new, private_dir=path.parent == ctx.storage_dir)
    _report(ctx, username, locks)
    return 0


def _account(args: argparse.Namespace, asker: Asker, app: App, ctx: Context,
                   known: PlatformConfig) -> tuple[str, str]:
    """The app account and password: given, or asked, or a new one registered here."""
    given = args.username or known.username
    if not given and asker.interactive and not asker.yes_no(
            "Do you have a TTLock app account that holds your locks?", default=True):
        asker.say("hapbridge can create one under your developer application (TTLock's "
                  "user/register); the cloud puts the application's prefix before its name.")
        wanted = asker.value(None, "Name for the new account (letters and digits)",
                             "--username", check=_new_name)
        prefixed, password = create_account(asker, app, wanted, ctx.storage)
        asker.say(f"Registered: the account's name is {prefixed} from now on; sign in with "
                  "it in the TTLock app to add your locks.")
        return prefixed, password
    username = asker.value(given, "TTLock app account (as you sign in to the TTLock app)",
                           "--username")
    password = asker.secret(args.password or known.password,
                            "Password of the TTLock app account", "--password-stdin",
                            instead="--password-stdin or TTLOCK_PASSWORD", from_stdin=True)
    return username, password


def _new_name(answer: str) -> str:
    """A name the cloud would refuse is asked again, like any other bad answer."""
    try:
        return check_username(answer)
    except TTLockError as err:
        raise ConfigError(str(err)) from None


async def _login(new: NewConfig, app: App, ctx: Context) -> int:
    """A real login and a lock count; the number of locks the account administers."""
    credentials = Credentials(new.client_id, new.client_secret, new.username, new.password)
    try:
        async with TTLockClient(credentials, app.where.url, storage=ctx.storage,
                                retry=RetryPolicy(max_retries=1, base_delay=0.5)) as client:
            await client.tokens.login()
            return len(await client.list_locks())
    except TTLockError as err:
        raise LoginFailed(explain(err, app.where), err.exit_code) from None


def _report(ctx: Context, username: str, locks: int) -> None:
    print(f"Logged in as {username}: {locks} lock{'' if locks == 1 else 's'}.")
    if not locks:
        print("note: this account administers no locks, so the bridge would show none: add "
              "them in the TTLock app signed in with this account (or transfer them to it "
              "from the account that holds them)")
    print(f"Wrote {ctx.config_path} (mode 0600; the password is stored as its md5).")
    print("Next:")
    for words, what in ((("check",), "test the gateways and every lock"),
                        (("run",), "start the bridge, then add it in the Home app"),
                        (("service", "install"), "start it at boot, restart on failure")):
        print(f"  {ctx.command(*words):<44} {what}")
