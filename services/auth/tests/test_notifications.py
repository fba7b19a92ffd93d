# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The notifications receiver against a real MariaDB: events as the registry sends them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import EVENTS_SECRET

from dockyard_auth.app import Server, create_app
from dockyard_auth.config import parse
from dockyard_auth.database import make_engine

V1 = "application/vnd.docker.distribution.events.v1+json"
V2 = "application/vnd.docker.distribution.events.v2+json"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST = "sha256:" + "ab" * 32


def event(
    event_id: str,
    action: str = "push",
    media_type: str = MANIFEST,
    at: str = "2026-11-23T10:11:12.123456789+01:00",
    **target,
) -> dict:
    return {
        "id": event_id,
        "timestamp": at,
        "action": action,
        "target": {"mediaType": media_type, "repository": "web/app", "digest": DIGEST, "tag": "v1", **target},
        "request": {"id": "req-1", "addr": "10.1.2.3:4567", "method": "PUT", "useragent": "docker/20.10"},
        "actor": {"name": "alice"},
        "source": {"addr": "registry:5000", "instanceID": "inst-1"},
    }


def post(test_client, events, content_type=V1, secret=EVENTS_SECRET):
    return test_client.post(
        "/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {secret}", "Content-Type": content_type},
    )


def tags_of(server, repository="web/app"):
    return {t["name"]: t["digest"] for t in server.store.list_tags(repository, 0, 100).items}


def test_a_manifest_push_makes_one_activity_and_a_replay_changes_nothing(client):
    test_client, server = client
    first = post(test_client, [event("e1")])
    assert (first.status_code, first.get_json()) == (200, {"stored": 1, "duplicates": 0, "ignored": 0})
    replay = post(test_client, [event("e1")], content_type=V2)
    assert replay.get_json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    [activity] = server.store.list_activities(0, 10).items
    assert activity["action"] == "push" and activity["actor"] == "alice" and activity["digest"] == DIGEST
    assert activity["occurred_at"].isoformat() == "2026-11-23T09:11:12.123456"  # UTC, to the microsecond
    assert (activity["source_addr"], activity["request_id"]) == ("10.1.2.3:4567", "req-1")
    assert tags_of(server) == {"v1": DIGEST}


def test_a_replay_of_an_old_push_does_not_move_a_tag_back(client):
    test_client, server = client
    newer = "sha256:" + "cd" * 32
    post(test_client, [event("e1"), event("e2", digest=newer)])
    assert tags_of(server) == {"v1": newer}
    post(test_client, [event("e1")])
    assert tags_of(server) == {"v1": newer}


def test_blob_events_mounts_and_unrecorded_pulls_make_nothing(client):
    test_client, server = client
    answer = post(
        test_client,
        [
            event("b1", media_type="application/octet-stream"),
            event("b2", media_type="application/vnd.docker.image.rootfs.diff.tar.gzip"),
            event("m1", action="mount"),
            event("p1", action="pull"),
        ],
    )
    assert answer.get_json() == {"stored": 0, "duplicates": 0, "ignored": 4}
    assert server.store.list_activities(0, 10).total == 0


def test_pulls_are_recorded_when_asked(make_client, config_data):
    config_data["notifications"]["record_pulls"] = True
    test_client, server = make_client(config_data)
    assert post(test_client, [event("p1", action="pull")]).get_json()["stored"] == 1
    assert [a["action"] for a in server.store.list_activities(0, 10).items] == ["pull"]


