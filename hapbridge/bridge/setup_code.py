"""The setup code and the QR code a phone scans: one place for startup and ``pair-info``."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import base36
import pyqrcode
from pyhap.const import CATEGORY_BRIDGE

from hapbridge.storage import write_private

FLAG_IP = 2  # the accessory pairs over IP


def setup_uri(pincode: str, setup_id: str, category: int = CATEGORY_BRIDGE) -> str:
    """The ``X-HM://`` payload of HomeKit's setup QR code (version 0, IP, category, code)."""
    payload = category & 0xFF
    payload = (payload << 4) | FLAG_IP
    payload = (payload << 27) | (int(pincode.replace("-", "")) & 0x7FFFFFFF)
    return "X-HM://" + base36.dumps(payload).upper().rjust(9, "0") + setup_id


def setup_text(name: str, pincode: str, setup_id: str, *, paired: bool,
               terminal: bool | None = None, bridge: int | None = None) -> str:
    """What stdout shows: the QR code (while unpaired, and only on a terminal: a log such
    as journald would get lines of escape codes) and the code to type.

    ``terminal`` None: whether stdout is one. ``bridge``: the commands named say
    ``--bridge N`` (one of several bridges)."""
    which = f" --bridge {bridge}" if bridge is not None else ""
    if paired:
        return (
            f"{name} is paired with a Home. To add it to another Home, remove it from the "
            f"first one or run 'hapbridge reset-pairing{which}'. Setup code: {pincode}"
        )
    uri = setup_uri(pincode, setup_id)
    if terminal is None:
        terminal = sys.stdout.isatty()
    if not terminal:
        return (
            f"To pair {name}, enter the setup code {pincode} in the Home app (Add Accessory, "
            f"More options), or scan the QR code that 'hapbridge pair-info{which}' draws in a "
            f"terminal ('--svg FILE' writes it)\n(setup payload {uri})"
        )
    qr = pyqrcode.create(uri, error="L").terminal(quiet_zone=2)
    return (
        f"Scan this code with the Home app (Add Accessory) to pair {name}:\n{qr}\n"
        f"Or enter the setup code: {pincode}\n(setup payload {uri})"
    )


def write_svg(path: str, pincode: str, setup_id: str) -> None:
    """The QR code as SVG, private to its owner (it carries the setup code)."""
    buffer = io.BytesIO()
    pyqrcode.create(setup_uri(pincode, setup_id), error="L").svg(buffer, scale=8)
    write_private(Path(path), buffer.getvalue())
