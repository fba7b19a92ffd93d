# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters about dockerd's configuration, used by the docker_client role."""

from __future__ import annotations

import shlex

# dockerd's command-line flags whose daemon.json key is not the flag's own name.
FLAG_TO_KEY = {
    "add-runtime": "runtimes",
    "allow-nondistributable-artifacts": "allow-nondistributable-artifacts",
    "authorization-plugin": "authorization-plugins",
    "cluster-store-opt": "cluster-store-opts",
    "default-address-pool": "default-address-pools",
    "default-ulimit": "default-ulimits",
    "dns-opt": "dns-opts",
    "exec-opt": "exec-opts",
    "feature": "features",
    "host": "hosts",
    "insecure-registry": "insecure-registries",
    "label": "labels",
    "log-opt": "log-opts",
    "node-generic-resource": "node-generic-resources",
    "registry-mirror": "registry-mirrors",
    "storage-opt": "storage-opts",
}
SHORT_FLAGS = {"H": "hosts", "p": "pidfile", "D": "debug", "l": "log-level", "G": "group", "b": "bridge", "g": "graph"}
# Flags that are about how dockerd reads its configuration, not configuration itself.
NOT_KEYS = {"config-file", "help", "version", "validate"}

# What `kill -HUP` makes dockerd re-read from daemon.json (moby daemon/reload.go);
# a change of any other key needs a restart.
RELOADABLE_KEYS = frozenset(
    {
        "debug",
        "labels",
        "live-restore",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "default-runtime",
        "runtimes",
        "authorization-plugins",
        "allow-nondistributable-artifacts",
        "insecure-registries",
        "registry-mirrors",
        "shutdown-timeout",
        "features",
        "network-diagnostic-port",
    }
)


def dockerd_flag_keys(cmdline) -> list[str]:
    """The daemon.json keys that a dockerd command line sets as flags.

    `cmdline` is the command line as a list of arguments (as in
    /proc/PID/cmdline) or as one shell-quoted string (as in DOCKER_OPTS or a
    systemd ExecStart). dockerd refuses to start when a key is set both ways.
    """
    args = shlex.split(cmdline) if isinstance(cmdline, str) else [str(a) for a in cmdline]
    keys: set[str] = set()
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--") and len(arg) > 2:
            name = arg[2:].split("=", 1)[0]
            if name not in NOT_KEYS:
                keys.add(FLAG_TO_KEY.get(name, name))
        elif arg.startswith("-") and len(arg) > 1 and arg[1] != "-":
            # -H fd:// or -Hfd:// or a group of boolean short flags (-D)
            key = SHORT_FLAGS.get(arg[1])
            if key:
                keys.add(key)
    return sorted(keys)


def dockerd_changed_keys(before: dict, after: dict) -> list[str]:
    """The top-level daemon.json keys whose value differs between two configurations."""
    before = before or {}
    after = after or {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def dockerd_apply_action(before: dict, after: dict) -> str:
    """How dockerd takes a daemon.json change: "none", "reload" (SIGHUP) or "restart"."""
    changed = dockerd_changed_keys(before, after)
    if not changed:
        return "none"
    return "reload" if set(changed) <= RELOADABLE_KEYS else "restart"


class FilterModule:
    def filters(self):
        return {
            "dockerd_flag_keys": dockerd_flag_keys,
            "dockerd_changed_keys": dockerd_changed_keys,
            "dockerd_apply_action": dockerd_apply_action,
        }
