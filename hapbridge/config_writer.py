"""A new ``config.json``: the credentials given, everything else left to its default.

Keys that are left out take the loader's defaults, so a later release's better default
reaches this file too. The document is checked with the loader itself (``parse_config``)
before it is written: what ``init`` writes, ``run`` reads. Written atomically, mode 0600.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hapbridge.config import AppConfig, BridgeConfig, PlatformConfig, parse_config
from hapbridge.push.settings import CallbackSettings
from hapbridge.storage import ensure_private_dir, tighten_dir, write_private
from hapbridge.ttlock.auth import password_md5

COMMENT = ("Written by 'hapbridge {how}'. Every key left out has its default; the README's "
           "configuration section lists them all (lowBatteryThreshold, exclude, "
           "apiBudgetPerMonth, bridge.bind ...).")


@dataclass(frozen=True)
class NewConfig:
    client_id: str
    client_secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)  # plain or md5: stored as the md5
    region: str = PlatformConfig.region
    base_url: str | None = None
    bridge_name: str = BridgeConfig.name
    how: str = "init"  # which command wrote it, for the file's comment
    callback: CallbackSettings | None = None  # the receiver (the demo's own)

    def document(self) -> dict[str, Any]:
        platform: dict[str, Any] = {
            "platform": "TTLock",
            "name": PlatformConfig.name,
            "clientid": self.client_id,
            "clientsecret": self.client_secret,
            "username": self.username,
            # The cloud only ever sees the md5; the plain password never reaches the disk.
            "password": password_md5(self.password),
        }
        if self.base_url:
            platform["baseUrl"] = self.base_url
        else:
            platform["region"] = self.region
        if self.callback is not None:
            platform["callback"] = {"port": self.callback.port, "bind": list(self.callback.bind)}
            if self.callback.public_url:
                platform["callback"]["publicUrl"] = self.callback.public_url
            if self.callback.forward_to:
                platform["callback"]["forwardTo"] = list(self.callback.forward_to)
        return {
            "_comment": COMMENT.format(how=self.how),
            "bridge": {"name": self.bridge_name},
            "platforms": [platform],
        }


def write_config(path: Path, new: NewConfig, *, private_dir: bool) -> AppConfig:
    """Check ``new`` with the loader, then write it to ``path`` (mode 0600).

    ``private_dir``: the directory is the storage directory, made 0700 if it is not; any
    other directory (``-c`` elsewhere, say the home directory) is only created if missing.
    """
    document = new.document()
    config = parse_config(document, source=str(path), env={})
    directory = ensure_private_dir(path.parent)
    if private_dir:
        tighten_dir(directory)
    write_private(path, json.dumps(document, indent=2).encode("utf-8") + b"\n")
    return config
