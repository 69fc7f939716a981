"""A launchd job: a LaunchDaemon (starts at boot, as the given user) or the user's
LaunchAgent (starts at login).

KeepAlive restarts the bridge when it fails (not when it was stopped cleanly), at most every
ThrottleInterval seconds; its output goes to a log under Library/Logs, where Console.app
shows it. launchd, unlike systemd, cannot spare one exit code: after exit code 2 (a mistake
in the config) it restarts too, at that pace, and the log says what to fix.
"""

from __future__ import annotations

import contextlib
import plistlib
from pathlib import Path

from hapbridge.service.spec import ServiceSpec, marker_line

SYSTEM_DIR = Path("/Library/LaunchDaemons")
USER_DIR = Path("Library/LaunchAgents")  # below the home directory
THROTTLE_SECONDS = 10
LABEL_PREFIX = "org.hapbridge."


def label(spec: ServiceSpec) -> str:
    return LABEL_PREFIX + spec.name


def log_path(spec: ServiceSpec) -> Path:
    base = Path("/Library/Logs") if spec.system else spec.home / "Library/Logs"
    return base / f"{spec.name}.log"


class Launchd:
    kind = "launchd"
    restarts = (f"restarts on failure, at most every {THROTTLE_SECONDS} s (also after exit "
                "code 2, a mistake in the config: launchd cannot spare one code; see the log)")

    def default_dir(self, system: bool, home: Path) -> Path:
        return SYSTEM_DIR if system else home / USER_DIR

    def file_name(self, name: str) -> str:
        return f"{LABEL_PREFIX}{name}.plist"

    def render(self, spec: ServiceSpec) -> str:
        job: dict[str, object] = {
            "Label": label(spec),
            "ProgramArguments": list(spec.argv),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": THROTTLE_SECONDS,
            "StandardOutPath": str(log_path(spec)),
            "StandardErrorPath": str(log_path(spec)),
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        }
        if spec.system and spec.run_as:
            job["UserName"] = spec.run_as
        text = plistlib.dumps(job, sort_keys=False).decode("utf-8")
        header, _, body = text.partition("<plist")
        comment = marker_line().replace("--", "-")  # "--" may not appear in an XML comment
        return f"{header}<!-- {comment} -->\n<plist{body}"

    def _domain(self, spec: ServiceSpec, as_root: bool) -> tuple[str, str]:
        if spec.system:
            return ("launchctl" if as_root else "sudo launchctl"), "system"
        return "launchctl", "gui/$(id -u)"

    def logs(self, spec: ServiceSpec) -> str:
        return f"tail -f {log_path(spec)}"

    def start_steps(self, spec: ServiceSpec, path: Path, as_root: bool) -> list[str]:
        ctl, domain = self._domain(spec, as_root)
        return [f"{ctl} bootstrap {domain} {path}"]

    def stop_steps(self, spec: ServiceSpec, path: Path, as_root: bool) -> list[str]:
        ctl, domain = self._domain(spec, as_root)
        return [f"{ctl} bootout {domain}/{label(spec)}"]

    def removed_steps(self, spec: ServiceSpec, as_root: bool) -> list[str]:
        ctl, domain = self._domain(spec, as_root)
        return [f"{ctl} bootout {domain}/{label(spec)}    # if it is still loaded"]

    def enabled(self, spec: ServiceSpec, unit_dir: Path) -> bool | None:
        return None  # only launchctl knows, and asking it is the user's call

    def installed_user(self, text: str) -> str | None:
        """The account an installed job runs as (its ``UserName``), None for none."""
        with contextlib.suppress(plistlib.InvalidFileException, ValueError):
            user = plistlib.loads(text.encode("utf-8")).get("UserName")
            return str(user) if user else None
        return None

    def status_command(self, spec: ServiceSpec) -> list[str] | None:
        return None


MANAGER = Launchd()
