"""Which addresses the token server trusts X-Forwarded-For from, read off docker's networks."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockyard.registry.plugins.filter.docker_network import docker_trusted_proxies


def found(name: str, *configs: dict) -> dict:
    return {"item": name, "exists": True, "network": {"IPAM": {"Config": list(configs)}}}


BRIDGE = found("bridge", {"Subnet": "172.17.0.0/16"})  # docker's default bridge names no gateway
DOCKYARD = found("dockyard", {"Subnet": "172.20.0.0/16", "Gateway": "172.20.0.1"})
DUAL = found("dual", {"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254"}, {"Subnet": "fd00:9::/64"})
MISSING = {"item": "gone", "exists": False}

# results, networks, gateways -> trusted
TABLE = [
    ([BRIDGE], [], ["bridge"], ["172.17.0.1"]),
    ([BRIDGE], ["bridge"], [], ["172.17.0.0/16"]),
    ([DOCKYARD], [], ["dockyard"], ["172.20.0.1"]),
    ([DOCKYARD, BRIDGE], ["dockyard"], ["bridge"], ["172.20.0.0/16", "172.17.0.1"]),
    ([DUAL], [], ["dual"], ["10.9.0.254", "fd00:9::1"]),
    ([BRIDGE, BRIDGE], [], ["bridge"], ["172.17.0.1"]),
    ([MISSING, BRIDGE], ["gone"], ["bridge"], ["172.17.0.1"]),
    ([BRIDGE], [], [], []),
    ([], [], ["bridge"], []),
]


@pytest.mark.parametrize(("results", "networks", "gateways", "trusted"), TABLE)
def test_subnets_or_gateways(results, networks, gateways, trusted):
    assert docker_trusted_proxies(results, networks=networks, gateways=gateways) == trusted


def test_an_unreadable_subnet_names_the_network():
    with pytest.raises(AnsibleFilterError, match="docker network 'odd'"):
        docker_trusted_proxies([found("odd", {"Subnet": "not-a-net"})], gateways=["odd"])
