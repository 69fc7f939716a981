"""Load and validate a Homebridge-style ``config.json``: the table of keys and the loader.

An existing Homebridge config for the homebridge-ttlock plugin must work unchanged, so key
names follow that plugin (``clientid``, ``maximumApiRetry`` ...), numbers may arrive as strings
(the Homebridge UI sometimes writes them so), and everything that is not ours (other platforms,
``accessories``, ``_bridge``, unknown keys) is ignored with at most a note.

Each key is declared once, on its field below (JSON name, kind with bounds, default, secret,
environment variable); config_schema.py turns the declarations into parsing, known keys and
did-you-mean hints. Every mistake is a one-line :class:`ConfigError` naming the file, the JSON
path of the key and the fix. Secret values (client secret, password, setup code) never appear
in a message or a repr: a wrongly typed secret is described by its type only.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hapbridge.config_schema import (
    Block,
    ConfigWarning,
    Invalid,
    Level,
    ListOf,
    Note,
    Spot,
    describe,
    from_env,
    json_names,
    key,
    missing_required,
    near_misses,
    read_block,
)
from hapbridge.config_values import (
    BOOLEAN,
    MAC,
    NON_EMPTY_TEXT,
    PIN,
    REGION,
    REGIONS,
    TEXT,
    URL,
    Clearable,
    bridge_name,
    integer,
    mac,
    name_item,
    number,
    pin,
    trivial_reason,
)
from hapbridge.errors import ConfigError
from hapbridge.push.settings import CallbackSettings

__all__ = [
    "DEFAULT_PORT", "MAX_BRIDGES", "REGIONS", "AppConfig", "BridgeConfig", "ChildBridge",
    "ConfigWarning", "Level", "Note",
    "PlatformConfig", "apply_env", "is_trivial_pin", "load_config", "parse_config",
    "validate_mac", "validate_pin",
]  # fmt: skip

DEFAULT_PORT = 51826
LOCK_NAMES = ListOf(name_item("a lock id or name"), "lock ids or names", lone=True)
DEFAULT_BRIDGE_NAME = "TTLock Bridge"
MAX_BRIDGES = 32  # 32 x 149 locks: far beyond any account seen


@dataclass(frozen=True)
class ChildBridge:
    """One more HomeKit bridge of the same process (``bridge.bridges``): its name, port and
    setup code, and which locks it holds (a bridge with ``locks`` or ``groups`` holds only
    those: "rooms 1xx on bridge 2"). Unset values are derived from the bridge block."""

    number: int = key("bridge", integer(1, MAX_BRIDGES), 0)
    name: str | None = key("name", Clearable(bridge_name(DEFAULT_BRIDGE_NAME)), None)
    port: int | None = key("port", integer(1, 65535), None)
    pin: str | None = key("pin", PIN, None, secret=True)
    # Lock ids, aliases or alias patterns ("Room 1??", "Floor 2 *"; case-insensitive).
    locks: tuple[str, ...] = key(
        "locks", ListOf(name_item("a lock id, name or pattern"), "lock ids, names or patterns",
                        lone=True), ())
    groups: tuple[int, ...] = key(
        "groups", ListOf(integer(1), "TTLock group ids (groupId)", lone=True), ())

    @property
    def pins_locks(self) -> bool:
        return bool(self.locks or self.groups)

    def holds(self, lock_id: int, alias: str, group_id: int | None) -> bool:
        """Whether this bridge's ``locks``/``groups`` name the lock."""
        if group_id is not None and group_id in self.groups:
            return True
        folded = alias.casefold()
        return any(entry == str(lock_id) or fnmatch.fnmatchcase(folded, entry.casefold())
                   for entry in self.locks)


@dataclass(frozen=True)
class BridgeConfig:
    """The HomeKit side: how the bridge presents itself on the network."""

    name: str = key("name", bridge_name(DEFAULT_BRIDGE_NAME), DEFAULT_BRIDGE_NAME)
    # The bridge's MAC; None: generated once and kept in storage (identity.py).
    username: str | None = key("username", MAC, None)
    port: int = key("port", integer(1, 65535), DEFAULT_PORT)
    # "XXX-XX-XXX"; None: generated once and kept in storage.
    pin: str | None = key("pin", PIN, None, secret=True)
    # IP addresses or interface names; (): the primary address.
    bind: tuple[str, ...] = key(
        "bind",
        ListOf(name_item("an IP address or interface name"),
               "IP addresses or interface names", lone=True),
        (),
    )
    # Bridges 2, 3 ... (and pins for 1): made as the locks need them, see docs/bridges.md.
    bridges: tuple[ChildBridge, ...] = key(
        "bridges", ListOf(Block(ChildBridge), "objects with a \"bridge\" number"), ())

    def child(self, number: int) -> ChildBridge | None:
        return next((c for c in self.bridges if c.number == number), None)


