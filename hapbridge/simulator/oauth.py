"""POST /oauth2/token: the password grant and single-use refresh tokens.

The password arrives as its lowercase md5; a plain password is refused (10007) like the
real cloud does. Accounts made with ``user/register`` log in with their prefixed name.
A refresh consumes its refresh token and retires the access token it was issued with, so
a client that keeps using either finds out (10011 / 10003).
"""

from __future__ import annotations

import hashlib
from typing import Any

from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.params import Params
from hapbridge.simulator.world import World

SCOPE = "user,key,room"


def account_uid(config: SimConfig) -> int:
    """The simulated account's uid: stable for a seed, in the range real uids use."""
    return 8_000_000 + config.seed % 1_000_000


def token_answer(params: Params, world: World, config: SimConfig) -> dict[str, Any]:
    client_id = params.str("clientId", params.str("client_id", ""))
    secret = params.str("clientSecret", params.str("client_secret", ""))
    if client_id != config.client_id or secret != config.client_secret:
        raise ApiError(10001)
    grant = params.str("grant_type", "password")
    if grant == "password":
        username = params.str("username", "")
        password = params.str("password", "").lower()
        if username == config.username:
            expected = hashlib.md5(config.password.encode("utf-8")).hexdigest()
            uid = account_uid(config)
        elif (user := world.users.get(username)) is not None:
            expected, uid = user.password_md5, user.uid
        else:
            raise ApiError(10007)
        if password != expected:
            raise ApiError(10007)
        return _grant(world, config, uid, with_uid=True)
    if grant == "refresh_token":
        issued = world.refresh_tokens.pop(params.str("refresh_token", ""), None)
        if issued is None:
            raise ApiError(10011)
        uid, old_access = issued
        world.access_tokens.pop(old_access, None)
        return _grant(world, config, uid, with_uid=False)  # a refresh answers no uid
    raise ApiError(10010)


def _grant(world: World, config: SimConfig, uid: int, *, with_uid: bool) -> dict[str, Any]:
    access, refresh = world.issue_tokens(uid, config.token_lifetime)
    answer: dict[str, Any] = {
        "access_token": access,
        "refresh_token": refresh,
        "openid": uid,
        "scope": SCOPE,
        "token_type": "Bearer",
        "expires_in": config.token_lifetime,
    }
    if with_uid:
        answer["uid"] = uid
    return answer
