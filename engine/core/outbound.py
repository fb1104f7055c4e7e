"""Which destinations an outbound call may reach. Pure: the caller resolves names.

By default Headway refuses loopback, link-local (169.254.0.0/16, where cloud metadata
lives), private, unspecified, multicast and reserved addresses, so a task payload cannot
be used to reach the machine's own services or its network. `HEADWAY_OUTBOUND_ALLOW`
(comma-separated host names or CIDRs) opens chosen ones.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_REASON = "blocked_destination"


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()


def parse_allowlist(text: str | None) -> OutboundPolicy:
    """`"127.0.0.1, 10.0.0.0/8, Sink.Local"` allows one address, one network and one host
    name (compared case-insensitively, without a trailing dot). An entry that is none of
    these raises ValueError naming it: `"10.0.0.0/33"`, `"http://sink/"` or `"a b"` would
    otherwise open nothing while looking as if it did."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            if "/" in item or ":" in item or not _HOST_NAME.fullmatch(item):
                raise ValueError(
                    f"{item!r} is neither a host name, an IP address nor a network (CIDR)"
                ) from None
            hosts.add(_normal_host(item))
    return OutboundPolicy(frozenset(hosts), tuple(networks))


# Letters, digits, hyphens and underscores in dot-separated labels of 1 to 63 characters.
_HOST_NAME = re.compile(
    r"(?=.{1,254}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?"
)


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def address_is_internal(address: IPAddress) -> bool:
    """True for addresses a task may not reach by default. An IPv4-mapped IPv6 address
    (`::ffff:127.0.0.1`) is judged by the IPv4 address inside it."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def destination_refusal(host: str, addresses: Iterable[str], policy: OutboundPolicy) -> str | None:
    """None if `host`, resolved to `addresses`, may be called; otherwise why not.

    An allow-listed host name opens every address it resolves to. Otherwise every resolved
    address must be public or inside an allowed network: one internal address in the answer
    refuses the call, since the connection could land on it.
    """
    if _normal_host(host) in policy.allowed_hosts:
        return None
    resolved = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
    if not resolved:
        return f"{BLOCKED_REASON}: {host} did not resolve"
    for address in resolved:
        if any(address in network for network in policy.allowed_networks):
            continue
        if address_is_internal(address):
            return f"{BLOCKED_REASON}: {host} resolves to {address}"
    return None
