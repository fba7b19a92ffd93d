# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A namespace, or a user with their personal namespace, is not deleted while it holds repositories.

Deleting it would let the next namespace or user of that name own the old
repositories. Through the Store, on the real MariaDB.
"""

from __future__ import annotations

import pytest

from dockyard_auth.permissions import Visibility
from dockyard_auth.store import Conflict, NotFound, Store

HASH = "$2b$04$" + "x" * 53


@pytest.fixture
def store(engine) -> Store:
    store = Store(engine)
    store.create_team("web")
    store.create_user("admin", HASH, admin=True)
    return store


def add_repositories(store: Store, *names: str) -> None:
    store.apply_change(lambda conn: [store.ensure_repository(conn, name) for name in names])


def remove_repositories(store: Store, *names: str) -> None:
    store.apply_change(lambda conn: [store.delete_repository(conn, name) for name in names])


# Repositories of other namespaces, or global ones, that look like "web/..." or "a_b/..." to a careless LIKE.
NEIGHBOURS = ("website/app", "web", "webb/x", "x/web/app", "WEB/app", "web /app", "axb/app", "a_bc/app", "a_b", "aXb/x")


def test_a_namespace_holding_repositories_is_not_deleted(store):
    store.create_namespace("web", "web", Visibility.PRIVATE)
    store.create_namespace("a_b", "web", Visibility.PRIVATE)
    add_repositories(store, *NEIGHBOURS, *(f"web/app{n}" for n in range(7)), "web/deep/er", "a_b/app")
    with pytest.raises(Conflict) as refused:
        store.delete_namespace("web")
    message = str(refused.value)
    assert "namespace 'web' cannot be deleted: it holds 8 repositories " in message
    assert "(web/app0, web/app1, web/app2, web/app3, web/app4, ...)" in message
    assert "'dockyard-auth sync --strategy update-delete'" in message and "or keep the namespace" in message
    assert refused.value.status == 409
    assert store.get_namespace("web") is not None
    with pytest.raises(Conflict, match=r"holds 1 repository \(a_b/app\)"):
        store.delete_namespace("a_b")

    remove_repositories(store, *(f"web/app{n}" for n in range(7)), "a_b/app")
    with pytest.raises(Conflict, match=r"holds 1 repository \(web/deep/er\)"):
        store.delete_namespace("web")
    remove_repositories(store, "web/deep/er")
    for name in ("web", "a_b"):  # the neighbours are no one's concern here
        store.delete_namespace(name)
        assert store.get_namespace(name) is None


@pytest.mark.parametrize("delete", ["delete_user", "delete_user_keeping_an_admin"])
def test_a_user_whose_personal_namespace_holds_repositories_is_not_deleted(store, delete):
    store.create_user("alice", HASH)
    add_repositories(store, "alice/app", "alicex/app", "alice", "ghost/app")
    with pytest.raises(Conflict) as refused:
        getattr(store, delete)("alice")
    message = str(refused.value)
    assert "user 'alice' cannot be deleted: their personal namespace 'alice' holds 1 repository (alice/app)" in message
    assert "Disable the user instead" in message and "dockyard-auth sync --strategy update-delete" in message
    assert refused.value.status == 409
    assert store.get_user("alice") is not None and store.get_namespace("alice") is not None

    remove_repositories(store, "alice/app")
    getattr(store, delete)("alice")
    assert store.get_user("alice") is None and store.get_namespace("alice") is None
    with pytest.raises(NotFound, match="no user 'ghost'"):  # not a Conflict: there is no such user
        getattr(store, delete)("ghost")
