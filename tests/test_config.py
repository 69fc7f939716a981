"""config.json loading: Homebridge compatibility, env overrides, one-line errors, no leaks,
and the table of keys behind it (known keys, hints, nested blocks)."""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pyhap.accessory_driver import AccessoryMDNSServiceInfo
from pyhap.state import State
from zeroconf import BadTypeInNameException

from accessories.homekit_name import homekit_name
from hapbridge.config import (
    DEFAULT_PORT,
    REGIONS,
    AppConfig,
    BridgeConfig,
    ConfigWarning,
    Level,
    Note,
    PlatformConfig,
    apply_env,
    is_trivial_pin,
    load_config,
    parse_config,
    validate_mac,
    validate_pin,
)
from hapbridge.config_schema import Block, ListOf, Spot, json_names, key, read_block
from hapbridge.config_values import TEXT, URL, integer, name_item
from hapbridge.errors import ConfigError

SECRET = "Sup3r-S3cret-client-value"
MD5_PASSWORD = "5f4dcc3b5aa765d61d8327deb882cf99"
PIN = "031-45-154"
NO_ENV: dict[str, str] = {}
ENV_VARS = ("TTLOCK_CLIENT_ID", "TTLOCK_CLIENT_SECRET", "TTLOCK_USERNAME", "TTLOCK_PASSWORD")


def homebridge_config() -> dict[str, Any]:
    """A real-world Homebridge config.json with homebridge-ttlock among other plugins."""
    return {
        "bridge": {
            "name": "Homebridge 19B3",
            "username": "0e:2c:44:7a:19:b3",
            "port": 51826,
            "pin": PIN,
            "advertiser": "bonjour-hap",
        },
        "platforms": [
            {"platform": "config", "name": "Config", "port": 8581},
            {
                "platform": "ttlock",
                "name": "TTLock Platform",
                "clientid": "4f1a2b3c4d5e6f708192a3b4c5d6e7f8",
                "clientsecret": SECRET,
                "username": "abc_jane",
                "password": MD5_PASSWORD,
                "maximumApiRetry": "3",
                "_bridge": {"username": "0E:11:22:33:44:55", "port": 35000},
            },
            {"platform": "Hue", "name": "Hue"},
        ],
        "accessories": [
            {"accessory": "HttpSwitch", "name": "Fan"},
            {"accessory": "HttpSwitch", "name": "Lamp"},
        ],
        "disabledPlugins": [],
    }


def platform_entry(data: dict[str, Any]) -> dict[str, Any]:
    return data["platforms"][1]


def parse(data: object, **kwargs: Any) -> AppConfig:
    kwargs.setdefault("env", NO_ENV)
    return parse_config(data, **kwargs)


def error_of(data: object, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse(data, **kwargs)
    return one_line(info.value)


def texts(config: AppConfig, level: Level | None = None) -> tuple[str, ...]:
    return tuple(note.text for note in config.notes if level is None or note.level is level)


def one_line(err: ConfigError) -> str:
    message = str(err)
    assert "\n" not in message
    assert err.exit_code == 2
    return message


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- happy paths


def test_homebridge_ttlock_config_loads_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path, homebridge_config())
    config = load_config(path, env=NO_ENV)

    assert config.path == path
    assert config.bridge == BridgeConfig(
        name="Homebridge 19B3", username="0E:2C:44:7A:19:B3", port=51826, pin=PIN, bind=()
    )
    p = config.platform
    assert p.name == "TTLock Platform"
    assert p.client_id == "4f1a2b3c4d5e6f708192a3b4c5d6e7f8"
    assert p.client_secret == SECRET
    assert p.username == "abc_jane"
    assert p.password == MD5_PASSWORD  # kept as given: hashing is the client's job
    assert p.maximum_api_retry == 3
    assert (p.region, p.base_url, p.api_url) == ("eu", None, REGIONS["eu"])
    assert (p.retry_delay, p.low_battery_threshold, p.exclude) == (1.0, 20, ())
    assert p.api_budget_per_month == 30000
    assert p.has_credentials()
    assert texts(config, Level.INFO) == texts(config) == (
        "ignoring platform 'config' (not TTLock)",
        "ignoring platform 'Hue' (not TTLock)",
        "ignoring platforms[1]._bridge (child bridge settings): the bridge block is used",
        "ignoring 2 accessories",
    )


