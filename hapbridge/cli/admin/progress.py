"""Progress of work over several locks, on stderr, and only when stderr is a terminal.

A gateway command takes seconds, so a run over many locks would otherwise be silent for a
long while. On a terminal each lock gets a line as it finishes (``[2/6] Room 12 (3000005):
added (2.1 s)``) and, under those lines, one status line redrawn in place (``2 of 6 done;
in flight: Garage, Office; 4 s``) that is erased when the run ends, so only the lines that
mean something stay. A pipe or a file gets nothing at all: what a script reads stays byte
for byte what it was, and the results themselves are printed by the command, in the order
the user gave the locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from typing import TextIO

from hapbridge.cli.admin.output import display_width
from hapbridge.text import without_controls

ERASE_LINE = "\r\x1b[K"
TICK_SECONDS = 1.0  # the status line's clock
FALLBACK_WIDTH = 80


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no fileno, or closed
        return False


def _width(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or FALLBACK_WIDTH  # a pty nobody sized says 0


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns (with an ellipsis): a status line that
    wrapped could not be redrawn in place."""
    if display_width(text) <= width:
        return text
    while text and display_width(text) > width - 1:
        text = text[:-1]
    return text + "…"


class Progress:
    """What one run over several locks shows while it works (see the module's docstring)."""

    def __init__(self, total: int, *, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        # one lock needs no progress: its own output follows in a moment
        self.shown = total > 1 and is_terminal(self._stream)
        # Redrawing needs a terminal that understands "erase line", and a stderr of its
        # own (-D writes log lines there): otherwise the per-lock lines only.
        self._live = (self.shown and os.environ.get("TERM") != "dumb"
                      and not logging.getLogger().isEnabledFor(logging.INFO))
        self._total = total
        self._done = 0
        self._failed = 0
        self._began = time.monotonic()
        self._running: dict[str, float] = {}  # label -> when it started
        self._short: dict[str, str] = {}
        self._status = False  # a status line is on the screen
        self._ticker: asyncio.Task[None] | None = None

    # -- the run's events ----------------------------------------------------------------

    def begin(self, title: str) -> None:
        """A first line saying what is about to happen (and how it is spread)."""
        if not self.shown:
            return
        self._began = time.monotonic()
        self.say(title)
        if self._live:
            with contextlib.suppress(RuntimeError):  # no running loop: no clock
                self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def started(self, label: str, short: str | None = None) -> None:
        """``short`` names it in the status line (an alias, without the id)."""
        self._running[label] = time.monotonic()
        self._short[label] = short or label
        self._redraw()

    def finished(self, label: str, text: str, *, ok: bool = True) -> None:
        began = self._running.pop(label, time.monotonic())
        self._done += 1
        self._failed += not ok
        width = len(str(self._total))
        self.say(f"[{self._done:>{width}}/{self._total}] {label}: {text} "
                 f"({time.monotonic() - began:.1f} s)")

    def abandoned(self, label: str) -> None:
        self._running.pop(label, None)
        self.say(f"{label}: abandoned while in flight")

    def say(self, text: str) -> None:
        """A line that stays (above the status line, which is drawn again under it)."""
        if not self.shown:
            return
        self._clear()
        self._write(without_controls(text) + "\n")
        self._redraw()

    def end(self) -> None:
        """The run is over: the status line goes, the clock stops, and a last line says how
        many locks were done, in how long."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self._clear()
        self._running.clear()
        if self.shown:
            failed = f", {self._failed} failed" if self._failed else ""
            self._write(f"{self._done} of {self._total} locks done in "
                        f"{time.monotonic() - self._began:.1f} s{failed}\n")

    # -- the status line -----------------------------------------------------------------

    def _status_text(self) -> str:
        elapsed = time.monotonic() - self._began
        names = ", ".join(self._short[label] for label in self._running)
        flight = f"; in flight: {names}" if names else ""
        return f"{self._done} of {self._total} done{flight}; {elapsed:.0f} s"

    def _redraw(self) -> None:
        if not self._live or self._done >= self._total:
            return
        self._write(ERASE_LINE + clip(without_controls(self._status_text()),
                                      _width(self._stream) - 1))
        self._status = True

    def _clear(self) -> None:
        if self._status:
            self._write(ERASE_LINE)
            self._status = False

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self._redraw()

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a terminal gone must not stop work
            self._stream.write(text)
            self._stream.flush()
