"""/v3/user/register: app accounts created under the developer application.

As documented (``user/register.md``): ``clientId``, ``clientSecret``, ``username`` (English
letters and digits only: 30002), ``password`` (the lowercase md5, 32 characters: anything
else 30005) and ``date``; the answer is ``{"username": "<prefix>_<username>"}``, the name to
log in with. A name already registered answers 30003. No access token: the application's
own secret is the authority. A new account holds no locks until they are added in the app.
"""

from __future__ import annotations

import re
from typing import Any

from hapbridge.simulator.api import check_date
from hapbridge.simulator.config import SimConfig
from hapbridge.simulator.errors import ApiError
from hapbridge.simulator.oauth import account_uid
from hapbridge.simulator.params import Params
from hapbridge.simulator.world import World

PATH = "/v3/user/register"
_USERNAME_RE = re.compile(r"[A-Za-z0-9]+")
_MD5_RE = re.compile(r"[0-9a-f]{32}")


def register_answer(params: Params, world: World, config: SimConfig) -> dict[str, Any]:
    if (params.str("clientId", "") != config.client_id
            or params.str("clientSecret", "") != config.client_secret):
        raise ApiError(10001)
    check_date(params, config)
    username = params.str("username")
    if not _USERNAME_RE.fullmatch(username):
        raise ApiError(30002)
    password = params.str("password")
    if not _MD5_RE.fullmatch(password):
        raise ApiError(30005)
    prefixed = f"{config.user_prefix}_{username}"
    if prefixed in world.users or prefixed == config.username:
        raise ApiError(30003)
    uid = account_uid(config) + 1 + len(world.users)
    world.add_user(prefixed, password, uid)
    return {"username": prefixed}