def test_example_file_loads_with_safe_defaults() -> None:
    example = Path(__file__).resolve().parents[1] / "config.json.example"
    config = load_config(example, env=NO_ENV)
    assert config.notes == ()
    # No fixed MAC, code or bind address that every copy would share.
    assert (config.bridge.username, config.bridge.pin, config.bridge.bind) == (None, None, ())
    assert config.bridge.port == DEFAULT_PORT
    assert config.platform.has_credentials()
    assert config.platform.api_url == "https://euapi.ttlock.com"


def test_defaults_when_blocks_are_absent() -> None:
    config = parse({}, require_credentials=False)
    assert config == AppConfig(bridge=BridgeConfig(), platform=PlatformConfig(), path=None)
    assert not config.platform.has_credentials()


def test_platform_name_matches_case_insensitively_and_first_wins() -> None:
    data = {
        "platforms": [
            {"name": "no kind"},
            "junk",
            {"platform": "TTLOCK", "name": "first"},
            {"platform": "TTLock", "name": "second"},
        ]
    }
    config = parse(data, require_credentials=False)
    assert config.platform.name == "first"
    assert texts(config) == (
        'ignoring platforms[0] (not an object with a "platform" key)',
        'ignoring platforms[1] (not an object with a "platform" key)',
        "ignoring platforms[3]: only the first TTLock platform is used",
    )


def test_single_accessory_note_and_empty_accessories_silent() -> None:
    assert parse({"accessories": [{}]}, require_credentials=False).notes == (
        Note(Level.INFO, "ignoring 1 accessory"),
    )
    assert parse({"accessories": []}, require_credentials=False).notes == ()


@pytest.mark.parametrize(
    ("key", "value", "attr", "expected"),
    [
        ("maximumApiRetry", "3", "maximum_api_retry", 3),
        ("maximumApiRetry", " 0 ", "maximum_api_retry", 0),
        ("maximumApiRetry", 10.0, "maximum_api_retry", 10),
        ("retryDelay", "0.5", "retry_delay", 0.5),
        ("retryDelay", 60, "retry_delay", 60.0),
        ("lowBatteryThreshold", "100", "low_battery_threshold", 100),
        ("apiBudgetPerMonth", "100", "api_budget_per_month", 100),
        ("exclude", [12345, "Front Door"], "exclude", ("12345", "Front Door")),
        ("exclude", "Garage", "exclude", ("Garage",)),
        ("region", "CN", "region", "cn"),
        ("baseUrl", "", "base_url", None),
        ("baseUrl", "http://127.0.0.1:8080/", "base_url", "http://127.0.0.1:8080/"),
        ("baseUrl", "http://127.0.0.1:65535", "base_url", "http://127.0.0.1:65535"),
        ("maximumApiRetry", None, "maximum_api_retry", 3),
        ("region", None, "region", "eu"),
    ],
)
def test_platform_values_are_coerced(key: str, value: object, attr: str, expected: object) -> None:
    data = homebridge_config()
    platform_entry(data)[key] = value
    assert getattr(parse(data).platform, attr) == expected


@pytest.mark.parametrize(
    ("key", "value", "attr", "expected"),
    [
        ("port", "51827", "port", 51827),
        ("port", 65535, "port", 65535),
        ("bind", "eth0", "bind", ("eth0",)),
        ("bind", ["192.168.1.10", "fe80::1"], "bind", ("192.168.1.10", "fe80::1")),
        ("bind", [], "bind", ()),
        ("pin", "03145154", "pin", PIN),
        ("pin", "", "pin", None),
        ("username", "", "username", None),
        ("name", "  Door Bridge ", "name", "Door Bridge"),
    ],
)
def test_bridge_values_are_coerced(key: str, value: object, attr: str, expected: object) -> None:
    data = homebridge_config()
    data["bridge"][key] = value
    assert getattr(parse(data).bridge, attr) == expected


