"""Pair-setup SRP against aiohomekit's controller side, on values with leading zero bytes.

The seeds were searched once so that each case hits one width problem of HAP-python's own
SRP server: a shared secret S and a session key K that start with a zero byte, and a
server private key whose public key B does. Stock HAP-python fails the first two; ours must not.
"""

from __future__ import annotations

import hashlib

import pyhap.hap_handler
import pytest
from aiohomekit.crypto.srp import HK_KEY_LENGTH, SrpClient, pad_left, to_byte_array
from pyhap.hsrp import Server
from pyhap.params import get_srp_context

from hapbridge.bridge.pairing_srp import SRP_BITS, FixedWidthSrpServer, SessionKey, install

PIN = b"031-45-154"
SALT = bytes(range(1, 17))
SHORT_S, SHORT_K, ORDINARY = 436, 161, 0  # client seeds
SHORT_B = 468  # server seed


def secret(label: bytes) -> int:
    return int.from_bytes(hashlib.sha512(label).digest()[:32], "big")


def controller(seed: int, server_b: bytes) -> SrpClient:
    client = SrpClient("Pair-Setup", PIN.decode())
    client.a = secret(b"a%d" % seed) >> 128
    client.A = pow(client.g, client.a, client.n)
    client.A_b = pad_left(to_byte_array(client.A), HK_KEY_LENGTH)
    client.set_salt(bytearray(SALT))
    client.set_server_public_key(server_b)
    return client


def sent_b(server: Server) -> bytes:
    return pyhap.hap_handler.long_to_bytes(server.get_challenge()[1])


@pytest.mark.parametrize("seed", [SHORT_S, SHORT_K, ORDINARY])
def test_controller_and_bridge_agree(seed: int) -> None:
    install()
    server = FixedWidthSrpServer(PIN, SALT, secret(b"b0"))
    client = controller(seed, sent_b(server))
    server.set_A(bytes(client.get_public_key_bytes()))
    hamk = server.verify(client.get_proof_bytes())
    assert hamk is not None, "the bridge rejected a correct setup code"
    assert client.verify_servers_proof_bytes(hamk)
    key = pyhap.hap_handler.long_to_bytes(server.get_session_key())
    assert key == client.get_session_key_bytes()  # the HKDF input of pair-setup M5
    assert len(key) == 64


@pytest.mark.parametrize("seed", [SHORT_S, SHORT_K])
def test_stock_hap_python_fails_these_cases(seed: int) -> None:
    """Proof that the seeds exercise the bug the fixed-width server exists for."""
    ctx = get_srp_context(SRP_BITS, hashlib.sha512, 16)
    stock = Server(ctx, b"Pair-Setup", PIN, s=SALT, b=secret(b"b0"))
    client = controller(seed, sent_b(stock))
    stock.set_A(bytes(client.get_public_key_bytes()))
    assert stock.verify(client.get_proof_bytes()) is None


def test_short_public_key_is_drawn_again() -> None:
    ctx = get_srp_context(SRP_BITS, hashlib.sha512, 16)
    short = Server(ctx, b"Pair-Setup", PIN, s=SALT, b=secret(b"b%d" % SHORT_B)).B
    assert short.bit_length() <= SRP_BITS - 8  # the seed gives a B with a zero first byte
    server = FixedWidthSrpServer(PIN, SALT, secret(b"b%d" % SHORT_B))
    assert short != server.B
    assert len(sent_b(server)) == SRP_BITS // 8
    client = controller(SHORT_K, sent_b(server))
    server.set_A(bytes(client.get_public_key_bytes()))
    assert server.verify(client.get_proof_bytes()) is not None


def test_install_is_idempotent_and_leaves_other_values_alone() -> None:
    install()
    first = pyhap.hap_handler.long_to_bytes
    install()
    assert pyhap.hap_handler.long_to_bytes is first
    assert first(0x00FF) == b"\xff"  # ordinary ints: HAP-python's own conversion
    assert first(SessionKey(b"\x00" * 63 + b"\x01")) == b"\x00" * 63 + b"\x01"


@pytest.mark.parametrize("bad_a", ["zero", "n", "two_n", "too_long"])
def test_degenerate_controller_key_is_refused(bad_a: str) -> None:
    """A = 0 (mod N) would make the session key public: pairing without the setup code."""
    server = FixedWidthSrpServer(PIN, SALT, secret(b"b0"))
    width = SRP_BITS // 8
    values = {
        "zero": bytes(width),
        "n": server.N.to_bytes(width, "big"),
        "two_n": (2 * server.N).to_bytes(width + 1, "big"),
        "too_long": b"\x01" + bytes(width),
    }
    with pytest.raises(ValueError):
        server.set_A(values[bad_a])
    assert server.verify(b"\x00" * 64) is None
