"""SRP for pair-setup with fixed-width values, as iOS and aiohomekit compute them.

HAP-python 5.0 turns the SRP values into bytes without their leading zero bytes: the shared
secret ``S`` before hashing, the session key ``K`` (a SHA-512 digest) in the proof and in the
HKDF input, and the public key ``B`` in ``u``. Controllers use the fixed widths (384 bytes for
``S`` and ``B``, 64 for ``K``), so about one pair-setup in 85 failed with "Authentication
error" and the user had to try again. This server keeps those widths; HAP-python's handler
turns the session key into bytes with its own ``long_to_bytes``, so that one name is wrapped
to pass our full-width key through untouched (every other value behaves as before).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pyhap.hap_handler
from pyhap.hsrp import Server
from pyhap.params import get_srp_context

SRP_BITS = 3072
SALT_BYTES = 16
_WIDTH = SRP_BITS // 8


class SessionKey(int):
    """The session key as HAP-python wants it (an int) that remembers its 64 digest bytes."""

    raw: bytes

    def __new__(cls, digest: bytes) -> SessionKey:
        key = super().__new__(cls, int.from_bytes(digest, "big"))
        key.raw = digest
        return key


class FixedWidthSrpServer(Server):
    """HAP-python's SRP server with the widths of the HAP specification."""

    def __init__(self, pincode: bytes, salt: bytes | None = None, b: int | None = None) -> None:
        ctx = get_srp_context(SRP_BITS, hashlib.sha512, SALT_BYTES)
        super().__init__(ctx, b"Pair-Setup", pincode, s=salt, b=b)
        while self.B.bit_length() <= (_WIDTH - 1) * 8:
            # HAP-python sends B without leading zeros; choosing b so that B needs every byte
            # makes what is sent and what both sides hash the same 384 bytes.
            self.b = int.from_bytes(os.urandom(ctx["secret_len"]), "big")
            self.B = self._derive_B()
        self.Bb = self.B.to_bytes(_WIDTH, "big")

    def set_A(self, bytes_A: bytes) -> None:
        if len(bytes_A) > _WIDTH:
            # One group element at most: a longer A only burns CPU in the big-int arithmetic.
            raise ValueError(f"controller public key A is longer than {_WIDTH} bytes")
        A = int.from_bytes(bytes_A, "big")
        if A % self.N == 0:
            # RFC 5054 2.5.1.3: with A = 0 (mod N) the shared secret is 0, the session key is
            # public and the proof could be forged: pairing without the setup code.
            raise ValueError("invalid controller public key A (A mod N == 0)")
        self.Ab = bytes(bytes_A)
        self.A = A
        self.S = self._derive_premaster_secret()
        self.Sb = self.S.to_bytes(_WIDTH, "big")
        self.Kb = hashlib.sha512(self.Sb).digest()
        self.K = SessionKey(self.Kb)
        self.M = self._get_M()
        self.HAMK = self._get_HAMK()


def _full_width(original: Callable[[int], bytes]) -> Callable[[int], bytes]:
    def long_to_bytes(value: int) -> bytes:
        return value.raw if isinstance(value, SessionKey) else original(value)

    long_to_bytes.wrapped = original  # type: ignore[attr-defined]
    return long_to_bytes


def install() -> None:
    """Let HAP-python's pairing handler use the full-width session key (idempotent)."""
    current: Any = pyhap.hap_handler.long_to_bytes
    if not hasattr(current, "wrapped"):
        pyhap.hap_handler.long_to_bytes = _full_width(current)