@dataclass(frozen=True)
class PlatformConfig:
    """The TTLock side: cloud account, API endpoint and polling etiquette."""

    name: str = key("name", NON_EMPTY_TEXT, "TTLock")
    client_id: str = key("clientid", TEXT, "", env="TTLOCK_CLIENT_ID", required=True)
    client_secret: str = key(
        "clientsecret", TEXT, "", secret=True, env="TTLOCK_CLIENT_SECRET", required=True
    )
    username: str = key("username", TEXT, "", env="TTLOCK_USERNAME", required=True)
    # Plain text or its 32-hex md5, as given: hashing is the client's job.
    password: str = key(
        "password", TEXT, "", secret=True, env="TTLOCK_PASSWORD", required=True
    )
    region: str = key("region", REGION, "eu")
    base_url: str | None = key("baseUrl", URL, None)  # a self-hosted or simulated cloud
    maximum_api_retry: int = key("maximumApiRetry", integer(0, 10), 3)
    retry_delay: float = key("retryDelay", number(0, 60, " seconds"), 1.0)
    low_battery_threshold: int = key("lowBatteryThreshold", integer(0, 100), 20)
    # Lock ids (as strings) or aliases.
    exclude: tuple[str, ...] = key("exclude", LOCK_NAMES, ())
    api_budget_per_month: int = key("apiBudgetPerMonth", integer(100), 30000)
    # A lock's extra HomeKit services (docs/lock-services.md). The door sensor shows for
    # every lock that has one unless hidden. The passage-mode switch is off unless asked
    # for: a Switch unlocks the door for hours without the device unlock HomeKit demands
    # for a lock, and "turn everything on" scenes or Siri requests reach switches.
    hide_door_sensor: tuple[str, ...] = key("hideDoorSensor", LOCK_NAMES, ())
    passage_switch: bool = key("passageSwitch", BOOLEAN, False)
    hide_passage_switch: tuple[str, ...] = key("hidePassageSwitch", LOCK_NAMES, ())
    # The push receiver (docs/push.md); None: no receiver, polling as before.
    callback: CallbackSettings | None = key("callback", Block(CallbackSettings), None)

    def excludes(self, lock_id: int, alias: str) -> bool:
        """Whether ``exclude`` names this lock, by id or by alias (case-insensitive)."""
        return names_lock(self.exclude, lock_id, alias)

    def shows_door_sensor(self, lock_id: int, alias: str) -> bool:
        """Whether a lock with a door sensor shows it (not named in ``hideDoorSensor``)."""
        return not names_lock(self.hide_door_sensor, lock_id, alias)

    def shows_passage_switch(self, lock_id: int, alias: str) -> bool:
        """Whether a lock with passage mode gets its switch: ``passageSwitch`` on and the
        lock not named in ``hidePassageSwitch``."""
        return self.passage_switch and not names_lock(self.hide_passage_switch, lock_id, alias)

    @property
    def api_url(self) -> str:
        """``base_url`` (for self-hosted or simulated clouds) wins over the region's URL."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return REGIONS[self.region]

    def has_credentials(self) -> bool:
        return not missing_required(self)


def names_lock(entries: tuple[str, ...], lock_id: int, alias: str) -> bool:
    """Whether a list of lock ids or aliases names this lock (case-insensitive)."""
    wanted = {entry.casefold() for entry in entries}
    return str(lock_id) in wanted or (bool(alias) and alias.casefold() in wanted)


# The keys of a platform entry that are Homebridge's, not a setting of ours.
PLATFORM_ONLY_KEYS = ("platform",)


@dataclass(frozen=True)
class AppConfig:
    bridge: BridgeConfig
    platform: PlatformConfig
    path: Path | None  # where it was read from (None for built-in/demo)
    notes: tuple[Note, ...] = ()  # e.g. "ignoring platform 'Hue' (not TTLock)", with a level


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
            f"got {describe(data)}"
        )
    top = Spot(source, "")

    bridge_data = data.get("bridge")
    if bridge_data is None:
        bridge = BridgeConfig()
    elif isinstance(bridge_data, dict):
        bridge = read_block(BridgeConfig, bridge_data, top.child("bridge"))
        _check_bridges(bridge, top.child("bridge").child("bridges"))
    else:
        raise ConfigError(
            f"{source}: bridge must be an object (or be left out for defaults), "
            f"got {describe(bridge_data)}"
        )

    entry = _select_platform(data, top)
    platform = PlatformConfig()
    if entry is not None:
        block, spot = entry
        platform = read_block(PlatformConfig, block, spot, also_known=PLATFORM_ONLY_KEYS)
        if "_bridge" in block:
            top.note(Level.INFO, f"ignoring {spot.child('_bridge').path} (child bridge "
                     "settings): the bridge block is used")
    platform = apply_env(platform, env)
    if entry is None and platform.has_credentials():
        top.note(Level.INFO,
                 "no TTLock platform in the config; using credentials from the environment")
    if require_credentials and not platform.has_credentials():
        raise ConfigError(_missing_credentials(platform, entry, source))

    if "accessories" in data:
        accessories = data["accessories"]
        if not isinstance(accessories, list):
            top.note(Level.INFO, "ignoring accessories")
        elif accessories:
            count = len(accessories)
            top.note(Level.INFO,
                     f"ignoring {count} {'accessory' if count == 1 else 'accessories'}")
    return AppConfig(bridge=bridge, platform=platform, path=None, notes=tuple(top.notes))


def _check_bridges(bridge: BridgeConfig, spot: Spot) -> None:
    """Each bridge once, bridge 1's name and port in the bridge block, no port twice."""
    seen: dict[int, int] = {}
    ports = {bridge.port: 1}
    for index, child in enumerate(bridge.bridges):
        at = f"{spot.source}: {spot.path}[{index}]"
        if not child.number:
            raise ConfigError(f'{at} needs "bridge": the number of the bridge it describes '
                              f"(2 for the second, up to {MAX_BRIDGES})")
        if child.number in seen:
            raise ConfigError(f"{at} describes bridge {child.number} again (as "
                              f"[{seen[child.number]}]): merge the two entries")
        seen[child.number] = index
        if child.number == 1 and (child.name or child.port or child.pin):
            raise ConfigError(f"{at} sets the name, port or pin of bridge 1: set them in the "
                              "bridge block itself (bridge.name, bridge.port, bridge.pin)")
        if child.port is not None:
            if child.port in ports:
                raise ConfigError(f"{at}.port {child.port} is bridge {ports[child.port]}'s "
                                  "port too: give each bridge its own port")
            ports[child.port] = child.number


