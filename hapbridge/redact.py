"""Keep secrets out of logs, including the log lines of libraries we call.

httpx logs every request URL at INFO; a GET carries ``accessToken`` in its query string. A
filter on the ``httpx`` logger masks such values before any handler (or pytest's caplog)
sees them. Our own code never logs a secret in the first place.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = (
    "accessToken|access_token|refreshToken|refresh_token|clientSecret|client_secret|"
    "password|lockData|lockKey|aesKeyStr|adminPwd"
)
_PATTERN = re.compile(rf"(?i)\b({_SECRET_PARAMS})([=:]\s*\"?)([^&\s\"',}}]+)")

MASK = "***"


def redact(text: str) -> str:
    """Mask the values of secret-named parameters in ``text``."""
    return _PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


_installed = False


def install_log_redaction() -> None:
    """Attach the filter to the loggers of the HTTP libraries (idempotent)."""
    global _installed
    if _installed:
        return
    for name in ("httpx", "httpcore", "aiohttp.access", "aiohttp.server"):
        logging.getLogger(name).addFilter(RedactingFilter())
    _installed = True
