# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back-off after failed logins, kept in MariaDB and shared by every worker."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from dockyard_auth import schema
from dockyard_auth.database import Reader
from dockyard_auth.logins import LoginRecords
from dockyard_auth.throttle import SUCCESS_REFRESH, Backoff

ATTACKER, OWNER, ELSEWHERE = "198.51.100.7", "10.0.0.5", "10.0.0.99"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def worker(engine, mariadb, database, clock):
    """Back-off as one worker process sees it; call it again for another worker on the same database."""
    readers = []

    def build(**overrides) -> Backoff:
        settings = {
            "threshold": 3,
            "address_max_delay": 60,
            "account_max_delay": 5,
            "forget_after": 900,
            "known_address_ttl": 86400,
        }
        readers.append(Reader(mariadb.url(database), mariadb.password, pool_size=2))
        return Backoff(records=LoginRecords(engine, readers[-1]), clock=clock, **{**settings, **overrides})

    yield build
    for reader in readers:
        reader.dispose()


def test_the_wait_starts_at_the_threshold_doubles_and_stops_at_each_cap(worker, clock):
    backoff = worker()
    waits = []
    for _ in range(9):
        backoff.failed(ATTACKER, "robot+ci")
        waits.append(backoff.wait_time(ATTACKER, "robot+ci"))
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60]
    # The account alone, seen from another address, waits no more than its own cap.
    assert backoff.wait_time(ELSEWHERE, "robot+ci") == 5
    # The address alone, for another account, waits as long as the address does.
    assert backoff.wait_time(ATTACKER, "alice") == 60
    clock.now += 59.5
    assert backoff.wait_time(ATTACKER, "alice") == pytest.approx(0.5)
    assert backoff.wait_time(ELSEWHERE, "robot+ci") == 0


def test_workers_share_the_counts(worker):
    first, second = worker(), worker()
    first.failed(ATTACKER, "alice")
    second.failed(ATTACKER, "alice")
    first.failed(ATTACKER, "alice")
    assert second.wait_time(ATTACKER, "alice") == 1
    assert first.wait_time(ATTACKER, "alice") == 1


