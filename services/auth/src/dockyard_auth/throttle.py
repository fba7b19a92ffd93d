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
stored as SHA-256 digests, so no typed-in name or address is kept.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard_auth.store import Store


def hold_seconds(failures: int, threshold: int, cap: float) -> float:
    """How long a key with ``failures`` failures in a row waits (0 below the threshold)."""
    excess = failures - threshold
    return 0.0 if excess < 0 else min(float(cap), 2.0**excess)


def key_hash(kind: str, *values: str) -> str:
    """The stored key for ``kind`` and its values; a JSON list keeps any two value lists apart."""
    return hashlib.sha256(json.dumps([kind, *values]).encode()).hexdigest()


IPV6_COUNTED_PREFIX = 64


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


@dataclass
class Backoff:
    store: Store
    threshold: int
    address_max_delay: float
    account_max_delay: float
    forget_after: float
    known_address_ttl: float
    clock: Callable[[], float] = time.time

    def wait_time(self, address: str, account: str | None, *, robot: bool = False) -> float:
        """Seconds ``account`` at ``address`` must wait before its next attempt is checked (0: go ahead)."""
        if robot:
            return 0.0
        now = self.clock()
        client = address_key(address)
        known = (
            account is not None
            and self.known_address_ttl > 0
            and self.store.succeeded_since(key_hash("account-at", account, client), _ms(now - self.known_address_ttl))
        )
        keys = held_keys(client, account, robot=robot, known=known)
        if not keys:
            return 0.0
        return max(0.0, self.store.blocked_until_ms(keys) / 1000 - now)

    def failed(self, address: str, account: str | None, *, robot: bool = False) -> None:
        now_ms = _ms(self.clock())
        forget_before = now_ms - _ms(self.forget_after)
        self.store.forget_failures(forget_before)
        caps = {"address": self.address_max_delay, "account": self.account_max_delay}
        for kind, key in counted_keys(address_key(address), account, robot=robot):
            self.store.record_failure(
                key, now_ms, forget_before, lambda n, cap=caps[kind]: _ms(hold_seconds(n, self.threshold, cap))
            )

    def succeeded(self, address: str, account: str, *, robot: bool = False) -> None:
        """Remember that ``account`` logged in from ``address`` (robots are never held, so not them)."""
        if robot or self.known_address_ttl <= 0:
            return
        now_ms = _ms(self.clock())
        self.store.forget_successes(now_ms - _ms(self.known_address_ttl))
        self.store.record_success(key_hash("account-at", account, address_key(address)), now_ms)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
