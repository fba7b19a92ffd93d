# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The back-off's records in MariaDB: failure counts (``login_failures``) and known addresses (``login_successes``).

Rows are keyed by :func:`~dockyard_auth.throttle.key_hash` digests, so no
typed-in name or address is stored; the rules that decide what the rows mean
are in :mod:`dockyard_auth.throttle`.

A login reads what holds it back in one statement through the token
endpoint's :class:`~dockyard_auth.database.Reader` (one round trip in
autocommit, seeing every count committed before it). The writes go through
the engine, each a transaction of its own, run again on a deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.mysql import insert as upsert
from sqlalchemy.engine import Engine

from dockyard_auth import schema as t
from dockyard_auth.database import Reader
from dockyard_auth.store import retrying

# PyMySQL parameters. A failure row holds (key, blocked_until_ms, NULL), a success row (key, NULL, last_success_ms).
FAILURES_STATEMENT = "SELECT f.key_hash, f.blocked_until_ms, NULL FROM login_failures AS f WHERE f.key_hash IN %(keys)s"
SUCCESS_STATEMENT = "SELECT s.key_hash, NULL, s.last_success_ms FROM login_successes AS s WHERE s.key_hash = %(known)s"
_READS = {False: FAILURES_STATEMENT, True: f"{FAILURES_STATEMENT}\nUNION ALL\n{SUCCESS_STATEMENT}"}


@dataclass(frozen=True)
class Seen:
    """What the records say about one login: when each counted key is held back until, and its last success."""

    blocked_until_ms: dict[str, int]  # key hash -> epoch ms, for the keys asked for that have a count
    last_success_ms: int | None = None  # of the key asked for as known; None: no success recorded (or not asked)


def seen_from_rows(rows: Iterable[Sequence]) -> Seen:
    """The Seen of the rows of the read's statement (pure)."""
    blocked: dict[str, int] = {}
    last_success = None
    for key, blocked_until_ms, last_success_ms in rows:
        if blocked_until_ms is not None:
            blocked[key] = int(blocked_until_ms)
        else:
            last_success = int(last_success_ms)
    return Seen(blocked, last_success)


class LoginRecords:
    """Reads and writes of ``login_failures`` and ``login_successes``."""

    def __init__(self, engine: Engine, reader: Reader) -> None:
        self.engine = engine
        self.reader = reader

    def read(self, failure_keys: Iterable[str], success_key: str | None = None) -> Seen:
        """The counts of ``failure_keys`` and the last success of ``success_key`` (None: not asked), in one read."""
        parameters = {"keys": tuple(sorted(set(failure_keys)))}
        if success_key is not None:
            parameters["known"] = success_key
        return seen_from_rows(self.reader.rows(_READS[success_key is not None], parameters))

    def record_failure(self, key_hash: str, now_ms: int, forget_before_ms: int, hold_ms: Callable[[int], int]) -> int:
        """Count one more failure for a key and hold it back ``hold_ms(count)``; returns the count.

        A count whose last failure came before ``forget_before_ms`` starts again
        at one. The count goes up in one statement, so that workers failing at
        once each count.
        """
        table = t.login_failures
        count = upsert(table).values(key_hash=key_hash, failures=1, blocked_until_ms=0, last_failure_ms=now_ms)
        # Assigned left to right: the count is reset or raised before the time moves on.
        count = count.on_duplicate_key_update(
            [
                ("failures", case((table.c.last_failure_ms < forget_before_ms, 1), else_=table.c.failures + 1)),
                ("last_failure_ms", now_ms),
            ]
        )

        def run() -> int:
            with self.engine.begin() as conn:
                conn.execute(count)
                failures = conn.execute(select(table.c.failures).where(table.c.key_hash == key_hash)).scalar_one()
                hold = hold_ms(failures)
                if hold > 0:
                    conn.execute(
                        update(table).where(table.c.key_hash == key_hash).values(blocked_until_ms=now_ms + hold)
                    )
                return failures

        return retrying(run)

    def forget_failures(self, before_ms: int) -> None:
        """Drop the failure counts whose last failure came before ``before_ms``."""
        table = t.login_failures
        statement = delete(table).where(table.c.last_failure_ms < before_ms)

        def run() -> None:
            with self.engine.begin() as conn:
                conn.execute(statement)

        retrying(run)

    def record_success(self, key_hash: str, now_ms: int, forget_before_ms: int) -> None:
        """Note a login at ``now_ms`` for a key, and drop, in the same transaction, the successes before
        ``forget_before_ms`` (which no longer make an address known)."""
        table = t.login_successes
        forget = delete(table).where(table.c.last_success_ms < forget_before_ms)
        seen = upsert(table).values(key_hash=key_hash, last_success_ms=now_ms)
        seen = seen.on_duplicate_key_update(last_success_ms=now_ms)

        def run() -> None:
            with self.engine.begin() as conn:
                conn.execute(forget)
                conn.execute(seen)

        retrying(run)
