"""The knobs of the simulated cloud: world size, timing, fault injection, accepted credentials.

A plain mutable dataclass on purpose: tests flip ``busy_rate``, ``latency`` or
``command_seconds`` on a running server and the next request sees the new value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EVENTS_PER_MINUTE = 60.0  # random outside events: a demo, not a load test


@dataclass
class SimConfig:
    locks: int = 5  # Bluetooth locks spread round-robin over the gateways
    gateways: int = 2
    wifi_locks: int = 0  # Wi-Fi locks (featureValue bit 56): no gateway, own busy state (-3037)
    orphan_locks: int = 0  # hasGateway=0 and no gateway: -2012 on remote commands
    seed: int = 0  # deterministic names, MACs, battery, records
    command_seconds: float = 2.0  # how long one gateway/Wi-Fi command holds its carrier
    latency: float = 0.0  # added to every request (seconds)
    busy_rate: float = 0.0  # probability an idle gateway still answers -3003
    error_5xx_rate: float = 0.0  # probability of an HTTP 500 answer on any /v3 call
    token_lifetime: int = 7_776_000  # seconds (expires_in)
    client_id: str = "hapbridge-demo-client"
    client_secret: str = "hapbridge-demo-secret"
    username: str = "demo@hapbridge.local"
    password: str = "hapbridge-demo"  # plain; the API receives its md5, hex lowercase
    # What user/register puts before a new username ("abcd_" in the docs): fixed per
    # developer application, chosen by the cloud when the application is created.
    user_prefix: str = "hbsim"
    max_clock_skew: float = 300.0  # seconds; a `date` farther off answers 80000
    # the developer application's callback URL: each new record of a gateway or Wi-Fi lock
    # is POSTed there, push_delay seconds after it happened (the gateway's upload)
    callback_url: str | None = None
    push_delay: float = 1.5
    outside_events_per_minute: float = 0.0  # random keypad/card/button events at the doors
    # path -> errcodes answered, one per request (after the client/token/date checks),
    # before the endpoint runs: the cloud's rarer answers (30006, 30008, -2025, 90000...)
    # on demand. An emptied list means normal answers again.
    scripted_errcodes: dict[str, list[int]] = field(default_factory=dict)
