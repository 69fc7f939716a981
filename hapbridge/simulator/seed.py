"""The initial world for a SimConfig: deterministic from the seed, realistic enough to demo.

Bluetooth locks go round-robin over the gateways (every other one reads QR codes); then
Wi-Fi locks, then orphans. Each lock gets a few custom passcodes and a week of history
(passcode, fingerprint, card, app and button events) so record pages and searches have
something to find; some have an enrolled fingerprint or IC card. A few app accounts exist
to send eKeys to.
"""

from __future__ import annotations

from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.world import (
    BIT_DOOR_SENSOR,
    BIT_WIRELESS_DOOR_SENSOR,
    SimDoorSensor,
    World,
    mac_tag,
    now_ms,
)
from hapbridge.ttlock.record_types import (
    APP_LOCK,
    APP_UNLOCK,
    AUTO_LOCK,
    CARD_UNLOCK,
    FINGERPRINT_UNLOCK,
    LOCK_BUTTON,
    PASSCODE_UNLOCK,
    UNLOCK_BUTTON,
)

HISTORY_MS = 7 * 24 * 3600 * 1000
# (recordType, weight): unlocks by passcode, fingerprint, IC card, app, unlock button,
# then locks by app, auto-lock, lock button.
HISTORY_TYPES = ((PASSCODE_UNLOCK, 5), (FINGERPRINT_UNLOCK, 4), (CARD_UNLOCK, 2),
                 (APP_UNLOCK, 2), (UNLOCK_BUTTON, 2), (APP_LOCK, 1), (AUTO_LOCK, 4),
                 (LOCK_BUTTON, 2))
SEED_PASSCODE_NAMES = ("Cleaner", "Dog walker", "Guest", "Family")
DOOR_ALARM_SECONDS = 120  # doorNotClosedWarningTime of the seeded sensors
FIRST_DOOR_SENSOR_ID = 50_001
DOOR_SENSOR_MAC_PREFIX = "63:42:BB"
SEED_ACCOUNTS = ("cleaner@example.com", "guest@example.com", "+4915112345678")


def build_world(config: SimConfig) -> World:
    world = World(seed=config.seed)
    for _ in range(config.gateways):
        world.add_gateway()
    gateway_ids = list(world.gateways)
    for index in range(config.locks):
        gateway_id = gateway_ids[index % len(gateway_ids)] if gateway_ids else None
        world.add_lock(gateway_id=gateway_id, qr_code=index % 2 == 0)
    for _ in range(config.wifi_locks):
        world.add_lock(wifi=True)
    for _ in range(config.orphan_locks):
        world.add_lock(gateway_id=None)
    for lock_id in world.locks:
        _seed_history(world, lock_id, config.username)
    for account in SEED_ACCOUNTS:
        world.add_account(account)
    for index, lock_id in enumerate(world.locks):  # no rng: the history stays as it was
        if index % 3 == 0:
            world.add_credential("fingerprint", lock_id, "Family (right thumb)")
        if index % 2 == 1:
            world.add_credential("card", lock_id, "Cleaner card")
    _seed_door_sensors(world)
    return world


def _seed_door_sensors(world: World) -> None:
    """Every other lock with a door sensor has a wireless one (bit 50 instead of 13, and a
    ``doorSensor/query`` answer); all of them raise "door not closed" after a while. No rng:
    the seeded worlds stay as they were."""
    with_sensor = [lock for lock in world.locks.values() if lock.sensor_state is not None]
    for index, lock in enumerate(with_sensor):
        lock.door_alarm_seconds = DOOR_ALARM_SECONDS
        if index % 2 == 1:
            bits = int(lock.feature_value, 16)
            bits = bits & ~(1 << BIT_DOOR_SENSOR) | 1 << BIT_WIRELESS_DOOR_SENSOR
            lock.feature_value = format(bits, "X")
            tail = lock.mac[-8:]
            lock.door_sensor = SimDoorSensor(
                sensor_id=FIRST_DOOR_SENSOR_ID + index, mac=f"{DOOR_SENSOR_MAC_PREFIX}:{tail}",
                name=f"{lock.alias} door", number=f"DS2_{mac_tag(lock.mac)}")


def _seed_history(world: World, lock_id: int, username: str) -> None:
    rng = world.rng
    codes = []
    for name in rng.sample(SEED_PASSCODE_NAMES, rng.randint(0, 2)):
        code = "".join(rng.choice("0123456789") for _ in range(8))
        codes.append(world.add_passcode(lock_id, code, name=name).code)
    types = [kind for kind, _ in HISTORY_TYPES]
    weights = [weight for _, weight in HISTORY_TYPES]
    now = now_ms()
    times = sorted(now - rng.randrange(HISTORY_MS) for _ in range(rng.randint(4, 12)))
    for when in times:
        kind = rng.choices(types, weights)[0]
        code = rng.choice(codes) if kind == PASSCODE_UNLOCK and codes else ""
        who = username if kind in (APP_UNLOCK, APP_LOCK) else ""
        world.add_record(lock_id, kind, username=who, keyboard_pwd=code, lock_date=when)
