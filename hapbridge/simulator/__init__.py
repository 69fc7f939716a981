"""A simulated TTLock cloud: same paths, parameters, answers and errcodes, with state.

Used by the test-suite over real HTTP on 127.0.0.1, in-process by ``hapbridge run --demo``
and standalone by ``hapbridge simulator``. The contract is ``/work/shared/ttlock-api.md``;
where it leaves a case open, the simulator chooses (from TTLock's published error table):

* -3 "Invalid Parameter" for a missing or malformed parameter, and for a ``pageSize``
  above the endpoint's maximum (lock/list 1000, gateway/list, listKeyboardPwd, listKey,
  fingerprint/list, identityCard/list, qrCode/list and lockRecord/list 200): refused, not
  clipped, so a client cannot silently miss items.
* -1003 "Lock does not exist" for a lockId that is not (or no longer) in the account: the
  simulated account holds every lock it knows, so -2018 comes only when scripted.
* -4037 "Gateway does not exist" for an unknown gatewayId.
* -3009 when a lock already holds 250 passcodes; -4082 for autoLockTime above 900 s.
* 10001 for a bad client id or secret at /oauth2/token, 10000 for a wrong clientId on /v3.
* A missing ``date`` answers 80000 like a skewed one. ``type``/``addType``/``changeType``/
  ``deleteType`` = 1 (Bluetooth, done by the app) store the result without the gateway.
* Wi-Fi locks report ``hasGateway`` 1: they are their own gateway.
* ``app/getMonthRequestCount`` (not in the docs mirror) answers ``{"count": N}``: every
  request this server had in the current month, months counted in UTC+8 like the cloud's.
* A QR code's ``link`` points at an ``example`` host: the simulator serves no H5 page.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hapbridge.simulator.config import SimConfig

if TYPE_CHECKING:
    from hapbridge.simulator.server import SimulatorServer
    from hapbridge.simulator.world import SimGateway, SimLock, World

__all__ = ["SimConfig", "SimGateway", "SimLock", "SimulatorServer", "World"]

# Loaded on first use: the bridge's CLI registers the simulator command on every start, and
# aiohttp plus the world model cost ~11 MB and ~130 ms that `hapbridge run` should not pay.
_LAZY = {
    "SimulatorServer": "hapbridge.simulator.server",
    "World": "hapbridge.simulator.world",
    "SimLock": "hapbridge.simulator.world",
    "SimGateway": "hapbridge.simulator.world",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
