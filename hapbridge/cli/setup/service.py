"""``service install|uninstall|status``: the bridge started at boot and restarted on failure.

install writes a systemd unit (Linux) or a launchd plist (macOS) that runs this very
installation's ``hapbridge`` with the current storage and config, prints what it wrote and
the commands to run next, and starts nothing itself. ``--unit-dir`` and ``--platform``
write elsewhere or for the other system (tests, packaging); ``--dry-run`` writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hapbridge.cli.admin.common import add_parser
from hapbridge.cli.context import CONFIG_NAME, DEFAULT_STORAGE, Context
from hapbridge.errors import ConfigError, HapbridgeError
from hapbridge.service import MANAGERS, Manager, ServiceSpec, manager_for
from hapbridge.service.spec import MARKER
from hapbridge.service.systemd import uses_tmp
from hapbridge.storage import write_private

SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")  # a unit and a launchd label
UNIT_MODE = 0o644  # read by the service manager; it holds paths, no secret
STATUS_TIMEOUT = 5.0


def register(subparsers: Any) -> None:
    cmd = add_parser(
        subparsers, "service", help="run the bridge as a service (start at boot)",
        description="Write (or remove, or show) a systemd unit on Linux or a launchd plist "
        "on macOS that runs this bridge with the current storage and config, restarts it "
        "on failure and keeps its logs where the system keeps them. Nothing is started: "
        "the commands to run next are printed.",
        epilog="examples:\n  sudo ~/.hapbridge-venv/bin/hapbridge service install\n"
        "  hapbridge service install --user\n  hapbridge service install --dry-run\n"
        "  hapbridge service status",
    )
    actions = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("install", _install, "write the unit (or plist) and print the next commands"),
        ("uninstall", _uninstall, "remove it (disable it first)"),
        ("status", _status, "show whether it is installed, current and enabled"),
    ):
        action = add_parser(actions, name, help=text, description=text[0].upper() + text[1:])
        _add_common(action)
        if name == "install":
            action.add_argument("--force", action="store_true",
                                help="replace a file of that name not written by hapbridge")
        if name != "status":
            action.add_argument("--dry-run", action="store_true",
                                help="print what would be written or removed; change nothing")
        action.set_defaults(handler=handler)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", action="store_true",
                        help="the user's own service (systemd --user, a LaunchAgent) instead "
                        "of a system service started at boot; needs no root")
    parser.add_argument("--name", default="hapbridge",
                        help="the service's name (default: hapbridge), e.g. for a second "
                        "bridge on another storage")
    parser.add_argument("--unit-dir", metavar="DIR", type=Path,
                        help="write into DIR instead of the system's directory for units")
    parser.add_argument("--platform", choices=sorted(MANAGERS),
                        help="write for this system instead of this machine's")
    parser.add_argument("--run-as", metavar="USER",
                        help="the account a system service runs as (default: you, or the "
                        "user who ran sudo)")


class Target:
    """The service a command is about: its manager, spec and file."""

    def __init__(self, args: argparse.Namespace, ctx: Context) -> None:
        self.manager: Manager = manager_for(args.platform)
        if not SERVICE_NAME.fullmatch(args.name or ""):
            raise ConfigError(
                f"--name {args.name!r}: a service name is letters, digits and - _ . @, "
                "starting with a letter or digit (no spaces), like 'hapbridge-2'")
        self.as_root = os.geteuid() == 0
        system = not args.user
        if args.user and self.as_root and os.environ.get("SUDO_USER"):
            raise ConfigError("a --user service belongs to the user: run it without sudo "
                              "(or leave out --user for a system service)")
        run_as = args.run_as or _invoking_user()
        home = _home_of(run_as)
        self.ctx = _for_user(ctx, home) if system and self.as_root else ctx
        self.spec = ServiceSpec(name=args.name, argv=self._argv(), system=system,
                                run_as=run_as, home=home)
        self.custom_dir = args.unit_dir is not None
        self.unit_dir = (args.unit_dir.expanduser() if args.unit_dir
                         else self.manager.default_dir(system, home))
        self.path = self.unit_dir / self.manager.file_name(args.name)

    def _argv(self) -> tuple[str, ...]:
        """This installation's hapbridge (not whichever is first on PATH at boot)."""
        python = Path(sys.executable).absolute()  # not resolved: it would leave the venv
        script = python.parent / "hapbridge"
        program = [str(script)] if script.is_file() else [str(python), "-m", "hapbridge"]
        storage = self.ctx.storage_dir.expanduser().absolute()
        config = self.ctx.config_path.expanduser().absolute()
        return (*program, "-U", str(storage), "-c", str(config), "run")

    @property
    def what(self) -> str:
        scope = "system service" if self.spec.system else "user service"
        return f"{self.manager.kind} {scope} {self.spec.name}"

    def existing(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not text"
            raise ConfigError(f"cannot read {self.path}: {reason}") from None


def _invoking_user() -> str:
    """Who the service is for: under sudo, the user who ran it, not root."""
    if os.geteuid() == 0 and os.environ.get("SUDO_USER"):
        return os.environ["SUDO_USER"]
    return getpass.getuser()


def _home_of(user: str) -> Path:
    try:
        return Path(pwd.getpwnam(user).pw_dir)
    except KeyError:
        raise ConfigError(f"--run-as {user}: no such user on this machine") from None


def _for_user(ctx: Context, home: Path) -> Context:
    """Under sudo, ``~`` may be root's: a default storage means the service user's."""
    if ctx.storage_dir != DEFAULT_STORAGE.expanduser() or home == Path.home():
        return ctx
    storage = home / DEFAULT_STORAGE.name
    default_config = ctx.config_path == ctx.storage_dir / CONFIG_NAME
    config = storage / CONFIG_NAME if default_config else ctx.config_path
    print(f"note: using {storage}, the storage of the user the service runs as",
          file=sys.stderr)
    return Context(storage_dir=storage, config_path=config, debug=ctx.debug)


def _install(args: argparse.Namespace, ctx: Context) -> int:
    target = Target(args, ctx)
    try:
        target.ctx.load_config()  # a service that cannot start helps nobody
    except HapbridgeError as err:
        raise ConfigError(f"the service would not start: {err}") from None
    _check_run_as_can_read(target)
    if target.spec.system and target.spec.run_as == "root":
        print("note: the bridge would run as root; pass --run-as USER for an account of "
              "its own", file=sys.stderr)
    if target.spec.system and uses_tmp(target.spec) and target.manager.kind == "systemd":
        print(f"note: the storage or config is under /tmp: the unit goes without PrivateTmp "
              f"(which would hide them), and /tmp may be emptied at boot; a storage such as "
              f"~{target.spec.run_as}/.hapbridge lasts", file=sys.stderr)
    text = target.manager.render(target.spec)
    current = target.existing()
    if current is not None and MARKER not in current and not args.force:
        raise ConfigError(f"{target.path} exists and was not written by hapbridge: choose "
                          "another --name, or pass --force to replace it")
    if args.dry_run:
        print(f"Would write {target.path} ({target.what}):\n")
        print(text)
        _print_next(target, dry_run=True)
        return 0
    if current == text:
        print(f"{target.path} is already up to date ({target.what}).")
        _print_next(target)
        return 0
    _write(target, text)
    print(f"{'Updated' if current is not None else 'Wrote'} {target.path} ({target.what}):")
    print(f"  runs     {' '.join(target.spec.argv)}")
    if target.spec.system:
        print(f"  as       {target.spec.run_as}, from boot")
    print(f"  {target.manager.restarts}")
    print(f"  logs     {target.manager.logs(target.spec)}")
    _print_next(target)
    return 0


def _check_run_as_can_read(target: Target) -> None:
    """A service whose user cannot open its storage or config would fail at every start:
    refuse it now, naming the fix (asked of the kernel as that user, so ACLs count)."""
    if not target.as_root or target.spec.run_as == getpass.getuser():
        return
    storage = target.ctx.storage_dir.expanduser().absolute()
    config = target.ctx.config_path.expanduser().absolute()
    needs = ((storage, os.R_OK | os.W_OK | os.X_OK, "read and write"), (config, os.R_OK, "read"))
    for path, mode, what in needs:
        if not _user_may(target.spec.run_as, path, mode):
            user = target.spec.run_as
            raise ConfigError(
                f"--run-as {user}: {user} cannot {what} {path}, so the service would not "
                f"start; give it to {user} (sudo chown -R {user} {storage}), or pass "
                "--run-as with the user who owns it")


def _user_may(user: str, path: Path, mode: int) -> bool:
    """Whether ``user`` may access ``path`` with ``mode``, asked of the kernel by a child
    that takes on the user's ids (so ACLs count; only root gets here). The child makes
    system calls only: safe after a fork, even from a process with threads."""
    entry = pwd.getpwnam(user)
    groups = os.getgrouplist(user, entry.pw_gid)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgroups(groups)
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            os._exit(0 if os.access(path, mode) else 1)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) != 1