def test_failures_at_the_same_moment_are_each_counted(worker, engine):
    workers = [worker() for _ in range(8)]
    barrier = threading.Barrier(len(workers))

    def fail(backoff: Backoff) -> None:
        barrier.wait()
        for _ in range(4):
            backoff.failed(ATTACKER, "alice")

    threads = [threading.Thread(target=fail, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        counts = conn.execute(sa.select(schema.login_failures.c.failures)).scalars().all()
    assert counts == [32, 32, 32]  # the address, the account, and the account at this address


def test_a_count_is_forgotten_after_a_quiet_spell_but_not_by_a_success(worker, clock):
    backoff = worker()
    for _ in range(3):
        backoff.failed(ATTACKER, "alice")
    clock.now += 2
    backoff.succeeded(ATTACKER, "mallory")  # the attacker's own account, logged in between guesses
    backoff.failed(ATTACKER, "alice")
    assert backoff.wait_time(ATTACKER, "alice") == 2
    clock.now += 901
    backoff.failed(ATTACKER, "alice")
    assert backoff.wait_time(ATTACKER, "alice") == 0


def test_guessing_elsewhere_does_not_hold_an_account_back_where_it_logged_in_before(worker, clock):
    backoff = worker()
    backoff.succeeded(OWNER, "robot+ci")
    for _ in range(6):
        backoff.failed(ATTACKER, "robot+ci")
    assert backoff.wait_time(OWNER, "robot+ci") == 0
    assert backoff.wait_time(ELSEWHERE, "robot+ci") == 5
    assert backoff.wait_time(ATTACKER, "robot+ci") == 8
    clock.now += 86401  # the owner's address is no longer known
    for _ in range(6):
        backoff.failed(ATTACKER, "robot+ci")
    assert backoff.wait_time(OWNER, "robot+ci") == 5


def test_with_no_known_addresses_every_address_waits_for_the_account(worker):
    backoff = worker(known_address_ttl=0)
    backoff.succeeded(OWNER, "robot+ci")
    for _ in range(4):
        backoff.failed(ATTACKER, "robot+ci")
    assert backoff.wait_time(OWNER, "robot+ci") == 2


def test_the_tables_keep_no_name_or_address(worker, engine):
    backoff = worker()
    backoff.succeeded(OWNER, "robot+ci")
    backoff.failed(ATTACKER, "alice")
    with engine.connect() as conn:
        rows = [
            *conn.execute(sa.select(schema.login_failures)).all(),
            *conn.execute(sa.select(schema.login_successes)).all(),
        ]
    assert len(rows) == 4  # the owner's success; the attacker's address, alice, and alice at that address
    text = repr(rows)
    for secret in (OWNER, ATTACKER, "robot+ci", "alice"):
        assert secret not in text


def test_ipv6_clients_count_per_64(worker):
    backoff = worker()
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3", "2001:db8:1:2::4"):
        backoff.failed(host, f"user-{host[-1]}")  # a new address and a new name each time
    assert backoff.wait_time("2001:db8:1:2::99", "alice") == 2  # the whole /64 is one client
    assert backoff.wait_time("2001:db8:1:3::1", "alice") == 0  # the next /64 is another
    backoff.failed("::ffff:198.51.100.7", "alice")
    backoff.failed("198.51.100.7", "alice")
    backoff.failed("198.51.100.7", "alice")
    assert backoff.wait_time("198.51.100.7", "carol") == 1  # an IPv4-mapped address is its IPv4 address


def test_a_robot_is_never_held_back_but_counts_against_the_address(worker, engine):
    backoff = worker()
    for _ in range(6):
        backoff.failed(ATTACKER, "robot+ci", robot=True)
    assert backoff.wait_time(ATTACKER, "robot+ci", robot=True) == 0
    assert backoff.wait_time(ELSEWHERE, "robot+ci", robot=True) == 0
    assert backoff.wait_time(ATTACKER, "alice") == 8
    with engine.connect() as conn:
        assert len(conn.execute(sa.select(schema.login_failures)).all()) == 1  # the address's count alone


def test_a_known_address_spares_its_account_from_the_address_hold(worker):
    backoff = worker()
    backoff.succeeded(OWNER, "alice")
    for n in range(50):
        backoff.failed(OWNER, f"guess-{n}")
    assert backoff.wait_time(OWNER, "alice") == 0
    assert backoff.wait_time(OWNER, "carol") == 60


# -- what a success costs: a write only once the recorded one is SUCCESS_REFRESH old --------------------------
def last_successes(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(schema.login_successes.c.last_success_ms)).scalars().all())


def log_in(backoff: Backoff, address: str, account: str) -> None:
    """A login as the Authenticator makes it: the one read, then the success with what the read saw."""
    hold = backoff.check(address, account)
    assert hold.wait == 0
    backoff.succeeded(address, account, hold=hold)


def test_a_success_is_written_again_only_after_the_refresh_interval(worker, clock, engine):
    backoff = worker()
    log_in(backoff, OWNER, "alice")
    first = int(clock.now * 1000)
    assert last_successes(engine) == [first]
    clock.now += SUCCESS_REFRESH - 1
    log_in(backoff, OWNER, "alice")
    assert last_successes(engine) == [first]  # recorded recently: nothing written
    clock.now += 1
    log_in(backoff, OWNER, "alice")
    assert last_successes(engine) == [first + SUCCESS_REFRESH * 1000]
    backoff.succeeded(OWNER, "alice")  # without what a read saw, a success is always written
    assert last_successes(engine) == [int(clock.now * 1000)]


def test_old_successes_are_dropped_when_a_success_is_written(worker, clock, engine):
    backoff = worker()
    log_in(backoff, ELSEWHERE, "bob")
    log_in(backoff, OWNER, "alice")
    clock.now += 86400 - 30
    log_in(backoff, OWNER, "alice")  # bob's is not old enough yet
    assert len(last_successes(engine)) == 2
    clock.now += 31
    log_in(backoff, OWNER, "alice")  # not written: alice's was recorded 31 s ago
    assert len(last_successes(engine)) == 2
    clock.now += SUCCESS_REFRESH
    log_in(backoff, OWNER, "alice")
    assert last_successes(engine) == [int(clock.now * 1000)]  # bob's, older than known_address_ttl, is gone


def test_a_known_address_may_expire_up_to_the_refresh_interval_early(worker, clock):
    """The documented price of writing a success once a minute: the last recorded one, not the last login, counts."""
    backoff = worker()
    log_in(backoff, OWNER, "alice")  # recorded
    clock.now += SUCCESS_REFRESH - 1
    log_in(backoff, OWNER, "alice")  # not recorded
    clock.now += 86400 - SUCCESS_REFRESH  # the recorded login is 86399 s old, the last one 86340 s
    for _ in range(6):
        backoff.failed(ATTACKER, "alice")  # the account is held 5 s from now, except where it is known
    assert backoff.wait_time(OWNER, "alice") == 0
    clock.now += 2  # the recorded login is older than known_address_ttl; the last one is not
    assert backoff.wait_time(OWNER, "alice") == 3
