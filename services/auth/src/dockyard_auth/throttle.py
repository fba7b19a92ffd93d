# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back-off after failed logins, per client address and per account.

After ``threshold`` failures in a row, a key must wait before its next
attempt is even checked: 1 s, then twice as long after each further failure,
up to a cap. The counts live in the database, so every worker and every server
on it hold back the same callers. A count is forgotten after ``forget_after``
seconds without a failure; a success does not clear it, so a caller cannot
reset its own count by logging in to an account of its own between guesses.

Guessing slows guessing, but never locks out the people and machines who
share the guesser's address (a NAT, a CI farm, a proxy that is not trusted):

* An account that logged in from an address within ``known_address_ttl`` is
  held back there neither by the address's count nor by the account's:
  someone guessing other names from the same address, or at the same account
  from elsewhere, does not keep it out. Only failures of that very account at
  that very address hold it back there, with the short cap per account, so
  guessing its password from its own address (a shared NAT) is still slowed.
* A robot is never held back: its secret is 256 random bits, so holding it
  would protect nothing and would let anyone lock a CI job out. Its failures
  still count against the address, for the users' logins from there.
* An IPv6 client counts per /64 (what one host or site is usually given), an
  IPv4 client per address; an IPv4-mapped IPv6 address is its IPv4 address.

The cap per account is short (seconds), the cap per address long. Keys are
stored as SHA-256 digests, so no typed-in name or address is kept (see
logins.py for the tables).

What a login costs the database: before its password is checked, one read
(the counts that may hold it back and the account's last success at the
address, in one statement). A success is written only when the last one
recorded for the account at that address is ``SUCCESS_REFRESH`` seconds old
or older (60 s, or half of ``known_address_ttl`` when that is shorter), and
that write also drops the successes older than ``known_address_ttl``. So a
client logging in again and again writes once a minute, not on every
login; the price is that an address stops being known up to
``SUCCESS_REFRESH`` seconds before ``known_address_ttl`` has passed since
the account's very last login there. A failure is written every time.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard_auth.logins import LoginRecords, Seen


def hold_seconds(failures: int, threshold: int, cap: float) -> float:
    """How long a key with ``failures`` failures in a row waits (0 below the threshold)."""
    excess = failures - threshold
    return 0.0 if excess < 0 else min(float(cap), 2.0**excess)


def key_hash(kind: str, *values: str) -> str:
    """The stored key for ``kind`` and its values; a JSON list keeps any two value lists apart."""
    return hashlib.sha256(json.dumps([kind, *values]).encode()).hexdigest()


IPV6_COUNTED_PREFIX = 64
SUCCESS_REFRESH = 60  # seconds: a success is recorded again only once the recorded one is this old (see above)


