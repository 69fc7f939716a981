"""What a judged record does to the door sensor's tamper flag: pure.

HomeKit's one place for "someone is forcing this lock" is StatusTampered on the door
sensor. A tamper alarm (record 44) sets it; the next ordinary use of the door (a lock,
unlock or door record that changed the shown state, with no alert of its own) clears it,
since someone then used the door as usual. Anything else leaves it as it was.
"""

from __future__ import annotations

from hapbridge.push.ordering import Judgement
from hapbridge.ttlock.record_types import Alert


def tampered_after(judgement: Judgement, tampered: bool) -> bool:
    """The tamper flag once ``judgement`` is applied, from ``tampered`` before it."""
    if judgement.alert is Alert.TAMPER:
        return True
    if judgement.changes_state and judgement.alert is None and (
            judgement.lock is not None or judgement.door is not None):
        return False
    return tampered
