# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters on docker networks, as community.docker.docker_network_info returns them.

- `results | docker_trusted_proxies(networks=[...], gateways=[...])`: the addresses a token server trusts
  X-Forwarded-For from: every subnet of the networks in `networks`, and only the gateway of those in `gateways`.
  `results` are the loop results of docker_network_info (each with `item`, `exists` and `network`). docker's
  default bridge names no gateway in its IPAM configuration; its gateway is then the subnet's first address,
  where docker puts it.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def _gateway(config: dict) -> str:
    if config.get("Gateway"):
        return str(config["Gateway"])
    subnet = ipaddress.ip_network(str(config["Subnet"]), strict=False)
    return str(next(subnet.hosts()))


def docker_trusted_proxies(results, networks=(), gateways=()):
    trusted: list[str] = []
    for result in results or []:
        if not isinstance(result, dict) or not result.get("exists"):
            continue
        configs = ((result.get("network") or {}).get("IPAM") or {}).get("Config") or []
        try:
            if result.get("item") in networks:
                trusted += [str(c["Subnet"]) for c in configs if c.get("Subnet")]
            if result.get("item") in gateways:
                trusted += [_gateway(c) for c in configs if c.get("Subnet") or c.get("Gateway")]
        except (KeyError, ValueError, StopIteration) as exc:
            raise AnsibleFilterError(f"docker network {result.get('item')!r}: unreadable IPAM config: {exc}") from None
    return list(dict.fromkeys(trusted))


class FilterModule:
    def filters(self):
        return {"docker_trusted_proxies": docker_trusted_proxies}