def test_api_url_prefers_base_url_without_trailing_slash() -> None:
    assert PlatformConfig(region="cn").api_url == "https://cnapi.ttlock.com"
    assert PlatformConfig(base_url="https://lock.example/api/").api_url == (
        "https://lock.example/api"
    )
    data = homebridge_config()
    platform_entry(data).update(region="cn", baseUrl="http://127.0.0.1:8080/")
    assert parse(data).platform.api_url == "http://127.0.0.1:8080"


def test_unknown_keys_are_ignored_with_a_hint_for_near_misses() -> None:
    data = homebridge_config()
    platform_entry(data).update(maximumAPIRetry=9, retryDelays=2, debug=True, _private=1)
    data["bridge"]["Port"] = 1
    config = parse(data)
    assert config.platform.maximum_api_retry == 3
    assert config.bridge.port == 51826
    used = ": its default is used"
    # warnings, not mere notes: they likely hide a typo
    assert set(texts(config, Level.WARNING)) == {
        f"ignoring bridge.Port (did you mean port?){used}",
        f"ignoring platforms[1].maximumAPIRetry (did you mean maximumApiRetry?){used}",
        f"ignoring platforms[1].retryDelays (did you mean retryDelay?){used}",
    }
    assert not any("debug" in note or "_private" in note for note in texts(config))
    # the old name still tells a warning
    assert sum(isinstance(note, ConfigWarning) for note in config.notes) == 3
    assert all(str(note) == note.text for note in config.notes)


# --------------------------------------------------------------------------- environment


def test_env_fills_and_overrides_credentials() -> None:
    data = homebridge_config()
    del platform_entry(data)["clientsecret"]
    env = {
        "TTLOCK_CLIENT_SECRET": "from-env-secret",
        "TTLOCK_PASSWORD": "env-password",
        "TTLOCK_USERNAME": "",  # empty values never override
    }
    platform = parse(data, env=env).platform
    assert platform.client_secret == "from-env-secret"
    assert platform.password == "env-password"
    assert platform.username == "abc_jane"
    assert platform.client_id == "4f1a2b3c4d5e6f708192a3b4c5d6e7f8"


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.setenv(var, f"os-{var}")
    platform = parse_config({}).platform
    assert platform.client_id == "os-TTLOCK_CLIENT_ID"
    assert platform.password == "os-TTLOCK_PASSWORD"


def test_env_alone_is_enough_without_a_platform() -> None:
    env = {var: "x" for var in ENV_VARS}
    config = parse({"platforms": [{"platform": "Hue"}]}, env=env)
    assert config.platform == PlatformConfig(
        client_id="x", client_secret="x", username="x", password="x"
    )
    assert "no TTLock platform in the config; using credentials from the environment" in (
        texts(config, Level.INFO)
    )


def test_apply_env_returns_a_new_config() -> None:
    base = PlatformConfig(client_id="a", username="u")
    updated = apply_env(base, {"TTLOCK_CLIENT_ID": "b", "OTHER": "z"})
    assert (base.client_id, updated.client_id, updated.username) == ("a", "b", "u")
    assert apply_env(base, {}) is base


# --------------------------------------------------------------------------- credentials


def test_missing_credentials_name_keys_and_env_vars() -> None:
    data = homebridge_config()
    del platform_entry(data)["clientsecret"]
    platform_entry(data)["password"] = ""
    message = error_of(data)
    assert message == (
        "config.json: platforms[1] is missing clientsecret, password: "
        "add them there or set TTLOCK_CLIENT_SECRET, TTLOCK_PASSWORD"
    )


def test_missing_credentials_hint_at_wrongly_cased_keys() -> None:
    data = homebridge_config()
    entry = platform_entry(data)
    entry["clientId"] = entry.pop("clientid")
    message = error_of(data)
    assert "platforms[1] is missing clientid" in message
    assert "TTLOCK_CLIENT_ID" in message
    assert "key names are case-sensitive: clientId is not clientid" in message


