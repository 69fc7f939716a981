"""Who else may open a lock: eKeys (app access for another account), QR codes,
fingerprints and IC cards (docs: ekey/*.md, qrCode/*.md, fingerprint/*.md, card/*.md).

eKeys and QR codes are the cloud's alone (no gateway). Fingerprints and cards are enrolled
at the lock; here they are listed, renamed (the cloud's name, no gateway) and deleted
through the gateway. Commands that would duplicate something if sent twice (a QR code) or
answer "no such thing" the second time (a delete) are not sent again after a lost answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hapbridge.ttlock.access_models import (
    Credential,
    CredentialKind,
    EKey,
    NewQrCode,
    QrCode,
    QrCodeData,
)
from hapbridge.ttlock.answers import GATEWAY_TYPE, CallsBase, answer_of
from hapbridge.ttlock.models import to_ms

LIST_PAGE_SIZE = 200
NEWEST_FIRST = 1  # orderBy
QR_PERIOD, QR_PERMANENT = 1, 2
QR_BY_CLOUD = 0  # addType/deleteType of a random (cloud) QR code


class AccessCalls(CallsBase):
    # -- eKeys ------------------------------------------------------------------------

    async def send_ekey(
        self,
        lock_id: int,
        receiver: str,
        *,
        name: str,
        start: datetime | None = None,
        end: datetime | None = None,
        remarks: str | None = None,
        create_user: bool = False,
    ) -> int:
        """An eKey for the app account ``receiver``; permanent without dates. One per
        account and lock: sending again replaces the older key (so a resend is harmless).
        ``create_user``: the cloud creates the account when ``receiver`` is a phone number
        or e-mail address that has none (password: its last six characters)."""
        answer = await self.call(
            "POST", "/v3/key/send", lockId=lock_id, receiverUsername=receiver, keyName=name,
            startDate=to_ms(start) if start else 0, endDate=to_ms(end) if end else 0,
            remarks=remarks, createUser=1 if create_user else None,
        )
        with answer_of("/v3/key/send"):
            return int(answer["keyId"])

    async def list_ekeys(self, lock_id: int, *, search: str | None = None) -> list[EKey]:
        """Every eKey of the lock except the administrator's own, newest first."""
        items = await self._pages("/v3/lock/listKey", LIST_PAGE_SIZE, "keyId", lockId=lock_id,
                                  orderBy=NEWEST_FIRST, searchStr=search or None)
        with answer_of("/v3/lock/listKey"):
            return [EKey.from_api(item, lock_id) for item in items]

    async def delete_ekey(self, key_id: int) -> None:
        await self.call("POST", "/v3/key/delete", idempotent=False, keyId=key_id)

    # -- QR codes ---------------------------------------------------------------------

    async def add_qr_code(
        self,
        lock_id: int,
        *,
        name: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> NewQrCode:
        """A random QR code from the cloud (no gateway): permanent without dates.

        When the answer is lost (timeout, 5xx) a named code is looked up rather than added
        twice: found with the same name and validity, that is the answer; certainly absent,
        the add is sent again within the retry budget. An unnamed one cannot be told from
        others, so the loss is reported."""
        period = start is not None and end is not None
        answer = await self.call(
            "POST", "/v3/qrCode/add", idempotent=False,
            confirm=(lambda: self._qr_added_anyway(lock_id, name, start, end)) if name
            else None,
            lockId=lock_id, name=name,
            type=QR_PERIOD if period else QR_PERMANENT, addType=QR_BY_CLOUD,
            startDate=to_ms(start) if period and start else None,
            endDate=to_ms(end) if period and end else None,
        )
        with answer_of("/v3/qrCode/add"):
            return NewQrCode(qr_code_id=int(answer["qrCodeId"]),
                             number=int(answer.get("qrCodeNumber") or 0),
                             link=str(answer.get("link") or ""))

    async def _qr_added_anyway(
        self, lock_id: int, name: str | None, start: datetime | None, end: datetime | None
    ) -> dict[str, Any] | None:
        """After a lost answer to an add: the answer it would have had, or None."""
        def same(when: datetime | None, other: datetime | None) -> bool:
            return (when is None) == (other is None) and (
                when is None or other is None or abs((when - other).total_seconds()) < 1)

        for code in await self.list_qr_codes(lock_id):
            if code.name == name and same(code.start, start) and same(code.end, end):
                return {"qrCodeId": code.qr_code_id, "qrCodeNumber": code.number,
                        "link": code.link}
        return None

    async def qr_code_data(self, qr_code_id: int) -> QrCodeData:
        """What the lock's camera reads (None outside the code's validity)."""
        answer = await self.call("GET", "/v3/qrCode/getData", qrCodeId=qr_code_id)
        with answer_of("/v3/qrCode/getData"):
            return QrCodeData.from_api(answer)

    async def list_qr_codes(self, lock_id: int) -> list[QrCode]:
        items = await self._pages("/v3/qrCode/list", LIST_PAGE_SIZE, "qrCodeId", lockId=lock_id)
        with answer_of("/v3/qrCode/list"):
            return [QrCode.from_api(item, lock_id) for item in items]

    async def delete_qr_code(self, lock_id: int, qr_code_id: int) -> None:
        """From the cloud: the link stops working; a code already shown works ~10 min."""
        await self.call("POST", "/v3/qrCode/delete", idempotent=False, lockId=lock_id,
                        qrCodeId=qr_code_id, deleteType=QR_BY_CLOUD)

    # -- fingerprints and IC cards ----------------------------------------------------

    async def list_credentials(
        self, kind: CredentialKind, lock_id: int, *, search: str | None = None
    ) -> list[Credential]:
        path = f"{kind.path}/list"
        items = await self._pages(path, LIST_PAGE_SIZE, f"{kind.prefix}Id", lockId=lock_id,
                                  orderBy=NEWEST_FIRST, searchStr=search or None)
        with answer_of(path):
            return [Credential.from_api(kind, item, lock_id) for item in items]

    async def rename_credential(
        self, kind: CredentialKind, lock_id: int, credential_id: int, name: str
    ) -> None:
        """The cloud's name for it (what records show); the lock is not involved."""
        await self.call("POST", f"{kind.path}/rename", lockId=lock_id,
                        **{f"{kind.prefix}Id": credential_id, f"{kind.prefix}Name": name})

    async def delete_credential(
        self, kind: CredentialKind, lock_id: int, credential_id: int
    ) -> None:
        """From the lock itself, through its gateway (``deleteType=2``)."""
        await self.call("POST", f"{kind.path}/delete", idempotent=False, lockId=lock_id,
                        deleteType=GATEWAY_TYPE, **{f"{kind.prefix}Id": credential_id})
