"""Wrong setup codes: counted for good (HomeKit's cap of 100), throttled per source address.

The setup code has 10^8 values, so the cap is what keeps a guesser out: after
``MAX_FAILED`` wrong codes in all, pair-setup answers kTLVError_MaxTries, even to the right
code, until ``hapbridge reset-pairing``. The count lives in the storage directory
(``pair-setup-attempts.json``, 0600, written atomically before the answer is sent), so a
restart does not give a guesser another 100.

The short-term throttle only slows a guesser down; it must not lock the owner out. It is
kept per source address: after ``FREE_FAILURES`` wrong codes from one address, that address
waits ``BASE_BACKOFF`` seconds, doubling with each further wrong code up to
``MAX_BACKOFF``, and is told kTLVError_Busy meanwhile. Every other address, the owner's
phone included, pairs at once with the right code. A successful pairing clears it all.

Starting a pair-setup (M1) costs the bridge a 3072-bit SRP key (~20 ms of the event loop on
a small machine), so starts are rationed per ``START_WINDOW`` seconds: ``START_BURST`` per
address, ``GLOBAL_BURST`` for all addresses together, beyond which the answer is Busy. A
flood from many addresses must not lock the owner out with it: an address that has not
started (nor failed) in the last ``FORGET_AFTER`` seconds, as the owner's phone, draws on a
reserve of ``NEW_BURST`` more starts per window once the shared budget is spent. An address
that started is no longer new for ``FORGET_AFTER``: keeping the reserve spent takes
``NEW_BURST`` never-seen addresses every window (900 per quarter of an hour), and a refused
start does not make the owner's address known.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hapbridge.log_limit import RateLimitedLog
from hapbridge.storage import Storage, StorageError

_LOGGER = logging.getLogger(__name__)

ATTEMPTS_FILE = "pair-setup-attempts.json"
MAX_FAILED = 100  # HAP: refuse pair-setup after 100 unsuccessful attempts
FREE_FAILURES = 3  # wrong codes an address may try before it has to wait
BASE_BACKOFF = 1.0
MAX_BACKOFF = 60.0
FORGET_AFTER = 900.0  # an address quiet this long starts afresh (the total stays)
MAX_ADDRESSES = 1024  # addresses remembered at once (the oldest go first)
START_WINDOW = 10.0
START_BURST = 5  # pair-setup starts per address per window (an owner needs one or two)
GLOBAL_BURST = 30  # per window, all addresses together: SRP keys cost ~6 % of a core
NEW_BURST = 10  # per window, more for addresses not seen for FORGET_AFTER
LOCKED_OUT = (
    "pair-setup is refused: {count} wrong setup codes were tried (HomeKit allows "
    f"{MAX_FAILED}); stop the bridge and run 'hapbridge reset-pairing' to allow pairing again"
)


class Refusal:
    """Why a pair-setup step is refused (the TLV error HAP names for it)."""

    MAX_TRIES = b"\x05"
    BUSY = b"\x07"


@dataclass
class _Address:
    failures: int = 0
    blocked_until: float = 0.0
    last: float = 0.0
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=START_BURST))


def _over(starts: deque[float], now: float) -> bool:
    """Whether a burst-sized window of starts is already full."""
    return len(starts) == starts.maxlen and now - starts[0] < START_WINDOW


def read_failed(storage: Storage) -> int:
    """The persisted count of wrong setup codes (0 when none was ever tried).

    A damaged file counts as the cap: a guesser must not get a fresh 100 by corrupting it.
    """
    try:
        data = storage.read_json(ATTEMPTS_FILE)
    except StorageError:
        return MAX_FAILED
    if data is None:
        return 0
    value = data.get("failed") if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return MAX_FAILED
    return value


def reset_failed(storage: Storage) -> int:
    """Forget the wrong setup codes (``reset-pairing``); the count there was."""
    before = read_failed(storage) if storage.path(ATTEMPTS_FILE).exists() else 0
    if storage.path(ATTEMPTS_FILE).exists():
        storage.write_json(ATTEMPTS_FILE, {"failed": 0})
    return before


class PairingAttempts:
    """The bridge's view: ``refusal(address)`` before a pair-setup step, ``failed(address)``
    after a wrong code, ``succeeded()`` after a pairing."""

    def __init__(self, storage: Storage, *, base_backoff: float = BASE_BACKOFF,
                 max_backoff: float = MAX_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = storage
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self.total = read_failed(storage)
        self._addresses: OrderedDict[str, _Address] = OrderedDict()
        self._starts: deque[float] = deque(maxlen=GLOBAL_BURST)
        self._new_starts: deque[float] = deque(maxlen=NEW_BURST)
        self._log = RateLimitedLog(_LOGGER)

    @property
    def locked_out(self) -> bool:
        return self.total >= MAX_FAILED

    def announce(self) -> None:
        """Said once at start: a bridge that cannot be paired must say why."""
        if self.locked_out:
            _LOGGER.error(LOCKED_OUT.format(count=self.total))

    def refusal(self, address: str, *, starting: bool = False) -> bytes | None:
        """The TLV error for a pair-setup step from ``address`` (``starting``: M1), or None
        to go on (a start is then counted)."""
        if self.locked_out:
            self._log.log("max-tries", logging.ERROR, LOCKED_OUT.format(count=self.total))
            return Refusal.MAX_TRIES
        now = self._clock()
        entry = self._entry(address, create=False)
        if entry is not None and now < entry.blocked_until:
            self._log.log("busy", logging.WARNING,
                          "pair-setup from %s refused for a few seconds after %d wrong "
                          "setup codes", address, entry.failures)
            return Refusal.BUSY
        if not starting:
            return None
        budget = self._budget(entry, now)
        if budget is None:
            self._log.log("starts", logging.WARNING,
                          "pair-setup from %s refused for a few seconds: too many started "
                          "at once", address)
            return Refusal.BUSY
        budget.append(now)
        entry = self._entry(address, create=True)
        assert entry is not None
        entry.starts.append(now)
        return None

    def _budget(self, entry: _Address | None, now: float) -> deque[float] | None:
        """The window a start from this address is counted in, None when all are full."""
        if entry is not None and _over(entry.starts, now):
            return None
        if not _over(self._starts, now):
            return self._starts
        if entry is None and not _over(self._new_starts, now):
            return self._new_starts  # a new address: the reserve
        return None

    def failed(self, address: str) -> None:
        """A wrong setup code from ``address``: counted on disk before the answer goes."""
        self.total += 1
        try:
            self.storage.write_json(ATTEMPTS_FILE, {"failed": self.total})
        except StorageError as err:
            # Not counted on disk means a restart forgives it: refuse instead.
            _LOGGER.error("cannot save the count of wrong setup codes (%s): pair-setup is "
                          "refused until it can be", err)
            self.total = max(self.total, MAX_FAILED)
        entry = self._entry(address, create=True)
        assert entry is not None
        entry.failures += 1
        extra = entry.failures - FREE_FAILURES
        if extra >= 0:
            entry.blocked_until = entry.last + min(self.max_backoff,
                                                   self.base_backoff * 2 ** extra)
        if self.locked_out:
            _LOGGER.error(LOCKED_OUT.format(count=self.total))
        else:
            self._log.log("failed", logging.WARNING,
                          "a wrong HomeKit setup code was tried from %s (%d of %d before "
                          "pair-setup is refused for good)", address, self.total, MAX_FAILED)

    def succeeded(self) -> None:
        """The owner paired: the wrong codes before it no longer count."""
        self._addresses.clear()
        if self.total:
            self.total = 0
            try:
                self.storage.write_json(ATTEMPTS_FILE, {"failed": 0})
            except StorageError as err:
                _LOGGER.warning("cannot reset the count of wrong setup codes (%s)", err)

    def _entry(self, address: str, *, create: bool) -> _Address | None:
        now = self._clock()
        entry = self._addresses.get(address)
        if entry is not None and now - entry.last > FORGET_AFTER:
            del self._addresses[address]
            entry = None
        if entry is None:
            if not create:
                return None
            entry = self._addresses[address] = _Address()
            while len(self._addresses) > MAX_ADDRESSES:
                self._addresses.popitem(last=False)
        if create:
            entry.last = now
            self._addresses.move_to_end(address)
        return entry

