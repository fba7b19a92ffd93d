# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of authentication: Basic headers, the caller's address, the back-off, the credentials cache."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from dockyard_auth.authn import BadRequest, Credentials, Login, client_address, name_for_log, parse_basic, parse_login
from dockyard_auth.passwords import CredentialCache, Hasher, password_problem
from dockyard_auth.permissions import SubjectKind
from dockyard_auth.throttle import address_key, counted_keys, held_keys, hold_seconds, key_hash


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
        ("Basic " + b64("alice:pw\0x"), Credentials("alice", "pw\0x")),
        (f"Basic {b64('älice:pä')}", Credentials("älice", "pä")),
        # Bytes that are not UTF-8 are kept as lone surrogates: no account has them, so the login fails.
        ("Basic " + base64.b64encode(b"alice:\xff").decode(), Credentials("alice", "\udcff")),
        ("Basic " + base64.b64encode(b"\xe9:pw").decode(), Credentials("\udce9", "pw")),
    ],
)
def test_basic_credentials(header, expected):
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic",
        "Basic !!!",
        f"Basic {b64('no-colon')}",
        f"Basic {b64(':pw')}",
        "Digest x",
        "Basic ÿÿÿÿ",
        "Basic YWxpY2U6é",
        "Básic YWxpY2U6cHc=",
        "Basic YWxpY2U6cHc",
    ],
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


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("alice", Login(SubjectKind.USER, "alice")),
        ("team-1_x", Login(SubjectKind.USER, "team-1_x")),
        ("robot+ci", Login(SubjectKind.ROBOT, "ci")),
        ("alice   ", None),  # trailing spaces: a PAD SPACE collation would have found alice
        (" alice", None),
        ("Alice", None),
        ("alice\0", None),
        ("al", Login(SubjectKind.USER, "al")),
        ("a", None),
        ("a.b", None),
        ("localhost", None),
        ("robot+", None),
        ("robot+CI", None),
        ("robot+ci ", None),
        ("robot+robot+ci", None),
        ("Robot+ci", None),
        ("\udcff", None),
        ("x" * 65, None),
    ],
)
def test_only_names_of_the_account_grammar_are_looked_up(typed, expected):
    login = parse_login(typed)
    assert login == expected
    if login is not None:
        assert login.text == typed  # the canonical name is the name as typed: one count per account


def test_a_name_in_the_log_is_shown_only_for_an_account():
    key = b"k" * 32
    assert name_for_log("alice", True, key) == "'alice'"
    hidden = name_for_log("correct horse battery", False, key)
    assert "horse" not in hidden and hidden.startswith("unknown name #") and len(hidden) == len("unknown name #") + 12
    assert hidden == name_for_log("correct horse battery", False, key)  # the same name, the same hash
    assert hidden != name_for_log("correct horse battery", False, b"j" * 32)
    assert name_for_log("\udcff", False, key).startswith("unknown name #")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("::1", "::/64"),
        ("not-an-ip", "not-an-ip"),
        ("", ""),
    ],
)
def test_clients_are_counted_per_ipv4_address_and_per_ipv6_64(address, expected):
    assert address_key(address) == expected


ADDRESS, ALICE = key_hash("address", "c"), key_hash("account", "alice")
HERE = key_hash("account-at", "alice", "c")  # alice at this address


@pytest.mark.parametrize(
    ("account", "robot", "known", "held", "counted"),
    [
        # account  robot  known  held back by     a failure counts against (cap, key)
        ("alice",    False, False, [ADDRESS, ALICE], [("address", ADDRESS), ("account", ALICE), ("account", HERE)]),
        ("alice",    False, True,  [HERE],     [("address", ADDRESS), ("account", ALICE), ("account", HERE)]),
        ("robot+ci", True,  False, [],               [("address", ADDRESS)]),
        ("robot+ci", True,  True,  [],               [("address", ADDRESS)]),
        (None,       False, False, [ADDRESS],        [("address", ADDRESS)]),
    ],
)  # fmt: skip
def test_who_is_held_back_and_what_a_failure_counts(account, robot, known, held, counted):
    assert held_keys("c", account, robot=robot, known=known) == held
    assert counted_keys("c", account, robot=robot) == counted


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("good-password", None),
        ("x" * 8, None),
        ("x" * 7, "has 7 characters; use 8 to 256"),
        ("x" * 257, "has 257 characters"),
        ("é" * 37, "is 74 bytes in UTF-8; bcrypt uses at most 72"),
        ("é" * 36, None),
        ("password\0", "NUL"),
        ("password\ud800", "lone surrogate"),
    ],
)
def test_password_rules(password, problem):
    found = password_problem(password)
    assert found == problem if problem is None else problem in found


@pytest.mark.parametrize("secret", ["right\0", "\0", "x" * 73, "\udcff", "\ud800"])
def test_verify_answers_false_for_any_secret_bcrypt_cannot_take(secret):
    hasher = Hasher(rounds=4)
    stored = hasher.hash("right")
    assert hasher.verify(secret, stored) is False
    assert hasher.verify(secret, None) is False
    assert hasher.verify("right", stored) is True
    assert hasher.verify("right", "not-a-bcrypt-hash") is False