def test_no_ttlock_platform_requires_env_credentials() -> None:
    message = error_of({"platforms": [{"platform": "Hue"}]}, env={"TTLOCK_USERNAME": "u"})
    assert message.startswith('config.json: no "TTLock" entry in platforms')
    for var in ("TTLOCK_CLIENT_ID", "TTLOCK_CLIENT_SECRET", "TTLOCK_PASSWORD"):
        assert var in message
    assert "TTLOCK_USERNAME" not in message
    assert '"platform": "TTLock"' in message and '"clientid"' in message


def test_credentials_are_optional_when_not_required() -> None:
    data = homebridge_config()
    del platform_entry(data)["password"]
    config = parse(data, require_credentials=False)
    assert config.platform.password == ""
    assert not config.platform.has_credentials()


# --------------------------------------------------------------------------- file errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert one_line(info.value) == (
        f"config file {path} not found: create it from config.json.example or pass -c FILE"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory: pass -c"):
        load_config(tmp_path, env=NO_ENV)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {})

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    message = one_line(info.value)
    assert message.startswith(f"cannot read config file {path}: Permission denied")


def test_bad_json_reports_line_and_column(tmp_path: Path) -> None:
    # The plugin README's own sample has a ';' where a ',' belongs; users copy it.
    path = tmp_path / "config.json"
    path.write_text(
        '{\n  "platforms": [\n    {\n      "platform": "ttlock",\n'
        f'      "password": "{MD5_PASSWORD}";\n      "maximumApiRetry": 3\n    }}\n  ]\n}}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    message = one_line(info.value)
    assert str(path) in message
    assert "not valid JSON" in message
    assert "line 5, column 53" in message
    assert MD5_PASSWORD not in message


def test_absurd_json_numbers_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"bridge": {"port": ' + "9" * 5000 + "}}", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not usable JSON"):
        load_config(path, env=NO_ENV)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"bridge": {"name": "T\xe9"}}')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path, env=NO_ENV)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(homebridge_config()).encode())
    assert load_config(path, env=NO_ENV).platform.client_secret == SECRET


@pytest.mark.parametrize("data", [[], "text", 3, None])
def test_top_level_must_be_an_object(data: object) -> None:
    message = error_of(data, source="/etc/hb/config.json")
    assert message.startswith("/etc/hb/config.json: the top level must be a JSON object")


def test_errors_name_the_loaded_file(tmp_path: Path) -> None:
    data = homebridge_config()
    data["bridge"]["port"] = "abc"
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert one_line(info.value) == (
        f"{path}: bridge.port must be an integer from 1 to 65535, got 'abc'"
    )


# --------------------------------------------------------------------------- wrong values

BRIDGE_ERRORS = [
    ("port", "abc", "bridge.port must be an integer from 1 to 65535, got 'abc'"),
    ("port", 0, "bridge.port must be an integer from 1 to 65535, got 0"),
    ("port", 65536, "bridge.port must be an integer from 1 to 65535, got 65536"),
    ("port", True, "bridge.port must be an integer from 1 to 65535, got true"),
    ("port", 518.5, "bridge.port must be an integer from 1 to 65535, got 518.5"),
    ("port", [51826], "bridge.port must be an integer from 1 to 65535, got a list"),
    ("name", "", "bridge.name must be a non-empty string, got ''"),
    ("name", 7, "bridge.name must be a non-empty string, got 7"),
    ("bind", [1.5], "bridge.bind[0] must be an IP address or interface name, got 1.5"),
    ("bind", {"ip": "x"}, "bridge.bind must be a list of IP addresses or interface names, got an"),
    ("bind", ["eth0", ""], "bridge.bind[1] must be an IP address or interface name, got ''"),
    ("username", "0E:2C:44:7A:19", 'bridge.username must be a MAC address like "0E:2C:'),
    ("username", 5, "bridge.username must be a MAC address"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BRIDGE_ERRORS)
def test_bridge_errors(key: str, value: object, expected: str) -> None:
    data = homebridge_config()
    data["bridge"][key] = value
    assert error_of(data).startswith(f"config.json: {expected}")


PLATFORM_ERRORS = [
    ("maximumApiRetry", 11, "platforms[1].maximumApiRetry must be an integer from 0 to 10, got 11"),
    ("maximumApiRetry", -1, "platforms[1].maximumApiRetry must be an integer from 0 to 10"),
    ("maximumApiRetry", "three", "platforms[1].maximumApiRetry must be an integer from 0 to 10"),
    ("maximumApiRetry", "3.5", "platforms[1].maximumApiRetry must be an integer from 0 to 10"),
    ("retryDelay", 61, "platforms[1].retryDelay must be a number from 0 to 60 seconds, got 61"),
    ("retryDelay", -0.5, "platforms[1].retryDelay must be a number from 0 to 60 seconds"),
    ("retryDelay", "fast", "platforms[1].retryDelay must be a number from 0 to 60 seconds"),
    ("retryDelay", "nan", "platforms[1].retryDelay must be a number from 0 to 60 seconds"),
    ("retryDelay", False, "platforms[1].retryDelay must be a number from 0 to 60 seconds"),
    ("lowBatteryThreshold", 101, "platforms[1].lowBatteryThreshold must be an integer from 0 to"),
    ("apiBudgetPerMonth", 99, "platforms[1].apiBudgetPerMonth must be an integer of at least 100"),
    ("exclude", [True], "platforms[1].exclude[0] must be a lock id or name, got true"),
    (
        "exclude",
        ["a", {"id": 1}],
        "platforms[1].exclude[1] must be a lock id or name, got an object",
    ),
    ("exclude", 2.5, "platforms[1].exclude must be a list of lock ids or names, got 2.5"),
    ("clientid", 123, "platforms[1].clientid must be a string, got 123"),
    ("username", ["abc"], "platforms[1].username must be a string, got a list"),
    ("name", "", "platforms[1].name must be a non-empty string"),
    ("baseUrl", "ftp://euapi.ttlock.com", 'platforms[1].baseUrl must be an http(s) URL like "'),
    ("baseUrl", "euapi.ttlock.com", "platforms[1].baseUrl must be an http(s) URL"),
    ("baseUrl", "https://", "platforms[1].baseUrl must be an http(s) URL"),
    ("baseUrl", 8080, "platforms[1].baseUrl must be an http(s) URL like"),
    ("baseUrl", "http://[::1", "platforms[1].baseUrl must be an http(s) URL"),
    ("baseUrl", "http://127.0.0.1:99999", "platforms[1].baseUrl must have a port from 1 to"),
    ("baseUrl", "http://127.0.0.1:0", "platforms[1].baseUrl must have a port from 1 to 65535"),
    ("baseUrl", "https://lock.example:https", "platforms[1].baseUrl must have a port from 1"),
    ("region", 1, "platforms[1].region must be a string"),
]


@pytest.mark.parametrize(("key", "value", "expected"), PLATFORM_ERRORS)
def test_platform_errors(key: str, value: object, expected: str) -> None:
    data = homebridge_config()
    platform_entry(data)[key] = value
    assert error_of(data).startswith(f"config.json: {expected}")


def test_unknown_region_lists_valid_ones_and_base_url() -> None:
    data = homebridge_config()
    platform_entry(data)["region"] = "us"
    assert error_of(data) == (
        "config.json: platforms[1].region must be one of 'eu', 'cn' "
        "(for any other server set baseUrl, which overrides it), got 'us'"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"bridge": "TTLock"}, "config.json: bridge must be an object"),
        ({"platforms": {"platform": "ttlock"}}, "config.json: platforms must be a list"),
    ],
)
def test_structural_errors(data: object, expected: str) -> None:
    assert error_of(data, require_credentials=False).startswith(expected)


