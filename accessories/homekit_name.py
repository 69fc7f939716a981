"""Names HomeKit accepts: lock aliases from the TTLock app often do not qualify.

The Home app refuses to add a bridge whose accessories have names with characters such as
``#``, ``_``, ``()`` or emoji, or that start or end with punctuation, and says only
"unknown error". Names are cleaned where they enter HomeKit, never in the TTLock data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyhap.service import Service

ALLOWED_PUNCTUATION = " '-.,"
MAX_LENGTH = 64


def homekit_name(name: str, fallback: str) -> str:
    """``name`` with other characters turned into spaces, trimmed to start and end with a
    letter or digit, at most MAX_LENGTH long; ``fallback`` when nothing is left."""
    kept = "".join(c if c.isalnum() or c in ALLOWED_PUNCTUATION else " " for c in name)
    words = " ".join(kept.split())[:MAX_LENGTH]
    start, end = 0, len(words)
    while start < end and not words[start].isalnum():
        start += 1
    while end > start and not words[end - 1].isalnum():
        end -= 1
    return words[start:end] or fallback


def service_name(accessory_name: str, suffix: str) -> str:
    """``<accessory><suffix>`` (``Front Door Passage Mode``) within the same rules, the
    suffix never cut off by a long accessory name."""
    room = MAX_LENGTH - len(suffix)
    return homekit_name(f"{homekit_name(accessory_name, 'Lock')[:room].rstrip()}{suffix}",
                        suffix.strip())


def name_service(service: Service, accessory_name: str, suffix: str) -> None:
    """Set a service's Name and ConfiguredName (the name iOS 16+ shows for a service
    inside an accessory) to :func:`service_name`."""
    name = service_name(accessory_name, suffix)
    for char in ("Name", "ConfiguredName"):
        service.get_characteristic(char).set_value(name)
