"""``check``'s view of the HomeKit bridges, read from the storage (no bridge, no cloud):
each bridge's locks (at the last run) and pairing, and wrong setup codes tried on it."""

from __future__ import annotations

from dataclasses import dataclass

from hapbridge.bridge.bridge_set import bridge_spec, bridge_storage, known_bridges
from hapbridge.bridge.identity import IDENTITY_FILE, stored_port
from hapbridge.bridge.lock_cache import load_cached_locks
from hapbridge.bridge.pairing_attempts import MAX_FAILED, read_failed
from hapbridge.config import BridgeConfig
from hapbridge.storage import Storage, StorageError


@dataclass(frozen=True)
class BridgeFinding:
    status: str  # "ok", "warn" or "fail", as check's findings
    topic: str
    detail: str
    fix: str | None = None


def bridge_findings(storage: Storage, config: BridgeConfig) -> list[BridgeFinding]:
    """One line per bridge that has run ("bridge 2 (TTLock Bridge 2): 149 locks, paired"),
    then the wrong-code counts of any bridge that has some."""
    if not storage.path(IDENTITY_FILE).exists():
        return _attempts(storage, "bridge", None)  # codes tried on one that never ran
    numbers = known_bridges(storage)
    try:
        published = {lock.lock_id for lock in load_cached_locks(storage)}
    except StorageError:
        published = set()
    found: list[BridgeFinding] = []
    for number in numbers:
        own = bridge_storage(storage, number)
        spec = bridge_spec(config, number)
        topic = f"bridge {number} ({spec.name})" if len(numbers) > 1 else f"bridge ({spec.name})"
        try:
            data = own.read_json(IDENTITY_FILE)
            state = own.read_json("accessory.state")
        except StorageError as err:
            found.append(BridgeFinding("fail", topic, str(err)))
            continue
        aids = data.get("aids", {}) if isinstance(data, dict) else {}
        locks = sum(1 for lid in aids if lid.isdigit() and int(lid) in published)
        paired = isinstance(state, dict) and bool(state.get("paired_clients"))
        info = "hapbridge pair-info" + (f" --bridge {number}" if len(numbers) > 1 else "")
        ran_on = stored_port(data)  # --port may have moved it off the configured one
        port = f"on port {ran_on}" if ran_on else f"configured port {spec.port}"
        found.append(BridgeFinding(
            "ok", topic, f"{locks} locks at the last run, {port}, "
            + ("paired" if paired else f"not paired yet: add it in the Home app with its "
               f"setup code ('{info}' shows it)")))
        found.extend(_attempts(own, topic, number if len(numbers) > 1 else None))
    return found


def _attempts(storage: Storage, topic: str, number: int | None) -> list[BridgeFinding]:
    """Wrong setup codes tried on the bridge (said only when there were some): at HomeKit's
    cap the bridge refuses pair-setup, even with the right code, until reset-pairing."""
    reset = "hapbridge reset-pairing" + (f" --bridge {number}" if number else "")
    failed = read_failed(storage)
    if failed >= MAX_FAILED:
        return [BridgeFinding("fail", "pairing" if number is None else f"pairing of {topic}",
                              f"pair-setup is refused: {failed} wrong setup codes were tried "
                              f"(HomeKit allows {MAX_FAILED})",
                              f"stop the bridge and run '{reset}', then pair again")]
    if failed:
        return [BridgeFinding("warn", "pairing" if number is None else f"pairing of {topic}",
                              f"{failed} wrong setup codes were tried since the last pairing "
                              f"(at {MAX_FAILED} pair-setup is refused until '{reset}')",
                              "if that was not you, someone on the network is guessing the "
                              "code")]
    return []
