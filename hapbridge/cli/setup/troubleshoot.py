"""What a failed login means and what to do, one line each: Hygate's troubleshooting table
(symptom, cause, fix) for the confusions every TTLock integration meets: the developer
account versus the app account, the md5, the prefixed name, the region."""

from __future__ import annotations

from dataclasses import dataclass

from hapbridge.config import REGIONS
from hapbridge.errors import HapbridgeError
from hapbridge.ttlock.errors import TransportError, TTLockError

PORTAL = "euopen.ttlock.com"


@dataclass(frozen=True)
class Where:
    """The cloud that was asked: a region's server, or a --base-url."""

    url: str
    region: str | None  # None: a --base-url
    in_config: bool = False  # read from config.json (check), not typed as flags (init)

    @property
    def switch(self) -> str:
        if self.region is None:
            return 'check "baseUrl" in the config' if self.in_config else "check --base-url"
        others = [name for name in REGIONS if name != self.region]
        if self.in_config:
            return " or ".join(f'set "region" to "{name}" in the config' for name in others)
        return " or ".join(f"--region {name}" for name in others)


def _account(where: Where) -> str:
    return ("the TTLock cloud does not know this account with this password; use the account "
            "you sign in to the TTLock app with (not your developer-portal login at "
            f"{PORTAL}) and the password you type in the app (hapbridge hashes it; a 32-digit "
            "md5 is taken as it is, so do not hash it twice); an account made with "
            "'hapbridge register' signs in with the prefixed name it printed (abcd_name); "
            f"if all that is right, the account may live in another region: {where.switch}")


def _client(where: Where) -> str:
    return ("the TTLock cloud does not know this client id and secret; copy both from your "
            f"application's page at {PORTAL} (Application → the app's details), without "
            "spaces; a new application works once TTLock has approved it")


def _region(where: Where) -> str:
    return f"this account lives in another region than {where.url}: {where.switch}"


def _network(err: TTLockError, where: Where) -> str:
    failed = "cannot connect to" if err.not_executed else "no answer in time from"
    return (f"{failed} {where.url}: check this machine's network, DNS and any proxy or "
            f"firewall (try: curl -sI {where.url}), or {where.switch}")


def _clock(where: Where) -> str:
    return ("the TTLock cloud refused this machine's clock (more than 5 minutes off): set the "
            "time (on a Raspberry Pi: sudo timedatectl set-ntp true), then try again")


TABLE = {10007: _account, 10000: _client, 10001: _client, 30008: _region, 80000: _clock}


def where_configured(region: str, base_url: str | None, api_url: str) -> Where:
    """The cloud a config points at (``check`` explains with the same table as init)."""
    return Where(api_url, None if base_url else region, in_config=True)


def explain(err: TTLockError, where: Where) -> str:
    """One line: what is wrong and the fix, with the errcode for a search engine."""
    if isinstance(err, TransportError):
        return _network(err, where)
    advice = TABLE.get(err.errcode or 0)
    if advice is not None:
        return f"{advice(where)} (TTLock error {err.errcode})"
    return str(err)  # the client's own message already names the fix


class LoginFailed(HapbridgeError):
    """A login or registration the cloud refused, explained; the exit code of the cause."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
