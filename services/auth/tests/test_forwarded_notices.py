# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxy notices (for /healthz) in the table forwarded_notices, through the Store on the real MariaDB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from dockyard_auth.store import Store


def test_peers_are_counted_and_listed_newest_first(engine):
    store = Store(engine)
    assert store.forwarded_since(0) == []
    store.note_forwarded("10.0.0.1", 1_000)
    store.note_forwarded("2001:db8::1", 1_500)
    store.note_forwarded("10.0.0.1", 2_000)
    store.note_forwarded("10.0.0.1", 1_800)  # a worker with an older clock reading does not move it back

    assert store.forwarded_since(0) == [
        {"peer": "10.0.0.1", "first_seen_ms": 1_000, "last_seen_ms": 2_000, "requests": 3},
        {"peer": "2001:db8::1", "first_seen_ms": 1_500, "last_seen_ms": 1_500, "requests": 1},
    ]
    assert [row["peer"] for row in store.forwarded_since(1_500)] == ["10.0.0.1", "2001:db8::1"]
    assert [row["peer"] for row in store.forwarded_since(1_501)] == ["10.0.0.1"]
    assert store.forwarded_since(2_001) == []


def test_notes_from_many_workers_at_once_are_all_counted(engine):
    store = Store(engine)
    store.note_forwarded("10.0.0.9", 5_000)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: store.note_forwarded("10.0.0.9", 5_000 + n), range(1, 41)))
    assert store.forwarded_since(0) == [
        {"peer": "10.0.0.9", "first_seen_ms": 5_000, "last_seen_ms": 5_040, "requests": 41}
    ]