def test_long_values_are_shortened_in_messages() -> None:
    data = homebridge_config()
    data["bridge"]["port"] = "9" * 200
    assert len(error_of(data)) < 120


# --------------------------------------------------------------------------- pin and MAC


@pytest.mark.parametrize(
    ("given", "expected"), [("031-45-154", PIN), ("03145154", PIN), (" 031-45-154 ", PIN)]
)
def test_validate_pin_normalises(given: str, expected: str) -> None:
    assert validate_pin(given) == expected


@pytest.mark.parametrize(
    "given",
    ["031-45-15", "0314515", "031451544", "031 45 154", "0314-5-154", "03a-45-154", "٠٣١٤٥١٥٤", ""],
)
def test_validate_pin_rejects_bad_format(given: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_pin(given)
    message = one_line(info.value)
    assert message.startswith('bridge.pin must be 8 digits written "XXX-XX-XXX"')
    assert given.strip() not in message or not given.strip()


TRIVIAL = [*(d * 8 for d in "0123456789"), "12345678", "87654321"]


@pytest.mark.parametrize("digits", TRIVIAL)
def test_trivial_pins_are_refused(digits: str) -> None:
    dashed = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    assert is_trivial_pin(digits)
    assert is_trivial_pin(dashed)
    with pytest.raises(ConfigError, match=r"trivial setup code .* that HomeKit refuses"):
        validate_pin(dashed)


@pytest.mark.parametrize(
    ("pin", "reason"),
    [
        ("111-11-111", "all digits the same"),
        ("123-45-678", "ascending digits"),
        ("876-54-321", "descending digits"),
    ],
)
def test_trivial_pin_in_config_names_the_reason(pin: str, reason: str) -> None:
    data = homebridge_config()
    data["bridge"]["pin"] = pin
    message = error_of(data)
    assert message.startswith(f"config.json: bridge.pin is a trivial setup code ({reason})")
    assert pin not in message


@pytest.mark.parametrize("digits", ["03145154", "12345679", "11111112", "98765432", "1234567"])
def test_non_trivial_pins(digits: str) -> None:
    assert not is_trivial_pin(digits)


def test_bad_pin_in_config_is_not_echoed() -> None:
    data = homebridge_config()
    data["bridge"]["pin"] = "0314-5154"
    message = error_of(data)
    assert message.startswith('config.json: bridge.pin must be 8 digits written "XXX-XX-XXX"')
    assert "0314" not in message
    data["bridge"]["pin"] = 3145154
    message = error_of(data)
    assert message.startswith('config.json: bridge.pin must be 8 digits written "XXX-XX-XXX"')
    assert message.endswith("got a number")
    assert "3145154" not in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0e:2c:44:7a:19:b3", "0E:2C:44:7A:19:B3"), ("AA:BB:CC:DD:EE:FF", "AA:BB:CC:DD:EE:FF")],
)
def test_validate_mac_normalises(given: str, expected: str) -> None:
    assert validate_mac(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "0E:2C:44:7A:19",
        "0E:2C:44:7A:19:B3:00",
        "0E-2C-44-7A-19-B3",
        "0E2C447A19B3",
        "GG:2C:44:7A:19:B3",
        "",
    ],
)
def test_validate_mac_rejects(given: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_mac(given)
    assert one_line(info.value).startswith('bridge.username must be a MAC address like "')


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("key", "value", "described"),
    [
        ("password", 31415926, "a number"),
        ("password", [MD5_PASSWORD], "a list"),
        ("clientsecret", {"value": SECRET}, "an object"),
        ("clientsecret", 27182818, "a number"),
        ("password", True, "a boolean"),
    ],
)
def test_wrongly_typed_secrets_are_described_not_shown(
    key: str, value: object, described: str
) -> None:
    data = homebridge_config()
    platform_entry(data)[key] = value
    message = error_of(data)
    assert message == f"config.json: platforms[1].{key} must be a string, got {described}"
    for secret in (SECRET, MD5_PASSWORD, "31415926", "27182818"):
        assert secret not in message


