# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The back-off's one read before a login, and when a success is written (pure: rows as MariaDB gives them)."""

from __future__ import annotations

import pytest

from dockyard_auth.logins import Seen, seen_from_rows
from dockyard_auth.throttle import SUCCESS_REFRESH, Hold, candidate_keys, hold_for, key_hash, success_is_fresh

NOW = 1_800_000_000.0  # seconds
NOW_MS = 1_800_000_000_000
TTL = 86400
ADDRESS, ACCOUNT, AT = key_hash("address", "c"), key_hash("account", "alice"), key_hash("account-at", "alice", "c")


def test_the_read_asks_for_every_count_that_may_hold_the_login_back():
    assert candidate_keys("c", "alice", known_address_ttl=TTL) == [ADDRESS, ACCOUNT, AT]
    assert candidate_keys("c", "alice", known_address_ttl=0) == [ADDRESS, ACCOUNT]  # no address is ever known
    assert candidate_keys("c", None, known_address_ttl=TTL) == [ADDRESS]  # no valid name: the address alone


def test_rows_are_failure_counts_or_the_last_success():
    rows = [(ADDRESS, NOW_MS + 4000, None), (AT, 0, None), (AT, None, NOW_MS - 5)]
    assert seen_from_rows(rows) == Seen({ADDRESS: NOW_MS + 4000, AT: 0}, NOW_MS - 5)
    assert seen_from_rows([]) == Seen({}, None)


@pytest.mark.parametrize(
    ("blocked", "last_success", "account", "ttl", "expected"),
    [
        # Nothing recorded: go ahead.
        ({}, None, "alice", TTL, Hold(0.0)),
        # Not known at the address: the longest of the address's and the account's holds.
        ({ADDRESS: NOW_MS + 8000, ACCOUNT: NOW_MS + 2000}, None, "alice", TTL, Hold(8.0)),
        ({ADDRESS: NOW_MS + 1000, ACCOUNT: NOW_MS + 5000, AT: NOW_MS + 9000}, None, "alice", TTL, Hold(5.0)),
        # Known at the address (a success within the ttl): only the account's count there holds it.
        ({ADDRESS: NOW_MS + 8000, ACCOUNT: NOW_MS + 5000}, NOW_MS - 10, "alice", TTL, Hold(0.0, NOW_MS - 10)),
        ({ADDRESS: NOW_MS + 8000, AT: NOW_MS + 3000}, NOW_MS - 10, "alice", TTL, Hold(3.0, NOW_MS - 10)),
        # A success exactly ttl ago still counts; one a millisecond older does not.
        ({ADDRESS: NOW_MS + 8000}, NOW_MS - TTL * 1000, "alice", TTL, Hold(0.0, NOW_MS - TTL * 1000)),
        ({ADDRESS: NOW_MS + 8000}, NOW_MS - TTL * 1000 - 1, "alice", TTL, Hold(8.0, NOW_MS - TTL * 1000 - 1)),
        # No known addresses at all (ttl 0): a success changes nothing.
        ({ADDRESS: NOW_MS + 8000}, NOW_MS - 10, "alice", 0, Hold(8.0, NOW_MS - 10)),
        # No valid name: the address alone.
        ({ADDRESS: NOW_MS + 2500}, None, None, TTL, Hold(2.5)),
        # A hold that has run out.
        ({ADDRESS: NOW_MS - 1}, None, "alice", TTL, Hold(0.0)),
    ],
)
def test_the_hold_follows_the_rules_of_the_module(blocked, last_success, account, ttl, expected):
    assert hold_for(Seen(blocked, last_success), "c", account, NOW, ttl) == expected


@pytest.mark.parametrize(
    ("last_success", "ttl", "fresh"),
    [
        (None, TTL, False),  # never recorded: write it
        (NOW_MS, TTL, True),
        (NOW_MS - SUCCESS_REFRESH * 1000 + 1, TTL, True),
        (NOW_MS - SUCCESS_REFRESH * 1000, TTL, False),  # as old as the refresh interval: write it again
        (NOW_MS - 86_000_000, TTL, False),
        # A known_address_ttl shorter than twice the interval refreshes at half the ttl.
        (NOW_MS - 29_999, 60, True),
        (NOW_MS - 30_000, 60, False),
    ],
)
def test_a_success_is_written_again_once_the_recorded_one_is_the_refresh_interval_old(last_success, ttl, fresh):
    assert success_is_fresh(last_success, NOW_MS, ttl) is fresh
