"""What a service runs, and what every service manager module provides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hapbridge import __version__

MARKER = "Written by 'hapbridge service install'"


def marker_line() -> str:
    return (f"{MARKER} (hapbridge {__version__}); 'hapbridge service uninstall' removes it. "
            "Run the install again rather than editing this file.")


@dataclass(frozen=True)
class ServiceSpec:
    """One bridge as a service: its name, the command line, and whose it is."""

    name: str  # the unit's or job's name: "hapbridge"
    argv: tuple[str, ...]  # absolute paths: the venv's hapbridge, -U STORAGE -c CONFIG run
    system: bool  # started at boot by the system (True) or by the user's own manager
    run_as: str | None  # system services: the account the bridge runs as
    home: Path  # that account's home (launchd user agents log below it)


class Manager(Protocol):
    """A service manager: systemd or launchd."""

    kind: str  # "systemd" or "launchd", for messages
    restarts: str  # what it does when the bridge exits, as install reports it

    def default_dir(self, system: bool, home: Path) -> Path: ...

    def file_name(self, name: str) -> str: ...

    def render(self, spec: ServiceSpec) -> str: ...

    def logs(self, spec: ServiceSpec) -> str: ...

    def start_steps(self, spec: ServiceSpec, path: Path, as_root: bool) -> list[str]: ...

    def stop_steps(self, spec: ServiceSpec, path: Path, as_root: bool) -> list[str]: ...

    def removed_steps(self, spec: ServiceSpec, as_root: bool) -> list[str]: ...

    def installed_user(self, text: str) -> str | None: ...

    def enabled(self, spec: ServiceSpec, unit_dir: Path) -> bool | None: ...

    def status_command(self, spec: ServiceSpec) -> list[str] | None: ...
