"""TTLock errors: every errcode the bridge knows, mapped to a kind the code can act on.

The cloud answers HTTP 200 with ``{"errcode": N, ...}`` for nearly everything; transport
failures (timeouts, 5xx, non-JSON) join the same hierarchy so callers handle one family.
Messages say what happened and what the user can do; they never carry secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from hapbridge.errors import HapbridgeError
from hapbridge.ttlock.reach import Cause


class TTLockError(HapbridgeError):
    """Any failure talking to the TTLock cloud."""

    retryable: bool = False
    # True only when the cloud certainly did not carry out the command (busy answer, no
    # connection), so even a non-idempotent command may be sent again.
    not_executed: bool = False
    # False only when the request never got to the server (no connection, unusable URL): it
    # costs nothing against the API call limit. A busy answer did get there.
    reached_server: bool

    def __init__(
        self,
        message: str,
        *,
        errcode: int | None = None,
        path: str | None = None,
        not_executed: bool | None = None,
        reached_server: bool = True,
    ):
        super().__init__(message)
        self.errcode = errcode
        self.path = path
        self.reached_server = reached_server
        if not_executed is not None:
            self.not_executed = not_executed


class BusyError(TTLockError):
    """The gateway or Wi-Fi lock is carrying another command: try again shortly."""

    retryable = True
    not_executed = True  # the cloud refused before forwarding anything


class ServerError(TTLockError):
    """The cloud failed (5xx, errcode 1/90000, non-JSON answer): try again."""

    retryable = True


class TransportError(TTLockError):
    """No answer: timeout or connection failure (``not_executed`` when never connected)."""

    retryable = True


class UnreachableError(TTLockError):
    """The lock cannot be reached remotely now (gateway offline, no gateway, Wi-Fi offline)."""


class AuthError(TTLockError):
    """The access token is unknown or expired, or the refresh token is dead."""


class CredentialsError(TTLockError):
    """Account, password, client id or secret is wrong: a configuration problem."""

    exit_code = 2


class ConfigurationError(TTLockError):
    """Something the user must change: region, clock, a switch in the TTLock app."""

    exit_code = 2


class LockNotFoundError(TTLockError):
    """The lock no longer exists (deleted from the account): treat it as removed."""


class PermissionDeniedError(TTLockError):
    """The account may not do this on this lock."""


class NotSupportedError(TTLockError):
    """The lock does not support this function (or it is switched off)."""


class QuotaError(TTLockError):
    """The developer account's API call limit is reached."""


class PasscodeError(TTLockError):
    """The passcode was rejected: length, duplicate, not found."""


class UnknownError(TTLockError):
    """An errcode the bridge does not know."""


@dataclass(frozen=True)
class ErrcodeInfo:
    """``generic``: the message cannot say what went wrong, so the cloud's own description
    (which names the parameter or the reason) is appended."""

    kind: type[TTLockError]
    message: str
    generic: bool = False


