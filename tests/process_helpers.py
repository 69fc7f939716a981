"""Reading a child process's output while it keeps running (a demo, a bridge)."""

from __future__ import annotations

import select
import subprocess
import time


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20.0) -> str:
    """The lines ``proc`` printed until one holds ``marker``, it ended, or ``timeout``."""
    assert proc.stdout is not None
    output = ""
    deadline = time.monotonic() + timeout
    while marker not in output and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            output += line
    return output
