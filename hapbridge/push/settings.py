"""The receiver's settings: the platform block's ``callback`` object, declared in the table.

:class:`CallbackSettings` is a config block like any other (``config_schema.key`` on each
field): ``PlatformConfig.callback`` reads it with ``Block(CallbackSettings)``, so parsing,
the known keys, the did-you-mean hints and the one-line errors naming ``callback.port`` come
from these declarations and nowhere else. Absent, there is no receiver.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from hapbridge.config_schema import Invalid, Kind, ListOf, Spot, Value, key
from hapbridge.config_values import Clearable, integer

DEFAULT_PORT = 8788
DEFAULT_BIND = ("127.0.0.1",)
MAX_FORWARDS = 8
FORWARD_EXAMPLE = "http://homeassistant:8123/api/webhook/ID"


def _address(value: object) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise Invalid('must be an IP address such as "127.0.0.1" or "::1"') from None


def _url(value: object, example: str, *, query_ok: bool) -> str:
    parts = None
    if isinstance(value, str):
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018  # parsed lazily: a bad port fails here
        except ValueError:
            parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Invalid(f'must be an http(s) URL like "{example}"')
    if parts.fragment:
        raise Invalid("must not carry a #fragment")
    if parts.query and not query_ok:
        raise Invalid("must not carry a ?query: the secret path is added to it")
    return str(value).strip()


def _public_url(value: object) -> str:
    return _url(value, "https://locks.example.com", query_ok=False).rstrip("/")


def _forward(value: object) -> str:
    return _url(value, FORWARD_EXAMPLE, query_ok=True)


class _Addresses(ListOf[str]):
    """At least one address; the same one twice listens once."""

    def read(self, value: object, spot: Spot) -> tuple[str, ...]:
        addresses = super().read(value, spot)
        if not addresses:
            raise Invalid('must list at least one IP address, e.g. ["127.0.0.1"]')
        return tuple(dict.fromkeys(addresses))


class _Forwards(ListOf[str]):
    def read(self, value: object, spot: Spot) -> tuple[str, ...]:
        urls = super().read(value, spot)
        if len(urls) > MAX_FORWARDS:
            raise Invalid(f"lists {len(urls)} URLs; at most {MAX_FORWARDS}", show_value=False)
        return urls


PUBLIC_URL: Kind[str | None] = Clearable(Value(_public_url))


@dataclass(frozen=True)
class CallbackSettings:
    port: int = key("port", integer(1, 65535), DEFAULT_PORT)
    # IP addresses; loopback, where a reverse proxy or tunnel on the same machine reaches it
    bind: tuple[str, ...] = key(
        "bind", _Addresses(Value(_address), "IP addresses", lone=True), DEFAULT_BIND)
    # shown only: where the user's proxy or tunnel serves the receiver
    public_url: str | None = key("publicUrl", PUBLIC_URL, None)
    # other consumers each accepted push is passed on to, unchanged
    forward_to: tuple[str, ...] = key(
        "forwardTo", _Forwards(Value(_forward), "URLs", lone=True), ())