def _write(target: Target, text: str) -> None:
    directory = target.unit_dir
    if directory.exists() and not os.access(directory, os.W_OK):
        sudo = ("run it with sudo and the full path: sudo "
                f"{target.spec.argv[0]} service install" if target.spec.system else "")
        raise ConfigError(
            f"cannot write {target.path}: permission denied; {sudo or 'check the directory'}"
            + ("; or install a service of your own with --user" if target.spec.system else ""))
    write_private(target.path, text.encode("utf-8"))
    os.chmod(target.path, UNIT_MODE)


def _print_next(target: Target, *, dry_run: bool = False) -> None:
    if target.custom_dir:
        print(f"Written to {target.unit_dir} as asked: copy it to "
              f"{target.manager.default_dir(target.spec.system, target.spec.home)} to use it.")
    print("Nothing written (dry run). After an install, to start it now and at every boot:"
          if dry_run else "Nothing is started yet. To start it now and at every boot:")
    print("  # stop any 'hapbridge run' on this storage first: one bridge per storage")
    for step in target.manager.start_steps(target.spec, target.path, target.as_root):
        print(f"  {step}")
    print(f"Logs: {target.manager.logs(target.spec)}")


def _uninstall(args: argparse.Namespace, ctx: Context) -> int:
    target = Target(args, ctx)
    current = target.existing()
    if current is None:
        print(f"No {target.path}: nothing to remove.")
        return 0
    if MARKER not in current:
        raise ConfigError(f"{target.path} was not written by hapbridge: not removing it")
    stop = target.manager.stop_steps(target.spec, target.path, target.as_root)
    if target.manager.enabled(target.spec, target.unit_dir):
        raise ConfigError(f"{target.spec.name} is enabled: first run '{stop[0]}', then "
                          "uninstall again")
    if args.dry_run:
        print(f"Would remove {target.path} ({target.what}).")
        return 0
    try:
        target.path.unlink()
    except OSError as err:
        raise ConfigError(f"cannot remove {target.path}: {err.strerror}"
                          + ("; run it with sudo" if target.spec.system else "")) from None
    print(f"Removed {target.path} ({target.what}). The storage and config are kept.")
    print("Next:")
    for step in target.manager.removed_steps(target.spec, target.as_root):
        print(f"  {step}")
    return 0


