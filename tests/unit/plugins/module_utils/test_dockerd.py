"""daemon.json as data: parsing, merging, which keys dockerd gets as flags, and how it takes a change."""

from __future__ import annotations

import json

import pytest
from ansible_collections.dockyard.registry.plugins.module_utils import _dockerd
from ansible_collections.dockyard.registry.plugins.module_utils._dockerd import DaemonJsonError

# ---------------------------------------------------------------- parse and render


@pytest.mark.parametrize(
    ("content", "config"),
    [
        (None, {}),
        (b"", {}),
        (b" \n\t\n", {}),
        (b"{}", {}),
        (b'{"debug": true, "labels": ["a=b"]}\n', {"debug": True, "labels": ["a=b"]}),
        ('{"labels": ["ort=Z\u00fcrich"]}'.encode(), {"labels": ["ort=Z\u00fcrich"]}),
    ],
)
def test_parse(content, config):
    assert _dockerd.parse(content) == config


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"debug": true,}', "not valid JSON"),
        (b"debug: true", "not valid JSON"),
        (b'{"max-concurrent-uploads": NaN}', "not valid JSON"),
        (b'{"labels": ["\xff"]}', "not valid JSON"),
        (b"[]", "a JSON list, not an object"),
        (b'"debug"', "a JSON str, not an object"),
        (b"null", "a JSON NoneType, not an object"),
    ],
)
def test_parse_refuses(content, message):
    with pytest.raises(DaemonJsonError, match=message):
        _dockerd.parse(content)


def test_render_sorts_keys_indents_and_ends_with_a_newline():
    text = _dockerd.render({"log-level": "warn", "debug": True, "labels": ["ort=Z\u00fcrich"]})
    assert (
        text == '{\n  "debug": true,\n  "labels": [\n    "ort=Z\u00fcrich"\n  ],\n  "log-level": "warn"\n}\n'.encode()
    )
    assert _dockerd.parse(text) == {"log-level": "warn", "debug": True, "labels": ["ort=Z\u00fcrich"]}


# ---------------------------------------------------------------- merge


@pytest.mark.parametrize(
    ("before", "settings", "insecure", "after"),
    [
        ({}, {}, [], {}),
        # keys the settings do not name are kept, named ones replaced
        ({"log-driver": "journald", "debug": False}, {"debug": True}, [], {"log-driver": "journald", "debug": True}),
        ({}, {"default-ulimits": {"nofile": {"Hard": 64000}}}, [], {"default-ulimits": {"nofile": {"Hard": 64000}}}),
        # insecure-registries only grows, the file's entries first and in their order
        ({}, {}, ["r:5000"], {"insecure-registries": ["r:5000"]}),
        ({"insecure-registries": ["b:5000", "a:5000"]}, {}, ["a:5000", "c:5000"],
         {"insecure-registries": ["b:5000", "a:5000", "c:5000"]}),
        ({"insecure-registries": ["a:5000"]}, {"insecure-registries": ["s:5000"]}, ["i:5000", "s:5000"],
         {"insecure-registries": ["a:5000", "s:5000", "i:5000"]}),
        ({}, {}, ["r:5000", "r:5000"], {"insecure-registries": ["r:5000"]}),
        # a list the file has is left as it is, duplicates included; an empty one named in settings is kept
        ({"insecure-registries": ["a", "a"]}, {}, [], {"insecure-registries": ["a", "a"]}),
        ({}, {"insecure-registries": []}, [], {"insecure-registries": []}),
    ],
)  # fmt: skip
def test_merge(before, settings, insecure, after):
    snapshot = json.dumps([before, settings, insecure])
    assert _dockerd.merge(before, settings, insecure) == after
    assert json.dumps([before, settings, insecure]) == snapshot  # inputs untouched


@pytest.mark.parametrize(
    ("before", "settings", "message"),
    [
        ({"insecure-registries": "r:5000"}, {}, "insecure-registries in the file is a str, not a list"),
        ({}, {"insecure-registries": "r:5000"}, "insecure-registries in the settings is a str, not a list"),
    ],
)
def test_merge_refuses_an_insecure_registries_that_is_not_a_list(before, settings, message):
    with pytest.raises(DaemonJsonError, match=message):
        _dockerd.merge(before, settings, ["x:5000"])


# ---------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("cmdline", "keys"),
    [
        # Debian's sysvinit script
        (["/usr/sbin/dockerd", "-p", "/var/run/docker.pid"], ["pidfile"]),
        # Debian/Ubuntu docker.service
        ("/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", ["containerd", "hosts"]),
        ("dockerd -Hfd:// --insecure-registry=r:5000 --insecure-registry r2:5000", ["hosts", "insecure-registries"]),
        ("dockerd --registry-mirror https://m --label a=b --log-opt a=1", ["labels", "log-opts", "registry-mirrors"]),
        ("dockerd -D --storage-driver overlay2 --data-root=/srv/docker", ["data-root", "debug", "storage-driver"]),
        (["dockerd", "--label", "a b", "-l", "warn"], ["labels", "log-level"]),
        ("dockerd --config-file /etc/docker/daemon.json", []),
        ("dockerd", []),
        ("", []),
        ([], []),
        ("dockerd -- --not-a-flag", []),
    ],
)
def test_flag_keys(cmdline, keys):
    assert _dockerd.flag_keys(cmdline) == keys


# ---------------------------------------------------------------- how dockerd takes a change


@pytest.mark.parametrize(
    ("before", "after", "action"),
    [
        ({}, {}, "none"),
        ({"debug": True}, {"debug": True}, "none"),
        ({}, {"insecure-registries": ["r:5000"]}, "reload"),
        ({"insecure-registries": ["a"]}, {"insecure-registries": ["a", "b"]}, "reload"),
        ({"registry-mirrors": ["m"]}, {}, "reload"),
        ({"debug": False}, {"debug": True, "labels": ["x=y"], "live-restore": True}, "reload"),
        ({}, {"log-driver": "journald"}, "restart"),
        ({}, {"insecure-registries": ["r"], "data-root": "/srv"}, "restart"),
        ({"storage-driver": "overlay2"}, {}, "restart"),
        (None, {"max-concurrent-downloads": 5}, "reload"),
    ],
)
def test_apply_action(before, after, action):
    assert _dockerd.apply_action(before, after) == action


def test_changed_keys_lists_added_removed_and_modified():
    before = {"a": 1, "b": 2, "c": 3}
    after = {"a": 1, "b": 20, "d": 4}
    assert _dockerd.changed_keys(before, after) == ["b", "c", "d"]