def test_deletes_remove_the_tag_or_every_tag_of_the_digest(client):
    test_client, server = client
    post(test_client, [event("e1"), event("e2", tag="v2")])
    post(
        test_client, [{**event("d1", action="delete", media_type=""), "target": {"repository": "web/app", "tag": "v2"}}]
    )
    assert tags_of(server) == {"v1": DIGEST}
    post(test_client, [{**event("d2", action="delete"), "target": {"repository": "web/app", "digest": DIGEST}}])
    assert tags_of(server) == {}
    assert [a["action"] for a in server.store.list_activities(0, 10).items] == ["delete", "delete", "push", "push"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Authorization": "Bearer wrong", "Content-Type": V1}, b'{"events": []}', 401),
        ({"Content-Type": V1}, b'{"events": []}', 401),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": "text/plain"}, b'{"events": []}', 415),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}, b"not json", 400),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}, b'{"events": {}}', 400),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}, b"[]", 400),
    ],
)
def test_refused_notifications(client, headers, body, status):
    test_client, _server = client
    assert test_client.post("/events", data=body, headers=headers).status_code == status


def test_a_malformed_event_is_skipped_not_retried_forever(client):
    test_client, server = client
    answer = post(test_client, [{"id": "x"}, "nonsense", event("e1")])
    assert answer.status_code == 200
    assert answer.get_json() == {"stored": 1, "duplicates": 0, "ignored": 2}


def test_while_the_database_is_down_the_registry_is_told_to_retry(config_data, signing_files):
    config = parse(config_data)
    # Nothing listens on port 9 of loopback: every connection fails at once.
    dead = make_engine("mysql+pymysql://root@127.0.0.1:9/none", "x", pool_size=1)
    test_client = create_app(config, Server.from_config(config, engine=dead)).test_client()
    answer = post(test_client, [event("e1")])
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert test_client.get("/healthz").status_code == 503


def test_notifications_turned_off(make_client, config_data):
    config_data["notifications"] = {"enabled": False}
    test_client, _server = make_client(config_data)
    assert post(test_client, [event("e1")]).status_code == 404


# -- events applied in the order of the registry's times -------------------------------
A, B = "sha256:" + "aa" * 32, "sha256:" + "bb" * 32
T1, T2, T3 = "2026-11-23T10:00:01Z", "2026-11-23T10:00:02Z", "2026-11-23T10:00:03Z"
DELETES = {"tag": {"tag": "v1"}, "digest": {"digest": A}, "repository": {}}


def delete_event(event_id: str, at: str, **target) -> dict:
    """A delete as the registry sends it: a tag, a digest, or the repository alone; no media type."""
    return {**event(event_id, action="delete", media_type="", at=at), "target": {"repository": "web/app", **target}}


def tags_now(server, repository="web/app") -> dict:
    """The repository's tags, {} when the repository itself is gone."""
    return tags_of(server, repository) if server.store.get_repository(repository) else {}


def recorded(server) -> list[str]:
    return [a["event_id"] for a in server.store.list_activities(0, 100).items]


def test_an_older_push_arriving_later_under_a_new_id_leaves_the_tag(client):
    test_client, server = client
    post(test_client, [event("e2", at=T2, digest=A)])
    answer = post(test_client, [event("e1", at=T1, digest=B)])
    assert answer.get_json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    assert tags_of(server) == {"v1": A}
    assert recorded(server) == ["e2", "e1"]


@pytest.mark.parametrize("deleted", DELETES.values(), ids=DELETES.keys())
def test_a_push_older_than_a_delete_does_not_bring_the_tag_back(client, deleted):
    test_client, server = client
    post(test_client, [event("e1", at=T1, digest=A)])
    post(test_client, [delete_event("d3", T3, **deleted)])
    assert tags_now(server) == {}
    answer = post(test_client, [event("e2", at=T2, digest=A)])
    assert answer.get_json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    assert tags_now(server) == {}
    assert recorded(server) == ["d3", "e2", "e1"]


def test_a_late_push_of_a_deleted_digest_stays_out_under_any_tag_but_another_digest_goes_in(client):
    test_client, server = client
    post(test_client, [event("e1", at=T1, digest=A), delete_event("d3", T3, digest=A)])
    post(test_client, [event("e2", at=T2, digest=A, tag="v2"), event("e3", at=T2, digest=B, tag="v3")])
    assert tags_of(server) == {"v3": B}


