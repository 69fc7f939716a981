"""The per-lock choice of extra HomeKit services: hideDoorSensor, passageSwitch,
hidePassageSwitch (declared in config.py's table)."""

from __future__ import annotations

from typing import Any

import pytest

from hapbridge.config import Level
from tests.test_config import error_of, homebridge_config, parse, platform_entry


def platform_with(**keys: Any) -> dict[str, Any]:
    data = homebridge_config()
    platform_entry(data).update(keys)
    return data


def test_defaults_door_sensor_shown_passage_switch_off() -> None:
    platform = parse(homebridge_config()).platform
    assert (platform.hide_door_sensor, platform.passage_switch, platform.hide_passage_switch) == (
        (), False, ())
    assert platform.shows_door_sensor(3000001, "Front Door")
    assert not platform.shows_passage_switch(3000001, "Front Door")


def test_hidden_by_id_or_alias_in_any_case() -> None:
    platform = parse(platform_with(hideDoorSensor=[3000002, "garage"], passageSwitch=True,
                                   hidePassageSwitch="Front Door")).platform
    assert not platform.shows_door_sensor(3000002, "Back Door")
    assert not platform.shows_door_sensor(3000003, "Garage")
    assert platform.shows_door_sensor(3000001, "Front Door")
    assert not platform.shows_passage_switch(3000001, "FRONT DOOR")
    assert platform.shows_passage_switch(3000004, "Office")


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True),
                                                 (" False ", False), (None, False)])
def test_passage_switch_values(value: object, expected: bool) -> None:
    assert parse(platform_with(passageSwitch=value)).platform.passage_switch is expected


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("passageSwitch", "yes", "platforms[1].passageSwitch must be true or false, got 'yes'"),
    ("passageSwitch", 1, "platforms[1].passageSwitch must be true or false, got 1"),
    ("hideDoorSensor", [True], "platforms[1].hideDoorSensor[0] must be a lock id or name"),
    ("hidePassageSwitch", 2.5,
     "platforms[1].hidePassageSwitch must be a list of lock ids or names, got 2.5"),
])
def test_mistakes_are_one_line_naming_the_key(key: str, value: object, expected: str) -> None:
    assert error_of(platform_with(**{key: value})).startswith(f"config.json: {expected}")


def test_a_misspelt_key_is_a_warning() -> None:
    notes = parse(platform_with(hideDoorsensor=["Garage"])).notes
    assert any(note.level is Level.WARNING and "did you mean hideDoorSensor?" in note.text
               for note in notes)
