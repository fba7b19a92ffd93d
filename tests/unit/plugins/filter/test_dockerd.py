"""Which daemon.json keys dockerd gets as flags, and how it takes a configuration change."""

from __future__ import annotations

import pytest
from ansible_collections.dockyard.registry.plugins.filter import dockerd


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
        ("dockerd --config-file /etc/docker/daemon.json", []),
        ("dockerd", []),
        ("", []),
        ("dockerd -- --not-a-flag", []),
    ],
)
def test_flag_keys(cmdline, keys):
    assert dockerd.dockerd_flag_keys(cmdline) == keys


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
    assert dockerd.dockerd_apply_action(before, after) == action


def test_changed_keys_lists_added_removed_and_modified():
    before = {"a": 1, "b": 2, "c": 3}
    after = {"a": 1, "b": 20, "d": 4}
    assert dockerd.dockerd_changed_keys(before, after) == ["b", "c", "d"]