@pytest.mark.parametrize("deleted", DELETES.values(), ids=DELETES.keys())
def test_a_delete_older_than_the_push_leaves_the_tag(client, deleted):
    test_client, server = client
    post(test_client, [event("e2", at=T2, digest=A)])
    post(test_client, [delete_event("d1", T1, **deleted)])
    assert tags_now(server) == {"v1": A}
    assert recorded(server) == ["e2", "d1"]


@pytest.mark.parametrize("arrival", ["in time order", "later one first"])
def test_pushes_in_the_same_second_apply_in_time_order_whatever_the_arrival(client, arrival):
    test_client, server = client
    early = event("e1", at="2026-11-23T10:00:01.000001Z", digest=A)
    late = event("e2", at="2026-11-23T10:00:01.000002Z", digest=B)
    for one in [early, late] if arrival == "in time order" else [late, early]:
        assert post(test_client, [one]).get_json()["stored"] == 1
    assert tags_of(server) == {"v1": B}


def test_pushes_of_one_new_tag_at_once_all_succeed_and_the_latest_wins(client):
    test_client, server = client
    digests = [f"sha256:{n:064x}" for n in range(24)]
    pushes = [event(f"e{n}", at=f"2026-11-23T10:00:01.{n:06d}Z", digest=digests[n]) for n in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # the latest first: it must not be overwritten
        answers = list(pool.map(lambda push: post(test_client, [push]), reversed(pushes)))
    assert [answer.status_code for answer in answers] == [200] * 24
    assert tags_of(server) == {"v1": digests[-1]}
    assert len(recorded(server)) == 24


# -- malformed notifications: a 400 for the body, "ignored" for an event, never a 500 ---
BAD_BODIES = {
    "100000 nested lists": b"[" * 100000 + b"]" * 100000,
    "events nested 100000 deep": b'{"events": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "not JSON": b"not json",
    "a list": b"[]",
    "events not a list": b'{"events": {}}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_is_no_object_with_an_events_list_is_a_400_in_distributions_shape(client, body):
    test_client, _server = client
    answer = test_client.post(
        "/events", data=body, headers={"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}
    )
    assert answer.status_code == 400
    [error] = answer.get_json()["errors"]
    assert error["code"] == "INVALID_REQUEST"
    assert 'the body must be a JSON object with an "events" list' in error["message"]


OUT_OF_RANGE = {
    "year 0001 at +14:00": "0001-01-01T00:00:00+14:00",
    "year 99999": "99999-01-01T00:00:00Z",
    "year 0500": "0500-01-01T00:00:00Z",
    "year 9999 at -05:00": "9999-12-31T23:00:00-05:00",
}


@pytest.mark.parametrize("at", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_an_event_with_a_time_out_of_range_is_skipped(client, at):
    test_client, server = client
    answer = post(test_client, [event("bad", at=at), event("e1")])
    assert (answer.status_code, answer.get_json()) == (200, {"stored": 1, "duplicates": 0, "ignored": 1})
    assert recorded(server) == ["e1"]


@pytest.mark.parametrize("surrogate", ["\ud800", "\udcff"])
@pytest.mark.parametrize("where", ["id", "actor", "tag", "repository"])
def test_an_event_with_text_no_column_holds_is_skipped(client, where, surrogate):
    test_client, server = client
    bad = event("bad")
    if where == "id":
        bad["id"] = "bad" + surrogate
    elif where == "actor":
        bad["actor"]["name"] += surrogate
    else:
        bad["target"][where] += surrogate
    answer = test_client.post(
        "/events",
        data=json.dumps({"events": [bad, event("e1")]}),  # \ud800 escaped: JSON, if never the registry's
        headers={"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1},
    )
    assert (answer.status_code, answer.get_json()) == (200, {"stored": 1, "duplicates": 0, "ignored": 1})
    assert recorded(server) == ["e1"]
