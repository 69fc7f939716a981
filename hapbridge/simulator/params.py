"""Request parameters as the cloud reads them, and its one way of paging a list.

Every endpoint takes flat string parameters (query or form); a missing or malformed one
answers -3 "Invalid Parameter" with a description naming it, as the real cloud does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hapbridge.simulator.errors import ApiError

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20


class Params:
    """Typed access to one request's parameters."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {k: v for k, v in values.items() if v != ""}

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def str(self, name: str, default: str | None = None) -> str:
        value = self._values.get(name, default)
        if value is None:
            raise ApiError(-3, f"{name} is required")
        return value

    def int(self, name: str, default: int | None = None) -> int:
        raw = self._values.get(name)
        if raw is None:
            if default is None:
                raise ApiError(-3, f"{name} is required")
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(-3, f"{name} must be an integer") from None

    def optional_int(self, name: str) -> int | None:
        return self.int(name) if name in self else None

    def choice(self, name: str, allowed: Sequence[int], default: int | None = None) -> int:
        value = self.int(name, default)
        if value not in allowed:
            raise ApiError(-3, f"{name} must be one of {', '.join(map(str, allowed))}")
        return value


def paginate(
    items: Sequence[T], params: Params, max_page_size: int, render: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """One page (``pageNo`` from 1) as ``list``, ``pageNo``, ``pageSize``, ``pages``, ``total``.

    A ``pageSize`` above the endpoint's maximum is refused (-3) rather than clipped, so a
    client that asks for too much finds out here instead of silently missing items.
    """
    page_no = params.int("pageNo", 1)
    page_size = params.int("pageSize", DEFAULT_PAGE_SIZE)
    if page_no < 1:
        raise ApiError(-3, "pageNo starts at 1")
    if not 1 <= page_size <= max_page_size:
        raise ApiError(-3, f"pageSize too large: must be between 1 and {max_page_size}")
    start = (page_no - 1) * page_size
    return {
        "list": [render(item) for item in items[start : start + page_size]],
        "pageNo": page_no,
        "pageSize": page_size,
        "pages": math.ceil(len(items) / page_size),
        "total": len(items),
    }
