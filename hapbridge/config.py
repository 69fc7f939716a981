"""Load and validate a Homebridge-style ``config.json``.

An existing Homebridge config for the homebridge-ttlock plugin must work unchanged, so key
names follow that plugin (``clientid``, ``maximumApiRetry`` ...), numbers may arrive as strings
(the Homebridge UI sometimes writes them so), and everything that is not ours (other platforms,
``accessories``, ``_bridge``, unknown keys) is ignored with at most a note.

Every mistake is a one-line :class:`ConfigError` naming the file, the JSON path of the key and
the fix. Secret values (client secret, password, setup code) never appear in a message or a
repr: a wrongly typed secret is described by its type only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from hapbridge.errors import ConfigError

REGIONS: dict[str, str] = {"eu": "https://euapi.ttlock.com", "cn": "https://cnapi.ttlock.com"}
DEFAULT_PORT = 51826

# (attribute, JSON key, environment variable) of each credential.
_CREDENTIALS: tuple[tuple[str, str, str], ...] = (
    ("client_id", "clientid", "TTLOCK_CLIENT_ID"),
    ("client_secret", "clientsecret", "TTLOCK_CLIENT_SECRET"),
    ("username", "username", "TTLOCK_USERNAME"),
    ("password", "password", "TTLOCK_PASSWORD"),
)

_PLATFORM_KEYS = (
    "platform", "name", "clientid", "clientsecret", "username", "password", "region", "baseUrl",
    "maximumApiRetry", "retryDelay", "lowBatteryThreshold", "exclude", "apiBudgetPerMonth",
)  # fmt: skip
_BRIDGE_KEYS = ("name", "username", "port", "pin", "bind")

_PIN_RE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{3}|[0-9]{8}")
_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


@dataclass(frozen=True)
class BridgeConfig:
    """The HomeKit side: how the bridge presents itself on the network."""

    name: str = "TTLock Bridge"
    username: str | None = None  # bridge MAC; None = generate & persist (bridge code does that)
    port: int = DEFAULT_PORT
    pin: str | None = field(default=None, repr=False)  # "XXX-XX-XXX"; None = generate & persist
    bind: tuple[str, ...] = ()  # IP addresses or interface names; () = primary address


@dataclass(frozen=True)
class PlatformConfig:
    """The TTLock side: cloud account, API endpoint and polling etiquette."""

    name: str = "TTLock"
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)  # plain text or 32-hex md5, as given
    region: str = "eu"
    base_url: str | None = None
    maximum_api_retry: int = 3
    retry_delay: float = 1.0
    low_battery_threshold: int = 20
    exclude: tuple[str, ...] = ()  # lock ids (as strings) or aliases
    api_budget_per_month: int = 30000

    def excludes(self, lock_id: int, alias: str) -> bool:
        """Whether ``exclude`` names this lock, by id or by alias (case-insensitive)."""
        wanted = {entry.casefold() for entry in self.exclude}
        return str(lock_id) in wanted or (bool(alias) and alias.casefold() in wanted)

    @property
    def api_url(self) -> str:
        """``base_url`` (for self-hosted or simulated clouds) wins over the region's URL."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return REGIONS[self.region]

    def has_credentials(self) -> bool:
        return all(getattr(self, attr) for attr, _key, _var in _CREDENTIALS)


@dataclass(frozen=True)
class AppConfig:
    bridge: BridgeConfig
    platform: PlatformConfig
    path: Path | None  # where it was read from (None for built-in/demo)
    notes: tuple[str, ...] = ()  # human notes, e.g. "ignoring platform 'Hue' (not TTLock)"


# --------------------------------------------------------------------------- public helpers


