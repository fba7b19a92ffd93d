# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of authentication: Basic headers, the caller's address, the back-off, the credentials cache."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from dockyard_auth.authn import BadRequest, Credentials, client_address, parse_basic
from dockyard_auth.passwords import CredentialCache
from dockyard_auth.throttle import hold_seconds, key_hash


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (f"Basic {b64('alice:pw')}", Credentials("alice", "pw")),
        (f"basic {b64('alice:p:w')}", Credentials("alice", "p:w")),
        (f"Basic {b64('robot+ci:s3cret')}", Credentials("robot+ci", "s3cret")),
        (f"Basic {b64('alice:')}", Credentials("alice", "")),
    ],
)
def test_basic_credentials(header, expected):
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    "header", ["Bearer abc", "Basic", "Basic !!!", f"Basic {b64('no-colon')}", f"Basic {b64(':pw')}", "Digest x"]
)
def test_unreadable_authorization_headers(header):
    with pytest.raises(BadRequest):
        parse_basic(header)


PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("192.0.2.7", None, PROXIES, "192.0.2.7"),
        ("192.0.2.7", "203.0.113.9", PROXIES, "192.0.2.7"),  # not from a proxy: the header is ignored
        ("10.1.1.1", "203.0.113.9", PROXIES, "203.0.113.9"),
        ("10.1.1.1", "198.51.100.1, 203.0.113.9", PROXIES, "203.0.113.9"),  # the hop the proxy saw
        ("10.1.1.1", "203.0.113.9, 10.2.2.2", PROXIES, "203.0.113.9"),  # through two trusted proxies
        ("10.1.1.1", "10.3.3.3", PROXIES, "10.3.3.3"),  # every hop trusted: the farthest
        ("10.1.1.1", "203.0.113.9", (), "10.1.1.1"),  # no trusted proxies configured
        ("10.1.1.1", "not-an-ip", PROXIES, "not-an-ip"),
    ],
)
def test_client_address(remote, forwarded, trusted, expected):
    assert client_address(remote, forwarded, trusted) == expected


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (2, 0.0), (3, 1.0), (4, 2.0), (5, 4.0), (6, 5.0), (40, 5.0)],
)
def test_the_hold_starts_at_the_threshold_doubles_and_is_capped(failures, expected):
    assert hold_seconds(failures, threshold=3, cap=5) == expected


def test_back_off_keys_are_digests_that_keep_kinds_and_values_apart():
    assert key_hash("account", "alice") != key_hash("address", "alice")
    assert key_hash("account-at", "a", "b\0c") != key_hash("account-at", "a\0b", "c")
    assert len(key_hash("account", "alice")) == 64 and "alice" not in key_hash("account", "alice")


def test_the_cache_misses_when_the_stored_hash_changes_and_after_its_ttl(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("dockyard_auth.passwords.time.monotonic", lambda: clock[0])
    cache = CredentialCache(ttl=60)
    cache.remember("user", "alice", "pw", "$2b$hash-1")
    assert cache.hit("user", "alice", "pw", "$2b$hash-1")
    assert not cache.hit("user", "alice", "pw", "$2b$hash-2")  # password changed
    assert not cache.hit("user", "alice", "other", "$2b$hash-1")
    assert not cache.hit("robot", "alice", "pw", "$2b$hash-1")
    clock[0] += 61
    assert not cache.hit("user", "alice", "pw", "$2b$hash-1")
    off = CredentialCache(ttl=0)
    off.remember("user", "alice", "pw", "h")
    assert not off.hit("user", "alice", "pw", "h")
