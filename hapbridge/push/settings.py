"""The receiver's settings: the platform block's ``callback`` object, typed and checked.

``from_json`` takes the raw object so that the config table can plug it in as one key; its
mistakes are one-line :class:`ConfigError`\\ s naming the key (``callback.port``) and the fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hapbridge.errors import ConfigError

DEFAULT_PORT = 8788
DEFAULT_BIND = ("127.0.0.1",)
MAX_FORWARDS = 8
_KEYS = ("port", "bind", "publicUrl", "forwardTo")


@dataclass(frozen=True)
class CallbackSettings:
    port: int = DEFAULT_PORT
    bind: tuple[str, ...] = DEFAULT_BIND  # IP addresses; loopback, where a proxy reaches it
    public_url: str | None = None  # shown only: where the user's proxy or tunnel serves it
    forward_to: tuple[str, ...] = ()  # other consumers each push is passed on to

    @classmethod
    def from_json(cls, raw: object, where: str = "callback") -> CallbackSettings:
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f'{where} must be an object like {{"port": {DEFAULT_PORT}}} (or be left out '
                "for no receiver)"
            )
        unknown = sorted(str(key) for key in raw if key not in _KEYS)
        if unknown:
            raise ConfigError(
                f"{where}.{unknown[0]} is not a callback setting: use "
                + ", ".join(_KEYS)
            )
        return cls(
            port=_port(raw.get("port", DEFAULT_PORT), f"{where}.port"),
            bind=_bind(raw.get("bind", list(DEFAULT_BIND)), f"{where}.bind"),
            public_url=_public_url(raw.get("publicUrl"), f"{where}.publicUrl"),
            forward_to=_forwards(raw.get("forwardTo", []), f"{where}.forwardTo"),
        )


def _port(value: object, key: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # the Homebridge UI sometimes writes numbers as text
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{key} must be a port from 1 to 65535, e.g. {DEFAULT_PORT}")
    return value


def _bind(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{key} must be a list of IP addresses, e.g. ["127.0.0.1"]')
    addresses = []
    for index, entry in enumerate(value):
        try:
            addresses.append(str(ipaddress.ip_address(str(entry).strip())))
        except ValueError:
            raise ConfigError(
                f'{key}[{index}] must be an IP address such as "127.0.0.1" or "::1"'
            ) from None
    return tuple(dict.fromkeys(addresses))


def _url(value: object, key: str, example: str, *, query_ok: bool = False) -> str:
    parts = None
    if isinstance(value, str):
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018  # parsed lazily: a bad port fails here
        except ValueError:
            parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f'{key} must be an http(s) URL like "{example}"')
    if parts.fragment:
        raise ConfigError(f"{key} must not carry a #fragment")
    if parts.query and not query_ok:
        raise ConfigError(f"{key} must not carry a ?query: the secret path is added to it")
    return str(value).strip()


def _public_url(value: object, key: str) -> str | None:
    if value is None or value == "":
        return None
    return _url(value, key, "https://locks.example.com").rstrip("/")


def _forwards(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f'{key} must be a list of URLs, e.g. ["http://homeassistant:8123/..."]')
    if len(value) > MAX_FORWARDS:
        raise ConfigError(f"{key} lists {len(value)} URLs; at most {MAX_FORWARDS}")
    example = "http://homeassistant:8123/api/webhook/ID"
    return tuple(_url(entry, f"{key}[{index}]", example, query_ok=True)
                 for index, entry in enumerate(value))
