"""The callback URL: a secret path, generated once and kept, and the URLs it makes.

The cloud's push is not signed, so the path is the only thing keeping strangers from posting
records: 192 random bits, kept in the storage directory (0600) so the URL pasted into the
TTLock developer platform stays valid across restarts.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from hapbridge.push.settings import CallbackSettings
from hapbridge.storage import Storage, StorageError

SECRET_FILE = "callback.json"
SECRET_BYTES = 24  # 192 bits; the issue asks for at least 128
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")  # >= 128 bits of URL-safe base64


def path_secret(storage: Storage) -> str:
    """The secret path segment, made on first use; the same on every later call."""
    with storage.locked(SECRET_FILE, timeout=5):
        data = storage.read_json(SECRET_FILE)
        if data is None:
            secret = secrets.token_urlsafe(SECRET_BYTES)
            storage.write_json(SECRET_FILE, {"pathSecret": secret})
            return secret
    secret = data.get("pathSecret") if isinstance(data, dict) else None
    if not isinstance(secret, str) or not _SECRET_RE.fullmatch(secret):
        raise StorageError(
            f"{storage.path(SECRET_FILE)} holds no usable callback secret: delete it to make "
            "a new one, then paste the new 'hapbridge callback-url' into the TTLock "
            "developer platform"
        )
    return secret


@dataclass(frozen=True)
class CallbackUrls:
    local: str  # where the receiver listens
    public: str | None  # where the user's proxy or tunnel serves it, when publicUrl is set

    @property
    def to_paste(self) -> str:
        return self.public or self.local


def _host(address: str) -> str:
    """A bind address as a URL host: an any-address shows as loopback, IPv6 in brackets."""
    ip = ipaddress.ip_address(address)
    if ip.is_unspecified:
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    return f"[{ip}]" if ip.version == 6 else str(ip)


def callback_urls(settings: CallbackSettings, secret: str) -> CallbackUrls:
    local = f"http://{_host(settings.bind[0])}:{settings.port}/{secret}"
    public = f"{settings.public_url}/{secret}" if settings.public_url else None
    return CallbackUrls(local=local, public=public)


def receiver_paths(settings: CallbackSettings, secret: str) -> frozenset[str]:
    """The request paths that carry the secret: ``/SECRET``, and ``/PREFIX/SECRET`` when
    publicUrl has a path a proxy may pass on unstripped."""
    paths = {f"/{secret}"}
    if settings.public_url:
        prefix = urlsplit(settings.public_url).path.rstrip("/")
        if prefix:
            paths.add(f"{prefix}/{secret}")
    return frozenset(paths)
