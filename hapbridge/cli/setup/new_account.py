"""``register USERNAME``: a TTLock app account created under the developer application.

For users without an app account, or who want one for the bridge alone. The cloud prefixes
the name with the application's prefix (``abcd_name``); that prefixed name is the account's
name from then on, in the TTLock app and in the config, which is what trips people up, so
the output says it plainly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.admin.output import add_json_flag, print_json
from hapbridge.cli.context import Context
from hapbridge.cli.setup.asking import Asker, add_app_options, warn_secret_flags
from hapbridge.cli.setup.troubleshoot import LoginFailed, Where, explain
from hapbridge.config import REGIONS, PlatformConfig, apply_env, parse_config
from hapbridge.errors import ConfigError, HapbridgeError
from hapbridge.storage import Storage
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.register import check_username, register_user


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "register",
        help="create a TTLock app account under your developer application",
        description="Create a TTLock app account with TTLock's user/register: the password "
        "is sent as its md5. The cloud puts your application's prefix before the name "
        "(abcd_name) and that prefixed name is the account's name from then on: sign in to "
        "the TTLock app with it to add your locks, and give it to 'hapbridge init'. You do "
        "not need this if you already have a TTLock app account that holds your locks. The "
        "client id and secret come from the flags, TTLOCK_CLIENT_ID/TTLOCK_CLIENT_SECRET, "
        "the config file, or a question.",
        epilog="examples:\n  hapbridge register frontdesk\n"
        "  printf '%s\\n' \"$PASS\" | hapbridge register frontdesk --password-stdin --yes",
    )
    cmd.add_argument("username", metavar="USERNAME",
                     help="the new account's name: English letters and digits only")
    add_app_options(cmd)
    add_json_flag(cmd)
    cmd.set_defaults(handler=run_register)


@dataclass(frozen=True)
class App:
    """A developer application and the cloud it lives in."""

    client_id: str
    client_secret: str = field(repr=False)
    where: Where


def create_account(asker: Asker, app: App, username: str, storage: Storage,
                   password: str | None = None) -> tuple[str, str]:
    """Register ``username`` (asking for its password unless given) and return the prefixed
    name and the password.

    Questions are asked outside any event loop (only the cloud call runs in one): a Ctrl-C
    at a prompt then ends the command at once, where under ``asyncio.run`` it would only
    cancel the task and leave the prompt reading.
    """
    check_username(username)
    password = asker.secret(password, f"Password for the new account {username}",
                            "--password-stdin", instead="--password-stdin", from_stdin=True,
                            confirm=True)
    try:
        prefixed = asyncio.run(register_user(app.where.url, app.client_id, app.client_secret,
                                             username, password, storage=storage))
    except TTLockError as err:
        raise LoginFailed(explain(err, app.where), err.exit_code) from None
    return prefixed, password


def app_from(args: argparse.Namespace, asker: Asker, ctx: Context, *,
             new_config: bool = False) -> App:
    """The application's credentials and cloud: flags, environment, the config file (not
    for ``new_config``: init writes a new one), a question."""
    known = apply_env(PlatformConfig() if new_config else _configured(ctx), os.environ)
    client_id = asker.value(args.client_id or known.client_id, "TTLock client id",
                            "--client-id")
    client_secret = asker.secret(args.client_secret or known.client_secret,
                                 "TTLock client secret", "--client-secret",
                                 instead="TTLOCK_CLIENT_SECRET", strip=True)
    if args.base_url:
        return App(client_id, client_secret, Where(_usable_url(args.base_url), None))
    if args.region:
        return App(client_id, client_secret, Where(REGIONS[args.region], args.region))
    if known.base_url:
        return App(client_id, client_secret, Where(known.api_url, None))
    region = asker.value(None, "Region: eu (Europe and most of the world) or cn (China)",
                         "--region", default=known.region, check=_region)
    return App(client_id, client_secret, Where(REGIONS[region], region))


def _usable_url(url: str) -> str:
    """``--base-url`` as the config loader will accept it, checked by the loader itself."""
    try:
        parse_config({"platforms": [{"platform": "TTLock", "baseUrl": url}]},
                     env={}, require_credentials=False)
    except ConfigError:
        raise ConfigError(f"--base-url {url!r} is not usable: give an http(s) URL with a "
                          "host, like https://euapi.ttlock.com") from None
    return url.rstrip("/")


def _region(answer: str) -> str:
    region = answer.strip().lower()
    if region not in REGIONS:
        raise ConfigError(f"the region is one of {', '.join(REGIONS)}, not {answer!r}")
    return region


def _configured(ctx: Context) -> PlatformConfig:
    """The config's platform block when there is a usable config, else the defaults."""
    if not ctx.config_path.exists():
        return PlatformConfig()
    try:
        return ctx.load_config(require_credentials=False).platform
    except HapbridgeError:
        return PlatformConfig()


def run_register(args: argparse.Namespace, ctx: Context) -> int:
    warn_secret_flags(args)
    check_username(args.username)
    asker = Asker(args)
    app = app_from(args, asker, ctx)
    prefixed, _password = create_account(asker, app, args.username, ctx.storage,
                                         args.password)
    if args.json:
        print_json({"username": prefixed, "requested": args.username})
        return 0
    print(f"Registered {prefixed} under your developer application.")
    init = ["init", "--username", prefixed]
    if ctx.config_path.exists():  # init refuses to replace a config without --force
        init.append("--force")
    print(f"From now on the account's name is {prefixed} (not {args.username}): sign in with "
          "it and its password in the TTLock app to add your locks (or transfer them to it), "
          f"then: {ctx.command(*init)}")
    return 0
