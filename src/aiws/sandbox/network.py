"""Networks of sandboxes: private (loopback only) or a veth pair with static addresses.

Each veth sandbox gets its own 10.231.N.0/30: the host end (ve-NAME) is .1, the
container's host0 is .2. No DHCP runs anywhere; aiws sets both ends itself.
"""

from __future__ import annotations

import ipaddress

from aiws.errors import AiwsError
from aiws.sandbox import system
from aiws.sandbox.state import Addresses

SUBNETS = ipaddress.ip_network("10.231.0.0/16")
PREFIX = 30
MAX_INDEX = 255
CONTAINER_LINK = "host0"
IP_TIMEOUT = 10


def host_link(name: str) -> str:
    return f"ve-{name}"


def addresses_for(index: int, name: str) -> Addresses:
    base = SUBNETS.network_address + (index << 8)
    return Addresses(
        index=index,
        host=str(base + 1),
        container=str(base + 2),
        prefix=PREFIX,
        host_link=host_link(name),
    )


def allocate(name: str, taken: set[int]) -> Addresses:
    """The lowest free subnet; `taken` holds the indexes of other sandboxes and host addresses."""
    for index in range(MAX_INDEX + 1):
        if index not in taken:
            return addresses_for(index, name)
    raise AiwsError(
        f"all {MAX_INDEX + 1} sandbox subnets in {SUBNETS} are in use",
        "destroy some sandboxes (`aiws sandbox destroy --all`)",
    )


def indexes_in_use_on_host() -> set[int]:
    """Subnets of SUBNETS that some host link already carries (ours or anyone's)."""
    out = system.run(["ip", "-o", "-4", "addr", "show"], timeout=IP_TIMEOUT).stdout
    used = set()
    for line in out.splitlines():
        address = ipaddress.ip_interface(line.split()[3]).ip
        if address in SUBNETS:
            used.add((int(address) - int(SUBNETS.network_address)) >> 8)
    return used


def configure(addresses: Addresses, leader: int) -> None:
    """Address and raise both ends of the veth pair nspawn created."""
    host_cidr = f"{addresses.host}/{addresses.prefix}"
    inside_cidr = f"{addresses.container}/{addresses.prefix}"
    in_container = ["nsenter", "-t", str(leader), "-n", "--"]
    for args in (
        ["ip", "addr", "replace", host_cidr, "dev", addresses.host_link],
        ["ip", "link", "set", addresses.host_link, "up"],
        [*in_container, "ip", "addr", "replace", inside_cidr, "dev", CONTAINER_LINK],
        [*in_container, "ip", "link", "set", CONTAINER_LINK, "up"],
    ):
        system.run(args, timeout=IP_TIMEOUT)


def link_exists(link: str) -> bool:
    return system.run(["ip", "link", "show", link], timeout=IP_TIMEOUT, check=False).returncode == 0


def remove_link(link: str) -> None:
    if link_exists(link):
        system.run(["ip", "link", "del", link], timeout=IP_TIMEOUT)
