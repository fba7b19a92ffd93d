"""The names under which docker, containerd and podman look a registry's CA up."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockyard.registry.plugins.filter import registry_address as ra


@pytest.mark.parametrize(
    ("address", "names", "canonical"),
    [
        ("registry.example.com", ["registry.example.com", "registry.example.com:443"], "registry.example.com"),
        ("registry.example.com:443", ["registry.example.com", "registry.example.com:443"], "registry.example.com"),
        ("registry.example.com:5000", ["registry.example.com:5000"], "registry.example.com:5000"),
        ("10.0.0.5:5000", ["10.0.0.5:5000"], "10.0.0.5:5000"),
        ("[::1]:5000", ["[::1]:5000"], "[::1]:5000"),
        ("[fd00::5]", ["[fd00::5]", "[fd00::5]:443"], "[fd00::5]"),
        ("localhost", ["localhost", "localhost:443"], "localhost"),
    ],
)
def test_names(address, names, canonical):
    assert ra.registry_trust_names(address) == names
    assert ra.registry_canonical(address) == canonical


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "not a registry address"),
        ("https://registry.example.com", "without scheme or path"),
        ("registry.example.com/library", "without scheme or path"),
        ("registry.example.com:0", "port must be 1-65535"),
        ("registry.example.com:70000", "port must be 1-65535"),
        ("registry.example.com:http", "port must be 1-65535"),
        (":5000", "host is empty"),
        ("[::1", "IPv6"),
        ("[::1]5000", "IPv6"),
        ("reg istry", "not a registry address"),
    ],
)
def test_bad_addresses_say_what_is_expected(address, message):
    with pytest.raises(AnsibleFilterError, match=message):
        ra.registry_trust_names(address)
