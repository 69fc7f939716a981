"""``user/register``: an app account created under the developer application.

Not an authenticated call (there is no account yet): the application's id and secret are
the credentials. The cloud puts the application's fixed prefix before the name and answers
the result (``abcd_name``), the only name that logs in from then on. Sent once, never
retried: after a lost answer the account may exist, and a second try would answer 30003.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

from hapbridge.redact import install_log_redaction
from hapbridge.storage import Storage
from hapbridge.ttlock.auth import password_md5
from hapbridge.ttlock.client import DEFAULT_TIMEOUT
from hapbridge.ttlock.errors import ConfigurationError, ServerError, TTLockError
from hapbridge.ttlock.transport import bad_url_error, exchange
from hapbridge.ttlock.usage import UsageCounter

REGISTER_PATH = "/v3/user/register"
USERNAME_RE = re.compile(r"[A-Za-z0-9]+")


def check_username(username: str) -> str:
    """The name as the cloud accepts it (letters and digits), or a one-line error."""
    if not USERNAME_RE.fullmatch(username):
        raise ConfigurationError(
            f"{username!r} cannot be registered: a TTLock username may hold only English "
            "letters and digits (no @, dot, dash or space): choose another",
            reached_server=False,
        )
    return username


async def register_user(
    base_url: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    *,
    storage: Storage | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> str:
    """Register ``username`` and return the prefixed name the cloud answers."""
    install_log_redaction()
    check_username(username)
    form = {
        "clientId": client_id,
        "clientSecret": client_secret,
        "username": username,
        "password": password_md5(password),
        "date": int(clock() * 1000),
    }
    usage = UsageCounter(storage)
    try:
        try:
            http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                     headers={"User-Agent": "hapbridge"})
        except (httpx.InvalidURL, ValueError) as err:
            raise bad_url_error(base_url, err) from None
        async with http:
            try:
                answer = await exchange(http, "POST", REGISTER_PATH, form)
            except TTLockError as err:
                if err.reached_server:
                    usage.record(REGISTER_PATH)
                raise
        usage.record(REGISTER_PATH)
    finally:
        await usage.aclose()
    prefixed = answer.get("username")
    if not isinstance(prefixed, str) or not prefixed:
        raise ServerError("the TTLock cloud answered the registration without a username",
                          path=REGISTER_PATH)
    return prefixed
