"""Add Pairing and Remove Pairing (HAP 5.10, 5.11) checked before HAP-python's State sees them.

HAP-python 5.2 stores a controller's key before it converts the permissions: a 2-byte or
empty Permissions item left a paired controller without permissions (it could open sessions,
and nobody could remove it), a 5-byte "Ed25519" key was accepted, and an existing identifier
with another key silently replaced the key. Here a request is whole and valid or it changes
nothing and answers kTLVError_Unknown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pyhap.hap_handler import HAP_TLV_TAGS

ED25519_KEY_BYTES = 32
MAX_IDENTIFIER_BYTES = 64  # iOS sends a 36-character UUID
USER, ADMIN = 0, 1
TLV_ERROR_UNKNOWN = b"\x01"


class BadPairing(ValueError):
    """The pairing request is malformed (answered kTLVError_Unknown, nothing changed)."""


@dataclass(frozen=True)
class Controller:
    identifier: bytes  # as sent (listed back as stored)
    uuid: uuid.UUID


@dataclass(frozen=True)
class AddPairing:
    controller: Controller
    public_key: bytes
    permissions: bytes  # one byte, 0 (user) or 1 (admin), as HAP-python's State wants it


def parse_controller(items: dict[bytes, Any]) -> Controller:
    raw = items.get(HAP_TLV_TAGS.USERNAME)
    if not isinstance(raw, bytes) or not 0 < len(raw) <= MAX_IDENTIFIER_BYTES:
        raise BadPairing(f"the identifier must be 1 to {MAX_IDENTIFIER_BYTES} bytes")
    try:
        return Controller(raw, uuid.UUID(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        raise BadPairing("the identifier is not a UTF-8 UUID") from None


def parse_add_pairing(items: dict[bytes, Any]) -> AddPairing:
    controller = parse_controller(items)
    key = items.get(HAP_TLV_TAGS.PUBLIC_KEY)
    if not isinstance(key, bytes) or len(key) != ED25519_KEY_BYTES:
        raise BadPairing(f"the public key must be {ED25519_KEY_BYTES} bytes (Ed25519)")
    permissions = items.get(HAP_TLV_TAGS.PERMISSIONS)
    if not isinstance(permissions, bytes) or len(permissions) != 1 or (
            permissions[0] not in (USER, ADMIN)):
        raise BadPairing("the permissions must be one byte, 0 (user) or 1 (admin)")
    return AddPairing(controller, key, permissions)