def load_config(
    path: Path, *, env: Mapping[str, str] | None = None, require_credentials: bool = True
) -> AppConfig:
    """Read ``path`` and validate it; every failure is a one-line :class:`ConfigError`."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found: create it from config.json.example or pass -c FILE"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"config file {path} is a directory: pass -c with the path of the JSON file"
        ) from None
    except OSError as err:
        raise ConfigError(
            f"cannot read config file {path}: {err.strerror}; fix its permissions or pass -c FILE"
        ) from None
    try:
        text = raw.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (bad byte at offset {err.start}); "
            "save it as UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        # err.msg never quotes the document, so no secret can leak from here.
        raise ConfigError(
            f"config file {path} is not valid JSON: {err.msg} at line {err.lineno}, "
            f"column {err.colno}; fix the syntax there (e.g. a missing or trailing comma, "
            "or a stray ';')"
        ) from None
    except (ValueError, RecursionError):  # a 5000-digit number, absurd nesting
        raise ConfigError(
            f"config file {path} is not usable JSON: a number is too long or nesting too deep"
        ) from None
    config = parse_config(data, source=str(path), env=env, require_credentials=require_credentials)
    return dataclasses.replace(config, path=path)


def parse_config(
    data: object,
    *,
    source: str = "config.json",
    env: Mapping[str, str] | None = None,
    require_credentials: bool = True,
) -> AppConfig:
    """Validate already-decoded JSON; ``source`` names the file in messages."""
    env = os.environ if env is None else env
    if not isinstance(data, dict):
        raise ConfigError(
            f'{source}: the top level must be a JSON object with "bridge" and "platforms", '
            f"got {_describe(data)}"
        )
    notes: list[str] = []

    bridge_data = data.get("bridge")
    if bridge_data is None:
        bridge = BridgeConfig()
    elif isinstance(bridge_data, dict):
        bridge = _parse_bridge(_Block(bridge_data, "bridge", source, notes))
    else:
        raise ConfigError(
            f"{source}: bridge must be an object (or be left out for defaults), "
            f"got {_describe(bridge_data)}"
        )

    block = _select_platform(data, source, notes)
    platform = apply_env(_parse_platform(block) if block else PlatformConfig(), env)
    if block is None and platform.has_credentials():
        notes.append("no TTLock platform in the config; using credentials from the environment")
    if require_credentials and not platform.has_credentials():
        raise ConfigError(_missing_credentials(platform, block, source, env))

    if "accessories" in data:
        accessories = data["accessories"]
        if not isinstance(accessories, list):
            notes.append("ignoring accessories")
        elif accessories:
            count = len(accessories)
            notes.append(f"ignoring {count} {'accessory' if count == 1 else 'accessories'}")
    return AppConfig(bridge=bridge, platform=platform, path=None, notes=tuple(notes))


def apply_env(platform: PlatformConfig, env: Mapping[str, str]) -> PlatformConfig:
    """Non-empty TTLOCK_* variables fill or override the credentials (secrets need no file)."""
    changes = {attr: env[var] for attr, _key, var in _CREDENTIALS if env.get(var)}
    return dataclasses.replace(platform, **changes) if changes else platform


def validate_pin(pin: str) -> str:
    """Return ``pin`` as "XXX-XX-XXX" or raise :class:`ConfigError` (without echoing it)."""
    try:
        return _pin(pin)
    except _Invalid as err:
        raise ConfigError(f"bridge.pin {err.reason}") from None


def validate_mac(mac: str) -> str:
    """Return ``mac`` as uppercase "AA:BB:CC:DD:EE:FF" or raise :class:`ConfigError`."""
    try:
        return _mac(mac)
    except _Invalid as err:
        raise ConfigError(f"bridge.username {err.reason}, got {_describe(mac)}") from None


def is_trivial_pin(digits: str) -> bool:
    """HomeKit refuses these setup codes; accepts "XXX-XX-XXX" or 8 digits."""
    return _trivial_reason(digits.replace("-", "")) is not None


# --------------------------------------------------------------------------- the field helper

T = TypeVar("T")
_WHOLE = object()  # marker: the error is about the key's whole value


class _Invalid(Exception):
    """A converter's verdict; ``reason`` completes the sentence "<key><at> ..."."""

    def __init__(
        self, reason: str, *, show_value: bool = True, at: str = "", value: object = _WHOLE
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.show_value = show_value
        self.at = at  # e.g. "[2]" when one list item is wrong
        self.value = value


class _Block:
    """One JSON object of the config, read key by key with uniform, secret-safe errors."""

    def __init__(
        self, data: Mapping[str, object], where: str, source: str, notes: list[str]
    ) -> None:
        self.data = data
        self.where = where
        self.source = source
        self.notes = notes

    def get(
        self, key: str, convert: Callable[[object], T], default: T, *, secret: bool = False
    ) -> T:
        """``convert(value)``; a missing key or JSON null means ``default``."""
        value = self.data.get(key)
        if value is None:
            return default
        try:
            return convert(value)
        except _Invalid as err:
            message = f"{self.source}: {self.where}.{key}{err.at} {err.reason}"
            if err.show_value:
                shown = value if err.value is _WHOLE else err.value
                message += f", got {_describe(shown, secret=secret)}"
            raise ConfigError(message) from None

    def near_misses(self, known: Iterable[str]) -> dict[str, str]:
        """Unknown keys that look like a known one (``clientId`` for ``clientid``)."""
        known = tuple(known)
        lowered = {k.lower(): k for k in known}
        found: dict[str, str] = {}
        for key in self.data:
            if key in known or key.startswith("_"):
                continue
            match = lowered.get(key.lower()) or next(
                iter(difflib.get_close_matches(key, known, n=1, cutoff=0.8)), None
            )
            if match:
                found[key] = match
        return found

    def note_near_misses(self, known: Iterable[str]) -> None:
        for key, match in self.near_misses(known).items():
            self.notes.append(ConfigWarning(
                f"ignoring {self.where}.{key} (did you mean {match}?): its default is used"))


class ConfigWarning(str):
    """A note that likely hides a mistake (a misspelt key): logged as a warning."""


def _describe(value: object, *, secret: bool = False) -> str:
    """A short, one-line account of ``value``; for secrets only its type."""
    if value is None:
        return "null"
    if isinstance(value, bool) and not secret:
        return "true" if value else "false"
    if secret:
        return f"a {len(value)}-character string" if isinstance(value, str) else _kind(value)
    if isinstance(value, int | float | str):
        text = repr(value)
        return text if len(text) <= 42 else f"{text[:38]}...{text[-1]}"
    return _kind(value)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {list: "a list", dict: "an object", str: "a string"}.get(type(value), "a value")


# Converters: each returns the clean value or raises _Invalid(reason).


def _text(*, allow_empty: bool = True) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise _Invalid("must be a non-empty string" if not allow_empty else "must be a string")
        return value if allow_empty else value.strip()

    return convert


def _optional(convert: Callable[[object], str]) -> Callable[[object], str | None]:
    """A string where "" (what the Homebridge UI writes for a cleared field) means unset."""

    def wrapped(value: object) -> str | None:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
        return convert(value)

    return wrapped


def _integer(low: int, high: int | None = None) -> Callable[[object], int]:
    expected = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def convert(value: object) -> int:
        number: int | None = None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 3.0 is how some tools write 3
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            number = int(value)
        if number is None or number < low or (high is not None and number > high):
            raise _Invalid(f"must be an integer {expected}")
        return number

    return convert


def _number(low: float, high: float, unit: str = "") -> Callable[[object], float]:
    def convert(value: object) -> float:
        number = math.nan
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if not low <= number <= high:  # also refuses NaN and infinities
            raise _Invalid(f"must be a number from {low:g} to {high:g}{unit}")
        return number

    return convert


def _names(plural: str, single: str) -> Callable[[object], tuple[str, ...]]:
    """A list of non-empty strings (integers become strings); a lone item counts as a list."""

    def convert(value: object) -> tuple[str, ...]:
        is_list = isinstance(value, list)
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for index, item in enumerate(items):
            text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
            if not isinstance(text, str) or not text.strip():
                raise _Invalid(
                    f"must be {single}" if is_list else f"must be a list of {plural}",
                    at=f"[{index}]" if is_list else "",
                    value=item,
                )
            out.append(text.strip())
        return tuple(out)

    return convert


def _region(value: object) -> str:
    region = _text()(value).strip().lower()
    if region not in REGIONS:
        valid = ", ".join(repr(r) for r in REGIONS)
        raise _Invalid(
            f"must be one of {valid} (for any other server set baseUrl, which overrides it)"
        )
    return region


def _url(value: object) -> str:
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Invalid('must be an http(s) URL like "https://euapi.ttlock.com" (or null)')
    try:
        port = parts.port  # parsed lazily: "http://host:99999" splits fine, then fails here
    except ValueError:
        port = 0
    if port == 0:
        raise _Invalid("must have a port from 1 to 65535 (or none, for the scheme's default)")
    return str(value)


def _mac(value: object) -> str:
    if not isinstance(value, str) or not _MAC_RE.fullmatch(value.strip()):
        raise _Invalid(
            'must be a MAC address like "0E:2C:44:7A:19:B3" (leave it out to have one generated)'
        )
    return value.strip().upper()


def _pin(value: object) -> str:
    if not isinstance(value, str) or not _PIN_RE.fullmatch(value.strip()):
        raise _Invalid(
            'must be 8 digits written "XXX-XX-XXX" or "XXXXXXXX" (leave it out to have one '
            "generated)",
            show_value=not isinstance(value, str),
        )
    digits = value.strip().replace("-", "")
    reason = _trivial_reason(digits)
    if reason:
        raise _Invalid(
            f"is a trivial setup code ({reason}) that HomeKit refuses: choose another or leave "
            "it out to have one generated",
            show_value=False,
        )
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def _trivial_reason(digits: str) -> str | None:
    if len(digits) == 8 and len(set(digits)) == 1:
        return "all digits the same"
    if digits == "12345678":
        return "ascending digits"
    if digits == "87654321":
        return "descending digits"
    return None


# --------------------------------------------------------------------------- the two blocks


def _parse_bridge(block: _Block) -> BridgeConfig:
    block.note_near_misses(_BRIDGE_KEYS)
    default = BridgeConfig()
    return BridgeConfig(
        name=block.get("name", _text(allow_empty=False), default.name),
        username=block.get("username", _optional(_mac), default.username),
        port=block.get("port", _integer(1, 65535), default.port),
        pin=block.get("pin", _optional(_pin), default.pin, secret=True),
        bind=block.get(
            "bind",
            _names("IP addresses or interface names", "an IP address or interface name"),
            default.bind,
        ),
    )


def _select_platform(data: Mapping[str, object], source: str, notes: list[str]) -> _Block | None:
    """The first platform whose ``platform`` is "ttlock" (any case); note the others."""
    platforms = data.get("platforms")
    if platforms is None:
        return None
    if not isinstance(platforms, list):
        raise ConfigError(
            f"{source}: platforms must be a list of objects, got {_describe(platforms)}"
        )
    chosen: _Block | None = None
    for index, entry in enumerate(platforms):
        where = f"platforms[{index}]"
        kind = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(kind, str):
            notes.append(f'ignoring {where} (not an object with a "platform" key)')
        elif kind.lower() != "ttlock":
            notes.append(f"ignoring platform {kind!r} (not TTLock)")
        elif chosen is not None:
            notes.append(f"ignoring {where}: only the first TTLock platform is used")
        else:
            chosen = _Block(entry, where, source, notes)
    return chosen


def _parse_platform(block: _Block) -> PlatformConfig:
    block.note_near_misses(_PLATFORM_KEYS)
    if "_bridge" in block.data:
        block.notes.append(
            f"ignoring {block.where}._bridge (child bridge settings): the bridge block is used"
        )
    default = PlatformConfig()
    return PlatformConfig(
        name=block.get("name", _text(allow_empty=False), default.name),
        client_id=block.get("clientid", _text(), default.client_id),
        client_secret=block.get("clientsecret", _text(), default.client_secret, secret=True),
        username=block.get("username", _text(), default.username),
        password=block.get("password", _text(), default.password, secret=True),
        region=block.get("region", _region, default.region),
        base_url=block.get("baseUrl", _optional(_url), default.base_url),
        maximum_api_retry=block.get("maximumApiRetry", _integer(0, 10), default.maximum_api_retry),
        retry_delay=block.get("retryDelay", _number(0, 60, " seconds"), default.retry_delay),
        low_battery_threshold=block.get(
            "lowBatteryThreshold", _integer(0, 100), default.low_battery_threshold
        ),
        exclude=block.get(
            "exclude", _names("lock ids or names", "a lock id or name"), default.exclude
        ),
        api_budget_per_month=block.get(
            "apiBudgetPerMonth", _integer(100), default.api_budget_per_month
        ),
    )


def _missing_credentials(
    platform: PlatformConfig, block: _Block | None, source: str, env: Mapping[str, str]
) -> str:
    """One line naming the missing keys, their environment variables and any near-miss key."""
    missing = [(key, var) for attr, key, var in _CREDENTIALS if not getattr(platform, attr)]
    keys = ", ".join(key for key, _var in missing)
    variables = ", ".join(var for _key, var in missing)
    if block is None:
        entry = ", ".join(['"platform": "TTLock"', *(f'"{key}": "..."' for key, _ in missing)])
        return (
            f'{source}: no "TTLock" entry in platforms and {variables} not set: '
            f"add {{{entry}}} to platforms or set {variables}"
        )
    them = "them" if len(missing) > 1 else "it"
    message = f"{source}: {block.where} is missing {keys}: add {them} there or set {variables}"
    wanted = {key for key, _var in missing}
    hints = [f"{k} is not {m}" for k, m in block.near_misses(_PLATFORM_KEYS).items() if m in wanted]
    if hints:
        message += f" (key names are case-sensitive: {', '.join(hints)})"
    return message
