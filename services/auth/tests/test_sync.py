# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog sync's strategies on a real MariaDB.

The registry's listing is given as a table here (the end-to-end test syncs
from the real registry); what is checked is how each strategy reconciles it
with what the server knows, including a push notified while a run is going.
"""

from __future__ import annotations

import pytest

from dockyard_auth import sync
from dockyard_auth.store import utcnow

D = {n: f"sha256:{n * 64}" for n in "1234"}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Listing:
    """A registry's repositories and tags, as the sync reads them; ``during`` runs mid-listing."""

    def __init__(self, content: dict[str, dict[str, str]], during=None) -> None:
        self.content, self.during = content, during

    def repositories(self) -> list[str]:
        if self.during:
            self.during()
        return sorted(self.content)

    def tags(self, repository: str) -> list[str]:
        return sorted(self.content[repository])

    def manifest(self, repository: str, tag: str) -> tuple[str, str]:
        return self.content[repository][tag], MANIFEST


def known(store) -> dict[str, dict[str, str]]:
    return {repo: {tag: d for tag, (d, _t) in tags.items()} for repo, tags in store.all_tags().items()}


def seed(store, content: dict[str, dict[str, str]]) -> None:
    def change(conn):
        for repo, tags in content.items():
            store.ensure_repository(conn, repo)
            for tag, digest in tags.items():
                store.put_tag(conn, repo, tag, digest, MANIFEST)

    store.apply_change(change)


def age(store) -> None:
    """Make what is known an hour old: rows written in the second a run starts count as changed during it."""

    def change(conn):
        conn.exec_driver_sql("UPDATE tags SET updated_at = updated_at - INTERVAL 1 HOUR")
        conn.exec_driver_sql("UPDATE repositories SET updated_at = updated_at - INTERVAL 1 HOUR")

    store.apply_change(change)


@pytest.fixture
def store(client):
    return client[1].store


def test_initial_fills_an_empty_server_and_then_does_nothing(store):
    report = sync.run(store, Listing({"web/app": {"1": D["1"], "2": D["2"]}, "base": {"v1": D["3"]}}), "initial")
    assert (report.repositories_added, report.tags_added) == (2, 3)
    assert known(store) == {"web/app": {"1": D["1"], "2": D["2"]}, "base": {"v1": D["3"]}}
    again = sync.run(store, Listing({"other/x": {"1": D["4"]}}), "initial")
    assert again.repositories_added == 0 and "other/x" not in known(store)


def test_update_adds_and_moves_but_deletes_nothing(store):
    seed(store, {"web/app": {"1": D["1"], "old": D["2"]}, "gone/x": {"1": D["3"]}})
    age(store)
    report = sync.run(store, Listing({"web/app": {"1": D["4"], "new": D["2"]}}), "update")
    assert (report.tags_added, report.tags_updated, report.tags_deleted) == (1, 1, 0)
    assert known(store) == {"web/app": {"1": D["4"], "old": D["2"], "new": D["2"]}, "gone/x": {"1": D["3"]}}


def test_update_delete_removes_what_the_registry_lost(store):
    seed(store, {"web/app": {"1": D["1"], "old": D["2"]}, "gone/x": {"1": D["3"]}})
    age(store)
    report = sync.run(store, Listing({"web/app": {"1": D["1"]}}), "update-delete")
    assert (report.tags_deleted, report.repositories_deleted) == (2, 1)
    assert known(store) == {"web/app": {"1": D["1"]}}


def test_update_delete_keeps_what_an_event_added_during_the_run(store):
    seed(store, {"web/app": {"1": D["1"]}})
    age(store)

    def push_notified_mid_run():
        # After the listing was taken, a push of web/app:2 and of a new repository arrives.
        seed(store, {"web/app": {"2": D["2"]}, "fresh/y": {"1": D["3"]}})

    started = utcnow()
    sync.run(store, Listing({"web/app": {"1": D["1"]}}, during=push_notified_mid_run), "update-delete")
    assert known(store) == {"web/app": {"1": D["1"], "2": D["2"]}, "fresh/y": {"1": D["3"]}}
    assert all(updated >= started for _d, updated in store.all_tags()["fresh/y"].values())


def test_an_unknown_strategy_is_refused(store):
    with pytest.raises(sync.SyncError, match="use one of initial, update, update-delete"):
        sync.run(store, Listing({}), "mirror")
