"""Typed views of who else may open a lock: eKeys, QR codes, fingerprints and IC cards.

A fingerprint's or card's number is deliberately not kept (nor any template): the
commands show names and validity only, and what is not held cannot be printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hapbridge.ttlock.models import from_ms

# keyStatus codes of the cloud's eKey status table
EKEY_STATUS = {"110401": "normal", "110402": "pending", "110405": "frozen",
               "110408": "deleted", "110410": "reset"}
QR_TYPES = {1: "period", 2: "permanent", 4: "cyclic"}
QR_STATUS = {1: "normal", 2: "expired", 3: "pending"}
CREDENTIAL_TYPES = {1: "normal", 4: "cyclic"}


@dataclass(frozen=True)
class EKey:
    key_id: int
    lock_id: int
    username: str
    name: str
    start: datetime | None  # None with end None: permanent
    end: datetime | None
    status: str
    remote_enable: bool | None
    sender: str
    sent: datetime | None

    @classmethod
    def from_api(cls, item: dict[str, Any], lock_id: int) -> EKey:
        status = str(item.get("keyStatus") or "")
        remote = item.get("remoteEnable")
        return cls(
            key_id=int(item["keyId"]),
            lock_id=int(item.get("lockId") or lock_id),
            username=str(item.get("username") or ""),
            name=str(item.get("keyName") or ""),
            start=from_ms(item.get("startDate")),
            end=from_ms(item.get("endDate")),
            status=EKEY_STATUS.get(status, f"status {status}" if status else ""),
            remote_enable=None if remote in (None, 0) else int(remote) == 1,
            sender=str(item.get("senderUsername") or ""),
            sent=from_ms(item.get("date")),
        )


@dataclass(frozen=True)
class NewQrCode:
    """The answer to ``qrCode/add``: the ``link`` is a page that always shows the code."""

    qr_code_id: int
    number: int
    link: str


@dataclass(frozen=True)
class QrCode:
    qr_code_id: int
    lock_id: int
    number: str
    name: str
    type: str
    start: datetime | None
    end: datetime | None
    status: str
    link: str
    creator: str
    created: datetime | None

    @classmethod
    def from_api(cls, item: dict[str, Any], lock_id: int) -> QrCode:
        kind = int(item.get("type") or 0)
        status = int(item.get("status") or 0)
        return cls(
            qr_code_id=int(item["qrCodeId"]),
            lock_id=int(item.get("lockId") or lock_id),
            number=str(item.get("qrCodeNumber") or ""),
            name=str(item.get("name") or ""),
            type=QR_TYPES.get(kind, f"type {kind}"),
            start=from_ms(item.get("startDate")),
            end=from_ms(item.get("endDate")),
            status=QR_STATUS.get(status, f"status {status}"),
            link=str(item.get("link") or ""),
            creator=str(item.get("creator") or ""),
            created=from_ms(item.get("createDate")),
        )


@dataclass(frozen=True)
class QrCodeData:
    """``qrCode/getData``: ``content`` (what the lock's camera reads) is None outside the
    code's validity, when the cloud leaves it out."""

    status: str
    content: str | None = field(repr=False)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> QrCodeData:
        status = int(item.get("status") or 0)
        content = item.get("qrCodeContent")
        return cls(status=QR_STATUS.get(status, f"status {status}"),
                   content=str(content) if content else None)


@dataclass(frozen=True)
class CredentialKind:
    """What differs between fingerprints and IC cards on the wire."""

    noun: str  # "fingerprint", "card"
    path: str  # "/v3/fingerprint", "/v3/identityCard"
    prefix: str  # "fingerprint", "card": <prefix>Id, <prefix>Name, <prefix>Type


FINGERPRINT = CredentialKind("fingerprint", "/v3/fingerprint", "fingerprint")
CARD = CredentialKind("card", "/v3/identityCard", "card")


@dataclass(frozen=True)
class Credential:
    """A fingerprint or IC card: its name and validity, never its number."""

    credential_id: int
    lock_id: int
    name: str
    type: str
    start: datetime | None
    end: datetime | None
    created: datetime | None
    sender: str

    @classmethod
    def from_api(cls, kind: CredentialKind, item: dict[str, Any], lock_id: int) -> Credential:
        raw_type = int(item.get(f"{kind.prefix}Type") or 1)
        return cls(
            credential_id=int(item[f"{kind.prefix}Id"]),
            lock_id=int(item.get("lockId") or lock_id),
            name=str(item.get(f"{kind.prefix}Name") or ""),
            type=CREDENTIAL_TYPES.get(raw_type, f"type {raw_type}"),
            start=from_ms(item.get("startDate")),
            end=from_ms(item.get("endDate")),
            created=from_ms(item.get("createDate")),
            sender=str(item.get("senderUsername") or ""),
        )