def test_secrets_never_appear_in_any_error_message() -> None:
    cases: list[tuple[str, object]] = [*((k, v) for k, v, _ in PLATFORM_ERRORS)]
    for name, value in cases:
        data = homebridge_config()
        platform_entry(data)[name] = value
        message = error_of(data)
        assert SECRET not in message and MD5_PASSWORD not in message and PIN not in message
    data = homebridge_config()
    del platform_entry(data)["username"]
    message = error_of(data)
    assert SECRET not in message and MD5_PASSWORD not in message


def test_repr_hides_secrets() -> None:
    data = homebridge_config()
    env = {"TTLOCK_PASSWORD": "env-only-password-value"}
    config = parse(data, env=env)
    for text in (repr(config), str(config), repr(config.platform), repr(config.bridge)):
        assert SECRET not in text
        assert "env-only-password-value" not in text
        assert PIN not in text
        assert "abc_jane" in text or "Homebridge 19B3" in text  # the repr is still useful


# --------------------------------------------------------------------------- misc


def test_configs_are_immutable() -> None:
    config = parse(homebridge_config())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.platform.password = "x"  # type: ignore[misc]


def test_input_is_not_mutated() -> None:
    data = homebridge_config()
    before = copy.deepcopy(data)
    parse(data, env={"TTLOCK_PASSWORD": "p"})
    assert data == before