def apply_env(platform: PlatformConfig, env: Mapping[str, str]) -> PlatformConfig:
    """Non-empty TTLOCK_* variables fill or override the credentials (secrets need no file)."""
    return from_env(platform, env)


def validate_pin(value: str) -> str:
    """Return ``value`` as "XXX-XX-XXX" or raise :class:`ConfigError` (without echoing it)."""
    try:
        return pin(value)
    except Invalid as err:
        raise ConfigError(f"bridge.pin {err.reason}") from None


def validate_mac(value: str) -> str:
    """Return ``value`` as uppercase "AA:BB:CC:DD:EE:FF" or raise :class:`ConfigError`."""
    try:
        return mac(value)
    except Invalid as err:
        raise ConfigError(f"bridge.username {err.reason}, got {describe(value)}") from None


def is_trivial_pin(digits: str) -> bool:
    """HomeKit refuses these setup codes; accepts "XXX-XX-XXX" or 8 digits."""
    return trivial_reason(digits.replace("-", "")) is not None


# --------------------------------------------------------------------------- the platforms


def _select_platform(
    data: Mapping[str, object], top: Spot
) -> tuple[Mapping[str, object], Spot] | None:
    """The first platform whose ``platform`` is "ttlock" (any case); note the others."""
    platforms = data.get("platforms")
    if platforms is None:
        return None
    if not isinstance(platforms, list):
        raise ConfigError(
            f"{top.source}: platforms must be a list of objects, got {describe(platforms)}"
        )
    chosen: tuple[Mapping[str, object], Spot] | None = None
    for index, entry in enumerate(platforms):
        spot = top.child("platforms").child(f"[{index}]")
        kind = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(kind, str):
            top.note(Level.INFO, f'ignoring {spot.path} (not an object with a "platform" key)')
        elif kind.lower() != "ttlock":
            top.note(Level.INFO, f"ignoring platform {kind!r} (not TTLock)")
        elif chosen is not None:
            top.note(Level.INFO, f"ignoring {spot.path}: only the first TTLock platform is used")
        else:
            chosen = (entry, spot)
    return chosen


def _missing_credentials(
    platform: PlatformConfig,
    entry: tuple[Mapping[str, object], Spot] | None,
    source: str,
) -> str:
    """One line naming the missing keys, their environment variables and any near-miss key."""
    missing = missing_required(platform)
    keys = ", ".join(declared.json for declared in missing)
    variables = ", ".join(str(declared.env) for declared in missing)
    if entry is None:
        parts = ['"platform": "TTLock"', *(f'"{declared.json}": "..."' for declared in missing)]
        return (
            f'{source}: no "TTLock" entry in platforms and {variables} not set: '
            f"add {{{', '.join(parts)}}} to platforms or set {variables}"
        )
    block, spot = entry
    them = "them" if len(missing) > 1 else "it"
    message = f"{source}: {spot.path} is missing {keys}: add {them} there or set {variables}"
    wanted = {declared.json for declared in missing}
    known = (*json_names(PlatformConfig), *PLATFORM_ONLY_KEYS)
    hints = [f"{k} is not {m}" for k, m in near_misses(block, known).items() if m in wanted]
    if hints:
        message += f" (key names are case-sensitive: {', '.join(hints)})"
    return message
