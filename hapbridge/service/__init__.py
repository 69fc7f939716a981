"""Running the bridge as a service: a systemd unit (Linux) or a launchd plist (macOS).

Each manager is a module with the same small surface (:class:`~hapbridge.service.spec.Manager`):
where its files go, the file's text, and the commands a user runs next. Nothing here starts,
stops or enables anything: that is the user's next command, printed for them.
"""

from __future__ import annotations

import sys

from hapbridge.errors import ConfigError
from hapbridge.service import launchd, systemd
from hapbridge.service.spec import Manager, ServiceSpec

MANAGERS: dict[str, Manager] = {"linux": systemd.MANAGER, "macos": launchd.MANAGER}

__all__ = ["MANAGERS", "Manager", "ServiceSpec", "manager_for"]


def manager_for(platform: str | None) -> Manager:
    """The manager for ``platform`` (linux, macos), or for this machine."""
    if platform is None:
        platform = {"linux": "linux", "darwin": "macos"}.get(sys.platform, sys.platform)
    manager = MANAGERS.get(platform)
    if manager is None:
        raise ConfigError(
            f"'service' writes systemd units (Linux) and launchd plists (macOS), not for "
            f"{platform}: start 'hapbridge run' with this system's own service manager")
    return manager
