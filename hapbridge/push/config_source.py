"""Where the ``callback`` settings come from: the TTLock platform block's raw object.

One function on purpose: when the config table gains the callback keys, this is the one
place to swap for ``config.platform.callback``.
"""

from __future__ import annotations

import json
from pathlib import Path

from hapbridge.errors import ConfigError
from hapbridge.push.settings import CallbackSettings


def callback_settings(config_path: Path) -> CallbackSettings | None:
    """The first TTLock platform's ``callback`` (None when absent: no receiver).

    The file was validated by ``load_config`` before; this re-reads only the one object.
    """
    try:
        data = json.loads(Path(config_path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        raise ConfigError(f"cannot read the callback settings from {config_path}") from None
    platforms = data.get("platforms") if isinstance(data, dict) else None
    for index, block in enumerate(platforms if isinstance(platforms, list) else []):
        kind = block.get("platform") if isinstance(block, dict) else None
        if isinstance(kind, str) and kind.lower() == "ttlock":
            raw = block.get("callback")
            where = f"{config_path}: platforms[{index}].callback"
            return None if raw is None else CallbackSettings.from_json(raw, where)
    return None
