"""A systemd unit: system-wide (starts at boot as the given user) or the user's own.

Restart=on-failure with a pause, except for exit code 2: that is a mistake to fix (the
config, the credentials, a storage another bridge uses), which restarting cannot mend.
Logs go to the journal, where systemd keeps every service's.
"""

from __future__ import annotations

import re
from pathlib import Path

from hapbridge.service.spec import ServiceSpec, marker_line

SYSTEM_DIR = Path("/etc/systemd/system")
USER_DIR = Path(".config/systemd/user")  # below the home directory
RESTART_SECONDS = 10
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def exec_word(word: str) -> str:
    """One ExecStart argument as systemd reads it: ``%`` and ``$`` doubled (specifiers and
    variables), quoted when it holds anything but plain characters."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN_WORD.fullmatch(word):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


TMP_DIRS = ("/tmp/", "/var/tmp/")
USER_LINE = re.compile(r"^User=(.+)$", re.MULTILINE)


def uses_tmp(spec: ServiceSpec) -> bool:
    """Whether the storage or config lies under /tmp or /var/tmp, which PrivateTmp=yes
    would replace with an empty directory of the service's own (a new bridge identity at
    every start, the pairings lost)."""
    return any(word.startswith(TMP_DIRS) for word in spec.argv)


class Systemd:
    kind = "systemd"
    restarts = "restarts on failure (not after exit code 2: a mistake to fix in the config)"

    def default_dir(self, system: bool, home: Path) -> Path:
        return SYSTEM_DIR if system else home / USER_DIR

    def file_name(self, name: str) -> str:
        return f"{name}.service"

    def _target(self, spec: ServiceSpec) -> str:
        return "multi-user.target" if spec.system else "default.target"

    def render(self, spec: ServiceSpec) -> str:
        service = [
            "Type=simple",
            *([f"User={spec.run_as}"] if spec.system and spec.run_as else []),
            "ExecStart=" + " ".join(exec_word(word) for word in spec.argv),
            "Restart=on-failure",
            f"RestartSec={RESTART_SECONDS}",
            "# Exit code 2: a mistake to fix (config, credentials, storage in use), not a crash.",
            "RestartPreventExitStatus=2",
            "Environment=PYTHONUNBUFFERED=1",
            "NoNewPrivileges=yes",
            # Sandboxing a user manager may not be allowed to set up: system units only.
            *(["PrivateTmp=yes"] if spec.system and not uses_tmp(spec) else []),
            *(["ProtectSystem=full"] if spec.system else []),
        ]
        lines = [
            f"# {marker_line()}",
            "[Unit]",
            "Description=hapbridge: TTLock locks in Apple Home (HomeKit bridge)",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            *service,
            "",
            "[Install]",
            f"WantedBy={self._target(spec)}",
        ]
        return "\n".join(lines) + "\n"

    def _ctl(self, spec: ServiceSpec, as_root: bool) -> str:
        if not spec.system:
            return "systemctl --user"
        return "systemctl" if as_root else "sudo systemctl"

    def logs(self, spec: ServiceSpec) -> str:
        return f"journalctl{'' if spec.system else ' --user'} -u {spec.name} -f"

    def start_steps(self, spec: ServiceSpec, path: Path, as_root: bool) -> list[str]:
        ctl = self._ctl(spec, as_root)
        steps = [f"{ctl} daemon-reload", f"{ctl} enable --now {spec.name}"]
        if not spec.system:
            # A user's services stop at logout and start at login, unless lingering.
            steps.append(f"sudo loginctl enable-linger {spec.run_as or '$USER'}"
                         "    # start at boot, without logging in")
        return steps

    def stop_steps(self, spec: ServiceSpec, path: Path, as_root: bool) -> list[str]:
        return [f"{self._ctl(spec, as_root)} disable --now {spec.name}"]

    def removed_steps(self, spec: ServiceSpec, as_root: bool) -> list[str]:
        ctl = self._ctl(spec, as_root)
        return [f"{ctl} stop {spec.name}    # if it still runs", f"{ctl} daemon-reload"]

    def enabled(self, spec: ServiceSpec, unit_dir: Path) -> bool | None:
        wants = unit_dir / f"{self._target(spec)}.wants" / self.file_name(spec.name)
        return wants.is_symlink() or wants.exists()

    def installed_user(self, text: str) -> str | None:
        """The account an installed unit runs as (its ``User=``), None for none."""
        found = USER_LINE.search(text)
        return found.group(1).strip() if found else None

    def status_command(self, spec: ServiceSpec) -> list[str] | None:
        return ["systemctl", *([] if spec.system else ["--user"]), "is-active", spec.name]


MANAGER = Systemd()
