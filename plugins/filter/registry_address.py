# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters about how clients name a registry, used by the docker_client role."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DEFAULT_HTTPS_PORT = "443"


def registry_split(address: str) -> tuple[str, str | None]:
    """("host", "port" or None) of a registry address; IPv6 hosts come in brackets ([::1]:5000)."""
    address = str(address).strip()
    if not address or "/" in address or any(c.isspace() for c in address):
        raise AnsibleFilterError(
            f"'{address}' is not a registry address: use host or host:port, without scheme or path"
        )
    if address.startswith("["):
        host, sep, rest = address.partition("]")
        host += "]"
        if not sep or (rest and not rest.startswith(":")):
            raise AnsibleFilterError(
                f"'{address}' is not a registry address: write IPv6 hosts as [addr] or [addr]:port"
            )
        port = rest[1:] or None
    else:
        host, _colon, port = address.partition(":")
        port = port or None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise AnsibleFilterError(f"'{address}' is not a registry address: the port must be 1-65535")
    if not host or host == "[]":
        raise AnsibleFilterError(f"'{address}' is not a registry address: the host is empty")
    return host, port


def registry_trust_names(address: str) -> list[str]:
    """The names docker looks up in /etc/docker/certs.d for a registry.

    docker uses the address as the client wrote it; on the default HTTPS port a
    client may write it with or without ":443", so both directories are needed.
    """
    host, port = registry_split(address)
    if port in (None, DEFAULT_HTTPS_PORT):
        return [host, f"{host}:{DEFAULT_HTTPS_PORT}"]
    return [f"{host}:{port}"]


def registry_canonical(address: str) -> str:
    """The address without a redundant ":443" (containerd's and podman's directory name)."""
    host, port = registry_split(address)
    return host if port in (None, DEFAULT_HTTPS_PORT) else f"{host}:{port}"


class FilterModule:
    def filters(self):
        return {
            "registry_trust_names": registry_trust_names,
            "registry_canonical": registry_canonical,
        }
