"""A QR code for the terminal, or as an SVG or PNG file (mode 0600: it opens a door).

PNG is written here with zlib (8-bit grayscale, one filter byte per row) rather than
through pyqrcode's ``png()``, which needs pypng, a dependency for ten lines of format.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pyqrcode

from hapbridge.storage import write_private

QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
PNG_SCALE = 8  # pixels per module
SVG_SCALE = 8
BLACK, WHITE = 0, 255


def qr(data: str) -> pyqrcode.QRCode:
    return pyqrcode.create(data, error="M")


def terminal_text(data: str) -> str:
    """The code in ANSI blocks, for a terminal only (not for a file or a pipe)."""
    text: str = qr(data).terminal(quiet_zone=2)
    return text


def svg_bytes(data: str) -> bytes:
    buffer = io.BytesIO()
    qr(data).svg(buffer, scale=SVG_SCALE, quiet_zone=QUIET_ZONE)
    return buffer.getvalue()


def png_bytes(data: str, scale: int = PNG_SCALE) -> bytes:
    modules: list[list[int]] = [list(row) for row in qr(data).code]  # 1 = dark
    size = len(modules) + 2 * QUIET_ZONE
    blank = [0] * size

    def row(cells: list[int]) -> bytes:
        line = bytes(BLACK if dark else WHITE for dark in cells for _ in range(scale))
        return b"\x00" + line  # filter type 0 (none)

    grid = ([blank] * QUIET_ZONE
            + [[0] * QUIET_ZONE + cells + [0] * QUIET_ZONE for cells in modules]
            + [blank] * QUIET_ZONE)
    raw = b"".join(row(cells) * scale for cells in grid)
    pixels = size * scale

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", pixels, pixels, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_image(path: Path, data: str) -> None:
    """``path`` as SVG or PNG by its suffix, readable by the owner only."""
    image = png_bytes(data) if path.suffix.lower() == ".png" else svg_bytes(data)
    write_private(path, image, make_dir=False)
