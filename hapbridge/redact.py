"""Keep secrets out of logs, including the log lines of libraries we call.

httpx logs every request URL at INFO; a GET carries ``accessToken`` in its query string, and
httpcore's DEBUG lines can show headers and bodies. A filter masks such values before any
handler (or pytest's caplog) sees them. Our own code never logs a secret in the first place.

URL paths are secrets too where they are not the TTLock API's: a ``forwardTo`` target's
path holds its webhook id, and the callback URL's path is the only thing guarding the
receiver (the simulator posts to it). So the filter keeps the path of a URL only when it is
an API endpoint (``/v3/...``, ``/oauth2/...``: its secret query values are masked as
above) and masks any other path whole; the callback secret and the forward targets' paths
are also registered (:func:`mask_in_logs`) and masked wherever they appear in a line.

Where the filter sits: a logger's filters run only for records logged *on that logger*, not
for records propagating up from children, so a filter on ``httpcore`` misses
``httpcore.http11``. Handler filters would catch everything but belong to whoever configures
logging (the CLI, pytest, a user's dictConfig) and can be replaced behind our back. So the
filter goes on each library logger *and every child logger*: the known module loggers are
created up front (``getLogger`` returns the same object when the library imports later),
and each install call also sweeps the logger registry for children that appeared since.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = (
    "accessToken|access_token|refreshToken|refresh_token|clientSecret|client_secret|"
    "password|lockData|lockKey|aesKeyStr|adminPwd|"
    "keyboardPwd|newKeyboardPwd"  # guests' passcodes (and card numbers, in pushed records)
)
# key, then an optional closing quote of a quoted key, '=' or ':', then the value: a quoted
# string (to its closing quote) or a bare run up to a separator.
_PATTERN = re.compile(
    rf"""(?i)(?<![A-Za-z0-9_])({_SECRET_PARAMS})(["']?\s*[=:]\s*)"""
    r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^&\s"',;}\])]+)"""
)

MASK = "***"

# scheme://host[:port], then the path, query and fragment up to a quote, space or bracket
_URL = re.compile(r"""(?i)(https?://[^/\s"'<>?#]+)([/?#][^\s"'<>]*)?""")
_API_PATH = re.compile(r"/(?:v3|oauth2)/[A-Za-z0-9/]*(?:\?|$)")
_MIN_SECRET = 6  # shorter registered text would mask ordinary words
_secrets: list[str] = []  # longest first, sorted once here rather than per log line

LIBRARY_LOGGERS = ("httpx", "httpcore", "aiohttp.access", "aiohttp.server")
KNOWN_CHILDREN = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def _masked(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group(1)}{match.group(2)}{quote}{MASK}{quote}"


def _url_masked(match: re.Match[str]) -> str:
    rest = match.group(2) or ""
    if not rest or rest == "/" or _API_PATH.match(rest):
        return match.group(0)
    return f"{match.group(1)}/{MASK}"


def mask_in_logs(*texts: str) -> None:
    """Mask ``texts`` (a secret path, a webhook URL's path) in every line the filter sees."""
    new = {text.strip("/") for text in texts if len(text.strip("/")) >= _MIN_SECRET}
    if not new <= set(_secrets):
        _secrets[:] = sorted(new.union(_secrets), key=len, reverse=True)


def redact(text: str) -> str:
    """Mask registered secrets, non-API URL paths and the values of secret-named
    parameters in ``text`` (query, form, JSON, repr)."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _PATTERN.sub(_masked, _URL.sub(_url_masked, text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


_FILTER = RedactingFilter()


def _covered(name: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in LIBRARY_LOGGERS)


def install_log_redaction() -> None:
    """Attach the filter to the HTTP libraries' loggers and all their children (idempotent).

    Cheap enough to call on every client construction, which picks up child loggers a
    library created after the previous call.
    """
    names = set(LIBRARY_LOGGERS) | set(KNOWN_CHILDREN)
    names.update(name for name in list(logging.root.manager.loggerDict) if _covered(name))
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
