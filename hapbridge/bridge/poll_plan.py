"""API budget -> poll intervals: pure arithmetic, so it is easy to test and to explain.

Free TTLock developer plans allow a few thousand calls a month. The plan keeps a share of the
budget for commands, pays the fixed costs first (daily lock details and gateway map, one
``lock/list`` sweep for battery), then spends what is left on ``queryOpenState`` polls.

A restart is not free either: its state queries are capped at ``STARTUP_SHARE`` of what is
left of the month's budget (the other locks are polled at the plan's pace), and rechecks of
unreachable locks while state polling is off come out of the command reserve.

While pushes arrive (``pushes``), they carry every state change and the battery: polls are
a safety net, each lock asked once every ``PUSH_STATE_INTERVAL`` and the lock list read once
every ``PUSH_LIST_INTERVAL`` (names, added and removed locks), whatever the budget allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MONTH_SECONDS = 30 * 86_400
DAY_SECONDS = 86_400
LOCK_PAGE = 1000  # lock/list returns up to 1,000 locks per call

COMMAND_RESERVE = 0.30  # share of the budget kept for commands
LIST_INTERVAL = 600.0  # battery and lock list every 10 minutes when affordable
MIN_STATE_INTERVAL = 300.0  # each state query costs lock battery: never more often
LIST_SHARE_CAP = 0.5  # the list sweep may take at most half of the spendable budget
DETAIL_SHARE_CAP = 0.1  # lock details and the gateway map: at most a tenth
MAX_LIST_INTERVAL = DAY_SECONDS
STARTUP_SHARE = 0.01  # state queries right at start: at most 1% of the budget left
RECHECK_SHARE = 0.05  # unreachable-lock rechecks without state polling: 5% (of the reserve)
MIN_RECHECK_INTERVAL = 600.0
PUSH_STATE_INTERVAL = DAY_SECONDS  # pushes live: each lock's state asked once a day
PUSH_LIST_INTERVAL = 3600.0  # pushes live: the lock list hourly (the battery comes pushed)


@dataclass(frozen=True)
class PollPlan:
    locks: int
    budget: int
    state_interval: float | None  # None: no state polling (no locks or no budget left)
    list_interval: float
    detail_interval: float
    projected_calls: int  # per month, polls and refreshes only
    used: int = 0  # calls already made this month
    month_left: float = 1.0  # share of the month still to go
    startup_polls: int = 0  # locks whose state is queried right at start
    recheck_interval: float = MONTH_SECONDS  # one unreachable lock per interval, polling off
    pushes: bool = False  # pushes arrive: the safety net's pace

    def describe(self) -> str:
        """One line for the startup log."""
        noun = "lock" if self.locks == 1 else "locks"
        if self.state_interval:
            state = f"state every {_duration(self.state_interval)}"
        else:
            state = (
                "state polling off (" + ("no locks" if not self.locks else "budget too small") + ")"
            )
        if self.pushes:
            state += " (pushes arrive: polling is the safety net)"
        over = " - OVER BUDGET, raise apiBudgetPerMonth" if self.over_budget else ""
        used = f", {self.used:,} used this month" if self.used else ""
        return (
            f"{self.locks} {noun}, {state}, battery every {_duration(self.list_interval)}: "
            f"~{_round_calls(self.projected_calls):,} calls/month "
            f"(budget {self.budget:,}{used}, {COMMAND_RESERVE:.0%} kept for commands){over}"
        )

    @property
    def over_budget(self) -> bool:
        """What was used plus this plan's pace for the rest of the month exceeds the budget."""
        return self.used + self.projected_calls * self.month_left > self.budget


def make_plan(
    locks: int,
    budget: int,
    *,
    gateways: int = 0,
    used: int = 0,
    month_left: float = 1.0,
    reserve: float = COMMAND_RESERVE,
    list_interval: float = LIST_INTERVAL,
    min_state_interval: float = MIN_STATE_INTERVAL,
    detail_interval: float = DAY_SECONDS,
    pushes: bool = False,
) -> PollPlan:
    """The plan for ``locks`` locks behind ``gateways`` gateways on a monthly ``budget``.

    ``used`` calls already spent this month with ``month_left`` (0..1) of it to go turn the
    remainder into a monthly rate, so a budget half spent early stretches the intervals.
    ``pushes``: they arrive, so the safety net's slower pace is the floor.
    """
    if pushes:
        list_interval = max(list_interval, PUSH_LIST_INTERVAL)
        min_state_interval = max(min_state_interval, PUSH_STATE_INTERVAL)
    left_this_month = max(0.0, budget - used)
    rate = left_this_month / max(month_left, 1 / 30)
    spendable = min(float(budget), rate) * (1.0 - reserve)
    per_month = MONTH_SECONDS
    refreshes = locks + 1 + gateways if locks else 0  # details + gateway list + listLock
    if refreshes:
        detail_cap = max(spendable * DETAIL_SHARE_CAP, 1.0)
        detail_interval = max(detail_interval, refreshes * per_month / detail_cap)
    fixed = refreshes * per_month / detail_interval
    pages = max(1, math.ceil(locks / LOCK_PAGE))
    list_cap = max(spendable * LIST_SHARE_CAP, 1.0)
    list_interval = min(MAX_LIST_INTERVAL, max(list_interval, pages * per_month / list_cap))
    list_calls = pages * per_month / list_interval

    state_interval: float | None = None
    state_calls = 0.0
    left = spendable - fixed - list_calls
    if locks and left > 0:
        state_interval = max(min_state_interval, locks * per_month / left)
        state_calls = locks * per_month / state_interval
    return PollPlan(
        locks=locks,
        budget=budget,
        state_interval=state_interval,
        list_interval=list_interval,
        detail_interval=detail_interval,
        projected_calls=round(fixed + list_calls + state_calls),
        used=used,
        month_left=month_left,
        startup_polls=min(locks, math.floor(left_this_month * STARTUP_SHARE)),
        recheck_interval=max(MIN_RECHECK_INTERVAL,
                             per_month / max(budget * reserve * RECHECK_SHARE, 1.0)),
        pushes=pushes,
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _round_calls(calls: int) -> int:
    step = 1000 if calls >= 10_000 else 100 if calls >= 1000 else 10
    return max(0, round(calls / step) * step)
