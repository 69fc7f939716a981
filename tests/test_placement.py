"""Which bridge each lock is on (placement.py), with bridges of 3 locks so that every rule
shows with a handful of locks: kept across restarts, gaps, pins, moves, limits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hapbridge.bridge.bridge_set import bridge_spec, bridge_storage, derived_name, known_bridges
from hapbridge.bridge.identity import Identity
from hapbridge.bridge.lock_cache import KnownLock
from hapbridge.bridge.placement import Placed, Placement
from hapbridge.config import BridgeConfig, ChildBridge, parse_config
from hapbridge.errors import ConfigError
from hapbridge.storage import Storage


def lock(lock_id: int, alias: str = "", group: int | None = None) -> KnownLock:
    return KnownLock(lock_id=lock_id, alias=alias or f"Lock {lock_id}", group_id=group)


def placement(root: Path, *pins: ChildBridge, bridges: int = 8) -> Placement:
    storage = Storage(root)

    def open_identity(number: int) -> Identity:
        return Identity.load(bridge_storage(storage, number), BridgeConfig())

    return Placement(open_identity, known_bridges(storage), pins=pins, capacity=3,
                     max_bridges=bridges)


def where(outcome_placed: dict[int, Placed]) -> dict[int, int]:
    return {lid: placed.bridge for lid, placed in outcome_placed.items()}


def test_new_locks_fill_bridges_in_order_and_keep_them_across_restarts(tmp_path: Path) -> None:
    locks = [lock(i) for i in range(1, 8)]
    first = placement(tmp_path).place(locks).placed
    assert where(first) == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 7: 3}
    # A restart with the list reversed and read from disk: every lock where it was.
    again = placement(tmp_path).place(list(reversed(locks))).placed
    assert again == first
    assert known_bridges(Storage(tmp_path)) == [1, 2, 3]
    stored = json.loads((tmp_path / "bridges" / "2" / "bridge.json").read_text())
    assert set(stored["aids"]) == {"4", "5", "6"}
    assert (tmp_path / "bridges").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "bridges" / "2" / "bridge.json").stat().st_mode & 0o777 == 0o600


def test_removed_locks_leave_gaps_that_new_locks_fill(tmp_path: Path) -> None:
    locks = [lock(i) for i in range(1, 8)]
    first = placement(tmp_path).place(locks).placed
    kept = [lk for lk in locks if lk.lock_id not in (2, 5)]
    assert placement(tmp_path).place(kept).placed == {lid: first[lid] for lid in (1, 3, 4, 6, 7)}
    grown = placement(tmp_path).place([*kept, lock(8), lock(9), lock(10)]).placed
    assert where(grown)[8] == 1 and where(grown)[9] == 2 and where(grown)[10] == 3
    assert all(grown[lid] == first[lid] for lid in (1, 3, 4, 6, 7))  # nobody moved
    assert grown[8].aid not in {p.aid for lid, p in first.items() if p.bridge == 1}


def test_a_returning_lock_gets_its_bridge_and_aid_back(tmp_path: Path) -> None:
    locks = [lock(i) for i in range(1, 5)]
    first = placement(tmp_path).place(locks).placed
    placement(tmp_path).place([lk for lk in locks if lk.lock_id != 2])
    assert placement(tmp_path).place(locks).placed == first


def test_a_returning_lock_whose_bridge_filled_up_goes_to_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    locks = [lock(i) for i in range(1, 4)]
    placement(tmp_path).place(locks)
    placement(tmp_path).place([lock(1), lock(3), lock(9)])  # 9 takes 2's place
    with caplog.at_level(logging.WARNING):
        # A restart: locks.json names the locks shown at the last run (1, 3, 9).
        again = placement(tmp_path).place([lock(1), lock(2), lock(3), lock(9)],
                                          published={1, 3, 9}).placed
    assert where(again) == {1: 1, 3: 1, 9: 1, 2: 2}
    assert "moves from bridge 1 to bridge 2" in caplog.text
    assert "2" not in json.loads((tmp_path / "bridge.json").read_text())["aids"]


def test_pins_by_id_pattern_and_group_and_the_pinned_bridge_holds_only_them(
    tmp_path: Path
) -> None:
    pins = (ChildBridge(number=2, locks=("Room 1??",)), ChildBridge(number=3, groups=(77,)),
            ChildBridge(number=4, locks=("5",)))
    locks = [lock(1, "Lobby"), lock(2, "room 101"), lock(3, "Room 102"), lock(4, "Gym", 77),
             lock(5, "Office"), lock(6, "Room 2"), lock(7, "Bar"), lock(8, "Spa")]
    placed = where(placement(tmp_path, *pins).place(locks).placed)
    assert placed == {2: 2, 3: 2, 4: 3, 5: 4, 1: 1, 6: 1, 7: 1, 8: 5}


def test_a_new_pin_moves_the_lock_and_says_so(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    locks = [lock(1, "Lobby"), lock(2, "Room 101")]
    placement(tmp_path).place(locks)
    with caplog.at_level(logging.WARNING):
        moved = placement(tmp_path, ChildBridge(number=2, locks=("room 1*",))).place(locks)
    assert where(moved.placed) == {1: 1, 2: 2}
    assert "Room 101 (2) moves from bridge 1 to bridge 2 (bridge.bridges pins it there)" \
        in caplog.text


def test_locks_beyond_every_bridge_are_left_out_published_ones_first(tmp_path: Path) -> None:
    locks = [lock(i) for i in range(1, 5)]
    outcome = placement(tmp_path, bridges=1).place(locks, published={4})
    assert set(outcome.placed) == {4, 1, 2} and [lk.lock_id for lk in outcome.left_out] == [3]


def test_config_declares_the_bridges_list() -> None:
    config = parse_config({"bridge": {"name": "Hotel", "port": 51826, "bridges": [
        {"bridge": 2, "name": "Hotel floor 1", "locks": ["Room 1*", 12345]},
        {"bridge": 3, "port": 52000, "groups": [9]},
    ]}}, require_credentials=False)
    bridge = config.bridge
    assert bridge_spec(bridge, 2).name == "Hotel floor 1" and bridge_spec(bridge, 2).port == 51827
    assert bridge_spec(bridge, 3).port == 52000 and bridge_spec(bridge, 3).name == "Hotel 3"
    assert bridge_spec(bridge, 4).port == 51829
    assert bridge_spec(bridge, 2, port=60000).port == 60001  # --port moves them all
    assert bridge.child(2) is not None and bridge.child(2).holds(12345, "x", None)
    assert derived_name("x" * 56, 12) == "x" * 53 + " 12"


@pytest.mark.parametrize(("bridges", "message"), [
    ([{"name": "x"}], 'needs "bridge"'),
    ([{"bridge": 2}, {"bridge": 2}], "describes bridge 2 again"),
    ([{"bridge": 1, "port": 5000}], "set them in the bridge block"),
    ([{"bridge": 2, "port": 51826}], "port 51826 is bridge 1's port too"),
    ([{"bridge": 40}], "from 1 to 32"),
    ([{"bridge": 2, "groups": ["Floor"]}], "groups"),
])
def test_config_mistakes_in_bridges_are_one_line(bridges: list[dict[str, object]],
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config({"bridge": {"bridges": bridges}}, require_credentials=False)
    assert "\n" not in str(info.value)
