"""One HTTP exchange with the TTLock cloud, with every failure mapped to a TTLockError."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from hapbridge.ttlock.errors import ServerError, TransportError, UnknownError, error_for

_LOGGER = logging.getLogger(__name__)


async def exchange(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Send one request and return the answer's JSON object, or raise.

    Reads go as GET with query parameters; everything else as a form-urlencoded POST body
    (the cloud rejects JSON bodies).
    """
    try:
        if method == "GET":
            response = await http.get(path, params=params)
        else:
            response = await http.post(path, data=params)
    except httpx.TimeoutException:
        raise TransportError(
            f"the TTLock cloud did not answer in time ({path})", path=path
        ) from None
    except httpx.HTTPError as err:
        raise TransportError(
            f"cannot reach the TTLock cloud ({type(err).__name__}); check the network",
            path=path,
        ) from None
    if response.status_code >= 500:
        raise ServerError(f"the TTLock cloud failed (HTTP {response.status_code})", path=path)
    try:
        body = response.json()
    except ValueError:
        raise ServerError(
            f"the TTLock cloud sent a non-JSON answer (HTTP {response.status_code})", path=path
        ) from None
    if not isinstance(body, dict):
        raise ServerError("the TTLock cloud sent an unexpected answer", path=path)
    if response.status_code >= 400:
        detail = body.get("error_description") or body.get("errmsg") or body.get("error")
        raise UnknownError(
            f"the TTLock cloud refused the request (HTTP {response.status_code}: {detail})",
            path=path,
        )
    errcode = body.get("errcode")
    if errcode not in (None, 0, "0"):
        try:
            code = int(errcode)
        except (TypeError, ValueError):
            code = 1
        _LOGGER.debug("%s answered errcode %s", path, code)
        raise error_for(code, str(body.get("errmsg") or ""), path=path)
    return body