ERRCODES: dict[int, ErrcodeInfo] = {
    -3003: ErrcodeInfo(BusyError, "the gateway is busy with another command; try again"),
    -3037: ErrcodeInfo(BusyError, "the Wi-Fi lock is busy with another command; try again"),
    -3002: ErrcodeInfo(
        UnreachableError,
        f"the gateway is offline: {Cause.GATEWAY_OFFLINE.advice}",
    ),
    -2012: ErrcodeInfo(
        UnreachableError,
        f"the lock is not connected to any gateway: {Cause.NO_GATEWAY.advice}",
    ),
    -3036: ErrcodeInfo(
        UnreachableError, "the Wi-Fi lock is offline: check its Wi-Fi signal and batteries"
    ),
    -3034: ErrcodeInfo(UnreachableError, "the Wi-Fi lock has no network: check its Wi-Fi"),
    -3035: ErrcodeInfo(
        UnreachableError,
        "the Wi-Fi lock is in power-saving mode: wake it or turn power saving off in the app",
    ),
    -1003: ErrcodeInfo(
        LockNotFoundError,
        "the lock no longer exists on this account (deleted in the TTLock app)",
    ),
    -4043: ErrcodeInfo(
        NotSupportedError,
        "Remote Unlock is off for this lock (or the function is not supported): "
        "enable Remote Unlock in the TTLock app's lock settings",
    ),
    -3046: ErrcodeInfo(
        PermissionDeniedError,
        "this account has no remote-unlock permission for the lock: "
        "use the lock's admin account in the TTLock app",
    ),
    -2025: ErrcodeInfo(
        PermissionDeniedError, "the lock is frozen: unfreeze it in the TTLock app"
    ),
    -2018: ErrcodeInfo(
        PermissionDeniedError,
        "permission denied: the account is not allowed to use this lock (is it the admin?)",
    ),
    20002: ErrcodeInfo(
        PermissionDeniedError,
        "the account is not the lock's admin: log in with the admin account",
    ),
    10003: ErrcodeInfo(AuthError, "the access token is unknown"),
    10004: ErrcodeInfo(AuthError, "the access token has expired"),
    10011: ErrcodeInfo(AuthError, "the refresh token is invalid"),
    10007: ErrcodeInfo(
        CredentialsError,
        "wrong TTLock account or password: use the TTLock app account "
        "(not the developer-portal login) and its password",
    ),
    10000: ErrcodeInfo(
        CredentialsError,
        "invalid client id: copy clientid from your TTLock developer application",
    ),
    10001: ErrcodeInfo(
        CredentialsError,
        "invalid client (id or secret): copy clientid and clientsecret "
        "from your TTLock developer application",
    ),
    30006: ErrcodeInfo(
        QuotaError,
        "the TTLock API call limit is reached: wait, or raise apiBudgetPerMonth only "
        "if your developer plan allows it",
    ),
    30007: ErrcodeInfo(
        QuotaError,
        "the monthly TTLock API call limit is reached: lower the poll rate "
        "(apiBudgetPerMonth) or upgrade the developer plan",
    ),
    30008: ErrcodeInfo(
        ConfigurationError,
        "wrong region for this account: set \"region\" to \"cn\" or \"eu\" (the other one)",
    ),
    30002: ErrcodeInfo(
        ConfigurationError,
        "a TTLock username may hold only English letters and digits: choose another",
    ),
    30003: ErrcodeInfo(
        ConfigurationError,
        "this username is already registered under your developer application: choose "
        "another (if it is yours, log in with the prefixed name the registration printed)",
    ),
    30005: ErrcodeInfo(
        ConfigurationError, "the TTLock cloud wants the password as its lowercase md5"
    ),
    80000: ErrcodeInfo(
        ConfigurationError,
        "the TTLock cloud rejected our clock (more than 5 minutes off): "
        "fix this machine's time (enable NTP)",
    ),
    -3006: ErrcodeInfo(PasscodeError, "the passcode must be 4 to 9 digits"),
    -3007: ErrcodeInfo(PasscodeError, "this passcode already exists on the lock: choose another"),
    -2009: ErrcodeInfo(PasscodeError, "no such passcode on this lock"),
    -3009: ErrcodeInfo(
        PasscodeError,
        "the lock holds as many passcodes as it can (about 250): "
        "delete old ones, e.g. with 'hapbridge passcodes cleanup'",
    ),
    -3: ErrcodeInfo(
        UnknownError, "the TTLock cloud rejected a parameter of the request", generic=True
    ),
    -4037: ErrcodeInfo(
        PermissionDeniedError, "no such gateway on this account: check the gateway id"
    ),
    -4082: ErrcodeInfo(
        NotSupportedError, "the lock does not accept this auto-lock time (at most 900 seconds)"
    ),
    10010: ErrcodeInfo(CredentialsError, "the TTLock cloud refused the login request"),
    1: ErrcodeInfo(ServerError, "the TTLock cloud reported a failure; try again", generic=True),
    90000: ErrcodeInfo(
        ServerError, "the TTLock cloud had an internal error; try again", generic=True
    ),
}


def error_for(
    errcode: int,
    errmsg: str | None = None,
    *,
    path: str | None = None,
    description: str | None = None,
) -> TTLockError:
    """Build the exception for a nonzero errcode.

    ``errmsg`` and ``description`` are the cloud's own words, already cleaned of secrets
    by the caller. They follow ``TTLock error N:``, and only where our message is not
    specific: for unknown codes and generic ones such as -3, whose description names the
    rejected parameter.
    """
    repeated = (description or "").casefold() == (errmsg or "").casefold()
    news = None if repeated else description  # the cloud often repeats its errmsg there
    info = ERRCODES.get(errcode)
    if info is None:
        detail = _joined(errmsg, news)
        return UnknownError(f"TTLock error {errcode}{detail}", errcode=errcode, path=path)
    detail = _joined(news) if info.generic else ""
    return info.kind(
        f"{info.message} (TTLock error {errcode}{detail})", errcode=errcode, path=path
    )


def _joined(*parts: str | None) -> str:
    """``: first: second`` for the parts that are not empty."""
    return "".join(f": {part}" for part in parts if part)


class AccessError(TTLockError):
    """An eKey, QR code, fingerprint or card was refused: there is no such one, or the
    platform does not allow that receiver."""


# eKeys, fingerprints and IC cards (errorCode.md, sections 3 and 6). Kept as their own
# block so that this family's codes stay together.
ERRCODES.update({
    -1008: ErrcodeInfo(AccessError, "no such eKey on this lock ('hapbridge ekeys list')"),
    -1016: ErrcodeInfo(AccessError, "an eKey with this name exists already: choose another"),
    -1027: ErrcodeInfo(
        AccessError, "this account is bound to another account: send the eKey to that one"),
    -2019: ErrcodeInfo(AccessError, "an eKey cannot be sent to the account that sends it"),
    -2020: ErrcodeInfo(AccessError, "an eKey cannot be sent to the lock's administrator"),
    -4064: ErrcodeInfo(
        AccessError,
        "the receiver has no TTLock account: they register in the TTLock app first (or give "
        "a phone number or e-mail address with --create-account)"),
    -1021: ErrcodeInfo(AccessError, "no such IC card on this lock ('hapbridge cards list')"),
    -1023: ErrcodeInfo(
        AccessError, "no such fingerprint on this lock ('hapbridge fingerprints list')"),
})