def _status(args: argparse.Namespace, ctx: Context) -> int:
    target = Target(args, ctx)
    current = target.existing()
    print(f"{target.what}: {target.path}")
    if current is None:
        print(f"  installed  no: '{ctx.command('service', 'install')}' writes it")
        return 1
    if MARKER not in current:
        print("  installed  a file not written by hapbridge")
        return 1
    spec = target.spec
    installed_user = target.manager.installed_user(current)
    if spec.system and args.run_as is None and installed_user and installed_user != spec.run_as:
        # compare with what install would write for the account it was installed for
        spec = dataclasses.replace(spec, run_as=installed_user, home=_home_of(installed_user))
    fresh = current == target.manager.render(spec)
    again = ("service install" if spec.run_as == target.spec.run_as
             else f"service install --run-as {spec.run_as}")
    print("  installed  yes, " + ("up to date with this storage and config" if fresh else
          f"but it differs from what '{again}' would write now: run it again"))
    if spec.system and spec.run_as:
        print(f"  runs as    {spec.run_as}")
    enabled = target.manager.enabled(target.spec, target.unit_dir)
    if enabled is not None:
        print(f"  enabled    {'yes' if enabled else 'no'}")
    state = None if target.custom_dir else _ask_manager(target)
    if state:
        print(f"  running    {state}")
    print(f"  logs       {target.manager.logs(target.spec)}")
    return 0


def _ask_manager(target: Target) -> str | None:
    """The manager's own word on the service (read only), when it can be asked."""
    command = target.manager.status_command(target.spec)
    if command is None or shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=STATUS_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None
