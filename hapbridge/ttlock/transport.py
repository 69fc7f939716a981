"""One HTTP exchange with the TTLock cloud, with every failure mapped to a TTLockError.

Only failures that may go away by themselves are retryable (timeouts, connection failures,
5xx). A 3xx or a non-API 4xx means the URL is wrong (a path typo answering 404 HTML, http
redirected to https): retrying cannot help, so it is a ConfigurationError naming the status.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from hapbridge.redact import MASK, redact
from hapbridge.text import without_controls
from hapbridge.ttlock.errors import (
    AuthError,
    ConfigurationError,
    ServerError,
    TransportError,
    TTLockError,
    UnknownError,
    error_for,
)

_LOGGER = logging.getLogger(__name__)

CHECK_URL = "check baseUrl/region in the config"
OAUTH_PATH = "/oauth2/token"
# What httpx (or the socket layer under it) raises for a URL it cannot use: a port out of
# range surfaces as OverflowError/ValueError, sometimes wrapped in an ExceptionGroup by anyio.
_BAD_URL_ERRORS = (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, OverflowError)
# Request parameters never to be repeated in a message: credentials, tokens, passcodes.
SECRET_PARAMS = frozenset({
    "accessToken", "client_secret", "clientSecret", "password", "refresh_token",
    "keyboardPwd", "newKeyboardPwd",
})
MIN_SECRET_LENGTH = 4  # passcodes have 4 digits or more; shorter values are not secrets
MAX_CLOUD_TEXT = 200


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def unreachable_text(base_url: object, err: BaseException) -> str:
    """One line for a cloud that cannot be reached: which URL, what happened (in words,
    not an exception's class name), what to check."""
    url = str(base_url).rstrip("/")
    what = ("cannot connect to" if isinstance(err, httpx.ConnectError)
            else "lost the connection to")
    text = f"{what} the TTLock cloud at {url}; check the network (try: curl -sI {url})"
    if httpx.URL(url).host in LOOPBACK_HOSTS:
        text += ("; a local cloud (the demo's, a simulator) answers only while it runs: "
                 "start it again (make demo) or fix baseUrl in the config")
    return text


def bad_url_error(base_url: object, err: BaseException, path: str | None = None) -> TTLockError:
    """One line for a base URL httpx cannot use (nothing was sent)."""
    return ConfigurationError(
        f"the TTLock cloud URL {base_url} is not usable ({type(err).__name__}: {err}); "
        f"{CHECK_URL}",
        path=path,
        reached_server=False,
    )


async def _request(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any]
) -> httpx.Response:
    """Send, or raise a TTLockError that does not chain httpx's exception.

    The error is raised after the ``except`` block on purpose: ``raise ... from None`` only
    hides the context, and httpx's exception keeps the request (the URL with the access
    token, or the login form with the client secret) for any tool that walks the chain.
    """
    try:
        if method == "GET":
            return await http.get(path, params=params)
        return await http.post(path, data=params)
    except httpx.TimeoutException as err:
        unsent = isinstance(err, httpx.ConnectTimeout | httpx.PoolTimeout)
        failure: TTLockError = TransportError(
            f"the TTLock cloud did not answer in time ({path})",
            path=path,
            not_executed=unsent,
            reached_server=not unsent,
        )
    except _BAD_URL_ERRORS as err:
        failure = bad_url_error(http.base_url, err, path)
    except httpx.HTTPError as err:
        unsent = isinstance(err, httpx.ConnectError)
        failure = TransportError(
            unreachable_text(http.base_url, err), path=path, not_executed=unsent,
            reached_server=not unsent,
        )
    except ExceptionGroup as group:
        _, other = group.split(_BAD_URL_ERRORS)
        if other is None:
            failure = bad_url_error(http.base_url, group.exceptions[0], path)
        else:
            failure = TransportError(
                unreachable_text(http.base_url, other.exceptions[0]), path=path)
    raise failure


def cloud_text(value: object, params: dict[str, Any]) -> str:
    """The cloud's words (``errmsg``, ``description``) fit for a one-line message.

    They may echo the request, so the values of its secret parameters and anything named
    like a secret are masked; control characters would break the line; and a runaway text
    is cut short.
    """
    if not isinstance(value, str | int):
        return ""
    text = " ".join(without_controls(str(value)).split())
    for key in SECRET_PARAMS & params.keys():
        secret = str(params[key])
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    text = redact(text)
    return text if len(text) <= MAX_CLOUD_TEXT else text[: MAX_CLOUD_TEXT - 3] + "..."


def _redirect_or_refusal(response: httpx.Response, path: str) -> ConfigurationError:
    status = response.status_code
    where = ""
    if response.is_redirect and (location := response.headers.get("location")):
        target = httpx.URL(location)  # scheme and host only: the query may carry a token
        if target.host:
            where = f" to {target.scheme}://{target.host}"
    kind = "redirected the request" if response.is_redirect else "does not serve this path"
    return ConfigurationError(
        f"the server answered HTTP {status}: it {kind}{where}, so this is not the TTLock "
        f"API; {CHECK_URL}",
        path=path,
    )


async def exchange(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Send one request and return the answer's JSON object, or raise.

    Reads go as GET with query parameters; everything else as a form-urlencoded POST body
    (the cloud rejects JSON bodies).
    """
    response = await _request(http, method, path, params)
    status = response.status_code
    if status >= 500:
        raise ServerError(f"the TTLock cloud failed (HTTP {status})", path=path)
    if status == 429:  # a rate limiter in front of the API: it passes, so wait and retry
        raise ServerError("the TTLock cloud is limiting the request rate (HTTP 429)", path=path)
    if 300 <= status < 400:
        raise _redirect_or_refusal(response, path)
    try:
        body = response.json()
    except ValueError:
        if status >= 400:
            raise _redirect_or_refusal(response, path) from None
        raise ServerError(
            f"the TTLock cloud sent a non-JSON answer (HTTP {status})", path=path
        ) from None
    if not isinstance(body, dict):
        if status >= 400:
            raise _redirect_or_refusal(response, path)
        raise ServerError("the TTLock cloud sent an unexpected answer", path=path)
    errcode = body.get("errcode")
    if errcode not in (None, 0, "0"):
        try:
            code = int(errcode)
        except (TypeError, ValueError):
            code = 1
        _LOGGER.debug("%s answered errcode %s", path, code)
        raise error_for(
            code,
            cloud_text(body.get("errmsg"), params),
            path=path,
            description=cloud_text(body.get("description"), params),
        )
    if status >= 400:
        detail = cloud_text(
            body.get("error_description") or body.get("errmsg") or body.get("error"), params)
        if status == 401 and path != OAUTH_PATH:  # OAuth-style refusal of the access token
            raise AuthError(f"the TTLock cloud refused the access token ({detail})", path=path)
        raise UnknownError(
            f"the TTLock cloud refused the request (HTTP {status}: {detail})", path=path
        )
    return body