# --------------------------------------------------------------------------- the table of keys


def misspelt(name: str) -> str:
    """``name`` with its middle letter dropped (``lowBatteryThreshold`` -> ``lowBateryThreshold``
    style): what a typo does."""
    middle = len(name) // 2
    return name[:middle] + name[middle + 1:]


@pytest.mark.parametrize("name", json_names(PlatformConfig))
def test_every_platform_key_misspelt_is_a_warning_naming_it(name: str) -> None:
    data = homebridge_config()
    entry = platform_entry(data)
    entry[misspelt(name)] = entry.pop(name, "x")
    config = parse(data, require_credentials=False)
    assert texts(config, Level.WARNING) == (
        f"ignoring platforms[1].{misspelt(name)} (did you mean {name}?): its default is used",
    )


@pytest.mark.parametrize("name", json_names(BridgeConfig))
def test_every_bridge_key_misspelt_is_a_warning_naming_it(name: str) -> None:
    data = homebridge_config()
    data["bridge"][misspelt(name)] = data["bridge"].pop(name, "x")
    config = parse(data)
    assert texts(config, Level.WARNING) == (
        f"ignoring bridge.{misspelt(name)} (did you mean {name}?): its default is used",
    )
    assert getattr(config.bridge, name) == getattr(BridgeConfig(), name)


def test_the_issue_s_misspelt_threshold_is_a_warning_and_the_default_holds() -> None:
    data = homebridge_config()
    platform_entry(data)["lowBateryThreshold"] = 35
    config = parse(data)
    assert config.platform.low_battery_threshold == 20
    assert Note(Level.WARNING, "ignoring platforms[1].lowBateryThreshold (did you mean "
                "lowBatteryThreshold?): its default is used") in config.notes


def test_levels_are_logging_levels() -> None:
    import logging

    assert (Level.INFO, Level.WARNING) == (logging.INFO, logging.WARNING)  # run logs them as is
    assert Level.WARNING > Level.INFO


# A block as the next changes will declare them (a platform's "callback" object, per-lock
# rules): through the same table, with its own keys, hints, bounds and secrets.
@dataclass(frozen=True)
class Callback:
    port: int = key("port", integer(1, 65535), 8089)
    public_url: str | None = key("publicUrl", URL, None)
    token: str = key("token", TEXT, "", secret=True)


@dataclass(frozen=True)
class Rule:
    lock: str = key("lock", name_item("a lock id or name"), "")


@dataclass(frozen=True)
class Outer:
    callback: Callback = key("callback", Block(Callback), Callback())
    rules: tuple[Rule, ...] = key("rules", ListOf(Block(Rule), "objects"), ())


def read_outer(data: dict[str, Any]) -> tuple[Outer, list[Note]]:
    notes: list[Note] = []
    return read_block(Outer, data, Spot("config.json", "platforms[0]", notes)), notes


def outer_error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        read_outer(data)
    return one_line(info.value)