def address_key(address: str) -> str:
    """The client a count belongs to: an IPv4 address, an IPv6 /64, or the text itself when it is no address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_COUNTED_PREFIX), strict=False))
    return str(ip)


def held_keys(client: str, account: str | None, *, robot: bool, known: bool) -> list[str]:
    """The counts that hold back a login of ``account`` from ``client`` (an address_key).

    ``account`` is the login name (``robot+<name>`` for a robot), None when
    the typed name is no valid name; ``known`` says it logged in from
    ``client`` recently. Pure: the rules of the module docstring.
    """
    if robot:
        return []
    if known:
        return [key_hash("account-at", account, client)]
    keys = [key_hash("address", client)]
    if account is not None:
        keys.append(key_hash("account", account))
    return keys


def counted_keys(client: str, account: str | None, *, robot: bool) -> list[tuple[str, str]]:
    """The counts a failed login adds to, as (cap, key): the address always; the account, alone and at
    this address, unless it is a robot or no valid name."""
    keys = [("address", key_hash("address", client))]
    if account is not None and not robot:
        keys += [("account", key_hash("account", account)), ("account", key_hash("account-at", account, client))]
    return keys


def candidate_keys(client: str, account: str | None, *, known_address_ttl: float) -> list[str]:
    """Every count that may hold back a login of ``account`` from ``client``, known address or not."""
    keys = held_keys(client, account, robot=False, known=False)
    if account is not None and known_address_ttl > 0:
        keys += held_keys(client, account, robot=False, known=True)
    return keys


@dataclass(frozen=True)
class Hold:
    """What the back-off read before a login is checked."""

    wait: float  # seconds before the attempt may be checked (0: go ahead)
    last_success_ms: int | None = None  # the account's last recorded success at the address; None: none, or not read


def hold_for(seen: Seen, client: str, account: str | None, now: float, known_address_ttl: float) -> Hold:
    """The Hold of a (non-robot) login of ``account`` from ``client`` at ``now``, from the records read (pure)."""
    last = seen.last_success_ms
    known = account is not None and known_address_ttl > 0 and last is not None and last >= _ms(now - known_address_ttl)
    keys = held_keys(client, account, robot=False, known=known)
    until_ms = max((seen.blocked_until_ms.get(key, 0) for key in keys), default=0)
    return Hold(max(0.0, until_ms / 1000 - now), last)


def success_is_fresh(last_success_ms: int | None, now_ms: int, known_address_ttl: float) -> bool:
    """Whether a success recorded at ``last_success_ms`` is recent enough that a new one need not be written."""
    refresh_ms = _ms(min(SUCCESS_REFRESH, known_address_ttl / 2))
    return last_success_ms is not None and now_ms - last_success_ms < refresh_ms


@dataclass
class Backoff:
    records: LoginRecords
    threshold: int
    address_max_delay: float
    account_max_delay: float
    forget_after: float
    known_address_ttl: float
    clock: Callable[[], float] = time.time

    def check(self, address: str, account: str | None, *, robot: bool = False) -> Hold:
        """How long ``account`` at ``address`` must wait before its next attempt is checked, read in one statement.

        Pass the Hold on to :meth:`succeeded` when the login then succeeds.
        """
        if robot:
            return Hold(0.0)
        now = self.clock()
        client = address_key(address)
        keys = candidate_keys(client, account, known_address_ttl=self.known_address_ttl)
        known_key = key_hash("account-at", account, client) if account is not None else None
        seen = self.records.read(keys, known_key if self.known_address_ttl > 0 else None)
        return hold_for(seen, client, account, now, self.known_address_ttl)

    def wait_time(self, address: str, account: str | None, *, robot: bool = False) -> float:
        """Seconds ``account`` at ``address`` must wait before its next attempt is checked (0: go ahead)."""
        return self.check(address, account, robot=robot).wait

    def failed(self, address: str, account: str | None, *, robot: bool = False) -> None:
        now_ms = _ms(self.clock())
        forget_before = now_ms - _ms(self.forget_after)
        self.records.forget_failures(forget_before)
        caps = {"address": self.address_max_delay, "account": self.account_max_delay}
        for kind, key in counted_keys(address_key(address), account, robot=robot):
            self.records.record_failure(
                key, now_ms, forget_before, lambda n, cap=caps[kind]: _ms(hold_seconds(n, self.threshold, cap))
            )

    def succeeded(self, address: str, account: str, *, robot: bool = False, hold: Hold | None = None) -> None:
        """Remember that ``account`` logged in from ``address`` (robots are never held, so not them).

        ``hold``: what :meth:`check` read before this login; when it saw a
        success recorded less than ``SUCCESS_REFRESH`` ago, nothing is written.
        Without it the success is always written.
        """
        if robot or self.known_address_ttl <= 0:
            return
        now_ms = _ms(self.clock())
        if hold is not None and success_is_fresh(hold.last_success_ms, now_ms, self.known_address_ttl):
            return
        key = key_hash("account-at", account, address_key(address))
        self.records.record_success(key, now_ms, forget_before_ms=now_ms - _ms(self.known_address_ttl))


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
