# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd's daemon.json as data: parse it, merge keys into it, and how dockerd takes a change.

Pure logic without I/O: the caller reads the file and dockerd's command line.
Private to the collection: the interface may change without notice.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence

INSECURE_REGISTRIES = "insecure-registries"

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
    "insecure-registry": INSECURE_REGISTRIES,
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
        INSECURE_REGISTRIES,
        "registry-mirrors",
        "shutdown-timeout",
        "features",
        "network-diagnostic-port",
    }
)

NONE = "none"
RELOAD = "reload"
RESTART = "restart"


class DaemonJsonError(ValueError):
    """A daemon.json, or keys for it, that dockerd could not take."""


def parse(content: bytes | None) -> dict:
    """The configuration a daemon.json holds; a missing (None), empty or blank file holds none."""
    if content is None or not content.strip():
        return {}
    try:
        config = json.loads(content, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes that are no JSON encoding
        raise DaemonJsonError(f"it is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise DaemonJsonError(f"it holds a JSON {type(config).__name__}, not an object")
    return config


def _refuse_constant(name: str):
    # Python's json takes NaN and Infinity; JSON, and so dockerd, does not.
    raise ValueError(f"{name} is not a JSON value")


def render(config: Mapping) -> bytes:
    """daemon.json's text for `config`: keys sorted, two-space indent, a final newline."""
    return (json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def merge(before: Mapping, settings: Mapping, insecure_registries: Sequence[str] = ()) -> dict:
    """`before` with the top-level keys of `settings` set, and registries added to insecure-registries.

    insecure-registries only grows: the entries of `settings` and then
    `insecure_registries` that the file does not list yet are appended to its
    list, which keeps its own entries and their order.
    """
    after = dict(before)
    after.update(settings)
    added = [*_registry_list(settings, "the settings"), *insecure_registries]
    if INSECURE_REGISTRIES in before or INSECURE_REGISTRIES in settings or added:
        registries = _registry_list(before, "the file")
        registries += [entry for entry in dict.fromkeys(added) if entry not in registries]
        after[INSECURE_REGISTRIES] = registries
    return after


def _registry_list(config: Mapping, where: str) -> list:
    registries = config.get(INSECURE_REGISTRIES, [])
    if not isinstance(registries, list):
        raise DaemonJsonError(f"{INSECURE_REGISTRIES} in {where} is a {type(registries).__name__}, not a list")
    return list(registries)


def flag_keys(cmdline: str | Iterable) -> list[str]:
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


def changed_keys(before: Mapping | None, after: Mapping | None) -> list[str]:
    """The top-level daemon.json keys whose value differs between two configurations."""
    before = before or {}
    after = after or {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def apply_action(before: Mapping | None, after: Mapping | None) -> str:
    """How dockerd takes a daemon.json change: "none", "reload" (SIGHUP) or "restart"."""
    changed = changed_keys(before, after)
    if not changed:
        return NONE
    return RELOAD if set(changed) <= RELOADABLE_KEYS else RESTART