def test_a_nested_block_parses_with_defaults() -> None:
    outer, notes = read_outer({"callback": {"port": "9000", "token": SECRET},
                               "rules": [{"lock": 3001}, {"lock": "Front Door"}]})
    assert outer == Outer(callback=Callback(port=9000, token=SECRET),
                          rules=(Rule("3001"), Rule("Front Door")))
    assert notes == []
    assert read_outer({})[0] == Outer()
    assert SECRET not in repr(outer)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"callback": {"port": 0}},
         "config.json: platforms[0].callback.port must be an integer from 1 to 65535, got 0"),
        ({"callback": [1]}, "config.json: platforms[0].callback must be an object, got a list"),
        ({"callback": {"token": 123456}},
         "config.json: platforms[0].callback.token must be a string, got a number"),
        ({"rules": [{"lock": "a"}, {"lock": ""}]},
         "config.json: platforms[0].rules[1].lock must be a lock id or name, got ''"),
        ({"rules": [{"lock": "a"}, 5]},
         "config.json: platforms[0].rules[1] must be an object, got 5"),
        ({"rules": {"lock": "a"}},
         "config.json: platforms[0].rules must be a list of objects, got an object"),
    ],
)
def test_a_nested_block_s_errors_name_the_full_path(data: dict[str, Any], expected: str) -> None:
    assert outer_error(data) == expected


def test_a_nested_block_s_misspelt_keys_are_warnings_with_the_full_path() -> None:
    outer, notes = read_outer({"callback": {"publicURL": "http://x"}, "rules": [{"lck": 1}]})
    assert outer == Outer(rules=(Rule(),))
    assert notes == [
        Note(Level.WARNING, "ignoring platforms[0].callback.publicURL (did you mean "
             "publicUrl?): its default is used"),
        Note(Level.WARNING, "ignoring platforms[0].rules[0].lck (did you mean lock?): its "
             "default is used"),
    ]


# --------------------------------------------------------------------------- bridge.name


def advertisable(name: str) -> bool:
    """Whether HAP-python's mDNS service for this bridge name is accepted by zeroconf: the
    real limit, measured, not our rule's idea of it."""
    state = State(address=["127.0.0.1"], mac="0E:2C:44:7A:19:B3", pincode=b"031-45-154",
                  port=DEFAULT_PORT)
    accessory = SimpleNamespace(display_name=homekit_name(name, "TTLock Bridge"), category=2)
    try:
        AccessoryMDNSServiceInfo(accessory, state)
    except BadTypeInNameException:
        return False
    return True


def name_accepted(name: str) -> bool:
    data = homebridge_config()
    data["bridge"]["name"] = name
    try:
        parse(data)
    except ConfigError as err:
        assert one_line(err).startswith("config.json: bridge.name is too long for mDNS")
        return False
    return True


NAMES = [
    "A" * 56,
    "A" * 57,
    "Holiday flat 3, Rue de la Paix - main entrance, ground flr",  # 58
    "B" * 64,
    "C" * 200,  # HomeKit cuts it to 64
    "Château " * 7,  # 56 characters, 63 bytes: HAP-python advertises "Ch teau ..."
    "Château de la Forêt, Résidence Les Glycines, entrée principale",  # 62 characters
    "Türschloß Ferienwohnung 4 " * 3,
    "玄関" * 40,  # nothing HAP-python keeps
    "-" * 10 + "D" * 56 + "-" * 10,  # trimmed at both ends
    "E'F" * 20,  # 60: every ' becomes a space
]


@pytest.mark.parametrize("name", NAMES)
def test_bridge_name_is_refused_exactly_when_hap_python_cannot_advertise_it(name: str) -> None:
    assert name_accepted(name) == advertisable(name)


@pytest.mark.parametrize("length", range(57, 65))
def test_bridge_name_of_57_to_64_characters_is_one_line_naming_the_fix(length: int) -> None:
    data = homebridge_config()
    data["bridge"]["name"] = "N" * length
    assert error_of(data) == (
        f"config.json: bridge.name is too long for mDNS: HomeKit advertises it in {length + 7} "
        "bytes with the 7-character bridge id, over the limit of 63; shorten it to 56 "
        "characters or fewer"
    )
    assert not advertisable("N" * length)


def test_bridge_name_of_56_characters_is_accepted() -> None:
    data = homebridge_config()
    data["bridge"]["name"] = "N" * 56
    assert parse(data).bridge.name == "N" * 56
