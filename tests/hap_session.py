"""Raw HAP over a socket: plain HTTP/1.1, and after ``verify`` the encrypted session.

A controller library hides what the bridge answers (status lines, 207 bodies) and
reconnects behind our back; these tests must see exactly what goes over one connection.
Pair-verify uses aiohomekit's state machine; the framing (2-byte length, ChaCha20-Poly1305
with a counter nonce) is HAP's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohomekit.crypto.chacha20poly1305 import (
    PACK_NONCE,
    ChaCha20Poly1305Decryptor,
    ChaCha20Poly1305Encryptor,
)
from aiohomekit.protocol import get_session_keys
from aiohomekit.protocol.tlv import TLV
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

LOOPBACK = "127.0.0.1"
TIMEOUT = 5.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def tlv(self) -> dict[int, bytes]:
        return {k: bytes(v) for k, v in TLV.decode_bytes(self.body)}


@dataclass
class RawHap:
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    events: list[Any] = field(default_factory=list)
    _plain: bytearray = field(default_factory=bytearray)
    _cipher: bytearray = field(default_factory=bytearray)
    _encrypt: ChaCha20Poly1305Encryptor | None = None
    _decrypt: ChaCha20Poly1305Decryptor | None = None
    _out: int = 0
    _in: int = 0

    async def open(self) -> RawHap:
        self.reader, self.writer = await asyncio.open_connection(LOOPBACK, self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):  # reset by the bridge
                await self.writer.wait_closed()

    async def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        if self._encrypt is not None:
            frames = []
            for start in range(0, len(data), 1024):
                chunk = data[start:start + 1024]
                length = len(chunk).to_bytes(2, "little")
                frames.append(length + self._encrypt.encrypt(length, PACK_NONCE(self._out),
                                                             chunk))
                self._out += 1
            data = b"".join(frames)
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, method: str, path: str, body: bytes | None = None,
                      content_type: str = "application/hap+json") -> Reply:
        head = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}"]
        if body is not None:
            head += [f"Content-Length: {len(body)}", f"Content-Type: {content_type}"]
        await self.send_raw(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        return await self.reply()

    async def put_json(self, path: str, data: Any) -> Reply:
        return await self.request("PUT", path, json.dumps(data).encode())

    async def post_tlv(self, path: str, items: list[tuple[int, bytes]]) -> Reply:
        return await self.request("POST", path, bytes(TLV.encode_list(items)),
                                  "application/pairing+tlv8")

    async def reply(self) -> Reply:
        """The next HTTP answer (EVENT/1.0 messages on the way are kept in ``events``)."""
        while True:
            message = await asyncio.wait_for(self._message(), TIMEOUT)
            if message.status >= 0:
                return message
            self.events.append(json.loads(message.body))

    async def closed_by_peer(self) -> bool:
        """True once the bridge has closed the connection (EOF or reset)."""
        assert self.reader is not None
        try:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
        except TimeoutError:  # an OSError: caught first, it means still open
            return False
        except OSError:  # reset
            return True
        return data == b""

    async def _fill(self) -> None:
        assert self.reader is not None
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionResetError("the bridge closed the connection")
        if self._decrypt is None:
            self._plain += data
            return
        self._cipher += data
        while len(self._cipher) >= 2:
            length = int.from_bytes(self._cipher[:2], "little")
            if len(self._cipher) < 2 + length + 16:
                break
            frame = bytes(self._cipher[2:2 + length + 16])
            self._plain += self._decrypt.decrypt(bytes(self._cipher[:2]), PACK_NONCE(self._in),
                                                 frame)
            self._in += 1
            del self._cipher[:2 + length + 16]

    async def _message(self) -> Reply:
        while b"\r\n\r\n" not in self._plain:
            await self._fill()
        head, _, rest = bytes(self._plain).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            await self._fill()
            rest = bytes(self._plain).partition(b"\r\n\r\n")[2]
        body = rest[:length]
        del self._plain[:len(head) + 4 + length]
        protocol, status = lines[0].split(" ")[:2]
        return Reply(-1 if protocol.startswith("EVENT") else int(status), headers, body)

    async def verify(self, pairing_data: dict[str, Any]) -> RawHap:
        """Pair-verify as ``pairing_data``'s controller; the session is encrypted after."""
        machine = get_session_keys(pairing_data)
        request, expected = machine.send(None)
        while True:
            reply = await self.post_tlv("/pair-verify", request)
            try:
                request, expected = machine.send(TLV.decode_bytes(reply.body, expected=expected))
            except StopIteration as done:
                _session, derive = done.value
                break
        self._encrypt = ChaCha20Poly1305Encryptor(
            derive(b"Control-Salt", b"Control-Write-Encryption-Key"))
        self._decrypt = ChaCha20Poly1305Decryptor(
            derive(b"Control-Salt", b"Control-Read-Encryption-Key"))
        return self


def new_controller(pairing_data: dict[str, Any]) -> dict[str, Any]:
    """Pairing data for another controller of the same accessory (to add as a pairing)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    return {**pairing_data, "iOSPairingId": str(uuid.uuid4()).upper(),
            "iOSDeviceLTSK": private.hex(), "iOSDeviceLTPK": public.hex()}
