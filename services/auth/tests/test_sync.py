# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog sync's strategies on a real MariaDB.

The registry's listing is given as a table here (the end-to-end test syncs
from the real registry); what is checked is how each strategy reconciles it
with what the server knows, including a push notified while a run is going.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from dockyard_auth import schema, sync
from dockyard_auth.notifications import Activity
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
    """Tags pushed now, as the notifications would set them."""

    def change(conn):
        for repo, tags in content.items():
            store.ensure_repository(conn, repo)
            for tag, digest in tags.items():
                store.put_tag(conn, repo, tag, digest, MANIFEST, utcnow())

    store.apply_change(change)


def age(store) -> None:
    """Make what is known an hour old: rows written in the second a run starts count as changed during it."""

    def change(conn):
        conn.exec_driver_sql("UPDATE tags SET updated_at = updated_at - INTERVAL 1 HOUR")
        conn.exec_driver_sql("UPDATE tags SET event_at = event_at - INTERVAL 1 HOUR")
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


def event_times(store) -> dict[str, dt.datetime | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(schema.tags.c.name, schema.tags.c.event_at)).all())


def test_a_tag_the_sync_sets_takes_the_runs_time_and_an_older_event_arriving_later_leaves_it(store):
    seed(store, {"web/app": {"1": D["1"]}})
    age(store)
    before_run = utcnow()
    sync.run(store, Listing({"web/app": {"1": D["2"]}}), "update")
    assert known(store) == {"web/app": {"1": D["2"]}}
    assert before_run <= event_times(store)["1"] <= utcnow()

    def push(digest: str, at: dt.datetime):
        store.apply_change(lambda conn: store.put_tag(conn, "web/app", "1", digest, MANIFEST, at))

    push(D["1"], before_run - dt.timedelta(seconds=1))  # pushed before the run, notified only now
    assert known(store) == {"web/app": {"1": D["2"]}}
    push(D["3"], utcnow() + dt.timedelta(seconds=1))  # pushed after the run
    assert known(store) == {"web/app": {"1": D["3"]}}


def test_the_sync_does_not_bring_back_a_tag_an_event_deleted_during_the_run(store):
    seed(store, {"web/app": {"1": D["1"], "2": D["2"]}})
    age(store)

    def delete_notified_mid_run():
        at = utcnow() + dt.timedelta(seconds=1)
        deleted = Activity("d1", "delete", "alice", "web/app", "1", None, "", "", "", "", at)
        store.record_event(deleted.row(), lambda conn: store.delete_tag(conn, "web/app", "1", at))

    # The listing, taken before the delete, still has tag 1 (moved to another digest).
    listing = Listing({"web/app": {"1": D["3"], "2": D["2"]}}, during=delete_notified_mid_run)
    sync.run(store, listing, "update-delete")
    assert known(store) == {"web/app": {"2": D["2"]}}


def test_an_unknown_strategy_is_refused(store):
    with pytest.raises(sync.SyncError, match="use one of initial, update, update-delete"):
        sync.run(store, Listing({}), "mirror")


def test_update_delete_forgets_a_repository_the_registry_lists_without_tags(store):
    """Deleting every tag leaves the repository in the registry's catalog; the sync forgets it all the same."""
    seed(store, {"web/app": {"1": D["1"]}, "web/emptied": {"1": D["2"]}})
    age(store)
    report = sync.run(store, Listing({"web/app": {"1": D["1"]}, "web/emptied": {}}), "update")
    assert report.repositories_deleted == 0 and "web/emptied" in known(store)
    report = sync.run(store, Listing({"web/app": {"1": D["1"]}, "web/emptied": {}}), "update-delete")
    assert (report.tags_deleted, report.repositories_deleted) == (1, 1)
    assert known(store) == {"web/app": {"1": D["1"]}}
