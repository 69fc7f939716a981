"""What every command shares: the storage directory, the config, an open cloud client."""

from __future__ import annotations

import argparse
import shlex
import stat
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hapbridge.config import AppConfig, PlatformConfig, load_config
from hapbridge.errors import ConfigError
from hapbridge.storage import Storage
from hapbridge.ttlock import Credentials, RetryPolicy, TTLockClient

DEFAULT_STORAGE = Path("~/.hapbridge")
CONFIG_NAME = "config.json"


def shared_warning(path: Path) -> str | None:
    """The config holds the client secret and password: what to say when others can read
    it (None when they cannot). ``check`` lists it; every command prints it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (f"{path} holds your TTLock secrets and is readable by other users: "
            f"chmod 600 {shlex.quote(str(path))}")


def warn_if_shared(path: Path) -> None:
    if warning := shared_warning(path):
        print(f"hapbridge: warning: {warning}", file=sys.stderr)


def example_config_path() -> Path:
    """The config.json.example installed with the package."""
    return Path(str(resources.files("hapbridge") / "config.json.example"))


@dataclass(frozen=True)
class Context:
    storage_dir: Path
    config_path: Path
    debug: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        storage_dir = Path(args.user_storage_path or DEFAULT_STORAGE).expanduser()
        config = Path(args.config).expanduser() if args.config else storage_dir / CONFIG_NAME
        return cls(storage_dir=storage_dir, config_path=config, debug=bool(args.debug))

    @property
    def storage(self) -> Storage:
        return Storage(self.storage_dir)

    def command(self, *words: str) -> str:
        """``hapbridge [-U STORAGE] [-c CONFIG] WORDS``, with the options this one was given
        (when they differ from the defaults), for messages that say what to run next."""
        options: list[str] = []
        if self.storage_dir != DEFAULT_STORAGE.expanduser():
            options += ["-U", str(self.storage_dir)]
        if self.config_path != self.storage_dir / CONFIG_NAME:
            options += ["-c", str(self.config_path)]
        return shlex.join(["hapbridge", *options, *words])

    def load_config(self, *, require_credentials: bool = True,
                    warn_shared: bool = True) -> AppConfig:
        """``warn_shared`` False: the caller reports :func:`shared_warning` itself."""
        if not self.config_path.exists() and not self.config_path.is_symlink():
            raise ConfigError(
                f"no config file {self.config_path}: create it with '{self.command('init')}' "
                f"(it asks for your TTLock credentials and tests them), start from the example "
                f"{example_config_path()}, or pass -c FILE")
        config = load_config(self.config_path, require_credentials=require_credentials)
        if warn_shared:
            warn_if_shared(self.config_path)
        return config

    def client_for(self, platform: PlatformConfig) -> TTLockClient:
        """A client on this storage (shared tokens and usage counter with the bridge)."""
        return TTLockClient(
            Credentials(
                client_id=platform.client_id,
                client_secret=platform.client_secret,
                username=platform.username,
                password=platform.password,
            ),
            platform.api_url,
            storage=self.storage,
            retry=RetryPolicy(
                max_retries=platform.maximum_api_retry, base_delay=platform.retry_delay
            ),
        )

    def open_client(self) -> TTLockClient:
        """A client from the config file; use as ``async with ctx.open_client() as client``."""
        return self.client_for(self.load_config().platform)
