"""Which addresses the bridge listens and advertises on, found without any outbound traffic.

``bind`` entries are IP addresses or interface names (``eth0``). Without ``bind`` the primary
address is the one of the interface that carries the default route (``/proc/net/route``),
else the first non-loopback interface with an IPv4 address, else the host name's address.
HAP-python's own fallback opens a UDP socket toward a public address: never used here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

from hapbridge.errors import ConfigError

_LOGGER = logging.getLogger(__name__)

SIOCGIFADDR = 0x8915  # Linux: the primary IPv4 address of an interface
PROC_ROUTE = Path("/proc/net/route")
PROC_IF_INET6 = Path("/proc/net/if_inet6")
LOOPBACK_V4 = "127.0.0.1"


def interface_names() -> list[str]:
    try:
        return [name for _index, name in socket.if_nameindex()]
    except OSError:
        return []


def interface_ipv4(name: str) -> str | None:
    """The interface's IPv4 address, or None (no address, not Linux, no such interface)."""
    packed = struct.pack("256s", name.encode()[:15])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)
    except OSError:
        return None
    return socket.inet_ntoa(answer[20:24])


def interface_ipv6(name: str, proc: Path = PROC_IF_INET6) -> list[str]:
    """Global (non-link-local) IPv6 addresses of an interface, from /proc/net/if_inet6."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        for line in proc.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6 or fields[5] != name:
                continue
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            if not address.is_link_local:
                found.append(str(address))
    return found


def default_route_interface(proc: Path = PROC_ROUTE) -> str | None:
    """The interface of the lowest-metric default route in /proc/net/route."""
    best: tuple[int, str] | None = None
    with contextlib.suppress(OSError, ValueError):
        for line in proc.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 7 or fields[1] != "00000000":
                continue
            candidate = (int(fields[6]), fields[0])
            best = candidate if best is None or candidate < best else best
    return best[1] if best else None


def primary_address() -> str:
    """The address a phone on the LAN most likely reaches this machine at."""
    route_iface = default_route_interface()
    if route_iface and (address := interface_ipv4(route_iface)):
        return address
    for name in interface_names():
        address = interface_ipv4(name)
        if address and not ipaddress.ip_address(address).is_loopback:
            return address
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            address = str(info[4][0])
            if not ipaddress.ip_address(address).is_loopback:
                return address
    _LOGGER.warning(
        "no network address found: listening on %s only (set bridge.bind in the config)",
        LOOPBACK_V4,
    )
    return LOOPBACK_V4


def resolve_bind(bind: Iterable[str], *, source: str = "bridge.bind") -> list[str]:
    """IP addresses for ``bind`` (addresses are checked to be this machine's, interface
    names are looked up), before anything is published or advertised.

    An empty ``bind`` means the primary address. Mistakes are a ConfigError naming
    ``source`` (``bridge.bind`` or ``--bind``) and what does exist.
    """
    entries = [entry.strip() for entry in bind if entry.strip()]
    if not entries:
        return [primary_address()]
    addresses: list[str] = []
    for entry in entries:
        found = _resolve_entry(entry, source)
        addresses.extend(a for a in found if a not in addresses)
    return addresses


def _resolve_entry(entry: str, source: str) -> list[str]:
    try:
        ip = ipaddress.ip_address(entry.split("%", 1)[0])
    except ValueError:
        pass
    else:
        address = str(ip)
        if ip.version == 6 and ip.is_link_local:
            raise ConfigError(
                f"{source}: {address} is a link-local IPv6 address, which needs its interface:"
                " bind the interface name instead (e.g. eth0)"
            )
        if not is_local_address(address):
            raise ConfigError(
                f"{source}: {address} is not an address of this machine; bind one of its "
                "own addresses or an interface name (ip -brief address lists them)"
            )
        return [address]
    names = interface_names()
    if entry not in names:
        known = ", ".join(names) or "none found"
        raise ConfigError(
            f"{source}: {entry!r} is neither an IP address nor a network interface "
            f"(interfaces: {known})"
        )
    found = [a for a in [interface_ipv4(entry), *interface_ipv6(entry)] if a]
    if not found:
        raise ConfigError(
            f"{source}: interface {entry!r} has no IP address now; "
            "bring it up or bind an address instead"
        )
    return found


def is_local_address(address: str) -> bool:
    """Whether a socket can be bound to ``address`` here (a local check: nothing is sent).
    The unspecified addresses (0.0.0.0, ::) are local too."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def check_port_free(addresses: Iterable[str], port: int, *, source: str, who: str = ""
                    ) -> None:
    """Bind (and release) ``port`` on each address as the HAP server will, so that a port in
    use is one line naming ``source`` (``bridge.port`` or ``--port``) before the cloud is
    asked anything, not an error after the login. Other failures are left to the real
    listen, which reports them."""
    for address in addresses:
        with contextlib.suppress(socket.gaierror):
            family, kind, proto, _name, sockaddr = socket.getaddrinfo(
                address, port, type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST)[0]
            with socket.socket(family, kind, proto) as probe:
                # As asyncio's create_server: a port left in TIME_WAIT is not "in use".
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    probe.bind(sockaddr)
                except OSError as err:
                    if (failure := port_error(err, address, port, source=source,
                                              who=who)) is not None:
                        raise failure from None


def port_error(err: OSError, address: str, port: int, *, source: str, who: str = ""
               ) -> ConfigError | None:
    """The one-line error for a port that cannot be listened on, None if it is not that;
    ``who`` names the bridge when there are several ("bridge 2 (Hotel 2): ")."""
    if err.errno == errno.EADDRINUSE:
        return ConfigError(
            f"{who}port {port} on {address} is already in use (another bridge, or another "
            f"program): choose another {source}"
        )
    if err.errno == errno.EACCES:
        return ConfigError(
            f"{who}port {port} on {address} needs root, as every port below 1024: choose a "
            f"{source} from 1024 to 65535"
        )
    return None
