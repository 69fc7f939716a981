"""The TTLock Open Platform cloud: client, typed models, errors."""

from hapbridge.ttlock.auth import Credentials, password_md5
from hapbridge.ttlock.client import TTLockClient
from hapbridge.ttlock.errors import TTLockError
from hapbridge.ttlock.retry import RetryPolicy
from hapbridge.ttlock.usage import UsageCounter

__all__ = [
    "Credentials",
    "RetryPolicy",
    "TTLockClient",
    "TTLockError",
    "UsageCounter",
    "password_md5",
]
